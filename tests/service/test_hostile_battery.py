"""The hostile-input battery: every route of a real server, fed markup, lone surrogates, NUL
bytes, bidi controls, NaN/Infinity, extreme and oversized values and YAML alias bombs.

The bar (issue 12): zero 5xx answers, and no request value in any line the server logs. Every
hostile text carries a marker (``PHIMARK<n>``); after the battery, the server's whole log
(uvicorn's access and error log, and anything the app logs) is searched for the markers.

It runs against ``imatinib-tdm serve`` in a subprocess (real HTTP parsing, real logging), on
SQLite and, when ``IMATINIB_TDM_TEST_POSTGRES_URL`` is set (always in CI), on PostgreSQL, where
NUL bytes in text are refused by the database itself. The JSON API is attacked field by field
(every leaf of a valid request body replaced by each hostile value), every query and path
parameter of the OpenAPI schema, and every form of every page reachable from the patient list
(each field replaced in turn).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx
import pytest

from imatinib_tdm.case import load_demo_case

from .conftest import postgres_schema_url

PASSWORD = "battery-" + secrets.token_hex(8)
MARK = "PHIMARK"
_PLACEHOLDER = "__HOSTILE_VALUE__"

# Raw JSON texts put in place of one value of a valid body: hostile text (each with a marker
# that must never reach a log) and hostile numbers (written as JSON tokens, some of which
# Python's json module accepts although JSON does not).
_TEXTS = {
    "markup": (
        '<script id="pwn-s">alert(1)</script><img id="pwn-i" src=x onerror=alert(1)>'
        '"\'><form id="pwn-f" action="/api/episodes/1/reports"><button>go</button></form>{m}'
    ),
    "surrogate": "{m}\ud800",
    "nul": "{m}\x00x",
    "bidi": "{m}\u202e\u200b\u2066",
    "script_end": "</script><!--{m}",
    "oversized": "{m}" + "x" * 300_000,
}
_NUMBERS = {
    "nan": "NaN",
    "infinity": "Infinity",
    "minus_infinity": "-Infinity",
    "huge": "1e308",
    "minus_huge": "-1e308",
    "tiny": "1e-300",
    "digits_4300": "1" + "0" * 4300,
    "minus_zero": "-0.0",
    "big_int": str(2**70),
}
_PATH_IDS = ["0", "-1", "1e308", "NaN", "1" + "0" * 4300, "%00", "%F0%9F%92%A9", "2147483648"]
_YAML_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)


def _encoded(value: str) -> str:
    """Percent-encoded UTF-8 of ``value``, lone surrogates included (as a browser or a hostile
    client could send them: bytes that are not valid UTF-8)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _form(data: dict[str, str]) -> bytes:
    """An ``application/x-www-form-urlencoded`` body, hostile bytes included."""
    return "&".join(f"{_encoded(k)}={_encoded(v)}" for k, v in data.items()).encode()


def _with_query(path: str, data: dict[str, str]) -> str:
    return f"{path}?{_form(data).decode()}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Battery:
    """A running server, its log file, a client per role, and the answers seen."""

    base: str
    log_path: Path
    clients: dict[str, httpx.Client]
    patient_id: int = 0
    episode_id: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    sent: int = 0
    pages: set[str] = field(default_factory=set)
    forms: set[str] = field(default_factory=set)
    _marks: int = 0

    def mark(self) -> str:
        self._marks += 1
        return f"{MARK}{self._marks:05d}"

    def record(self, label: str, answer: httpx.Response) -> None:
        self.sent += 1
        self.statuses[answer.status_code] += 1
        if answer.status_code >= 500:
            self.server_errors.append(f"{label}: {answer.status_code} {answer.text[:200]!r}")

    def send(self, role: str, method: str, path: str, label: str, **kwargs: Any) -> None:
        client = self.clients[role]
        try:
            answer = client.request(method, path, **kwargs)
        except httpx.TransportError:
            # the server may close a keep-alive connection after a 5xx (already counted); the
            # request is sent again once on a new connection, and a second failure counts
            try:
                answer = client.request(method, path, **kwargs)
            except httpx.HTTPError as error:
                self.sent += 1
                self.server_errors.append(f"{label}: {type(error).__name__}")
                return
        self.record(label, answer)


