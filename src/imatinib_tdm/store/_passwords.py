"""Password hashing (argon2id, through argon2-cffi) and the password policy.

argon2-cffi's :class:`~argon2.PasswordHasher` defaults (argon2id, 64 MiB, 3 passes,
4 lanes: RFC 9106's second recommended option) are used unchanged; a hash records its own
parameters, so raising them later only needs :func:`needs_rehash` at the next login.
passlib is not used: passlib 1.7.4 with bcrypt 5 is broken (see the shared ENVIRONMENT notes).
"""

from __future__ import annotations

import secrets
import string
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from imatinib_tdm.errors import CaseError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "check_password_policy",
    "common_passwords",
    "dummy_hash",
    "hash_password",
    "needs_rehash",
    "verify_password",
]

# Policy of issue 5: at least 12 characters. Length is what matters (NIST SP 800-63B, 5.1.1.2:
# no composition rules); the upper bound keeps one hash from costing unbounded time.
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
# A username shorter than this is not searched for inside a password ("al" would refuse half
# the dictionary); equality is still refused.
_MIN_USERNAME_IN_PASSWORD = 3

_hasher = PasswordHasher()

_BLOCKLIST = "common_passwords.txt"  # in imatinib_tdm/data/, shipped with the package
# What is stripped around a password's core before the blocklist is consulted: digits, symbols
# and spaces ("Password2024!" -> "password").
_DECORATION = string.digits + string.punctuation + " "
# Leetspeak, undone before the look-up ("p@ssw0rd" -> "password"); 1 is tried as i and as l.
_LEET_I = str.maketrans("0134578@$!|+", "oieastbasilt")
_LEET_L = str.maketrans("0134578@$!|+", "oleastbasilt")
# Keyboard rows and alphabets: a password inside one of these (either direction) is sequential.
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789" * 3,
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)


@cache
def common_passwords() -> frozenset[str]:
    """The blocklist shipped as package data (``imatinib_tdm/data/common_passwords.txt``).

    A list composed for this project (see the file's header), read once; lowercase entries.
    Nothing is downloaded at run time.
    """
    text = resources.files("imatinib_tdm").joinpath("data", _BLOCKLIST).read_text(encoding="utf-8")
    lines = (line.strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _period(text: str) -> str:
    """The shortest unit whose repetition is ``text`` (``text`` itself when there is none)."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return text


def _cores(password: str) -> set[str]:
    """The forms of ``password`` compared with the blocklist: lowercased, spaces removed,
    decoration stripped at either end, leetspeak undone, repetition reduced to its unit."""
    lowered = password.lower()
    compact = "".join(lowered.split())
    forms = {compact, compact.rstrip(_DECORATION), compact.lstrip(_DECORATION)}
    forms.add(compact.strip(_DECORATION))
    for form in list(forms):
        forms.update({form.translate(_LEET_I), form.translate(_LEET_L)})
    for form in list(forms):
        forms.update({form.strip(_DECORATION), _period(form)})
    return {form for form in forms if form}


def _is_common(password: str) -> bool:
    words = common_passwords()
    for core in _cores(password):
        if core in words:
            return True
        # two entries joined ("adminpassword", "summersunshine")
        if any(core[:cut] in words and core[cut:] in words for cut in range(1, len(core))):
            return True
    return False


def _is_repetitive(password: str) -> bool:
    compact = "".join(password.lower().split())
    return len(set(compact)) <= 3 or _period(compact) != compact


def _is_sequential(password: str) -> bool:
    compact = "".join(password.lower().split())
    return any(compact in run or compact in run[::-1] for run in _SEQUENCES)


def check_password_policy(
    password: str, *, field: str = "password", username: str | None = None
) -> None:
    """Raise :class:`CaseError` naming ``field`` if ``password`` breaks the policy.

    The policy follows NIST SP 800-63B (Digital Identity Guidelines, Authentication and
    Lifecycle Management), section 5.1.1.2 "Memorized Secret Verifiers": a minimum length
    (:data:`MIN_PASSWORD_LENGTH`, above NIST's 8), no composition rules, and a comparison with
    values "known to be commonly-used, expected, or compromised". Refused:

    * fewer than 12 or more than :data:`MAX_PASSWORD_LENGTH` characters, or only spaces;
    * a password on the blocklist (:func:`common_passwords`), also with digits, symbols or
      spaces added before or after it ("Password2024!"), in leetspeak ("P@ssw0rd"), repeated
      ("passwordpassword") or two entries joined ("adminpassword");
    * repetitive ("aaaaaaaaaaaa", "abcabcabcabc": at most three distinct characters, or a
      shorter unit repeated) or sequential ("abcdefghijkl", "123456789012", "qwertyuiopas",
      either direction) passwords;
    * a password equal to ``username`` or containing it (any case), when given.

    Messages never repeat the password.

    Parameters
    ----------
    password : str
        As typed.
    field : str, default="password"
        The field named in the error.
    username : str, optional
        The account's username (context-specific words, NIST 5.1.1.2).

    Raises
    ------
    CaseError
        With ``field`` set; the message says which rule and what to do instead.

    References
    ----------
    P. A. Grassi et al., NIST Special Publication 800-63B, Digital Identity Guidelines:
    Authentication and Lifecycle Management, June 2017 (updated 2020), section 5.1.1.2.
    doi:10.6028/NIST.SP.800-63b

    Examples
    --------
    >>> check_password_policy("correct horse battery staple", username="clara")
    >>> check_password_policy("password1234")
    Traceback (most recent call last):
    ...
    imatinib_tdm.errors.CaseError: password: too common ...
    """
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
    advice = "choose a few unrelated words, or let a password manager make one"
    name = username.strip().lower() if isinstance(username, str) else ""
    lowered = password.lower()
    if name and (lowered == name or (len(name) >= _MIN_USERNAME_IN_PASSWORD and name in lowered)):
        raise CaseError(f"{field}: must not contain the username; {advice}", field=field)
    if _is_repetitive(password):
        raise CaseError(
            f"{field}: too repetitive (a few characters or one group repeated); {advice}",
            field=field,
        )
    if _is_sequential(password):
        raise CaseError(
            f"{field}: sequential characters (alphabet, digits or a keyboard row); {advice}",
            field=field,
        )
    if _is_common(password):
        raise CaseError(
            f"{field}: too common (a frequently used password, possibly with digits or "
            f"symbols added); {advice}",
            field=field,
        )


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
