"""Latency of ``POST /api/interpret`` under 16 concurrent clients, and PDF report render time.

Starts the service with ``run_server`` in a subprocess on 127.0.0.1 (a fresh SQLite database in
a temporary directory, one throw-away account), sends a bounded number of requests from 16
threads (each its own logged-in keep-alive connection), and prints p50/p95/max, the service's
CPU per request and its split by process. The case is the packaged one-sample demo case
(demo-001) with the service's default one-compartment model. Then renders the interpretation
report of the same case to HTML and PDF a few times in-process.

Run: ``.venv/bin/python bench/bench_service.py [--clients 16] [--requests-per-client 50]
[--workers 1] [--compute-processes 2] [--no-pdf]``.
Target (issue 5): p95 under 200 ms. Results: docs/service.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.service import Settings
from imatinib_tdm.service.reporting import ReportFacts, render_report_html, render_report_pdf
from imatinib_tdm.store import Database, create_first_admin
from imatinib_tdm.tdm import interpret

_SERVER = (
    "import os; from imatinib_tdm.service import Settings, run_server; "
    "run_server('127.0.0.1', int(os.environ['BENCH_PORT']), Settings("
    "database_url=os.environ['DATABASE_URL'], secret_key=os.environ['IMATINIB_TDM_SECRET_KEY'], "
    "compute_processes=int(os.environ['BENCH_COMPUTE'])), "
    "workers=int(os.environ['BENCH_WORKERS']))"
)
_DEFAULT_MODEL = str(Settings.model_fields["default_model_id"].default)
_TIME_LIMIT_S = 300.0  # the load loop stops by itself after this, whatever is left


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class _Client:
    """A logged-in keep-alive HTTP/1.1 connection (``http.client``: a light load generator).

    The load generator shares the machine's two cores with the service, so it is kept cheap:
    httpx costs several ms of CPU per request, ``http.client`` well under one.
    """

    def __init__(self, port: int, password: str) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        status, payload, cookie = self._send(
            "/api/auth/login", {"username": "bench", "password": password}, {}
        )
        if status != 200:
            raise SystemExit(f"bench login failed: {status}")
        self._headers = {"Cookie": cookie, "X-CSRF-Token": json.loads(payload)["csrf_token"]}

    def _send(self, path: str, body: object, headers: dict[str, str]) -> tuple[int, bytes, str]:
        data = json.dumps(body).encode()
        self._connection.request(
            "POST", path, body=data, headers={"Content-Type": "application/json", **headers}
        )
        answer = self._connection.getresponse()
        payload = answer.read()
        cookie = (answer.getheader("set-cookie") or "").split(";", 1)[0]
        return answer.status, payload, cookie

    def post(self, path: str, body: bytes) -> int:
        """POST a pre-encoded JSON body; return the status (the answer is read in full).

        A keep-alive connection the server closed while idle (uvicorn: after 5 s) is opened
        again once, as browsers and httpx do.
        """
        headers = {"Content-Type": "application/json", **self._headers}
        try:
            self._connection.request("POST", path, body=body, headers=headers)
            answer = self._connection.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self._connection.close()
            self._connection.request("POST", path, body=body, headers=headers)
            answer = self._connection.getresponse()
        answer.read()
        return answer.status

    def close(self) -> None:
        self._connection.close()


def _cpu_seconds(pid: int) -> dict[int, float]:
    """User + system CPU time (s) of a process and each of its live children (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    times: dict[int, float] = {}
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        times[one] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return times


def _steal_ticks() -> int:
    """CPU time taken by the hypervisor from this virtual machine (``steal`` of /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return 0
    return int(fields[8]) if len(fields) > 8 else 0


@contextmanager
def running_service(
    url: str, *, workers: int = 1, compute_processes: int = 0
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``run_server`` on ``url`` in a subprocess on a free loopback port, until the block ends.

    Yields the process and its port once ``/api/health`` answers 200.
    """
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "IMATINIB_TDM_SECRET_KEY": secrets.token_urlsafe(48),
        "BENCH_PORT": str(port),
        "BENCH_WORKERS": str(workers),
        "BENCH_COMPUTE": str(compute_processes),
    }
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
                probe.request("GET", "/api/health")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the service did not start")
            time.sleep(0.2)
        yield server, port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a shutdown that hangs is a finding, not a hang here
            print("  (the service did not stop within 30 s of SIGTERM: killed)")
            server.kill()
            server.wait()


