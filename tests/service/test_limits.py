"""Abuse limits of the service (issue 12): request bodies (413), hostile numbers and text (422,
never a 500 and never the value in a log), required ``expected_revision``, bounded integers,
relative redirects whatever the ``Host`` header, computations that cannot be interpreted (422),
and compute time limits and client disconnects with a real compute pool."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import signal
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.service import Settings, create_app
from imatinib_tdm.service.compute_pool import (
    ClientGoneError,
    ComputePool,
    ComputeUnavailableError,
)
from imatinib_tdm.service.limits import RequestGuard, relative_location

from .conftest import log_in
from .test_postgres import postgres_app  # noqa: F401 (the fixture)


def _app(template: Path, tmp_path: Path, **settings: Any) -> FastAPI:
    shutil.copyfile(template, tmp_path / "service.sqlite3")
    url = f"sqlite:///{tmp_path / 'service.sqlite3'}"
    return create_app(Settings(database_url=url, secret_key=secrets.token_urlsafe(48), **settings))


def _case() -> dict[str, Any]:
    return load_demo_case("demo-001").model_dump(mode="json")


def _episode(client: TestClient, case: dict[str, Any] | None = None) -> tuple[int, int]:
    patient = client.post(
        "/api/patients", json={"mrn": "LIM-1", "family_name": "Limit", "given_name": "Lena"}
    )
    assert patient.status_code == 201, patient.text
    pid = patient.json()["id"]
    episode = client.post(
        f"/api/patients/{pid}/episodes", json={"case": case or _case(), "label": "E1"}
    )
    assert episode.status_code == 201, episode.text
    return pid, episode.json()["id"]


def _json_answer(response: Any) -> Any:
    # the answer is valid JSON (a 422 that itself fails to serialise was a 500)
    return json.loads(response.content.decode("utf-8"))


# --- body size ------------------------------------------------------------------------------


def test_bodies_over_the_limit_get_413_whatever_content_length_says(app: FastAPI) -> None:
    client = log_in(app, "viewer")
    limit = app.state.settings.max_body_bytes
    declared = client.post(
        "/api/interpret",
        content=b"{" + b" " * limit + b"}",
        headers={"content-type": "application/json"},
    )
    assert declared.status_code == 413 and "at most" in _json_answer(declared)["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for _ in range(limit // 50_000 + 2):
            yield b" " * 50_000

    streamed = client.post(
        "/api/interpret", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413 and "at most" in streamed.text
    form = client.post(
        "/login",
        content=b"username=" + b"x" * (limit + 10),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 413


def _through_guard(
    chunks: list[dict[str, Any]], headers: list[tuple[bytes, bytes]]
) -> tuple[list[bytes], list[int], list[MutableMapping[str, Any]]]:
    """Send ``chunks`` as a POST body through a RequestGuard (1,000-byte limit) in front of an
    app that reads the whole body and answers 200: (the body chunks the app received, the total
    it counted once it had read the whole body (empty if it never did), the messages sent to
    the client)."""
    seen: list[bytes] = []
    reached: list[int] = []
    sent: list[MutableMapping[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            seen.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        reached.append(sum(len(chunk) for chunk in seen))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/interpret",
        "query_string": b"",
        "headers": headers,
    }
    asyncio.run(RequestGuard(inner, max_body_bytes=1000)(scope, receive, send))
    return seen, reached, sent


def test_a_lying_content_length_does_not_pass_the_count() -> None:
    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True}] * 3 + [
        {"type": "http.request", "body": b"", "more_body": False}
    ]
    headers = [(b"content-length", b"10"), (b"content-type", b"application/json")]
    _, reached, sent = _through_guard(chunks, headers)
    assert reached == []  # the app never saw the whole body
    assert sent[0]["status"] == 413


# --- hostile numbers and text -----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        '"probability": NaN',
        '"probability": Infinity',
        '"probability": -Infinity',
        '"seed": 1e309',
        '"seed": ' + "9" * 4299,
        '"model": "\\ud800"',
        '"target": "a\\u0000b"',
    ],
)
def test_hostile_options_get_a_json_422(app: FastAPI, raw: str) -> None:
    client = log_in(app, "viewer")
    body = f'{{"case": {json.dumps(_case())}, {raw}}}'
    answer = client.post(
        "/api/interpret", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    detail = _json_answer(answer)["detail"]
    assert detail and all("loc" in d and "msg" in d for d in detail)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"doses": [{"time": 0, "amount_mg": 1e-300}]}, ["case", "doses", 0, "amount_mg"]),
        (
            {"samples": [{"time": 1e12, "concentration": 800, "unit": "ng/mL"}]},
            ["case", "samples", 0, "time"],
        ),
        ({"notes": "n" * 1_000_000}, ["case", "notes"]),
        # refused by the request guard already (any JSON body), before the case model
        ({"comedications": ["\ud800"]}, ["body"]),
    ],
)
def test_hostile_cases_cannot_be_saved_or_interpreted(
    app: FastAPI, change: dict[str, Any], field: list[Any]
) -> None:
    client = log_in(app, "clinician")
    pid, _eid = _episode(client)
    bad = {**_case(), **change}
    for url, extra in ((f"/api/patients/{pid}/episodes", {"label": "x"}), ("/api/interpret", {})):
        body = json.dumps({"case": bad, **extra}, ensure_ascii=True).encode()
        answer = client.post(url, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 422, answer.text
        assert _json_answer(answer)["detail"][0]["loc"] == field


def test_a_valid_case_the_engine_cannot_fit_is_a_422_with_the_reason(app: FastAPI) -> None:
    # one 1 mg dose and a level of 1000 ng/mL 91 years later: every posterior weight underflows
    case = {
        "patient": {"id": "p", "indication": "GIST", "weight_kg": 70, "age_years": 60},
        "doses": [{"time": 0, "amount_mg": 1}],
        "samples": [{"time": 800_000, "concentration": 1000, "unit": "ng/mL"}],
    }
    client = log_in(app, "clinician")
    answer = client.post("/api/interpret", json={"case": case})
    assert answer.status_code == 422, answer.text
    assert "cannot be interpreted" in answer.json()["detail"][0]["msg"]
    pid, eid = _episode(client, case)
    stored = client.post(f"/api/patients/{pid}/episodes/{eid}/interpretations", json={})
    assert stored.status_code == 422 and "cannot be interpreted" in stored.text


def test_control_characters_in_query_and_forms_are_refused_and_not_logged(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    client = log_in(app, "viewer")
    marker = "PHI-MARKER-7731"
    with caplog.at_level(logging.DEBUG):
        for url in (
            f"/api/patients?q={marker}%00",
            f"/patients?q={marker}%00",
            "/api/patients?q=%ED%A0%80",
        ):
            answer = client.get(url)
            assert answer.status_code == 422, (url, answer.status_code)
        login = TestClient(app).post("/login", data={"username": f"{marker}\x00", "password": "x"})
        assert login.status_code == 422
        api_login = TestClient(app).post(
            "/api/auth/login",
            content=(f'{{"username": "{marker}\\u0000", "password": "x"}}').encode(),
            headers={"content-type": "application/json"},
        )
        assert api_login.status_code == 422
        surrogate = TestClient(app).post(
            "/api/auth/login",
            content=b'{"username": "\\udc00x", "password": "x"}',
            headers={"content-type": "application/json"},
        )
        assert surrogate.status_code == 422
    server_side = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    assert not any(marker in line for line in server_side)


# --- revisions and integers --------------------------------------------------------------------


def test_an_episode_edit_needs_expected_revision(app: FastAPI) -> None:
    client = log_in(app, "clinician")
    pid, eid = _episode(client)
    url = f"/api/patients/{pid}/episodes/{eid}"
    missing = client.put(url, json={"case": _case()})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "expected_revision"]
    revision = client.get(url).json()["revision"]
    changed = {**_case(), "notes": "changed"}
    assert client.put(url, json={"case": changed, "expected_revision": revision}).status_code == 200
    stale = client.put(url, json={"case": _case(), "expected_revision": revision})
    assert stale.status_code == 409
    huge = client.put(
        url,
        content=(
            '{{"case": {}, "expected_revision": {}}}'.format(json.dumps(_case()), "9" * 4299)
        ).encode(),
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 422
    assert client.get(f"/api/patients/{'9' * 4299}").status_code == 422


# --- Host header -------------------------------------------------------------------------------


def test_no_redirect_names_a_forged_host(app: FastAPI) -> None:
    anonymous = TestClient(app)
    viewer = log_in(app, "viewer")
    paths: set[str] = {"/", "//evil.example/", "/\\evil.example/"}
    for route in app.routes:
        concrete = getattr(route, "path", "")
        for name in ("patient_id", "episode_id", "report_id"):
            concrete = concrete.replace("{" + name + "}", "1")
        if concrete and "{" not in concrete:
            paths.update({concrete, concrete.rstrip("/") + "/"})
    locations: list[str] = []
    for client in (anonymous, viewer):
        for path in sorted(paths):
            for method in ("GET", "POST"):
                answer = client.request(
                    method, path, headers={"host": "evil.example"}, follow_redirects=False
                )
                if "location" in answer.headers:
                    locations.append(answer.headers["location"])
        login = client.post(
            "/login",
            data={"username": "viewer", "password": "wrong"},
            headers={"host": "evil.example"},
            follow_redirects=False,
        )
        locations.extend([login.headers["location"]] if "location" in login.headers else [])
    assert locations, "no redirect was exercised"
    for location in locations:
        assert "evil.example" not in location.split("/")[2:3] and not location.startswith(
            ("//", "http")
        ), location


def test_relative_location() -> None:
    assert relative_location("http://evil.example/a/?b=1") == "/a/?b=1"
    assert relative_location("//evil.example") == "/"
    assert relative_location("http://testserver//evil.example/x") == "/evil.example/x"
    assert relative_location("/\\evil.example") == "/evil.example"
    assert relative_location("/patients") == "/patients"


# --- compute time limits, disconnects, shutdown (real compute processes) ------------------------


def _sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _touch_and_sleep(path: str, seconds: float) -> int:
    Path(path).write_text("ran", encoding="utf-8")
    time.sleep(seconds)
    return os.getpid()


@pytest.mark.slow
def test_pool_stops_overrunning_and_abandoned_work_and_keeps_serving(tmp_path: Path) -> None:
    async def scenario() -> None:
        pool = ComputePool(
            1, "widmer2006_covariate", time_limit_s=1.0, queue_limit_s=20.0, large_processes=0
        )
        pool.start()
        try:
            first_pid = await pool.run(_sleep, 0.0)
            started = time.monotonic()
            with pytest.raises(ComputeUnavailableError, match="longer than 1 s"):
                await pool.run(_sleep, 60.0)
            assert time.monotonic() - started < 5.0
            # the stuck process was killed; a replacement serves the next request
            second_pid = await pool.run(_sleep, 0.0)
            assert second_pid != first_pid
            assert not _alive(first_pid)

            # a client that disconnects while its work runs: the process is stopped
            gone_at = time.monotonic() + 0.5

            async def disconnects_soon() -> bool:
                return time.monotonic() > gone_at

            with pytest.raises(ClientGoneError):
                await pool.run(_sleep, 60.0, disconnected=disconnects_soon)
            assert time.monotonic() - gone_at < 3.0
            third_pid = await pool.run(_sleep, 0.0)
            assert third_pid != second_pid and not _alive(second_pid)

            # queued work of a client that is gone never starts
            marker = tmp_path / "ran"
            busy = asyncio.ensure_future(pool.run(_sleep, 0.8))
            await asyncio.sleep(0.1)

            async def gone() -> bool:
                return True

            with pytest.raises(ClientGoneError):
                await pool.run(_touch_and_sleep, str(marker), 0.0, disconnected=gone)
            assert await busy == third_pid
            assert not marker.exists()

            await asyncio.sleep(0.1)
            # a process killed from outside while idle: the next job goes to its replacement
            idle_pid = pool.pids[0]
            os.kill(idle_pid, signal.SIGKILL)
            while _alive(idle_pid):
                await asyncio.sleep(0.05)
            assert await pool.run(_sleep, 0.0) != idle_pid

            # closing does not wait for a stuck computation
            stuck = asyncio.ensure_future(pool.run(_sleep, 60.0))
            await asyncio.sleep(0.3)
            closing = time.monotonic()
            pool.close()
            assert time.monotonic() - closing < 5.0
            with pytest.raises(ComputeUnavailableError):
                await stuck
        finally:
            pool.close()

    asyncio.run(scenario())


def _alive(pid: int) -> bool:
    """True while any thread of process ``pid`` is not a zombie (a killed multi-threaded process
    shows its main thread as a zombie while the others are still exiting, its pipes open)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/stat", encoding="utf-8") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                    return True
        except OSError:
            continue
    return False


