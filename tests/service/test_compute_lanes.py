"""Large computations run in a lane of their own (service.workload, ComputePool large lane):
a large case never takes the process a usual interpretation needs, runs at a lower priority,
and large cases queue behind each other, not in front of everyone."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from imatinib_tdm.case import load_demo_case, parse_case
from imatinib_tdm.service.compute_pool import ComputePool, ComputeUnavailableError
from imatinib_tdm.service.workload import (
    LARGE_CASE_DOSE_ENTRIES,
    LARGE_CASE_SAMPLES,
    is_large_case,
    is_large_job,
)


def _case_json(entries: int = 1, samples: int = 1) -> dict[str, Any]:
    case: dict[str, Any] = load_demo_case("demo-001").model_dump(mode="json")
    sample_time = datetime.fromisoformat(case["samples"][0]["time"])
    if entries > 1:
        case["doses"] = [
            {"time": (sample_time - timedelta(days=entries - i, hours=-0.5)).isoformat(),
             "amount_mg": 400.0}
            for i in range(entries)
        ]  # fmt: skip
    if samples > 1:
        first = case["samples"][0]
        case["samples"] = [
            {**first, "id": f"S{i}", "time": (sample_time - timedelta(days=i)).isoformat()}
            for i in range(samples)
        ]
    return case


def test_usual_cases_are_not_large_and_many_entries_or_samples_are() -> None:
    usual = _case_json()
    assert not is_large_case(usual) and not is_large_case(parse_case(usual))
    many = _case_json(entries=LARGE_CASE_DOSE_ENTRIES + 1)
    assert is_large_case(many) and is_large_case(parse_case(many))
    sampled = _case_json(samples=LARGE_CASE_SAMPLES + 1)
    assert is_large_case(sampled) and is_large_case(parse_case(sampled))
    long_regimen = _case_json()
    long_regimen["doses"] = [{**long_regimen["doses"][0], "count": 30_000}]
    assert is_large_case(long_regimen)
    # anything that is not a case, or a case too damaged to count, is not large
    assert not is_large_case({"doses": "many"}) and not is_large_case("doses")
    assert not is_large_job(("<html>", 3, None)) and is_large_job((None, many))


def _sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _niceness() -> int:
    return os.nice(0)


@pytest.mark.slow
def test_large_jobs_have_their_own_low_priority_lane() -> None:
    async def scenario() -> None:
        pool = ComputePool(
            1, "widmer2006_covariate", time_limit_s=20.0, queue_limit_s=1.0, large_processes=1
        )
        pool.start()
        try:
            usual_nice = await pool.run(_niceness)
            large_nice = await pool.run(_niceness, large=True)
            assert large_nice > usual_nice
            # a large job running: a usual one still gets its process at once
            large = asyncio.ensure_future(pool.run(_sleep, 3.0, large=True))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            usual_pid = await pool.run(_sleep, 0.0)
            assert time.monotonic() - started < 1.0
            # a second large job waits for the lane, and is turned away after the queue limit
            with pytest.raises(ComputeUnavailableError, match="large cases stayed busy"):
                await pool.run(_sleep, 0.0, large=True)
            assert await large != usual_pid
        finally:
            pool.close()

    asyncio.run(scenario())