def bench_interpret(
    n_clients: int, per_client: int, *, workers: int = 1, compute_processes: int = 0
) -> None:
    """Run the load test and print the latency figures (ms)."""
    workdir = Path(tempfile.mkdtemp(prefix="imatinib-bench-"))
    url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    password = secrets.token_urlsafe(18)
    database = Database.connect(url)
    with database.transaction() as session:
        create_first_admin(session, username="bench", password=password, full_name="Bench")
    database.dispose()
    with running_service(url, workers=workers, compute_processes=compute_processes) as (
        server,
        port,
    ):
        body = json.dumps({"case": load_demo_case("demo-001").model_dump(mode="json")}).encode()
        clients = [_Client(port, password) for _ in range(n_clients)]
        for client in 3 * clients:  # warm-up: imports, caches, first model load (each worker)
            if client.post("/api/interpret", body) != 200:
                raise SystemExit("warm-up request failed")
        latencies: list[float] = []
        errors: list[int] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + _TIME_LIMIT_S
        barrier = threading.Barrier(n_clients)

        def worker(client: _Client) -> None:
            barrier.wait()
            for _ in range(per_client):
                if time.monotonic() > stop_at:
                    return
                start = time.perf_counter()
                status = client.post("/api/interpret", body)
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed * 1000.0)
                    if status != 200:
                        errors.append(status)

        threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
        cpu_before = _cpu_seconds(server.pid)
        own_cpu = time.process_time()
        steal = _steal_ticks()
        wall = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - wall
        steal = _steal_ticks() - steal
        after = _cpu_seconds(server.pid)
        by_process = {p: t - cpu_before.get(p, 0.0) for p, t in after.items()}
        server_cpu = sum(by_process.values())
        own_cpu = time.process_time() - own_cpu
        for client in clients:
            client.close()
    print(
        f"POST /api/interpret, demo-001 (1 sample), model {_DEFAULT_MODEL}, "
        f"{workers} server process(es), {compute_processes} compute process(es) each"
    )
    print(
        f"  {n_clients} concurrent clients, {len(latencies)} requests in {wall:.1f} s "
        f"({len(latencies) / wall:.1f} req/s), non-200: {len(errors)}"
    )
    print(
        f"  latency p50 {statistics.median(latencies):.0f} ms, p95 "
        f"{percentile(latencies, 95):.0f} ms, max {max(latencies):.0f} ms (target p95 < 200 ms)"
    )
    print(
        f"  CPU per request: service {1000.0 * server_cpu / len(latencies):.1f} ms, "
        f"load generator {1000.0 * own_cpu / len(latencies):.1f} ms "
        f"({os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; CPU time stolen "
        f"by the hypervisor {100.0 * steal / os.sysconf('SC_CLK_TCK') / wall:.0f}% of one core)"
    )
    busy = sorted((t for t in by_process.values() if t > 0.05), reverse=True)
    print(
        "  service CPU by process: "
        + ", ".join(f"{100.0 * t / server_cpu:.0f}%" for t in busy)
        + " (uneven shares between workers lengthen the queue of the busier one)"
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
    parser.add_argument("--requests-per-client", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn server processes")
    parser.add_argument(
        "--compute-processes",
        type=int,
        default=2,
        help="interpretation processes per server process (serve --compute-processes)",
    )
    parser.add_argument("--no-pdf", action="store_true", help="skip the PDF report timing")
    args = parser.parse_args()
    bench_interpret(
        args.clients,
        args.requests_per_client,
        workers=args.workers,
        compute_processes=args.compute_processes,
    )
    if not args.no_pdf:
        bench_pdf()


if __name__ == "__main__":
    main()