def _log_in(base: str, role: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120.0, follow_redirects=False)
    answer = client.post("/api/auth/login", json={"username": role, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return client


def _accounts(database_url: str) -> None:
    from imatinib_tdm.store import Database, create_first_admin, create_user

    database = Database.connect(database_url)
    try:
        with database.transaction() as session:
            admin = create_first_admin(
                session, username="admin", password=PASSWORD, full_name="Ada Admin"
            )
            for role in ("viewer", "clinician", "pharmacologist"):
                create_user(
                    session,
                    username=role,
                    password=PASSWORD,
                    role=role,
                    full_name=f"{role.title()} Tester",
                    actor=admin,
                )
    finally:
        database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def battery(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Battery]:
    """``imatinib-tdm serve`` on a fresh database with one account per role and one patient."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            database_url = f"sqlite:///{tmp_path / 'hostile.sqlite3'}"
        else:
            database_url = stack.enter_context(postgres_schema_url("hostile"))
        yield from _serve(database_url, tmp_path)


def _serve(database_url: str, tmp_path: Path) -> Iterator[Battery]:
    _accounts(database_url)
    port = _free_port()
    log_path = tmp_path / "server.log"
    env = {
        **os.environ,
        "IMATINIB_TDM_DATA_DIR": str(tmp_path),
        "DATABASE_URL": database_url,
        "IMATINIB_TDM_SECRET_KEY": secrets.token_urlsafe(48),
    }
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "imatinib_tdm", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state = Battery(f"http://127.0.0.1:{port}", log_path, {})
    try:
        _wait_until_up(state.base, server)
        for role in ("viewer", "clinician", "pharmacologist", "admin"):
            state.clients[role] = _log_in(state.base, role)
        _add_patient(state)
        yield state
    finally:
        for client in state.clients.values():
            client.close()
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/api/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("the server did not answer /api/health within 120 s")


def _case() -> dict[str, Any]:
    data: dict[str, Any] = load_demo_case("demo-001").model_dump(mode="json")
    return data


def _add_patient(state: Battery) -> None:
    clinician = state.clients["clinician"]
    patient = clinician.post(
        "/api/patients",
        json={
            "mrn": "HOSTILE-1",
            "family_name": "Target",
            "given_name": "Tina",
            "birth_date": "1970-01-02",
            "sex": "female",
            "indication": "GIST",
        },
    )
    assert patient.status_code == 201, patient.text
    state.patient_id = patient.json()["id"]
    episode = clinician.post(
        f"/api/patients/{state.patient_id}/episodes", json={"label": "e", "case": _case()}
    )
    assert episode.status_code == 201, episode.text
    state.episode_id = episode.json()["id"]
    pharmacologist = state.clients["pharmacologist"]
    interpreted = pharmacologist.post(
        f"/api/patients/{state.patient_id}/episodes/{state.episode_id}/interpretations", json={}
    )
    assert interpreted.status_code in (200, 201), interpreted.text
    issued = pharmacologist.post(f"/api/episodes/{state.episode_id}/reports", json={})
    assert issued.status_code in (200, 201), issued.text


# --- hostile values in JSON bodies -----------------------------------------------------------


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths of every leaf (and of every list and object, replaced whole) of a JSON value."""
    if path:
        yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))


def _replaced(body: Any, path: tuple[Any, ...]) -> Any:
    copy = json.loads(json.dumps(body))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = _PLACEHOLDER
    return copy


