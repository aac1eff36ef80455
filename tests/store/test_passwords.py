"""Password hashing with argon2id and the password policy (imatinib_tdm.store._passwords)."""

from __future__ import annotations

import os
import sys
import threading

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


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "Password2024!",
        "P@ssw0rd12345",
        "passwordpassword",
        "qwertyuiop123",
        "1qaz2wsx3edc",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "administrator1",
        "imatinib2024!",
        "Gleevec123456",
        "123456789012",
        "aaaaaaaaaaaa",
        "abcabcabcabc",
        "abcdefghijkl",
        "zyxwvutsrqpo",
        "121212121212",
        "098765432109",
    ],
)
def test_common_and_patterned_passwords_are_refused(password: str) -> None:
    # NIST SP 800-63B 5.1.1.2: compare against commonly used, expected or compromised values
    with pytest.raises(CaseError, match=r"too common|repetitive|sequential") as caught:
        check_password_policy(password)
    assert caught.value.field == "password"
    assert password not in str(caught.value)  # the message never repeats the password


@pytest.mark.parametrize(
    "password",
    ["clara.muster2024", "my name is clara.muster", "CLARA.MUSTER-secret"],
)
def test_passwords_containing_the_username_are_refused(password: str) -> None:
    with pytest.raises(CaseError, match="username") as caught:
        check_password_policy(password, username="clara.muster")
    assert caught.value.field == "password"


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "a long enough password",  # the store tests' password
        "test-only-password-1a2b3c4d",  # the service tests' password
        "Tafel Lampe Regen 7",
        "kx8#Vq2!mZ0@",
    ],
)
def test_good_passwords_pass(password: str) -> None:
    check_password_policy(password, username="clara.muster")


def test_blocklist_is_package_data_with_its_source() -> None:
    from imatinib_tdm.store._passwords import common_passwords

    words = common_passwords()
    assert len(words) >= 300
    assert {"password", "qwerty", "iloveyou", "123456"} <= words
    assert all(word == word.lower() and word.strip() == word and word for word in words)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="nice per thread is Linux's")
def test_login_password_checks_run_at_a_lower_priority() -> None:
    """A login flood's argon2 checks yield the CPU to clinicians' requests (the checks run on a
    thread of their own, PASSWORD_CHECK_NICENESS lower)."""
    from imatinib_tdm.store._password_checks import PASSWORD_CHECK_NICENESS, password_check_niceness

    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert password_check_niceness() == min(19, own + PASSWORD_CHECK_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own  # ours unchanged
