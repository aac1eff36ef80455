"""Where the password of a login is checked: one thread of lower CPU priority.

An argon2id check is the one computation an anonymous client can make the server do at will
(0.1-0.8 s on up to 4 threads per attempt). Logins are rare for clinicians who are already
logged in, so the checks run on a thread of their own whose scheduling priority is lowered
(Linux keeps a nice value per thread, and the threads argon2 starts for its lanes inherit it):
during a login flood the checks take the CPU that the web process and the compute processes
leave, instead of competing with clinicians' requests on equal terms. On an idle machine a check
is as fast as before. Elsewhere than on Linux the priority is left as it is.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["PASSWORD_CHECK_NICENESS", "password_check_niceness", "run_password_check"]

PASSWORD_CHECK_NICENESS = 10
"""How much lower (nice units) the password-check thread runs than the process (a software
choice: nice 10 weighs about a tenth of nice 0 on Linux CFS)."""

_T = TypeVar("_T")


def _lower_own_priority() -> None:
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + PASSWORD_CHECK_NICENESS))
    except OSError:  # not permitted here (a sandbox): checks run at the usual priority
        pass


# One thread: attempt_login lets one check run at a time per process (MAX_CONCURRENT_PASSWORD_
# CHECKS), so a second thread would never be used.
_CHECKS = ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="password-check", initializer=_lower_own_priority
)


def run_password_check(check: Callable[..., _T], *args: object) -> _T:
    """``check(*args)`` on the password-check thread; its result (or its exception)."""
    return _CHECKS.submit(check, *args).result()


def password_check_niceness() -> int:
    """The nice value of the password-check thread (for tests and monitoring)."""
    return run_password_check(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
