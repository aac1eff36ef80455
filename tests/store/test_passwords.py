"""Password hashing with argon2id and the password policy (imatinib_tdm.store._passwords)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from imatinib_tdm.errors import CaseError
from imatinib_tdm.store import (
    Database,
    check_password_policy,
    create_first_admin,
    hash_password,
    verify_password,
)
from imatinib_tdm.store._passwords import needs_rehash


@pytest.fixture(autouse=True)
def fast_password_hashing() -> None:
    """Overrides conftest's fixture: these tests use the production parameters."""


def test_hash_is_argon2id_with_the_library_defaults() -> None:
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(hashed, "correct horse battery staple")
    assert not verify_password(hashed, "correct horse battery stapler")
    assert hash_password("correct horse battery staple") != hashed  # salted


def test_malformed_hash_does_not_verify() -> None:
    assert not verify_password("not a hash", "whatever password")
    assert needs_rehash("not a hash")


def test_weaker_hash_needs_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("p" * 12)
    assert needs_rehash(weak)
    assert not needs_rehash(hash_password("p" * 12))


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", r"too short \(5 characters\); use at least 12"),
        (" " * 12, "only spaces"),
        ("x" * 1025, "too long"),
    ],
)
def test_policy_names_the_field(password: str, message: str) -> None:
    with pytest.raises(CaseError, match=message) as caught:
        check_password_policy(password)
    assert caught.value.field == "password"


def test_no_plaintext_is_stored(tmp_path: object) -> None:
    db = Database.connect("sqlite://")
    try:
        with db.transaction() as session:
            create_first_admin(
                session, username="root", password="plain text secret!", full_name="R"
            )
        with db.read() as session:
            dump = " ".join(
                str(value) for row in session.execute(text("SELECT * FROM users")) for value in row
            )
            events = " ".join(
                str(value)
                for row in session.execute(text("SELECT * FROM audit_events"))
                for value in row
            )
        assert "plain text secret!" not in dump
        assert "plain text secret!" not in events
        assert "$argon2id$" in dump
    finally:
        db.dispose()
