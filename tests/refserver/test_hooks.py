"""The fault hooks (`refserver/hooks.py`, `refserver/faults.py`): every fault acts only through named hook
points, a server without faults has none registered (its hot path calls the specs' no-ops), and a fault
whose method names no hook point, or takes other parameters than the point, is refused at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zscheck.refserver import hooks
from zscheck.refserver.app import App, AppConfig
from zscheck.refserver.faults import _CLASSES, ALL_FAULTS, Env, make_hooks
from zscheck.refserver.store import Session, Store


def env() -> Env:
    return Env(
        Store(":memory:"),
        lambda delay, fn: None,
        "admin",
        authorize=lambda session, image: (None, Session("", "", 0, 0, 0)),
        location=lambda job: f"http://x/zstack/v1/api-jobs/{job}",
    )


def test_every_fault_is_a_registered_class() -> None:
    assert set(_CLASSES) == set(ALL_FAULTS)


@pytest.mark.parametrize("name", sorted(ALL_FAULTS))
def test_every_fault_registers_at_least_one_hook(name: str) -> None:
    registered = make_hooks([name], env()).registered
    assert registered, f"{name} registers no hook point"
    assert set(registered) <= set(hooks.POINTS)


def test_no_faults_no_hooks() -> None:
    empty = make_hooks([], env())
    assert empty.registered == {}
    for name, (kind, spec) in hooks.POINTS.items():
        if kind != "result":
            assert getattr(empty, name) is spec, name


def test_a_server_without_faults_has_no_hooks_registered() -> None:
    app = App(Store(":memory:"), AppConfig(), lambda delay, fn: None)
    assert app.hooks.registered == {}


def test_a_server_with_faults_registers_theirs() -> None:
    app = App(Store(":memory:"), AppConfig(), lambda delay, fn: None, ("lost-update", "stale-read"))
    assert set(app.hooks.registered) == {"state_write", "visible_images"}
    assert len(app.hooks.registered["state_write"]) == 2


def test_hooks_combine_by_kind() -> None:
    class Double:
        def state_event(self, event: str) -> str:
            return event * 2

    class Upper:
        def state_event(self, event: str) -> str:
            return event.upper()

    class Yes:
        def drops(self, action: str | None) -> bool:
            return True

    class Decides:
        def same_state(self, image: dict[str, Any], new_state: str) -> dict[str, Any] | None:
            return {"code": "first"}

    class Later:
        def same_state(self, image: dict[str, Any], new_state: str) -> dict[str, Any] | None:
            return {"code": "later"}

    combined = hooks.Hooks([Double(), Upper(), Yes(), Decides(), Later()])
    assert combined.state_event("ab") == "ABAB"  # pipe, in registration order
    assert combined.drops("changeImageState") is True
    assert combined.same_state({}, "Enabled") == {"code": "first"}  # first decides


def test_a_method_that_is_no_hook_point_is_refused() -> None:
    class Typo:
        def state_evnt(self, event: str) -> str:
            return event

    with pytest.raises(hooks.HookError, match="state_evnt is not a hook point"):
        hooks.Hooks([Typo()])


def test_a_hook_with_other_parameters_is_refused() -> None:
    class Drifted:
        def change(self, image: dict[str, Any]) -> dict[str, Any]:
            return image

    with pytest.raises(hooks.HookError, match="the hook point takes"):
        hooks.Hooks([Drifted()])


CORRECT_PATH = ("routing", "jobs", "images", "image_query", "accounts", "node", "app", "timing", "store", "hooks")


@pytest.mark.parametrize("module", CORRECT_PATH)
def test_the_correct_path_never_names_a_fault(module: str) -> None:
    """Faults act through hook points only: no `if "fault-name" in faults` inside the correct path."""
    source = (Path(hooks.__file__).parent / f"{module}.py").read_text()
    assert not [name for name in ALL_FAULTS if name in source]
    if module != "app":  # only the composition, which registers them, imports the faults
        assert "refserver.faults" not in source and "import faults" not in source


# Where several faults share a hook point, their order is part of their behaviour together.
ORDERS = {
    "owner_denied": ["admin-not-owner", "no-ownership"],  # no-ownership wins
    "accepted_body": ["no-location", "no-api-timeout"],  # changeImageState's 202 keeps only apiTimeout
    "before_arguments": ["session-before-arguments", "unknown-session-first"],
    "done_answer": ["job-never-finishes", "pending-body-location"],
    "poll_answer": ["stalled-jobs", "latency-under-load"],  # latency turns the answer into a coroutine
    "visible_images": ["tenant-sees-all", "stale-read", "stale-read-long"],
    "state_write": [
        "lost-update",
        "ack-unstored",
        "lost-update-race",
        "stale-read",
        "stale-read-long",
        "status-touched",
        "other-field-changes",
    ],
    "change_result": [
        "success-with-error",
        "missing-status",
        "iso-timestamps",
        "null-fields",
        "wrong-inventory",
        "echo-drops-field",
        "wrong-error-code",
        "error-code-shape",
        "wrong-description",
        "business-error-500",  # after the others: they look for a 503
        "success-field",  # last: it reads the final status
    ],
}


@pytest.mark.parametrize("point", sorted(ORDERS))
def test_faults_sharing_a_point_run_in_a_fixed_order(point: str) -> None:
    registered = make_hooks(ORDERS[point], env()).registered[point]
    assert [impl.__self__.name for impl in registered] == ORDERS[point]


def test_combined_faults_keep_their_precedence() -> None:
    combined = make_hooks(["admin-not-owner", "no-ownership", "no-location", "no-api-timeout"], env())
    assert combined.owner_denied(True, Session("s", "someone", 0, 0, 0), "image") is False
    assert combined.accepted_body("changeImageState", "L", 5) == {"apiTimeout": 5}
    assert combined.accepted_body("addImage", "L", 5) == {"location": "L"}
