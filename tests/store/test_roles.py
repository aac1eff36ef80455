"""Roles and their permissions (imatinib_tdm.store._roles)."""

from __future__ import annotations

import pytest

from imatinib_tdm.errors import PermissionDeniedError
from imatinib_tdm.store import Role, can_administer, can_edit, can_issue_reports, parse_role
from imatinib_tdm.store._roles import require


@pytest.mark.parametrize(
    ("role", "edit", "issue", "administer"),
    [
        (Role.VIEWER, False, False, False),
        (Role.CLINICIAN, True, False, False),
        (Role.PHARMACOLOGIST, True, True, False),
        (Role.ADMIN, True, True, True),
    ],
)
def test_permissions_by_role(role: Role, edit: bool, issue: bool, administer: bool) -> None:
    assert (can_edit(role), can_issue_reports(role), can_administer(role)) == (
        edit,
        issue,
        administer,
    )
    assert can_edit(role.value) is edit  # text works too


def test_parse_role_ignores_case_and_lists_choices() -> None:
    assert parse_role(" Pharmacologist ") is Role.PHARMACOLOGIST
    with pytest.raises(ValueError, match="viewer, clinician, pharmacologist, admin"):
        parse_role("nurse")


def test_require_names_role_and_action() -> None:
    with pytest.raises(PermissionDeniedError, match="'viewer' may not issue reports") as caught:
        require(False, action="issue reports", role=Role.VIEWER)
    assert caught.value.role == "viewer"
    assert caught.value.action == "issue reports"
