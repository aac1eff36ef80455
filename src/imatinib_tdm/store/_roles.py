"""User roles and what each may do.

The roles come from issue 5: a *viewer* reads, a *clinician* enters data and drafts, a
*pharmacologist* validates and issues reports, an *admin* manages accounts and may do everything
else. The predicates here are the one place that decides; the service checks them before calling
the store, and the store checks them again (defence in depth).
"""

from __future__ import annotations

import enum

from imatinib_tdm.errors import PermissionDeniedError

__all__ = [
    "Role",
    "can_administer",
    "can_edit",
    "can_issue_reports",
    "parse_role",
    "require",
]


class Role(enum.StrEnum):
    """Role of a user account; stored as its value."""

    VIEWER = "viewer"
    """Reads patients, episodes and reports."""
    CLINICIAN = "clinician"
    """Enters patients, episodes and interpretations (drafts)."""
    PHARMACOLOGIST = "pharmacologist"
    """Also validates and issues reports, and corrects them."""
    ADMIN = "admin"
    """Also manages user accounts."""


def parse_role(value: Role | str) -> Role:
    """Return ``value`` as a :class:`Role`; text is matched case-insensitively.

    Raises
    ------
    ValueError
        Not a role; the message lists the roles.
    """
    if isinstance(value, Role):
        return value
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(role.value for role in Role)
        raise ValueError(f"role: unknown role {value!r}; expected one of {choices}") from None


def can_edit(role: Role | str) -> bool:
    """Whether ``role`` may enter and change patient data (clinician and above)."""
    return parse_role(role) in (Role.CLINICIAN, Role.PHARMACOLOGIST, Role.ADMIN)


def can_issue_reports(role: Role | str) -> bool:
    """Whether ``role`` may validate, issue and correct reports (pharmacologist, admin)."""
    return parse_role(role) in (Role.PHARMACOLOGIST, Role.ADMIN)


def can_administer(role: Role | str) -> bool:
    """Whether ``role`` may manage user accounts (admin only)."""
    return parse_role(role) is Role.ADMIN


def require(allowed: bool, *, action: str, role: Role | str) -> None:
    """Raise :class:`PermissionDeniedError` unless ``allowed``.

    Parameters
    ----------
    allowed : bool
        Result of one of the ``can_*`` predicates.
    action : str
        What was attempted, for the message (e.g. ``"issue a report"``).
    role : Role or str
        The actor's role.
    """
    if not allowed:
        raise PermissionDeniedError(
            f"a user with role {str(role)!r} may not {action}", action=action, role=str(role)
        )
