"""Tests of cli_service.py: the demo seeding of `serve --demo` and `create-admin`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from imatinib_tdm.cli import app
from imatinib_tdm.cli_service import DEMO_USERNAME, _seed_demo
from imatinib_tdm.errors import CaseError
from imatinib_tdm.store import Database, authenticate, create_first_admin, list_patients


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'demo.sqlite3'}"


def test_demo_account_is_created_once_with_a_random_password(tmp_path: Path) -> None:
    url = _url(tmp_path)
    password = _seed_demo(url)
    assert password is not None and len(password) >= 12
    assert _seed_demo(url) is None  # second start: the account exists, no new password
    db = Database.connect(url)
    with db.transaction() as session:
        assert authenticate(session, DEMO_USERNAME, password) is not None
        patients = list_patients(session)
    assert patients  # the packaged demo cases
    assert all(p.mrn.startswith("DEMO") for p in patients)


def test_two_servers_get_different_demo_passwords(tmp_path: Path) -> None:
    first = _seed_demo(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    second = _seed_demo(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    assert first != second


def test_demo_refused_on_a_database_with_accounts(tmp_path: Path) -> None:
    url = _url(tmp_path)
    db = Database.connect(url)
    with db.transaction() as session:
        create_first_admin(
            session, username="chief", password="correct horse battery", full_name="Chief"
        )
    with pytest.raises(CaseError, match="new database"):
        _seed_demo(url)


def test_create_admin_reads_the_password_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", _url(tmp_path))
    result = CliRunner().invoke(
        app,
        ["create-admin", "--username", "chief", "--full-name", "Dr Chief", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "administrator 'chief' created" in result.output
    with Database.connect(_url(tmp_path)).transaction() as session:
        assert authenticate(session, "chief", "a long enough password") is not None
