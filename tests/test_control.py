"""One run-control object carries a command's interrupts (no module globals)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from zscheck.control import Interrupted, RunControl, restoring


def test_check_raises_only_after_an_interrupt() -> None:
    control = RunControl()
    control.check()
    assert not control.interrupted and control.first_signal is None
    control.interrupt(signal.SIGTERM)
    assert control.interrupted and control.first_signal == signal.SIGTERM
    with pytest.raises(Interrupted, match="signal 15"):
        control.check()
    with pytest.raises(KeyboardInterrupt):  # pytest and locust tear down on it as on Ctrl-C
        control.check()


def test_two_controls_do_not_share_state() -> None:
    a, b = RunControl(), RunControl()
    a.interrupt()
    assert a.interrupted and not b.interrupted


def test_signals_are_recorded_and_handed_on_then_the_old_handler_is_back() -> None:
    control = RunControl()
    seen: list[int] = []
    before = signal.getsignal(signal.SIGTERM)
    with control.handling_signals(seen.append):
        os.kill(os.getpid(), signal.SIGTERM)
    assert seen == [signal.SIGTERM] and control.first_signal == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


def test_outside_the_main_thread_no_handler_is_installed() -> None:
    control = RunControl()
    before = signal.getsignal(signal.SIGINT)
    done: list[bool] = []

    def work() -> None:
        with control.handling_signals():
            done.append(signal.getsignal(signal.SIGINT) is before)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert done == [True]


def test_a_command_unwinds_on_the_first_signal_and_finishes_its_restore_on_the_next() -> None:
    control = RunControl()
    restored: list[str] = []
    with control.for_command():
        try:
            os.kill(os.getpid(), signal.SIGTERM)  # setting up: the first signal unwinds
            raise AssertionError("the first signal must raise")
        except KeyboardInterrupt:
            os.kill(os.getpid(), signal.SIGINT)  # during the restore: recorded, not raised
            restored.append("image")
    assert restored == ["image"] and control.first_signal == signal.SIGTERM and control.interrupted


def test_a_signal_python_could_not_raise_prints_no_traceback_but_other_unraisables_do() -> None:
    """A SIGTERM landing in logging's at-fork lock release while locust started printed "Exception ignored
    ... Traceback" in the middle of an interrupted run; the signal is recorded, so that one stays quiet."""
    import gc
    import sys

    seen: list[type[BaseException]] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: seen.append(type(unraisable.exc_value))

    class Raises:
        def __init__(self, exc: BaseException) -> None:
            self.exc = exc

        def __del__(self) -> None:
            raise self.exc

    try:
        control = RunControl()
        with control.for_command():
            Raises(KeyboardInterrupt("before any signal"))
            gc.collect()
            control.interrupt(signal.SIGTERM)  # recorded as the handler would, without raising here
            Raises(KeyboardInterrupt("signal 15"))
            Raises(ValueError("a real bug"))
            gc.collect()
        Raises(KeyboardInterrupt("after the command"))
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert seen == [KeyboardInterrupt, ValueError, KeyboardInterrupt]


def test_a_first_signal_during_a_restore_is_raised_when_the_restore_is_done() -> None:
    """Raised inside the restore it cut it short (CI: a fixture account left behind); it waits instead."""
    control = RunControl()
    done: list[str] = []
    with pytest.raises(KeyboardInterrupt, match="during the restore"), control.for_command():
        with restoring():
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("the rest of the restore")
        done.append("after the restore")  # never: the interrupt unwinds the command from here
    assert done == ["the rest of the restore"] and control.first_signal == signal.SIGTERM
