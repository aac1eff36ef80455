"""Doctest namespace shared by every module's examples (STYLE.md: examples start from
``load_demo_case``)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed, reproducible set of examples (a red CI must be
# reproducible); local runs keep exploring new random examples.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace: dict[str, Any]) -> None:
    from imatinib_tdm.case import load_demo_case

    doctest_namespace["load_demo_case"] = load_demo_case
