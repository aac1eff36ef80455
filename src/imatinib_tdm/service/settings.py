"""Settings of the web service: database URL, session secret, cookie flags.

The secret key signs the session cookies. It comes from the environment
(``IMATINIB_TDM_SECRET_KEY``) or, failing that, from a random key generated once and kept in the
store's data directory (``IMATINIB_TDM_DATA_DIR``, default ``./var``) with owner-only
permissions (0600), so that sessions survive a restart without a key ever being written in code
or configuration.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from imatinib_tdm.store import data_dir as store_data_dir
from imatinib_tdm.store import default_database_url

__all__ = ["COMPUTE_PROCESSES_ENV", "SECRET_KEY_ENV", "Settings", "load_or_create_secret_key"]

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
    data_dir.mkdir(parents=True, exist_ok=True)
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
        default=8 * 3600, gt=0, description="session lifetime, seconds (one working day)"
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

    @classmethod
    def from_env(cls, *, database_url: str | None = None, data_dir: Path | None = None) -> Settings:
        """Settings from the environment.

        ``DATABASE_URL`` (through ``store.default_database_url()``), the secret key as described
        in :func:`load_or_create_secret_key`, and ``IMATINIB_TDM_COOKIE_SECURE=1`` for the
        cookie's ``Secure`` flag.
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
        )


def _count_from_env(name: str) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of processes, got {raw!r}") from None
