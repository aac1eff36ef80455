"""Abuse run (issue 12): clinicians' latency without and during an attack, same machine, same run.

Starts the service as ``imatinib-tdm serve`` runs it by default on this machine (one web process,
two compute processes, production argon2 parameters) on a fresh SQLite database with the demo
patients. Clinicians work as they would: each of ``--clinicians`` clients, logged in once, loops
over a patient list, an episode read, an interpretation (``POST /api/interpret``) and a save of
the episode, with ``--think-s`` seconds between requests.

Phase 1 (``--seconds``): the clinicians alone. Phase 2 (as long): the same clinicians while

* a login flood runs: ``--flooders`` anonymous clients, each from its own loopback address
  (127.0.0.10, 127.0.0.11, ...: every 127/8 address reaches a server bound to 127.0.0.1), send
  wrong passwords as fast as they are answered, for existing and for made-up usernames;
* oversized interpretations run: ``--heavy`` logged-in viewers send, in turn, a case of 5,000
  dose entries, a case of one entry with 10^6 doses, and a 30 MB body.

Printed: p50/p95/max of the clinicians' requests in each phase, overall and per kind, the ratio
of the p95s (bar: at most 3), the clinicians' non-2xx answers, and how the attackers were
answered. Every loop is bounded in time; the run stops by itself.

Run: ``.venv/bin/python bench/bench_abuse.py [--seconds 30] [--clinicians 4]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import statistics
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench_service import percentile, running_service

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.store import Database, create_first_admin, create_user, seed_demo

_CLINICIAN_KINDS = ("list", "read", "interpret", "save")


class _Connection:
    """A keep-alive HTTP/1.1 connection with an optional session (cookie + CSRF token)."""

    def __init__(self, port: int, source: str = "127.0.0.1", timeout: float = 120.0) -> None:
        self._port = port
        self._source = source
        self._timeout = timeout
        self._headers: dict[str, str] = {}
        self._connection = self._open()

    def _open(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(
            "127.0.0.1", self._port, timeout=self._timeout, source_address=(self._source, 0)
        )

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json", **self._headers}
        for attempt in (1, 2):
            try:
                self._connection.request(method, path, body=body, headers=headers)
                answer = self._connection.getresponse()
                payload = answer.read()
                cookie = answer.getheader("set-cookie")
                if cookie:
                    self._headers["Cookie"] = cookie.split(";", 1)[0]
                return answer.status, payload
            except (OSError, http.client.HTTPException):
                # the server closed the connection (idle keep-alive, or after refusing a body)
                self._connection.close()
                self._connection = self._open()
                if attempt == 2:
                    return 0, b""
        return 0, b""

    def log_in(self, username: str, password: str) -> None:
        status, payload = self.request(
            "POST",
            "/api/auth/login",
            json.dumps({"username": username, "password": password}).encode(),
        )
        if status != 200:
            raise SystemExit(f"login of {username} failed: {status}")
        self._headers["X-CSRF-Token"] = json.loads(payload)["csrf_token"]

    def close(self) -> None:
        self._connection.close()


def _prepare(url: str, password: str, clinicians: int, heavy: int) -> None:
    database = Database.connect(url)
    try:
        with database.transaction() as session:
            admin = create_first_admin(
                session, username="chief", password=password, full_name="Chief"
            )
            accounts = [("clin", "clinician", i) for i in range(clinicians)]
            accounts += [("view", "viewer", i) for i in range(heavy)]
            for prefix, role, index in accounts:
                create_user(
                    session,
                    username=f"{prefix}{index}",
                    password=password,
                    role=role,
                    full_name=f"{role.title()} {index}",
                    actor=admin,
                )
            seed_demo(session, actor=admin)
    finally:
        database.dispose()


def _oversized_bodies() -> list[tuple[str, bytes]]:
    """Hostile interpretations that the case-file rules of the previous release accepted."""
    case: dict[str, Any] = load_demo_case("demo-001").model_dump(mode="json")
    sample_time = datetime.fromisoformat(case["samples"][0]["time"])
    many = dict(case)
    # 5,000 single daily doses ending the day before the sample (13.7 years of therapy)
    many["doses"] = [
        {
            "time": (sample_time - timedelta(days=5000 - i, hours=-0.5)).isoformat(),
            "amount_mg": 400.0,
        }
        for i in range(5000)
    ]
    # 10^6 doses: 25 regimens of 40,000 doses every 4 h (the per-entry maximum), 2008-2026
    million = dict(case)
    million["doses"] = [
        {
            "time": (datetime(2008, 1, 1, 8) + timedelta(minutes=7 * i)).isoformat(),
            "amount_mg": 400.0,
            "interval_h": 4.0,
            "count": 40_000,
        }
        for i in range(25)
    ]
    million["samples"] = [{**case["samples"][0], "time": "2026-04-01T07:30:00"}]
    return [
        ("5000-entries", json.dumps({"case": many}).encode()),
        ("1e6-doses", json.dumps({"case": million}).encode()),
        ("30MB-body", b'{"case": {"notes": "' + b"x" * 30_000_000 + b'"}}'),
    ]


def _run_phase(
    port: int,
    clinicians: list[_Connection],
    episodes: list[tuple[int, int]],
    *,
    seconds: float,
    think_s: float,
    attack: bool,
    flooders: int,
    heavy: list[_Connection],
) -> tuple[dict[str, list[float]], Counter[str], Counter[str]]:
    """One phase: the clinicians' latencies (ms) by kind, their non-2xx answers, and the
    attackers' answers."""
    latencies: dict[str, list[float]] = {kind: [] for kind in _CLINICIAN_KINDS}
    clinician_errors: Counter[str] = Counter()
    attack_answers: Counter[str] = Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    body = json.dumps({"case": load_demo_case("demo-001").model_dump(mode="json")}).encode()

    def clinician(index: int, connection: _Connection) -> None:
        patient_id, episode_id = episodes[index % len(episodes)]
        episode_path = f"/api/patients/{patient_id}/episodes/{episode_id}"
        while time.monotonic() < stop_at:
            for kind in _CLINICIAN_KINDS:
                start = time.perf_counter()
                if kind == "list":
                    status, _ = connection.request("GET", "/api/patients")
                elif kind == "read":
                    status, payload = connection.request("GET", episode_path)
                    if status == 200:
                        current = json.loads(payload)
                elif kind == "interpret":
                    status, _ = connection.request("POST", "/api/interpret", body)
                else:
                    update = {
                        "case": current["case"],
                        "label": current["label"],
                        "expected_revision": current["revision"],
                    }
                    status, _ = connection.request("PUT", episode_path, json.dumps(update).encode())
                elapsed = 1000.0 * (time.perf_counter() - start)
                with lock:
                    latencies[kind].append(elapsed)
                    if not 200 <= status < 300:
                        clinician_errors[f"{kind} {status}"] += 1
                time.sleep(think_s)

    def flooder(index: int) -> None:
        connection = _Connection(port, source=f"127.0.0.{10 + index}", timeout=60.0)
        attempt = 0
        while time.monotonic() < stop_at:
            attempt += 1
            username = f"clin{attempt % 4}" if attempt % 2 else secrets.token_hex(6)
            status, _ = connection.request(
                "POST",
                "/api/auth/login",
                json.dumps({"username": username, "password": "wrong-" + str(attempt)}).encode(),
            )
            with lock:
                attack_answers[f"login {status}"] += 1
        connection.close()

    def heavy_client(connection: _Connection) -> None:
        bodies = _oversized_bodies()
        turn = 0
        while time.monotonic() < stop_at:
            label, oversized = bodies[turn % len(bodies)]
            turn += 1
            status, _ = connection.request("POST", "/api/interpret", oversized)
            with lock:
                attack_answers[f"{label} {status}"] += 1

    threads = [
        threading.Thread(target=clinician, args=(index, connection))
        for index, connection in enumerate(clinicians)
    ]
    if attack:
        threads += [threading.Thread(target=flooder, args=(index,)) for index in range(flooders)]
        threads += [threading.Thread(target=heavy_client, args=(c,)) for c in heavy]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 300)
    return latencies, clinician_errors, attack_answers


