"""Doctest namespace shared by every module's examples (STYLE.md: examples start from
``load_demo_case``)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace: dict[str, Any]) -> None:
    from imatinib_tdm.case import load_demo_case

    doctest_namespace["load_demo_case"] = load_demo_case