def _hostile_bodies(state: Battery, body: Any, *, full: bool) -> Iterator[tuple[str, bytes]]:
    """(label, raw JSON) with one leaf of ``body`` replaced by each hostile value."""
    text_kinds = list(_TEXTS) if full else ["markup", "surrogate", "nul"]
    number_kinds = list(_NUMBERS) if full else ["nan", "digits_4300", "tiny"]
    for path in _leaves(body):
        template = json.dumps(_replaced(body, path), ensure_ascii=True)
        label = "/".join(str(p) for p in path)
        for kind in text_kinds:
            text = _TEXTS[kind].format(m=state.mark())
            raw = template.replace(f'"{_PLACEHOLDER}"', json.dumps(text, ensure_ascii=True))
            yield f"{label}={kind}", raw.encode()
        for kind in number_kinds:
            yield f"{label}={kind}", template.replace(f'"{_PLACEHOLDER}"', _NUMBERS[kind]).encode()


def _json_routes(state: Battery) -> list[tuple[str, str, str, Any]]:
    """(role, method, path, valid body) for every JSON write of the API."""
    patient = f"/api/patients/{state.patient_id}"
    episode = f"{patient}/episodes/{state.episode_id}"
    exported = state.clients["pharmacologist"].get(f"{patient}/export")
    assert exported.status_code == 200, exported.text
    record = exported.json()
    record_patient = record.get("patient")
    if isinstance(record_patient, dict) and "mrn" in record_patient:
        record_patient["mrn"] = "HOSTILE-IMPORT"
    case = _case()
    return [
        ("anonymous", "POST", "/api/auth/login", {"username": "nobody", "password": "x"}),
        ("viewer", "POST", "/api/interpret", {"case": case, "model": "widmer2006_covariate"}),
        (
            "viewer",
            "POST",
            "/api/whatif",
            {"case": case, "regimens": [{"dose_mg": 400.0, "interval_h": 24.0}]},
        ),
        (
            "viewer",
            "POST",
            "/api/simulate",
            {
                "model": "widmer2006_covariate",
                "dose_mg": 400.0,
                "interval_h": 24.0,
                "n_doses": 15,
                "times_h": [1.0, 24.0],
                "covariates": {"weight_kg": 70.0, "age_years": 50.0},
            },
        ),
        (
            "clinician",
            "POST",
            "/api/patients",
            {
                "mrn": "NEW-1",
                "family_name": "New",
                "given_name": "Nina",
                "birth_date": "1980-05-06",
                "sex": "female",
                "indication": "CML",
            },
        ),
        ("clinician", "PATCH", patient, {"family_name": "Target", "birth_date": "1970-01-02"}),
        ("clinician", "POST", f"{patient}/episodes", {"label": "x", "case": case}),
        ("clinician", "PUT", episode, {"case": case, "label": "y", "expected_revision": 1}),
        ("pharmacologist", "POST", f"{episode}/interpretations", {"model": "petain2008"}),
        ("pharmacologist", "POST", f"/api/episodes/{state.episode_id}/reports", {"reason": "r"}),
        ("pharmacologist", "POST", "/api/patients/import", record),
    ]


def _attack_json_bodies(state: Battery, *, full: bool) -> None:
    anonymous = httpx.Client(base_url=state.base, timeout=120.0)
    state.clients["anonymous"] = anonymous
    for role, method, path, body in _json_routes(state):
        for label, raw in _hostile_bodies(state, body, full=full):
            state.send(
                role,
                method,
                path,
                f"{method} {path} {label}",
                content=raw,
                headers={"Content-Type": "application/json"},
            )
        # the body as a whole: not JSON, nested too deep, far too large, a YAML bomb
        deep = "[" * 100_000 + "]" * 100_000
        for label, raw in (
            ("not-json", b"{'case': nope"),
            ("deep", deep.encode()),
            ("20MB", b'{"case": "' + b"x" * 20_000_000 + b'"}'),
            ("yaml-bomb", _YAML_BOMB.encode()),
            ("bad-utf8", b'{"label": "\xff\xfe"}'),
        ):
            state.send(
                role,
                method,
                path,
                f"{method} {path} {label}",
                content=raw,
                headers={"Content-Type": "application/json"},
            )


