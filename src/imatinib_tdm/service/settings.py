"""Settings of the web service: database URL, session secret, cookie flags, trusted proxies.

The secret key signs the session cookies. It comes from the environment
(``IMATINIB_TDM_SECRET_KEY``) or, failing that, from a random key generated once and kept in the
store's data directory (``IMATINIB_TDM_DATA_DIR``, default ``./var``) with owner-only
permissions (0600), so that sessions survive a restart without a key ever being written in code
or configuration.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imatinib_tdm.store import data_dir as store_data_dir
from imatinib_tdm.store import default_database_url

__all__ = [
    "COMPUTE_PROCESSES_ENV",
    "SECRET_KEY_ENV",
    "TRUSTED_PROXIES_ENV",
    "Settings",
    "load_or_create_secret_key",
]

SECRET_KEY_ENV = "IMATINIB_TDM_SECRET_KEY"
_COOKIE_SECURE_ENV = "IMATINIB_TDM_COOKIE_SECURE"
_SECRET_FILE = "secret_key"
_MIN_SECRET_CHARS = 32  # 32 url-safe characters carry at least 192 bits


def load_or_create_secret_key(data_dir: Path) -> str:
    """The session secret from ``$IMATINIB_TDM_SECRET_KEY``, or from ``data_dir/secret_key``.

    The file is created with a fresh random key (mode 0600) when missing.

    Raises
    ------
    ValueError
        The key from the environment or the file is shorter than 32 characters.
    """
    from_env = os.environ.get(SECRET_KEY_ENV)
    if from_env:
        return _checked(from_env, SECRET_KEY_ENV)
    path = data_dir / _SECRET_FILE
    if path.exists():
        return _checked(path.read_text(encoding="utf-8").strip(), str(path))
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # owner only, as the store does
    key = secrets.token_urlsafe(48)
    # create with 0600 from the start: a chmod afterwards would leave a readable window
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def _checked(key: str, where: str) -> str:
    if len(key) < _MIN_SECRET_CHARS:
        raise ValueError(f"the secret key from {where} is too short: use at least 32 characters")
    return key


TRUSTED_PROXIES_ENV = "IMATINIB_TDM_TRUSTED_PROXIES"
"""Environment variable of ``Settings.trusted_proxies`` (comma-separated IP addresses)."""
# Purpose label of the key derived from the secret for unknown usernames in the audit log:
# a change of label (or of secret) starts new hashes, it never reveals old ones.
_USERNAME_KEY_LABEL = b"imatinib-tdm audit: unknown usernames v1"
_TRIAGE_MODEL_ENV = "IMATINIB_TDM_TRIAGE_MODEL"
_MODEL_PRIOR_ENV = "IMATINIB_TDM_MODEL_PRIOR"
COMPUTE_PROCESSES_ENV = "IMATINIB_TDM_COMPUTE_PROCESSES"
"""Environment variable of ``Settings.compute_processes``."""


class Settings(BaseModel):
    """Configuration of one service instance (immutable).

    Build it with :meth:`from_env` for the defaults of the environment, or directly in tests.
    """

    model_config = ConfigDict(frozen=True)

    database_url: str = Field(description="SQLAlchemy URL of the database")
    secret_key: str = Field(min_length=_MIN_SECRET_CHARS, repr=False, description="signs sessions")
    cookie_secure: bool = Field(
        default=False, description="send the session cookie over HTTPS only (set behind TLS)"
    )
    session_max_age_s: int = Field(
        default=8 * 3600,
        gt=0,
        description="session lifetime, seconds (one working day), absolute from the login; "
        "the server-side session ends then whatever the cookie says",
    )
    trusted_proxies: frozenset[str] = Field(
        default=frozenset(),
        description="IP addresses of reverse proxies whose X-Forwarded-For names the client "
        "(for the login throttle per address and the audit log); env "
        "IMATINIB_TDM_TRUSTED_PROXIES=127.0.0.1,::1. Empty: the peer address is the client",
    )
    cookie_name: str = Field(default="imatinib_tdm_session", description="session cookie name")
    triage_model_path: str | None = Field(
        default=None,
        description="a triage classifier file (imatinib-tdm ml train) used at first visits; "
        "env IMATINIB_TDM_TRIAGE_MODEL",
    )
    default_model_id: str = Field(
        default="widmer2006_covariate",
        description="model used by interpret/simulate when the request names none",
    )
    model_prior_path: str | None = Field(
        default=None,
        description="the JSON of 'imatinib-tdm evaluate --json' whose centre_model_prior weights "
        "the choice of model 'auto'; env IMATINIB_TDM_MODEL_PRIOR",
    )
    compute_processes: int = Field(
        default=0,
        ge=0,
        le=64,
        description="worker processes that run POST /api/interpret (about one per core); 0 runs "
        "it in the web process. Env IMATINIB_TDM_COMPUTE_PROCESSES; serve --compute-processes",
    )
    compute_large_processes: int = Field(
        default=1,
        ge=0,
        le=64,
        description="with compute processes: further processes, at a lower priority, for large "
        "computations only (service.workload: many dose entries or samples), so that a few large "
        "cases cannot occupy every compute process; 0 lets them share the usual processes",
    )
    max_body_bytes: int = Field(
        default=2_000_000,
        ge=1_000,
        description="largest request body (JSON and forms), bytes; a larger one is refused with "
        "413 (the largest case the case model accepts is about 1 MB of JSON)",
    )
    max_import_bytes: int = Field(
        default=50_000_000,
        ge=1_000,
        description="largest body of POST /api/patients/import (a whole record with its "
        "reports' PDFs), bytes",
    )
    compute_time_limit_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="longest computation of one request (interpretation, what-if, report PDF); "
        "over it the request answers 503 and a compute process working on it is replaced",
    )
    compute_queue_limit_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="longest wait for a free compute process; over it the request answers 503",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in (p.strip() for p in value.split(",")) if part]
        if isinstance(value, list | tuple | set | frozenset):
            addresses = set()
            for item in value:
                try:
                    addresses.add(str(ipaddress.ip_address(str(item).strip())))
                except ValueError:
                    raise ValueError(
                        f"trusted_proxies: {item!r} is not an IP address (e.g. 127.0.0.1)"
                    ) from None
            return frozenset(addresses)
        return value

    def username_hash_key(self) -> bytes:
        """The HMAC key for typed usernames that match no account (``store.hashed_username``),
        derived from the secret key: not in the database, stable across restarts."""
        return hmac.new(
            self.secret_key.encode("utf-8"), _USERNAME_KEY_LABEL, hashlib.sha256
        ).digest()

    @classmethod
    def from_env(cls, *, database_url: str | None = None, data_dir: Path | None = None) -> Settings:
        """Settings from the environment.

        ``DATABASE_URL`` (through ``store.default_database_url()``), the secret key as described
        in :func:`load_or_create_secret_key`, and ``IMATINIB_TDM_COOKIE_SECURE=1`` for the
        cookie's ``Secure`` flag, ``IMATINIB_TDM_TRUSTED_PROXIES`` for the proxies whose
        ``X-Forwarded-For`` is believed.
        """
        directory = data_dir if data_dir is not None else store_data_dir()
        secure = os.environ.get(_COOKIE_SECURE_ENV, "").strip().lower() in {"1", "true", "yes"}
        return cls(
            database_url=database_url or default_database_url(),
            secret_key=load_or_create_secret_key(directory),
            cookie_secure=secure,
            triage_model_path=os.environ.get(_TRIAGE_MODEL_ENV) or None,
            model_prior_path=os.environ.get(_MODEL_PRIOR_ENV) or None,
            compute_processes=_count_from_env(COMPUTE_PROCESSES_ENV),
            trusted_proxies=os.environ.get(TRUSTED_PROXIES_ENV, ""),
        )


def _count_from_env(name: str) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of processes, got {raw!r}") from None
