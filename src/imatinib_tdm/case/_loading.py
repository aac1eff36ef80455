"""Parsing and loading case files, and error messages a clinician can act on.

:func:`parse_case` validates plain data; :func:`load_case` reads YAML or JSON and reports every
problem with its field path and line number; :func:`load_demo_case` reads the demo cases packaged
in ``imatinib_tdm/data/demo``; :func:`case_json_schema` generates the JSON Schema committed as
``imatinib_tdm/schemas/case.schema.json``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from imatinib_tdm.case._consistency import _Loc, _path
from imatinib_tdm.case._limits import MAX_LABEL_CHARS
from imatinib_tdm.case._models import Case, Comedication, Covariates, Dose, Patient, Sample
from imatinib_tdm.errors import CaseError

__all__ = [
    "case_json_schema",
    "demo_case_names",
    "format_validation_error",
    "load_case",
    "load_demo_case",
    "parse_case",
]

# --- Validation messages ------------------------------------------------------------------------

_UNIT_SUFFIXES = (
    ("_ml_per_min_per_1_73m2", "mL/min/1.73 m²"),
    ("_ml_per_min", "mL/min"),
    ("_10e9_per_l", "×10⁹/L"),
    ("_10e12_per_l", "×10¹²/L"),
    ("_g_per_dl", "g/dL"),
    ("_g_per_l", "g/L"),
    ("_years", "years"),
    ("_pct", "%"),
    ("_cm3", "cm³"),
    ("_kg", "kg"),
    ("_cm", "cm"),
    ("_mg", "mg"),
    ("_h", "h"),
)
_BOUND_WORDS = {
    "greater_than": "greater than",
    "greater_than_equal": "at least",
    "less_than": "less than",
    "less_than_equal": "at most",
}


def _known_field_names() -> list[str]:
    names: set[str] = set()
    for model in (Case, Patient, Covariates, Dose, Sample, Comedication):
        names.update(model.model_fields)
    return sorted(names)


def _shown_input(value: Any) -> str:
    """A short repr of an invalid input (a long text or list is cut, never echoed whole)."""
    text = repr(value) if not isinstance(value, list | dict | tuple) else type(value).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    loc = error["loc"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    name = str(loc[-1]) if loc and isinstance(loc[-1], str) else ""
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        known = _known_field_names()
        # a name without its unit suffix ("agp", "weight") first, then a likely typo
        hint = [k for k in known if k.startswith(name.lower() + "_")][:1] or (
            difflib.get_close_matches(name, known, n=1)
        )
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return f"unknown field {name!r} (not part of the case-file format){suggestion}"
    if kind in _BOUND_WORDS:
        unit = next((u for suffix, u in _UNIT_SUFFIXES if name.endswith(suffix)), "")
        limit = next(iter(ctx.values()), "?")
        limit = f"{limit:g}" if isinstance(limit, int | float) else limit
        shown = f"{value:g}" if isinstance(value, int | float) else repr(value)
        unit_text = f" {unit}" if unit else ""
        return (
            f"{shown}{unit_text} is out of range: must be {_BOUND_WORDS[kind]} {limit}{unit_text}"
        )
    if kind == "finite_number":
        return f"must be a finite number, got {_shown_input(value)}"
    if kind in ("float_parsing", "float_type", "int_parsing", "int_type"):
        return f"must be a number, got {_shown_input(value)}"
    if kind == "int_from_float":
        return f"must be a whole number, got {_shown_input(value)}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false, got {_shown_input(value)}"
    if kind in ("string_type",):
        return f"must be text, got {_shown_input(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of fields (key: value), got {_shown_input(value)}"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list, got {_shown_input(value)}"
    if kind == "too_short" and name == "doses":
        return "at least one dose entry is required"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "value_error":
        cause = ctx.get("error")
        return cause.message if isinstance(cause, CaseError) else str(cause)
    return str(error["msg"])


def _problems(error: ValidationError) -> list[tuple[_Loc, str]]:
    problems: list[tuple[_Loc, str]] = []
    errors = error.errors()
    for item in errors:
        if item["type"] == "too_short" and any(
            len(other["loc"]) > len(item["loc"]) and other["loc"][: len(item["loc"])] == item["loc"]
            for other in errors
        ):
            continue  # pydantic also reports the list as too short when its items are invalid
        loc: _Loc = tuple(
            part
            for part in item["loc"]
            if isinstance(part, int) or ("[" not in part and part not in ("float", "datetime"))
        )
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, CaseError) and "problems" in cause.fields:
            # cross-field problems found by Case._check_consistency, each with its own path
            for problem in cause.fields["problems"]:
                problems.append(((*loc, *problem["loc"]), problem["message"]))
            continue
        problems.append((loc, _describe(item)))
    return problems


def format_validation_error(error: ValidationError, *, source: str | None = None) -> str:
    """Render a pydantic ``ValidationError`` as lines ``field.path: message``, one per problem.

    Parameters
    ----------
    error : pydantic.ValidationError
        Raised while validating a case.
    source : str, optional
        File name to put in the heading.

    Returns
    -------
    str
        A heading and one line per problem, e.g.
        ``"  - patient.age_years: 150 years is out of range: must be at most 120 years"``.
    """
    return _render(_problems(error), source=source)


def _render(
    problems: list[tuple[_Loc, str]],
    *,
    source: str | None,
    lines: Mapping[_Loc, int] | None = None,
) -> str:
    where = f"{source}: " if source else ""
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    rendered = []
    for loc, message in problems:
        line = (lines or {}).get(loc)
        at = f" (line {line})" if line is not None else ""
        rendered.append(f"  - {_path(loc)}{at}: {message}")
    return f"{where}the case has {count}:\n" + "\n".join(rendered)


# --- Parsing and loading ------------------------------------------------------------------------


def parse_case(data: Mapping[str, Any], *, source: str | None = None) -> Case:
    """Validate a case given as plain data (as read from YAML or JSON).

    Parameters
    ----------
    data : mapping
        The case (keys ``patient``, ``covariates``, ``doses``, ``samples`` ...).
    source : str, optional
        Where the data came from, for messages.

    Returns
    -------
    Case

    Raises
    ------
    CaseError
        Every problem found, one per line as ``field.path: message``; ``field`` is the first
        problem's path and ``fields["problems"]`` lists all of them.

    Examples
    --------
    >>> case = parse_case({
    ...     "patient": {"id": "p1", "indication": "cml"},
    ...     "doses": [{"time": 0, "amount_mg": 400, "interval_h": 24, "count": 30}],
    ...     "samples": [{"time": 719, "concentration": 1.1, "unit": "mg/L"}],
    ... })
    >>> case.concentrations_ng_per_ml()
    array([1100.])
    """
    return _parse(data, source=source, lines=None)


def _parse(data: Any, *, source: str | None, lines: Mapping[_Loc, int] | None) -> Case:
    where = f"{source}: " if source else ""
    if data is None:
        raise CaseError(f"{where}the case is empty", field=None, source=source)
    if not isinstance(data, Mapping):
        raise CaseError(
            f"{where}a case must be a mapping with patient, doses and samples, "
            f"got {type(data).__name__}",
            field=None,
        )
    try:
        return Case.model_validate(data)
    except ValidationError as error:
        problems = _problems(error)
        raise CaseError(
            _render(problems, source=source, lines=lines),
            field=_path(problems[0][0]) if problems else None,
            problems=[{"field": _path(loc), "message": message} for loc, message in problems],
            source=source,
        ) from error


# Bounds of a case file as text, before any parsing: far above a real case (5,000 dose entries
# written out one per line are ~300 kB) and far below what hurts the process.
MAX_CASE_FILE_BYTES = 2_000_000
"""Largest case file read (bytes of UTF-8)."""
MAX_NESTING_DEPTH = 20
"""Deepest nesting of lists and mappings in a case file (a real case needs 5)."""
MAX_YAML_ALIASES = 100
"""Most YAML aliases (``*name``) in one case file: a few reuse a regimen; many nested ones expand
exponentially (a 1,470-byte "billion laughs" file took 3 GB)."""
MAX_EXPANDED_NODES = 500_000
"""Most YAML nodes of a case file once every alias is expanded (5,000 dose entries written out
are ~30,000); counted on the composed graph before anything is constructed or validated."""


class _CaseYamlLoader(yaml.SafeLoader):
    """Safe loader that leaves date-times as text, so that one parser reads every time.

    It also refuses alias bombs and deep nesting while composing, before anything is expanded.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _CaseFileLimitError(
                    f"more than {MAX_YAML_ALIASES} YAML aliases (*name); a case file needs few: "
                    "write the entries out"
                )
        self._depth += 1
        try:
            if self._depth > MAX_NESTING_DEPTH:
                raise _CaseFileLimitError(
                    f"lists and mappings nest deeper than {MAX_NESTING_DEPTH} levels"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _CaseFileLimitError(Exception):
    """A case file beyond the size, nesting or alias bounds (becomes a CaseError)."""


_CaseYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _node_lines(node: yaml.Node | None) -> dict[_Loc, int]:
    """1-based line of every path in a composed YAML document.

    An aliased node is walked where it is defined only (its other paths get no line): walking
    it at every use is what made alias bombs exhaust memory.
    """
    lines: dict[_Loc, int] = {}
    seen: set[int] = set()

    def walk(current: yaml.Node, loc: _Loc) -> None:
        if id(current) in seen:
            return
        if isinstance(current, yaml.CollectionNode):
            seen.add(id(current))
        lines[loc] = current.start_mark.line + 1
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    lines[(*loc, key.value)] = key.start_mark.line + 1
                    walk(value, (*loc, key.value))
                    lines[(*loc, key.value)] = key.start_mark.line + 1
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                walk(item, (*loc, index))

    if node is not None:
        walk(node, ())
    return lines


def _expanded_size(root: yaml.Node) -> int:
    """Number of nodes of the document with every alias expanded (memoised per node)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                total += size(key) + size(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
        sizes[id(node)] = total
        return total

    return size(root)


def _json_depth(text: str) -> int:
    """Deepest nesting of brackets in JSON text, strings left out (json.loads recurses)."""
    depth = deepest = 0
    for bracket in re.findall(r"[\[\]{}]", _JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _read_yaml(text: str, source: str) -> tuple[Any, dict[_Loc, int]]:
    loader = _CaseYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node) > MAX_EXPANDED_NODES:
            raise _CaseFileLimitError(
                f"the YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values; write the "
                "entries out instead of nesting aliases"
            )
        data = loader.construct_document(node) if node is not None else None
    except _CaseFileLimitError as error:
        raise CaseError(f"{source}: refused: {error}", field=None, source=source) from None
    except RecursionError:
        raise CaseError(
            f"{source}: refused: lists and mappings nest too deep", field=None, source=source
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise CaseError(
            f"{source}:{at}: YAML syntax error: {problem}", field=None, source=source
        ) from None
    finally:
        loader.dispose()
    return data, _node_lines(node)


def load_case(path: str | Path) -> Case:
    """Read and validate a case file (``.yaml``, ``.yml`` or ``.json``).

    Parameters
    ----------
    path : str or pathlib.Path
        The case file.

    Returns
    -------
    Case

    Raises
    ------
    CaseError
        The file is missing or unreadable, has a syntax error (message with file name and line),
        or describes an invalid case (every problem listed with its field and line).
    """
    file = Path(path)
    source = str(file)
    suffix = file.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise CaseError(
            f"{source}: unsupported case-file type {file.suffix!r}; use .yaml, .yml or .json",
            source=source,
        )
    try:
        # by its size on disk first: a huge file is refused before it is read
        if file.stat().st_size > MAX_CASE_FILE_BYTES:
            raise CaseError(
                f"{source}: the case file is too large (more than {MAX_CASE_FILE_BYTES:,} bytes)",
                source=source,
            )
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseError(f"{source}: case file not found", source=source) from None
    except (OSError, UnicodeDecodeError) as error:
        raise CaseError(f"{source}: cannot read the case file ({error})", source=source) from None
    if suffix == ".json":
        if _json_depth(text) > MAX_NESTING_DEPTH:
            raise CaseError(
                f"{source}: refused: lists and mappings nest deeper than {MAX_NESTING_DEPTH} "
                "levels",
                source=source,
            )
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CaseError(
                f"{source}: line {error.lineno}, column {error.colno}: JSON syntax error: "
                f"{error.msg}",
                source=source,
            ) from None
        try:  # JSON is YAML: reuse the YAML composer for line numbers (best effort)
            _, lines = _read_yaml(text, source)
        except CaseError:
            lines = {}
    else:
        data, lines = _read_yaml(text, source)
    return _parse(data, source=source, lines=lines)


_DEMO_NAME = re.compile(r"[A-Za-z0-9_-]+")


def demo_case_names() -> tuple[str, ...]:
    """Names of the demo cases shipped with the package (e.g. ``"demo-001"``)."""
    folder = resources.files("imatinib_tdm") / "data" / "demo"
    return tuple(
        sorted(
            item.name[: -len(".yaml")] for item in folder.iterdir() if item.name.endswith(".yaml")
        )
    )


def load_demo_case(name: str = "demo-001") -> Case:
    """Load a demo case shipped with the package (``imatinib_tdm/data/demo/<name>.yaml``).

    Parameters
    ----------
    name : str, default="demo-001"
        Demo case name; see :func:`demo_case_names`.

    Raises
    ------
    CaseError
        No demo case with that name.

    Examples
    --------
    >>> load_demo_case().patient.id
    'demo-001'
    """
    if not _DEMO_NAME.fullmatch(name) or name not in demo_case_names():
        raise CaseError(
            f"no demo case named {name!r}; available: {', '.join(demo_case_names())}",
            field=None,
        )
    resource = resources.files("imatinib_tdm") / "data" / "demo" / f"{name}.yaml"
    with resources.as_file(resource) as file:
        return load_case(file)


def case_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the case file, generated from the pydantic models.

    The committed ``schemas/case.schema.json`` must equal this (a test checks it).

    Returns
    -------
    dict
        The schema, JSON-serialisable.
    """
    schema = Case.model_json_schema(mode="validation")
    # a bare name stands for {name: ...} (validated by _comedication_from_text)
    comedications = schema["properties"]["comedications"]
    comedications["items"] = {
        "anyOf": [
            {"type": "string", "minLength": 1, "maxLength": MAX_LABEL_CHARS},
            comedications["items"],
        ]
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://imatinib-tdm.invalid/schemas/case.schema.json",
        **schema,
        "title": "imatinib-tdm case file",
    }
