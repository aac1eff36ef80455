"""Layering rules of docs/architecture.md, checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "imatinib_tdm"

# package (first path component below imatinib_tdm) -> packages it must never import
FORBIDDEN: dict[str, set[str]] = {
    "errors": {
        "units",
        "case",
        "pk",
        "tdm",
        "report",
        "store",
        "service",
        "cli",
        "ml",
        "evaluation",
        "io",
    },
    "units": {"case", "pk", "tdm", "report", "store", "service", "cli", "ml", "evaluation", "io"},
    "case": {"pk", "tdm", "report", "store", "service", "cli", "ml", "evaluation"},
    "pk": {"case", "tdm", "report", "store", "service", "cli", "ml", "evaluation"},
    "tdm": {"report", "store", "service", "cli"},
    "report": {"store", "service", "cli"},
    "io": {"tdm", "report", "store", "service", "cli", "ml", "evaluation"},
    "ml": {"report", "store", "service", "cli"},
    "evaluation": {"report", "store", "service", "cli", "ml"},
    "store": {"pk", "tdm", "report", "service", "cli", "ml", "evaluation"},
    "service": {"cli"},
}
# the one sanctioned crossing: pk/inputs.py converts a Case for the engine
ALLOWED = {("pk/inputs.py", "case")}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "imatinib_tdm" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_respects_layering(path: Path) -> None:
    relative = path.relative_to(PACKAGE)
    layer = relative.parts[0].removesuffix(".py")
    forbidden = FORBIDDEN.get(layer, set())
    bad = {
        name for name in _imports(path) & forbidden if (relative.as_posix(), name) not in ALLOWED
    }
    assert not bad, f"{relative} imports {sorted(bad)}, which its layer must not import"


def test_no_print_or_eval_in_library_code() -> None:
    offenders = []
    for path in _modules():
        if path.name in {"cli.py", "__main__.py"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"print", "eval", "exec"}
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.func.id}")
    assert not offenders, offenders
