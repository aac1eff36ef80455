"""Interpretations in worker processes: one web process, ``N`` compute processes.

An interpretation is ~15-20 ms of CPU-bound numpy under the GIL, so inside one process
requests only queue. Several uvicorn workers (``serve --workers``) use several cores, but the
kernel hands each keep-alive connection to one worker for good: with 16 clients on two workers
the shares came out 63% / 37% (bench/bench_service.py), and the busier worker's queue sets the
tail latency. A pool behind one web process takes the next computation from a single
first-in-first-out queue instead, so the cores share the load evenly.

The pool runs :func:`imatinib_tdm.service.compute.interpret_request_json` (the same function the
in-process path runs), the report PDF and the episode computations, and returns their results,
so little crosses the process boundary. Errors are the package's own (they pickle) and reach the
usual error handlers.

Every computation is bounded (issue 12): one that runs longer than the time limit answers 503
and its process is killed and replaced (``concurrent.futures`` cannot stop a running task, so
each worker is a process of its own with a pipe); one whose client disconnected is dropped from
the queue before it starts, or its process is killed and replaced if it was running. Closing the
pool kills the processes: a stuck computation can no longer hang a graceful shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

from imatinib_tdm.errors import TdmError
from imatinib_tdm.service.workload import is_large_job

__all__ = [
    "ClientGoneError",
    "ComputePool",
    "ComputeUnavailableError",
    "Disconnected",
    "compute_runner",
    "run_capped",
]

_log = logging.getLogger(__name__)

# The web process parses, authenticates and answers every request on one thread; when it waits
# for a core behind busy compute processes, every request waits with it. A lower scheduling
# priority for the compute processes lets it run as soon as it has work (Linux CFS weights
# nice 0 about 3x nice 5); the compute processes still take every cycle it leaves.
_COMPUTE_NICENESS = 5
# Large computations (service.workload: thousands of dose entries, many samples) run in a lane of
# their own at a much lower priority (nice 15 weighs about a tenth of nice 5): they use the
# cores the others leave, so a few of them cannot make clinicians' usual interpretations wait.
_LARGE_NICENESS = 15
# How often a waiting request looks whether its client is still connected.
_POLL_S = 0.2
_START_TIMEOUT_S = 180.0

Disconnected = Callable[[], Awaitable[bool]]
"""``await disconnected()`` is True once the client has gone (``Request.is_disconnected``)."""


class ComputeUnavailableError(TdmError):
    """No result within the time limit, no free compute process in time, or a process died:
    503 with the reason (the service keeps serving)."""


class ClientGoneError(ComputeUnavailableError):
    """The client disconnected; its computation was dropped or stopped."""


def _start_worker(
    default_model_id: str,
    triage_model_path: str | None,
    model_prior_path: str | None,
    niceness: int = _COMPUTE_NICENESS,
) -> None:
    """Initialisation of each compute process: the app's triage model and model prior, then the
    process readied for requests (:func:`compute.settle_process`)."""
    from imatinib_tdm.service.compute import (
        configure_model_prior,
        configure_triage,
        settle_process,
    )

    os.nice(niceness)
    configure_triage(triage_model_path)
    configure_model_prior(model_prior_path)
    settle_process(default_model_id)


_InitArgs = tuple[str, str | None, str | None, int]


def _worker_main(connection: Connection, initargs: _InitArgs) -> None:
    """A compute process: initialise, say ready, then run ``(function, args)`` jobs one by one
    and send back ``("ok", result)`` or ``("error", exception)``."""
    _start_worker(*initargs)
    connection.send(("ready", None))
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return  # the web process closed the pipe
        except Exception as error:  # a job that does not unpickle: answer, do not die
            unreadable = f"the job could not be read ({type(error).__name__})"
            connection.send(("error", ComputeUnavailableError(unreadable)))
            continue
        if job is None:
            return
        function, args = job
        try:
            outcome: tuple[str, Any] = ("ok", function(*args))
        except Exception as error:
            outcome = ("error", error)
        try:
            connection.send(outcome)
        except Exception:  # a result or an error that does not pickle: say which kind only
            failure = outcome[1] if outcome[0] == "error" else None
            kind = type(failure).__name__ if failure is not None else "result"
            connection.send(("error", ComputeUnavailableError(f"unpicklable {kind}")))


class _NotSent(Exception):
    """The job could not be sent: the process had died."""


class _Worker:
    """One compute process and the web process's end of its pipe."""

    def __init__(self, context: SpawnContext, initargs: _InitArgs, *, large: bool = False):
        self.large = large
        ours, theirs = context.Pipe(duplex=True)
        self.process: SpawnProcess = context.Process(
            target=_worker_main, args=(theirs, initargs), daemon=True, name="imatinib-compute"
        )
        self.process.start()
        theirs.close()
        self.connection = ours

    def wait_ready(self, timeout_s: float) -> None:
        if not self.connection.poll(timeout_s):
            self.kill()
            raise ComputeUnavailableError("a compute process did not start in time")
        try:
            self.connection.recv()
        except EOFError:
            self.kill()
            raise ComputeUnavailableError("a compute process failed to start") from None

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5.0)
        self.connection.close()


