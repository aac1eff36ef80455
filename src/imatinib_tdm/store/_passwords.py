"""Password hashing (argon2id, through argon2-cffi) and the password policy.

argon2-cffi's :class:`~argon2.PasswordHasher` defaults (argon2id, 64 MiB, 3 passes,
4 lanes: RFC 9106's second recommended option) are used unchanged; a hash records its own
parameters, so raising them later only needs :func:`needs_rehash` at the next login.
passlib is not used: passlib 1.7.4 with bcrypt 5 is broken (see the shared ENVIRONMENT notes).
"""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from imatinib_tdm.errors import CaseError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "check_password_policy",
    "dummy_hash",
    "hash_password",
    "needs_rehash",
    "verify_password",
]

# Policy of issue 5: at least 12 characters. Length is what matters (NIST SP 800-63B, 5.1.1.2:
# no composition rules); the upper bound keeps one hash from costing unbounded time.
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()


def check_password_policy(password: str, *, field: str = "password") -> None:
    """Raise :class:`CaseError` naming ``field`` if ``password`` breaks the policy."""
    if not isinstance(password, str):
        raise CaseError(f"{field}: must be text", field=field)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CaseError(
            f"{field}: too short ({len(password)} characters); use at least "
            f"{MIN_PASSWORD_LENGTH} characters, for example a few unrelated words",
            field=field,
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise CaseError(
            f"{field}: too long ({len(password)} characters); at most {MAX_PASSWORD_LENGTH}",
            field=field,
        )
    if not password.strip():
        raise CaseError(f"{field}: must not be only spaces", field=field)


def hash_password(password: str) -> str:
    """Hash ``password`` with argon2id; the result (``$argon2id$v=19$m=...``) includes a salt.

    Examples
    --------
    >>> hashed = hash_password("correct horse battery staple")
    >>> hashed.startswith("$argon2id$"), verify_password(hashed, "correct horse battery staple")
    (True, True)
    """
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; ``False`` also for a malformed hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with weaker parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@cache
def dummy_hash() -> str:
    """A hash of a random password, verified against when a username does not exist, so that
    unknown and known usernames take the same time to refuse."""
    return _hasher.hash(secrets.token_urlsafe(32))
