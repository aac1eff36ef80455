"""Latency of ``POST /api/interpret`` under 16 concurrent clients, and PDF report render time.

Starts the service with uvicorn in a subprocess on 127.0.0.1 (a fresh SQLite database in a
temporary directory, one throw-away account), sends a bounded number of requests from 16
threads (each its own logged-in HTTP client), and prints p50/p95/max. The case is the packaged
one-sample demo case (demo-001) with the service's default one-compartment model. Then renders
the interpretation report of the same case to HTML and PDF a few times in-process.

Run: ``.venv/bin/python bench/bench_service.py [--clients 16] [--requests-per-client 20]
[--workers 2] [--no-pdf]``.
Target (issue 5): p95 under 200 ms.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.service import Settings
from imatinib_tdm.service.reporting import ReportFacts, render_report_html, render_report_pdf
from imatinib_tdm.store import Database, create_first_admin
from imatinib_tdm.tdm import interpret

_SERVER = (
    "import os; from imatinib_tdm.service import Settings, run_server; "
    "run_server('127.0.0.1', int(os.environ['BENCH_PORT']), Settings("
    "database_url=os.environ['DATABASE_URL'], secret_key=os.environ['IMATINIB_TDM_SECRET_KEY']), "
    "workers=int(os.environ['BENCH_WORKERS']))"
)
_DEFAULT_MODEL = str(Settings.model_fields["default_model_id"].default)
_TIME_LIMIT_S = 300.0  # the load loop stops by itself after this, whatever is left


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _login(base: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30.0)
    answer = client.post("/api/auth/login", json={"username": "bench", "password": password})
    answer.raise_for_status()
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return client


def bench_interpret(n_clients: int, per_client: int, *, workers: int = 1) -> None:
    """Run the load test and print the latency figures (ms)."""
    workdir = Path(tempfile.mkdtemp(prefix="imatinib-bench-"))
    url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    password = secrets.token_urlsafe(18)
    database = Database.connect(url)
    with database.transaction() as session:
        create_first_admin(session, username="bench", password=password, full_name="Bench")
    database.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "IMATINIB_TDM_SECRET_KEY": secrets.token_urlsafe(48),
        "BENCH_PORT": str(port),
        "BENCH_WORKERS": str(workers),
    }
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the service did not start")
            time.sleep(0.2)
        body = {"case": load_demo_case("demo-001").model_dump(mode="json")}
        clients = [_login(base, password) for _ in range(n_clients)]
        for _ in range(5 * workers):  # warm-up: imports, caches, first model load (each worker)
            for client in clients[: 2 * workers]:
                client.post("/api/interpret", json=body).raise_for_status()
        latencies: list[float] = []
        errors: list[int] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + _TIME_LIMIT_S
        barrier = threading.Barrier(n_clients)

        def worker(client: httpx.Client) -> None:
            barrier.wait()
            for _ in range(per_client):
                if time.monotonic() > stop_at:
                    return
                start = time.perf_counter()
                answer = client.post("/api/interpret", json=body)
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed * 1000.0)
                    if answer.status_code != 200:
                        errors.append(answer.status_code)

        threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
        wall = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - wall
        for client in clients:
            client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"POST /api/interpret, demo-001 (1 sample), model {_DEFAULT_MODEL}, "
        f"{workers} worker process(es)"
    )
    print(
        f"  {n_clients} concurrent clients, {len(latencies)} requests in {wall:.1f} s "
        f"({len(latencies) / wall:.1f} req/s), non-200: {len(errors)}"
    )
    print(
        f"  latency p50 {statistics.median(latencies):.0f} ms, p95 "
        f"{_percentile(latencies, 95):.0f} ms, max {max(latencies):.0f} ms (target p95 < 200 ms)"
    )


def bench_pdf(repeats: int = 3) -> None:
    """Render the interpretation report of demo-001 to HTML and PDF; print the times (s)."""
    case = load_demo_case("demo-001")
    model = get_model(_DEFAULT_MODEL)
    result = interpret(case, model)
    facts = ReportFacts(display_name="Bench, Demo", mrn="BENCH-1", birth_date=None, sex="female")
    html_s: list[float] = []
    pdf_s: list[float] = []
    size = 0
    for _ in range(repeats):
        start = time.perf_counter()
        html = render_report_html(case, result, model, facts)
        html_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        size = len(render_report_pdf(html))
        pdf_s.append(time.perf_counter() - start)
    print(
        f"report of demo-001: HTML {statistics.median(html_s):.2f} s, PDF "
        f"{statistics.median(pdf_s):.2f} s (median of {repeats}; first PDF "
        f"{pdf_s[0]:.2f} s), {size / 1024:.0f} KiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests-per-client", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--no-pdf", action="store_true", help="skip the PDF report timing")
    args = parser.parse_args()
    bench_interpret(args.clients, args.requests_per_client, workers=args.workers)
    if not args.no_pdf:
        bench_pdf()


if __name__ == "__main__":
    main()
