"""One run-control object: the interrupts of a command, in one place instead of module globals.

A command makes one `RunControl` and hands it down. Its signal handler (installed by `handling_signals`)
records Ctrl-C or SIGTERM here; every layer that sends requests asks `check()` before the next one, so a
KeyboardInterrupt that Python dropped (a signal landing in a gc callback is "unraisable") still stops the
run, and `zscheck run` knows a phase was interrupted without importing that phase's internals.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Raised by `check()` after a signal: a KeyboardInterrupt, so pytest and locust tear down as on Ctrl-C."""


_shield = threading.local()


@contextmanager
def restoring() -> Iterator[None]:
    """While inside (a restore under way), the first signal is recorded, not raised: raised there it cut
    the restore short and left an account behind. It is raised when the block ends instead."""
    depth = getattr(_shield, "depth", 0)
    _shield.depth, _shield.pending = depth + 1, False
    try:
        yield
    finally:
        _shield.depth = depth
        if _shield.pending and depth == 0:
            _shield.pending = False
            raise KeyboardInterrupt("signal during the restore")


class RunControl:
    def __init__(self) -> None:
        self._signals: list[int] = []  # appended from signal handlers: list.append is atomic, a lock is not safe

    @property
    def interrupted(self) -> bool:
        return bool(self._signals)

    @property
    def first_signal(self) -> int | None:
        """The first signal received, if any."""
        return self._signals[0] if self._signals else None

    def interrupt(self, signum: int = signal.SIGINT) -> None:
        """Record a signal (safe from a signal handler and from any thread)."""
        self._signals.append(signum)

    def check(self) -> None:
        """Raise `Interrupted` if the run was interrupted: called before every request the harness sends."""
        if self._signals:
            raise Interrupted(f"signal {self._signals[0]}")

    @contextmanager
    def for_command(self) -> Iterator[None]:
        """A whole command's signals: the first Ctrl-C or SIGTERM raises KeyboardInterrupt wherever the
        command is (setting up, restoring, between phases), so it unwinds through its restore; later ones
        are recorded only, so a restore under way is not cut short. Runners install their own handlers
        inside this one (locust's forwarding, pytest's session window) and it comes back after them."""

        def first_raises(signum: int) -> None:
            if len(self._signals) == 1:
                if getattr(_shield, "depth", 0):
                    _shield.pending = True  # raised when the restore is done (see restoring)
                    return
                raise KeyboardInterrupt(f"signal {signum}")

        # A signal that lands where Python cannot raise (an at-fork callback such as logging's lock release
        # while a subprocess starts, a gc callback) is "unraisable": Python drops the KeyboardInterrupt and
        # prints a traceback. The signal is recorded here all the same and `check()` stops the run at the
        # next request, so that one is kept out of the output; every other unraisable goes on as before.
        previous_hook = sys.unraisablehook

        def quiet_interrupts(unraisable: sys.UnraisableHookArgs) -> None:
            if not (self._signals and isinstance(unraisable.exc_value, KeyboardInterrupt)):
                previous_hook(unraisable)

        sys.unraisablehook = quiet_interrupts
        try:
            with self.handling_signals(first_raises):
                yield
        finally:
            sys.unraisablehook = previous_hook

    @contextmanager
    def handling_signals(self, on_signal: Callable[[int], None] | None = None) -> Iterator[None]:
        """While inside: Ctrl-C and SIGTERM are recorded here, then `on_signal(signum)` runs (it may raise
        KeyboardInterrupt to unwind, or forward the signal to a child). The previous handlers come back
        after. Outside the main thread signals cannot be handled: the block runs with none installed."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(signum: int, frame: object) -> None:
            self.interrupt(signum)
            if on_signal is not None:
                on_signal(signum)

        previous = {sig: signal.signal(sig, handle) for sig in SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
