"""Interpretations in worker processes: one web process, ``N`` compute processes.

An interpretation is ~15-20 ms of CPU-bound numpy under the GIL, so inside one process
requests only queue. Several uvicorn workers (``serve --workers``) use several cores, but the
kernel hands each keep-alive connection to one worker for good: with 16 clients on two workers
the shares came out 63% / 37% (bench/bench_service.py), and the busier worker's queue sets the
tail latency. A process pool behind one web process takes the next interpretation from a
single first-in-first-out queue instead, so the cores share the load evenly.

The pool runs :func:`imatinib_tdm.service.compute.interpret_request_json` (the same function the
in-process path runs) and returns JSON bytes, so little crosses the process boundary: the
request's case as parsed JSON in, the encoded response out. Errors are the package's own
(they pickle) and reach the usual error handlers.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

__all__ = ["ComputePool"]


# The web process parses, authenticates and answers every request on one thread; when it waits
# for a core behind busy compute processes, every request waits with it. A lower scheduling
# priority for the compute processes lets it run as soon as it has work (Linux CFS weights
# nice 0 about 3x nice 5); the compute processes still take every cycle it leaves.
_COMPUTE_NICENESS = 5


def _start_worker(
    default_model_id: str, triage_model_path: str | None, model_prior_path: str | None
) -> None:
    """Initializer of each compute process: the app's triage model and model prior, then the
    process readied for requests (:func:`compute.settle_process`)."""
    from imatinib_tdm.service.compute import (
        configure_model_prior,
        configure_triage,
        settle_process,
    )

    os.nice(_COMPUTE_NICENESS)
    configure_triage(triage_model_path)
    configure_model_prior(model_prior_path)
    settle_process(default_model_id)


def _ready() -> bool:
    return True


class ComputePool:
    """A pool of ``processes`` spawned workers for the interpretation endpoint.

    Parameters
    ----------
    processes : int
        Number of worker processes (about one per core).
    default_model_id : str
        Model the warm-up interpretation uses.
    triage_model_path, model_prior_path : str or None
        As in ``Settings``: loaded in every worker.
    """

    def __init__(
        self,
        processes: int,
        default_model_id: str,
        *,
        triage_model_path: str | None = None,
        model_prior_path: str | None = None,
    ):
        if processes < 1:
            raise ValueError(f"processes must be >= 1, got {processes!r}")
        self._processes = processes
        self._initargs = (default_model_id, triage_model_path, model_prior_path)
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn, not fork: the web process has threads (forking those is unsafe)
        return ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=self._initargs,
        )

    def start(self) -> None:
        """Start every worker now (blocks until they are warm), not on the first requests."""
        # submitted together, each task finds no idle worker, so each starts a process
        futures = [self._executor.submit(_ready) for _ in range(self._processes)]
        for future in futures:
            future.result()

    async def run(self, function: Any, *args: Any) -> Any:
        """Run ``function(*args)`` in a worker; a pool broken by a dead worker is replaced once."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, function, *args)
        except BrokenProcessPool:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            return await loop.run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        """Stop the workers (pending work is cancelled)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