def _summary(latencies: dict[str, list[float]]) -> tuple[float, str]:
    every = [value for values in latencies.values() for value in values]
    if not every:
        return float("nan"), "no request completed"
    parts = [
        f"{kind} p95 {percentile(values, 95):.0f}" for kind, values in latencies.items() if values
    ]
    p95 = percentile(every, 95)
    return p95, (
        f"{len(every)} requests, p50 {statistics.median(every):.0f} ms, p95 {p95:.0f} ms, "
        f"max {max(every):.0f} ms ({', '.join(parts)} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--clinicians", type=int, default=4)
    parser.add_argument("--think-s", type=float, default=0.1, help="pause between requests")
    parser.add_argument("--flooders", type=int, default=8, help="anonymous login clients")
    parser.add_argument("--heavy", type=int, default=2, help="clients sending oversized cases")
    parser.add_argument("--compute-processes", type=int, default=2)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="imatinib-abuse-"))
    url = f"sqlite:///{workdir / 'abuse.sqlite3'}"
    password = secrets.token_urlsafe(18)
    _prepare(url, password, args.clinicians, args.heavy)
    with running_service(url, compute_processes=args.compute_processes) as (_, port):
        clinicians = [_Connection(port) for _ in range(args.clinicians)]
        for index, connection in enumerate(clinicians):
            connection.log_in(f"clin{index}", password)
        heavy = [_Connection(port, timeout=600.0) for _ in range(args.heavy)]
        for index, connection in enumerate(heavy):
            connection.log_in(f"view{index}", password)
        _, payload = clinicians[0].request("GET", "/api/patients")
        patients = [p["id"] for p in json.loads(payload)["items"]]
        episodes: list[tuple[int, int]] = []
        for patient_id in patients:
            _, listed = clinicians[0].request("GET", f"/api/patients/{patient_id}/episodes")
            episodes += [(patient_id, e["id"]) for e in json.loads(listed)[:1]]
        warm = json.dumps({"case": load_demo_case("demo-001").model_dump(mode="json")}).encode()
        for connection in 2 * clinicians:
            connection.request("POST", "/api/interpret", warm)
        phases = {}
        for name, attack in (("without attack", False), ("during attack", True)):
            phases[name] = _run_phase(
                port,
                clinicians,
                episodes,
                seconds=args.seconds,
                think_s=args.think_s,
                attack=attack,
                flooders=args.flooders,
                heavy=heavy,
            )
        for connection in clinicians + heavy:
            connection.close()

    print(
        f"abuse run: {args.clinicians} clinicians (think {args.think_s} s), phases of "
        f"{args.seconds:.0f} s; attack = {args.flooders} login flooders from their own loopback "
        f"addresses + {args.heavy} clients sending oversized cases; service: 1 web process, "
        f"{args.compute_processes} compute processes, SQLite"
    )
    p95s = {}
    for name, (latencies, errors, answers) in phases.items():
        p95s[name], text = _summary(latencies)
        print(f"  clinicians {name}: {text}")
        print(f"    clinicians' non-2xx: {dict(errors) or 'none'}")
        if answers:
            print(f"    attackers answered: {dict(sorted(answers.items()))}")
    ratio = p95s["during attack"] / p95s["without attack"]
    verdict = "met" if ratio <= 3.0 else "NOT met"
    print(f"  p95 during / without attack: {ratio:.2f} (bar: at most 3; {verdict})")


if __name__ == "__main__":
    main()
