"""The interpretation of the demo cases is the same with the regular-dose run sums as with the
dose-by-dose superposition they replaced: every text equal, every number within 1e-6 relative."""

from __future__ import annotations

import math
from typing import Any

import pytest

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.pk import _map_objective
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.tdm import interpret


def _assert_same(new: Any, old: Any, path: str = "") -> None:
    if isinstance(old, dict):
        assert set(new) == set(old), path
        for key in old:
            _assert_same(new[key], old[key], f"{path}/{key}")
    elif isinstance(old, list | tuple):
        assert len(new) == len(old), path
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            _assert_same(a, b, f"{path}[{i}]")
    elif isinstance(old, float) and not isinstance(new, bool):
        assert math.isclose(new, old, rel_tol=1e-6, abs_tol=1e-12), (path, new, old)
    else:
        assert new == old, (path, new, old)


@pytest.mark.parametrize(
    ("case_name", "model_id"),
    [("demo-001", "widmer2006_covariate"), ("demo-002", "petain2008"), ("demo-006", None)],
)
def test_interpretation_unchanged_by_run_sums(
    case_name: str, model_id: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = load_demo_case(case_name)
    model = None if model_id is None else get_model(model_id)
    new = interpret(case, model).to_dict()
    monkeypatch.setattr(_map_objective, "_regular_runs", lambda *args: None)
    old = interpret(case, model).to_dict()
    _assert_same(new, old)