def _large_case() -> dict[str, Any]:
    return {
        "patient": {"id": "big", "indication": "GIST", "weight_kg": 70, "age_years": 60},
        "doses": [{"time": 24.0 * i, "amount_mg": 400} for i in range(5000)],
        "samples": [{"time": 24.0 * 4999 + 23.5, "concentration": 1000, "unit": "ng/mL"}],
    }


@pytest.mark.slow
def test_interpretation_over_the_time_limit_answers_503_and_the_pool_keeps_serving(
    tmp_path: Path, _template_database: Path
) -> None:
    app = _app(_template_database, tmp_path, compute_processes=1, compute_time_limit_s=0.3)
    with TestClient(app) as client:
        client.headers["X-CSRF-Token"] = client.post(
            "/api/auth/login", json={"username": "viewer", "password": _password()}
        ).json()["csrf_token"]
        pool = app.state.compute_pool
        before = pool.pids
        slow = client.post("/api/interpret", json={"case": _large_case()})
        assert slow.status_code == 503, slow.text
        assert "longer than 0.3 s" in slow.json()["detail"][0]["msg"]
        deadline = time.monotonic() + 60
        normal = client.post("/api/interpret", json={"case": _case()})
        while normal.status_code == 503 and time.monotonic() < deadline:  # replacement warming up
            normal = client.post("/api/interpret", json={"case": _case()})
        assert normal.status_code == 200, normal.text
        assert pool.pids != before