class ComputePool:
    """A pool of ``processes`` spawned workers for the computations of the service.

    Parameters
    ----------
    processes : int
        Number of worker processes (about one per core).
    default_model_id : str
        Model the warm-up interpretation uses.
    triage_model_path, model_prior_path : str or None
        As in ``Settings``: loaded in every worker.
    time_limit_s : float
        Longest computation; over it the call raises :class:`ComputeUnavailableError` and the
        process is killed and replaced (``Settings.compute_time_limit_s``).
    queue_limit_s : float
        Longest wait for a free process (``Settings.compute_queue_limit_s``).
    large_processes : int
        Processes of the lane for large computations (:mod:`imatinib_tdm.service.workload`),
        at a lower priority; 0: large computations share the usual processes.
    """

    def __init__(
        self,
        processes: int,
        default_model_id: str,
        *,
        triage_model_path: str | None = None,
        model_prior_path: str | None = None,
        time_limit_s: float = 30.0,
        queue_limit_s: float = 30.0,
        large_processes: int = 1,
    ):
        if processes < 1:
            raise ValueError(f"processes must be >= 1, got {processes!r}")
        if large_processes < 0:
            raise ValueError(f"large_processes must be >= 0, got {large_processes!r}")
        self._processes = processes
        self._large_processes = large_processes
        self._models = (default_model_id, triage_model_path, model_prior_path)
        self.time_limit_s = time_limit_s
        self.queue_limit_s = queue_limit_s
        # spawn, not fork: the web process has threads (forking those is unsafe)
        self._context = multiprocessing.get_context("spawn")
        self._workers: set[_Worker] = set()
        self._idle: asyncio.Queue[_Worker] | None = None
        self._idle_large: asyncio.Queue[_Worker] | None = None
        # two per process: one sends a job while another waits for a result
        self._threads = ThreadPoolExecutor(
            max_workers=2 * (processes + large_processes) + 2, thread_name_prefix="compute-pipe"
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """Process ids of the live compute processes (for tests and monitoring)."""
        return sorted(w.process.pid for w in self._workers if w.process.pid is not None)

    def start(self) -> None:
        """Start every worker now (blocks until they are warm), not on the first requests.

        Call it from the event loop's thread (the app's lifespan does).
        """
        workers = [self._new_worker(large=False) for _ in range(self._processes)]
        workers += [self._new_worker(large=True) for _ in range(self._large_processes)]
        for worker in workers:  # they start in parallel; wait for each
            worker.wait_ready(_START_TIMEOUT_S)
        self._idle = asyncio.Queue()
        self._idle_large = asyncio.Queue()
        for worker in workers:
            self._workers.add(worker)
            self._lane(worker.large).put_nowait(worker)

    def _new_worker(self, *, large: bool) -> _Worker:
        niceness = _LARGE_NICENESS if large else _COMPUTE_NICENESS
        return _Worker(self._context, (*self._models, niceness), large=large)

    def _lane(self, large: bool) -> asyncio.Queue[_Worker]:
        """The idle processes of the lane for large (or usual) computations."""
        queue = self._idle_large if large and self._large_processes else self._idle
        assert queue is not None
        return queue

    async def run(
        self,
        function: Callable[..., Any],
        *args: Any,
        disconnected: Disconnected | None = None,
        large: bool = False,
    ) -> Any:
        """Run ``function(*args)`` in a worker, within the time limit; with ``large``, in the
        lane for large computations (one at a time per process of that lane, low priority).

        Raises
        ------
        ComputeUnavailableError
            Over the time limit (the process is replaced), no free process within the queue
            limit, the process died, or the pool is closed.
        ClientGoneError
            ``disconnected()`` turned True while waiting (the work is dropped or stopped).
        """
        if self._closed or self._idle is None:
            raise ComputeUnavailableError("the compute processes are not running")
        self._loop = asyncio.get_running_loop()
        for attempt in range(2):
            worker = await self._acquire(disconnected, large)
            try:
                kind, value = await self._exchange(worker, function, args, disconnected)
            except _NotSent:
                # the process had died while idle (e.g. killed from outside); the job never
                # started, so it goes to another one, once
                self._replace(worker)
                if attempt == 1:
                    raise ComputeUnavailableError(
                        "the compute processes are not answering"
                    ) from None
                continue
            except BaseException:
                # over time, client gone, cancelled or dead: the process may still be busy
                self._replace(worker)
                raise
            break
        self._lane(worker.large).put_nowait(worker)
        if kind == "error":
            raise value
        return value

    async def _acquire(self, disconnected: Disconnected | None, large: bool) -> _Worker:
        lane = self._lane(large)
        getting = asyncio.ensure_future(lane.get())
        busy = (
            "the compute processes for large cases"
            if large and self._large_processes
            else "every compute process"
        )
        try:
            await _wait(
                getting,
                self.queue_limit_s,
                disconnected,
                f"{busy} stayed busy for {self.queue_limit_s:g} s; try again",
            )
        except BaseException:
            if getting.done() and not getting.cancelled():
                lane.put_nowait(getting.result())  # got one just now: give it back
            else:
                getting.cancel()
            raise
        return getting.result()

    async def _exchange(
        self,
        worker: _Worker,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        disconnected: Disconnected | None,
    ) -> tuple[str, Any]:
        loop = asyncio.get_running_loop()
        if disconnected is not None and await disconnected():
            raise ClientGoneError("the client disconnected before the computation started")
        # The pipe is written and read on threads of the pool's own, in blocking mode: the event
        # loop's add_reader would do without threads, but uvloop then makes the descriptor
        # non-blocking, and sending a case of more than a pipe buffer (64 kB) failed with
        # EAGAIN. A thread blocked in recv() ends when the process is killed (EOF).
        if not worker.process.is_alive():  # died while idle (reaped here: waitpid)
            raise _NotSent
        try:
            await loop.run_in_executor(self._threads, worker.connection.send, (function, args))
        except OSError:  # BrokenPipeError: the process is gone
            raise _NotSent from None
        receiving = loop.run_in_executor(self._threads, worker.connection.recv)
        receiving.add_done_callback(_consume)
        await _wait(
            receiving,
            self.time_limit_s,
            disconnected,
            f"the computation took longer than {self.time_limit_s:g} s and was stopped; "
            "the case may be too large",
        )
        try:
            outcome: tuple[str, Any] = receiving.result()
        except (EOFError, OSError):
            raise ComputeUnavailableError("the compute process stopped unexpectedly") from None
        return outcome

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and start another in the background (the others keep serving)."""
        self._workers.discard(worker)
        worker.kill()
        if self._closed:
            return
        loop = self._loop

        def start_one() -> None:
            try:
                new = self._new_worker(large=worker.large)
                new.wait_ready(_START_TIMEOUT_S)
            except Exception:
                if not self._closed:  # killed by close() while starting: nothing to report
                    _log.exception("a replacement compute process failed to start")
                return
            if loop is None or loop.is_closed():
                new.kill()
                return
            loop.call_soon_threadsafe(self._adopt, new)

        threading.Thread(target=start_one, name="compute-replace", daemon=True).start()

    def _adopt(self, worker: _Worker) -> None:
        if self._closed or self._idle is None:
            worker.kill()
            return
        self._workers.add(worker)
        self._lane(worker.large).put_nowait(worker)

    def close(self) -> None:
        """Stop the workers now: busy ones are killed (their requests get 503), never waited
        for."""
        self._closed = True
        for worker in list(self._workers):
            worker.kill()
        self._workers.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of an abandoned receive (EOF of a killed process), so that asyncio
    does not log "exception was never retrieved"."""
    if not future.cancelled():
        future.exception()


async def _wait(
    future: asyncio.Future[Any],
    limit_s: float,
    disconnected: Disconnected | None,
    timeout_message: str,
) -> None:
    """Wait for ``future`` at most ``limit_s``, looking every 0.2 s whether the client left."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not future.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise ComputeUnavailableError(timeout_message)
        await asyncio.wait({future}, timeout=min(_POLL_S, remaining))
        if not future.done() and disconnected is not None and await disconnected():
            raise ClientGoneError("the client disconnected; its computation was stopped")


async def run_capped(request: Any, function: Callable[..., Any], *args: Any) -> Any:
    """Run a computation of ``request``: in the app's compute pool when it has one, else on the
    thread pool, within ``Settings.compute_time_limit_s`` either way, dropped when the client
    has gone.

    On the thread pool an overrunning computation answers 503 on time but finishes in the
    background (a thread cannot be stopped); only compute processes are stopped for real.
    """
    pool: ComputePool | None = request.app.state.compute_pool
    if pool is not None:
        large = is_large_job(args)
        return await pool.run(function, *args, disconnected=request.is_disconnected, large=large)
    return await _in_thread(request, function, *args)


async def _in_thread(request: Any, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` on the thread pool within the time limit (the thread cannot be
    stopped: over the limit the request answers 503 and the thread finishes unobserved)."""
    from starlette.concurrency import run_in_threadpool

    disconnected: Disconnected = request.is_disconnected
    if await disconnected():
        raise ClientGoneError("the client disconnected before the computation started")
    limit_s: float = request.app.state.settings.compute_time_limit_s
    task = asyncio.ensure_future(run_in_threadpool(function, *args))
    try:
        await _wait(
            task,
            limit_s,
            disconnected,
            f"the computation took longer than {limit_s:g} s; the case may be too large",
        )
    except BaseException:
        # the thread runs to its end; its result (or error) is dropped, not logged
        task.add_done_callback(lambda done: None if done.cancelled() else done.exception())
        raise
    return task.result()


def compute_runner(request: Any) -> Callable[..., Any]:
    """For synchronous routes (run on a worker thread): ``run(function, *args)`` that computes
    as :func:`run_capped` does (compute pool, or another thread), within the time limit and
    watching the client, while the route's thread waits."""
    import anyio.from_thread

    return lambda function, *args: anyio.from_thread.run(run_capped, request, function, *args)
