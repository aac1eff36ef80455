"""Storage of the clinical TDM service: patients, episodes, interpretations, reports, users, audit.

SQLAlchemy 2 with Alembic migrations; SQLite by default (a file under the data directory),
PostgreSQL with ``DATABASE_URL``. See ``docs/storage.md``.

Usage::

    db = Database.connect()            # DATABASE_URL or var/imatinib-tdm.sqlite3, migrated
    with db.transaction() as session:  # one transaction: all of it is saved, or nothing
        patient = create_patient(session, actor=user, mrn="123456", ...)

Rules kept by this package:

* every write is one transaction, and every write function records its audit event in it
  (views are recorded by the caller with :func:`record_event`);
* issued reports, interpretations, case revisions and audit events are append-only (ORM guard
  and database triggers); a report correction is a new version pointing to the old one;
* nothing is deleted: patients are archived, users deactivated;
* roles are checked here too (defence in depth), see :mod:`imatinib_tdm.store._roles`;
* audit details hold no patient identifiers or values; ``repr`` of a patient shows only its id.

Modules: ``_engine`` (URL, engine), ``_migrations`` (Alembic), ``_database`` (sessions),
``_models`` and ``_types`` (tables), ``_guards`` (append-only, read-only), ``_roles``,
``_passwords``, ``_password_checks`` (the low-priority thread of login checks), ``_users``,
``_sessions`` (server-side sessions), ``_identifiers`` (MRN and name rules, look-alikes),
``_patients``, ``_episodes``, ``_interpretations``, ``_reports``, ``_audit`` (with its hash
chain), ``_exchange`` and ``_record_format`` (JSON export/import), ``_demo``. Import from
this package. It imports ``case`` (and nothing from ``pk``, ``tdm``, ``report``, ``service``).
"""

from imatinib_tdm.store import _guards as _guards  # registers the append-only/read-only hooks
from imatinib_tdm.store._audit import (
    FORBIDDEN_DETAIL_KEYS,
    AuditAction,
    AuditVerification,
    audit_head,
    list_events,
    record_event,
    verify_audit,
)
from imatinib_tdm.store._database import Database
from imatinib_tdm.store._demo import DEMO_MRN_PREFIX, demo_mrn, seed_demo
from imatinib_tdm.store._engine import data_dir, default_database_url, make_engine
from imatinib_tdm.store._episodes import (
    amend_episode,
    create_episode,
    episode_case,
    get_episode,
    list_episode_revisions,
    list_episodes,
    update_episode,
)
from imatinib_tdm.store._exchange import export_patient, import_patient
from imatinib_tdm.store._identifiers import clean_identifier, mrn_key, similar_patients
from imatinib_tdm.store._interpretations import (
    get_interpretation,
    latest_interpretation,
    list_interpretations,
    save_interpretation,
)
from imatinib_tdm.store._migrations import (
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    migrate,
)
from imatinib_tdm.store._models import (
    AuditEvent,
    Base,
    Episode,
    EpisodeRevision,
    EpisodeStatus,
    Patient,
    Report,
    StoredInterpretation,
    User,
    UserSession,
)
from imatinib_tdm.store._passwords import (
    MIN_PASSWORD_LENGTH,
    check_password_policy,
    common_passwords,
    hash_password,
    verify_password,
)
from imatinib_tdm.store._patients import (
    PATIENT_FIELDS,
    archive_patient,
    count_patients,
    create_patient,
    get_patient,
    list_patients,
    patient_warnings,
    restore_patient,
    update_patient,
)
from imatinib_tdm.store._record_format import READABLE_VERSIONS, RECORD_FORMAT, RECORD_VERSION
from imatinib_tdm.store._reports import (
    correct_report,
    get_report,
    issue_report,
    latest_report,
    list_reports,
)
from imatinib_tdm.store._roles import (
    Role,
    can_administer,
    can_edit,
    can_issue_reports,
    parse_role,
)
from imatinib_tdm.store._sessions import (
    end_session,
    find_session,
    list_sessions,
    revoke_user_sessions,
    start_session,
    token_digest,
)
from imatinib_tdm.store._users import (
    ADDRESS_FAILURE_WINDOW,
    LOGIN_ATTEMPT,
    LOGIN_FAILURE_WINDOW,
    LOGIN_QUEUE_TIMEOUT_S,
    MAX_CONCURRENT_PASSWORD_CHECKS,
    MAX_FAILED_LOGINS,
    MAX_FAILED_LOGINS_PER_ADDRESS,
    LoginAttempt,
    PreparedPassword,
    address_lockout,
    attempt_login,
    authenticate,
    change_own_password,
    create_first_admin,
    create_user,
    deactivate_user,
    get_user,
    get_user_by_username,
    hashed_username,
    list_users,
    locked_usernames,
    login_lockout,
    prepare_password,
    reactivate_user,
    set_password,
    set_role,
)

__all__ = [
    "ADDRESS_FAILURE_WINDOW",
    "DEMO_MRN_PREFIX",
    "FORBIDDEN_DETAIL_KEYS",
    "LOGIN_ATTEMPT",
    "LOGIN_FAILURE_WINDOW",
    "LOGIN_QUEUE_TIMEOUT_S",
    "MAX_CONCURRENT_PASSWORD_CHECKS",
    "MAX_FAILED_LOGINS",
    "MAX_FAILED_LOGINS_PER_ADDRESS",
    "MIN_PASSWORD_LENGTH",
    "PATIENT_FIELDS",
    "READABLE_VERSIONS",
    "RECORD_FORMAT",
    "RECORD_VERSION",
    "AuditAction",
    "AuditEvent",
    "AuditVerification",
    "Base",
    "Database",
    "Episode",
    "EpisodeRevision",
    "EpisodeStatus",
    "LoginAttempt",
    "Patient",
    "PreparedPassword",
    "Report",
    "Role",
    "StoredInterpretation",
    "User",
    "UserSession",
    "address_lockout",
    "alembic_config",
    "amend_episode",
    "archive_patient",
    "attempt_login",
    "audit_head",
    "authenticate",
    "can_administer",
    "can_edit",
    "can_issue_reports",
    "change_own_password",
    "check_password_policy",
    "clean_identifier",
    "common_passwords",
    "correct_report",
    "count_patients",
    "create_episode",
    "create_first_admin",
    "create_patient",
    "create_user",
    "current_revision",
    "data_dir",
    "deactivate_user",
    "default_database_url",
    "demo_mrn",
    "downgrade",
    "end_session",
    "episode_case",
    "export_patient",
    "find_session",
    "get_episode",
    "get_interpretation",
    "get_patient",
    "get_report",
    "get_user",
    "get_user_by_username",
    "hash_password",
    "hashed_username",
    "head_revision",
    "import_patient",
    "issue_report",
    "latest_interpretation",
    "latest_report",
    "list_episode_revisions",
    "list_episodes",
    "list_events",
    "list_interpretations",
    "list_patients",
    "list_reports",
    "list_sessions",
    "list_users",
    "locked_usernames",
    "login_lockout",
    "make_engine",
    "migrate",
    "mrn_key",
    "parse_role",
    "patient_warnings",
    "prepare_password",
    "reactivate_user",
    "record_event",
    "restore_patient",
    "revoke_user_sessions",
    "save_interpretation",
    "seed_demo",
    "set_password",
    "set_role",
    "similar_patients",
    "start_session",
    "token_digest",
    "update_episode",
    "update_patient",
    "verify_audit",
    "verify_password",
]