def test_in_process_interpretation_over_the_time_limit_answers_503(
    tmp_path: Path, _template_database: Path
) -> None:
    app = _app(_template_database, tmp_path, compute_time_limit_s=0.3)
    client = log_in(app, "viewer")
    started = time.monotonic()
    slow = client.post("/api/interpret", json={"case": _large_case()})
    assert slow.status_code == 503 and time.monotonic() - started < 3.0, slow.text
    started = time.monotonic()
    slow = client.post("/api/whatif", json={"case": _large_case()})
    assert slow.status_code == 503 and time.monotonic() - started < 3.0, slow.text
    assert "longer than 0.3 s" in slow.json()["detail"][0]["msg"]
    # a stored episode's interpretation, computed in the web process: the same limit
    clinician = log_in(app, "clinician")
    pid, eid = _episode(clinician, _large_case())
    started = time.monotonic()
    slow = clinician.post(f"/api/patients/{pid}/episodes/{eid}/interpretations", json={})
    assert slow.status_code == 503 and time.monotonic() - started < 3.0, slow.text


@pytest.mark.slow
def test_report_pdf_is_rendered_in_a_compute_process(
    tmp_path: Path, _template_database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(_template_database, tmp_path, compute_processes=1)
    with TestClient(app) as client:
        login = client.post(
            "/api/auth/login", json={"username": "pharmacologist", "password": _password()}
        )
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        pid, eid = _episode(client)
        assert (
            client.post(f"/api/patients/{pid}/episodes/{eid}/interpretations", json={}).status_code
            == 201
        )
        import imatinib_tdm.report as report

        calls: list[str] = []
        original = report.html_to_pdf

        def in_web_process(html: str) -> bytes:  # replaced here only, not in the workers
            calls.append("web")
            return original(html)

        monkeypatch.setattr("imatinib_tdm.service.reporting.html_to_pdf", in_web_process)
        issued = client.post(f"/api/episodes/{eid}/reports", json={})
        assert issued.status_code == 201, issued.text
        assert calls == []  # not rendered in the web process
        pdf = client.get(issued.json()["pdf_url"])
        assert pdf.content.startswith(b"%PDF")


def _password() -> str:
    from .conftest import PASSWORD

    return PASSWORD


def test_control_and_lone_surrogate_escapes_in_any_json_body_are_a_422(app: FastAPI) -> None:
    client = log_in(app, "clinician")
    for raw in (b'{"record": "a\\u0000b"}', b'{"record": "\\udc00"}', b'{"r": "\\ud800 "}'):
        answer = client.post(
            "/api/patients/import", content=raw, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 422, answer.text
        assert _json_answer(answer)["detail"][0]["loc"] == ["body"]


def test_a_surrogate_pair_split_across_chunks_is_accepted() -> None:
    chunks = [
        {"type": "http.request", "body": b'{"a": "\\ud83d', "more_body": True},
        {"type": "http.request", "body": b'\\ude00"}', "more_body": False},
    ]
    seen, _, sent = _through_guard(chunks, [(b"content-type", b"application/json")])
    assert sent[0]["status"] == 200 and len(seen) == 2


def test_nul_in_search_and_username_on_postgresql_is_a_422_not_logged(
    postgres_app: FastAPI,  # noqa: F811 (the fixture imported above)
    caplog: pytest.LogCaptureFixture,
) -> None:
    viewer = log_in(postgres_app, "viewer")
    marker = "PHI-MARKER-5120"
    with caplog.at_level(logging.DEBUG):
        assert viewer.get(f"/api/patients?search={marker}%00").status_code == 422
        assert viewer.get(f"/patients?q={marker}%00").status_code == 422
        anonymous = TestClient(postgres_app)
        api = anonymous.post(
            "/api/auth/login",
            content=f'{{"username": "{marker}\\u0000", "password": "x"}}'.encode(),
            headers={"content-type": "application/json"},
        )
        assert api.status_code == 422
        form = anonymous.post("/login", data={"username": f"{marker}\x00", "password": "x"})
        assert form.status_code == 422
    server_side = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    assert not any(marker in line for line in server_side)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_real_server_stops_the_work_of_a_client_that_left_and_shuts_down_promptly(
    tmp_path: Path, _template_database: Path
) -> None:
    import threading

    import httpx
    import uvicorn

    app = _app(_template_database, tmp_path, compute_processes=1, compute_time_limit_s=60.0)
    port = _free_port()
    # uvloop as `serve` runs it: its add_reader made the pipe non-blocking, and a case of more
    # than 64 kB then failed to reach the compute process (EAGAIN, a 500)
    config = uvicorn.Config(app, port=port, log_level="warning", lifespan="on", loop="uvloop")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.2)
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            login = client.post(
                "/api/auth/login", json={"username": "viewer", "password": _password()}
            )
            client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
            big = {**_case(), "notes": "x" * 300_000}
            for _ in range(3):  # more than a pipe buffer, several times
                refused = client.post("/api/interpret", json={"case": big})
                assert refused.status_code == 422, refused.text
            assert client.post("/api/interpret", json={"case": _case()}).status_code == 200
            pool = app.state.compute_pool
            before = pool.pids
            # the largest case takes seconds: the client gives up after 0.5 s
            with pytest.raises(httpx.ReadTimeout):
                client.post("/api/interpret", json={"case": _large_case()}, timeout=0.5)
            gone = time.monotonic()
            while pool.pids == before and time.monotonic() - gone < 5:
                time.sleep(0.05)
            assert pool.pids != before, "the abandoned computation kept its process"
            assert time.monotonic() - gone < 2.0
            (stopped,) = set(before) - set(pool.pids)  # the large-case lane's process
            assert not _alive(stopped)
            # the pool keeps serving (once the replacement is warm)
            answer = client.post("/api/interpret", json={"case": _case()}, timeout=90)
            while answer.status_code == 503 and time.monotonic() - gone < 90:
                answer = client.post("/api/interpret", json={"case": _case()}, timeout=90)
            assert answer.status_code == 200, answer.text
    finally:
        stopping = time.monotonic()
        server.should_exit = True
        thread.join(timeout=30)
    assert not thread.is_alive() and time.monotonic() - stopping < 10


def test_a_nul_in_a_multipart_form_field_is_a_422(app: FastAPI) -> None:
    answer = TestClient(app).post(
        "/login", files={"username": (None, "PHI\x00x"), "password": (None, "x")}
    )
    assert answer.status_code == 422