# --- query and path parameters ---------------------------------------------------------------


def _attack_parameters(state: Battery, *, full: bool) -> None:
    schema = state.clients["viewer"].get("/openapi.json").json()
    kinds = list(_TEXTS) if full else ["markup", "surrogate", "nul"]
    for template, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method.upper() != "GET":
                continue
            parameters = operation.get("parameters", [])
            path = template.replace("{patient_id}", str(state.patient_id))
            path = path.replace("{episode_id}", str(state.episode_id))
            path = re.sub(r"\{[a-z_]*id\}", "1", path)
            for parameter in parameters:
                if parameter["in"] == "query":
                    for kind in kinds:
                        value = _TEXTS[kind].format(m=state.mark())[:5000]
                        url = _with_query(path, {parameter["name"]: value})
                        state.send("pharmacologist", "GET", url, f"GET {path}?{kind}")
                    for kind in _NUMBERS:
                        url = _with_query(path, {parameter["name"]: _NUMBERS[kind]})
                        state.send("pharmacologist", "GET", url, f"GET {path}?{kind}")
            for name in re.findall(r"\{([a-z_]+)\}", template):
                for bad in _PATH_IDS:
                    hostile = template.replace("{" + name + "}", bad)
                    hostile = re.sub(r"\{[a-z_]+\}", "1", hostile)
                    state.send("pharmacologist", "GET", hostile, f"GET {hostile}")


# --- every form of every page ---------------------------------------------------------------


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str]


class _PageParser(HTMLParser):
    """Same-origin links and the forms (with their default values) of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[_Form] = []
        self._form: _Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "a" and attributes.get("href", "").startswith("/"):
            self.links.append(attributes["href"])
        elif tag == "form":
            self._form = _Form(
                attributes.get("action", ""), attributes.get("method", "get").upper(), {}
            )
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "textarea", "select", "button"):
            name = attributes.get("name")
            if not name:
                return
            kind = attributes.get("type", "text")
            if tag == "select":
                self._select = name
                self._form.fields.setdefault(name, "")
            elif tag == "button" or kind in ("checkbox", "radio", "submit"):
                self._form.fields.setdefault(name, attributes.get("value", "on"))
            else:
                self._form.fields[name] = attributes.get("value", "")
        elif (
            tag == "option"
            and self._form is not None
            and self._select is not None
            and (not self._form.fields.get(self._select) or "selected" in attributes)
        ):
            self._form.fields[self._select] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _shape(path: str) -> str:
    """``/episodes/12/edit`` -> ``/episodes/N/edit``: one visit per kind of page."""
    return re.sub(r"/\d+", "/N", path)


def _crawl(
    state: Battery, role: str, limit: int = 80, *, start: list[str] | None = None
) -> tuple[list[str], list[tuple[str, _Form]]]:
    """One page of each kind reachable from the battery's patient and the menus, and their
    forms. The battery's own patient and episode are visited first."""
    client = state.clients[role]
    seen: list[str] = []
    shapes: set[str] = set()
    forms: list[tuple[str, _Form]] = []
    queue = start or [
        f"/patients/{state.patient_id}",
        f"/episodes/{state.episode_id}",
        f"/episodes/{state.episode_id}/edit",
        "/patients",
        "/simulate",
        "/models",
        "/account",
        "/users",
    ]
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if _shape(path) in shapes or path.startswith(("/static/", "/vendor/", "/logout", "/api/")):
            continue
        shapes.add(_shape(path))
        seen.append(path)
        answer = client.get(path)
        state.record(f"GET {path}", answer)
        if "text/html" not in answer.headers.get("content-type", ""):
            continue
        parser = _PageParser()
        parser.feed(answer.text)
        for link in parser.links:
            target = urlsplit(urljoin(path, link)).path
            if _shape(target) not in shapes:
                queue.append(target)
        for form in parser.forms:
            forms.append((path, form))
    return seen, forms


