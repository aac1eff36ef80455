"""Server-rendered pages (Jinja2): log in, patients, episodes, interpretation, what-if, models."""
