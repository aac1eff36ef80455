"""`imatinib-tdm serve` as a real server, in its two multi-core layouts: ``--workers 2`` (both
processes share the secret key and the database, so a session made by one worker is accepted by
the other) and one server process with compute processes (``--compute-processes 2``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from imatinib_tdm.case import load_demo_case

PASSWORD = "workers-test-password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize(
    "layout",
    [["--workers", "2"], ["--workers", "1", "--compute-processes", "2"]],
    ids=["two-workers", "compute-processes"],
)
def test_multi_core_layouts_serve_interpretations(tmp_path: Path, layout: list[str]) -> None:
    env = {
        **os.environ,
        "IMATINIB_TDM_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    cli = [sys.executable, "-m", "imatinib_tdm"]
    created = subprocess.run(
        [*cli, "create-admin", "--username", "chief", "--full-name", "Chief", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    port = _free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port), *layout],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            time.sleep(0.3)
        with httpx.Client(base_url=base, timeout=30) as client:
            login = client.post("/api/auth/login", json={"username": "chief", "password": PASSWORD})
            assert login.status_code == 200, login.text
            client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
            case = load_demo_case("demo-001").model_dump(mode="json")
            # new connections each time: the kernel spreads them over both workers (layout 1);
            # with compute processes, every answer comes through the pool (layout 2)
            for _ in range(6):
                answer = client.post(
                    "/api/interpret", json={"case": case}, headers={"Connection": "close"}
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["status"] == "subtherapeutic"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