def _attack_forms(state: Battery, *, full: bool) -> None:
    kinds = list(_TEXTS) if full else ["markup", "surrogate", "nul"]
    numbers = ["nan", "infinity", "huge", "tiny", "digits_4300"] if full else ["nan"]
    state.clients["anonymous-browser"] = httpx.Client(base_url=state.base, timeout=120.0)
    for role in ("anonymous-browser", "clinician", "pharmacologist", "admin"):
        start = ["/login"] if role == "anonymous-browser" else None
        pages, forms = _crawl(state, role, start=start)
        state.pages.update(pages)
        for page in pages:  # reflected: a hostile query string on every page
            for kind in kinds:
                value = _TEXTS[kind].format(m=state.mark())[:5000]
                state.send(role, "GET", _with_query(page, {"q": value}), f"GET {page}?q={kind}")
        done: set[tuple[str, str, tuple[str, ...]]] = set()
        for page, form in forms:
            action = urljoin(page, form.action or page)
            if "logout" in action:
                continue
            key = (_shape(action), form.method, tuple(sorted(form.fields)))
            if key in done:
                continue
            done.add(key)
            state.forms.add(f"{form.method} {action}")
            for name in form.fields:
                if name == "csrf_token":
                    continue
                values = [(k, _TEXTS[k].format(m=state.mark())) for k in kinds]
                values += [(k, _NUMBERS[k]) for k in numbers]
                for kind, value in values:
                    data = {**form.fields, name: value}
                    label = f"{form.method} {action} [{name}]={kind}"
                    if form.method == "POST":
                        headers = {"Content-Type": "application/x-www-form-urlencoded"}
                        state.send(
                            role, "POST", action, label, content=_form(data), headers=headers
                        )
                    else:
                        data = {k: v[:5000] for k, v in data.items()}
                        state.send(role, "GET", _with_query(action, data), label)


def _assert_clean(state: Battery) -> None:
    log = state.log_path.read_text(encoding="utf-8", errors="replace")
    leaked = sorted(set(re.findall(MARK + r"\d{5}", log)))
    problems = []
    if state.server_errors:
        problems.append(
            f"{len(state.server_errors)} of {state.sent} requests got a 5xx or a dropped "
            "connection:\n" + "\n".join(state.server_errors[:40])
        )
    if leaked:
        lines = [line[:300] for line in log.splitlines() if MARK in line][:10]
        problems.append(
            f"{len(leaked)} request values reached the server log:\n" + "\n".join(lines)
        )
    if "Traceback" in log:
        problems.append("the server logged a traceback:\n" + log[log.index("Traceback") :][:3000])
    assert not problems, "\n\n".join(problems)


def _report(name: str, state: Battery) -> None:
    print(
        f"hostile battery ({name}): {state.sent} requests, statuses {dict(state.statuses)}; "
        f"{len(state.pages)} pages, {len(state.forms)} forms: {sorted(state.forms)}"
    )


@pytest.mark.parametrize(
    ("full", "at_least"),
    [(False, 3000), pytest.param(True, 10000, marks=pytest.mark.slow)],
    ids=["sample", "full"],
)
def test_hostile_inputs(battery: Battery, full: bool, at_least: int) -> None:
    """Every body, parameter and form: a sample of three text and three number kinds by
    default, every hostile kind under ``slow``."""
    _attack_json_bodies(battery, full=full)
    _attack_parameters(battery, full=full)
    _attack_forms(battery, full=full)
    _report("full" if full else "sample", battery)
    assert battery.sent > at_least
    _assert_clean(battery)
