"""``GET /api/health`` reflects a database that cannot write (503 with the reason, quickly)."""

from __future__ import annotations

import sqlite3
import time

from fastapi import FastAPI
from fastapi.testclient import TestClient


def test_health_is_ok_when_the_database_can_write(anonymous: TestClient) -> None:
    answer = anonymous.get("/api/health")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


def test_health_is_503_while_another_connection_holds_the_write_lock(
    app: FastAPI, anonymous: TestClient
) -> None:
    path = app.state.database.engine.url.database
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # e.g. a login that hashes inside its transaction
        started = time.monotonic()
        answer = anonymous.get("/api/health")
        elapsed = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["status"] == "unavailable" and "cannot write" in body["reason"]
    assert "locked" in body["reason"] and answer.headers["Retry-After"] == "5"
    assert elapsed < 3
    assert anonymous.get("/api/health").status_code == 200  # and back once the lock is gone
