"""Command-line commands of the clinical web service: ``serve`` and ``create-admin``.

Kept apart from :mod:`imatinib_tdm.cli` (the computation commands) so that the CLI of the PK and
TDM core does not import the web stack. Both call the same functions the service uses.
"""

from __future__ import annotations

import getpass
import os
import secrets
import sys
from typing import Annotated

import typer

from imatinib_tdm.errors import CaseError

__all__ = ["DEMO_USERNAME", "register"]

DEMO_USERNAME = "demo"
# token_urlsafe(15) gives 20 characters (120 bits), above the 12-character password minimum
_DEMO_PASSWORD_BYTES = 15


def _seed_demo(database_url: str) -> str | None:
    """Migrate, create the local demo account when missing and seed the demo patients.

    Returns the new account's password (shown once), or None when the account existed.
    """
    from imatinib_tdm.store import (
        Database,
        Role,
        User,
        create_first_admin,
        get_user_by_username,
        seed_demo,
    )

    db = Database.connect(database_url)
    password: str | None = None
    with db.transaction() as session:
        demo = get_user_by_username(session, DEMO_USERNAME)
        if demo is None:
            admins = session.query(User).filter(User.role == Role.ADMIN).count()
            if admins:
                raise CaseError(
                    "--demo seeds demo data only into a new database (this one has accounts "
                    "already); use another DATABASE_URL or IMATINIB_TDM_DATA_DIR",
                    field="--demo",
                )
            password = secrets.token_urlsafe(_DEMO_PASSWORD_BYTES)
            demo = create_first_admin(
                session,
                username=DEMO_USERNAME,
                password=password,
                full_name="Demo account (local, synthetic data)",
            )
        seed_demo(session, actor=demo)
    return password


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``create-admin`` to the ``imatinib-tdm`` application."""

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
            "127.0.0.1"
        ),
        port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
        workers: Annotated[
            int,
            typer.Option(
                min=1,
                max=64,
                help="Server processes (interpretations are CPU-bound: about one per core).",
            ),
        ] = 1,
        compute_processes: Annotated[
            int | None,
            typer.Option(
                min=0,
                max=64,
                help="Processes that run POST /api/interpret for each server process (they "
                "share one queue, so concurrent requests spread evenly over the cores; 0: in "
                "the server process). Default: IMATINIB_TDM_COMPUTE_PROCESSES, else one per "
                "CPU core with --workers 1 and 0 with more workers.",
            ),
        ] = None,
        demo: Annotated[
            bool,
            typer.Option(
                "--demo",
                help="Seed the demo cases and a local demo account (new databases only).",
            ),
        ] = False,
    ) -> None:
        """Run the clinical web service (database from DATABASE_URL, SQLite by default)."""
        from imatinib_tdm.service.server import run_server
        from imatinib_tdm.service.settings import COMPUTE_PROCESSES_ENV, Settings
        from imatinib_tdm.store import Database

        settings = Settings.from_env()
        if compute_processes is None and not os.environ.get(COMPUTE_PROCESSES_ENV):
            compute_processes = (os.cpu_count() or 1) if workers == 1 else 0
        if compute_processes is not None:
            settings = settings.model_copy(update={"compute_processes": compute_processes})
        url = settings.database_url
        # never print a server URL: it may hold a password
        where = url.split("///", 1)[-1] if url.startswith("sqlite") else "DATABASE_URL"
        if demo:
            password = _seed_demo(settings.database_url)
            typer.echo(
                f"Demo data ready. Open http://{host}:{port}/ and log in as {DEMO_USERNAME!r}"
            )
            if password is not None:
                typer.echo(f"  password: {password}")
                typer.echo("  (shown once; only its argon2 hash is stored)")
            else:
                typer.echo("  with the password printed when the demo account was created")
            typer.echo(
                f"  To start afresh with a new demo account, remove the demo database ({where})."
            )
        else:
            Database.connect(settings.database_url)  # migrate before the first request
        typer.echo(f"Serving on http://{host}:{port}/ (GET /api/health); Ctrl-C stops.")
        run_server(host, port, settings, workers=workers)

    @app.command("create-admin")
    def create_admin(
        username: Annotated[str, typer.Option(help="Login name of the first administrator.")],
        full_name: Annotated[str, typer.Option(help="Name shown in reports and the audit log.")],
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="Read the password from standard input.")
        ] = False,
    ) -> None:
        """Create the first administrator account (there is no default password anywhere)."""
        from imatinib_tdm.store import Database, create_first_admin, default_database_url

        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password (at least 12 characters): ")
            if getpass.getpass("Repeat the password: ") != password:
                raise CaseError("the two passwords differ", field="password")
        db = Database.connect(default_database_url())
        with db.transaction() as session:
            user = create_first_admin(
                session, username=username, password=password, full_name=full_name
            )
            typer.echo(f"administrator {user.username!r} created (id {user.id})")
