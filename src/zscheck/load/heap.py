"""What a long run's locust processes give back to the operating system.

An hour at full rate (bench/soak.py --seconds 3600 --streamed-only) grew locust's processes by about
51 MB/h in all while Python's own allocations in them stayed flat: tracemalloc read 40 to 66 MB in a worker
from the 5th minute to the 19th, swinging ~20 MB between garbage collections, with no trend. What grew was
the C heap: glibc keeps the pages Python frees (answers, greenlets, the collected cycles) for reuse, and
after each swing it held a little more. One `malloc_trim(0)` on a worker gave back 33 MB of its 192.
Handing those pages back every few seconds keeps a soak of hours at the size of its first minutes
(`zscheck.load.users` does it in every locust process; the soak bench measures it against the commit
before)."""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable

RELEASE_FIRST = 2.0  # seconds into the run: what start-up freed (imports, spawning the users) goes first
RELEASE_EVERY = 10.0  # seconds between trims: a trim of a ~150 MB heap takes a few milliseconds


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc's; musl and macOS have none
    except (AttributeError, OSError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def available() -> bool:
    return _TRIM is not None


def release() -> float | None:
    """Give the C heap's free pages back to the OS. The seconds it took, or None where the C library has
    no malloc_trim (then nothing is done: the process only keeps what it freed, as before)."""
    if _TRIM is None:
        return None
    start = time.perf_counter()
    _TRIM(0)
    return time.perf_counter() - start
