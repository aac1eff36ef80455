"""JSON API routers (``/api/...``); each module owns one resource."""
