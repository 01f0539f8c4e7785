"""The image state model as a Hypothesis state machine over the run's fixture images.

ZStack images have no transition table (§2.4): enable/disable set the state, same-state changes
succeed, failures change nothing, status is never touched. Each rule sends a real request, judges the
answer, and compares the image with the model; a failure shrinks to a minimal sequence of steps.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from contracts.strategies import image_texts, invalid_events, valid_events
from zscheck import wire
from zscheck.checks import (
    Facets,
    Violation,
    check_change,
    check_echo_matches_query,
    check_failed_request,
    check_inventory,
    check_query_agrees,
    check_strings_round_trip,
)
from zscheck.conformance.harness import Harness, Sent, Stamp
from zscheck.conformance.plugin import beside, in_parallel, require

STATES = {"enable": "Enabled", "disable": "Disabled"}


def machine_for(zs: Harness, images: list[str]) -> type[RuleBasedStateMachine]:
    deletable = [u for u in images if zs.journal is not None and zs.journal.images[u].created]
    sessions = ["unknown", "logged-out"] + (["expired"] if zs.available(Facets(session="expired")) else [])

    def has_deletable(machine: RuleBasedStateMachine) -> bool:  # named: machines run in several threads
        return bool(deletable)

    class ImageStates(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model: dict[str, dict[str, Any]] = {}
            # Per image, when its last write was known to be done. Every write counts, whoever made it: a
            # change, a delete, a recover, an update, a reset.
            self.written: dict[str, Stamp] = {}
            for uuid in images:
                self._reset(uuid)
                self.model[uuid] = self._query(uuid, None)
                # Written just now by the reset, or within the last second by whatever ran before.
                self.written[uuid] = Stamp.now()
            zs.keep_calls()  # a violation found from here carries its sequence: replayed from the same start

        def _reset(self, uuid: str) -> None:
            """Every example starts from the same world (Enabled, Ready), so a failure replays exactly."""
            image = zs.query(uuid)
            if image is not None and image.get("status") == "Deleted" and uuid in deletable:
                zs.main.recover_image(uuid)
            if image is not None and image.get("state") != "Enabled":
                zs.main.change_state(uuid, "enable")

        def _query(self, uuid: str, sent: Sent | None) -> dict[str, Any]:
            image = zs.query(uuid)
            if image is None:
                raise AssertionError(f"fixture image {uuid} disappeared")
            problems = list(check_inventory(image, None, documented=False))
            self._fail(problems, sent)
            return image

        def _fail(self, violations: list[Violation], sent: Sent | None) -> None:
            if violations and sent is not None:
                sent.violations = violations
                raise zs.violation(sent)
            if violations:
                raise AssertionError("; ".join(map(str, violations)))

        @rule(uuid=st.sampled_from(images), event=valid_events)
        def change(self, uuid: str, event: str) -> None:
            before = self.model[uuid]
            sent = require(zs, zs.probe(Facets(), uuid, event))
            target = STATES[event.strip()]
            after = self._query(uuid, sent)
            # The least time between the previous write and this one: from when the previous one was known
            # done to when this request left. A real node's job runs after the PUT, so this is a lower bound.
            # On both clocks: a wall clock stepped forward meanwhile does not count as time passed.
            since = self.written[uuid].surely_until(sent.result.exchanges[0].started)
            violations = list(check_change(before, after, target, seconds_since_last_write=since))
            echoed = sent.result.inventory
            if echoed is not None:
                violations += check_echo_matches_query(
                    "changeImageState", dict(echoed), after, documented=zs.dialect == "documented"
                )
            self._fail(violations, sent)
            if before["state"] != target:
                self.written[uuid] = Stamp.now()
            self.model[uuid] = after

        @rule(uuid=st.sampled_from(images), event=invalid_events)
        def invalid_event(self, uuid: str, event: Any) -> None:
            sent = require(zs, zs.probe(Facets(event="invalid"), uuid, event))
            self._fail(list(check_failed_request(self.model[uuid], zs.query(uuid))), sent)

        @rule(uuid=st.sampled_from(images), session=st.sampled_from(sessions), event=valid_events)
        def bad_session(self, uuid: str, session: str, event: str) -> None:
            sent = require(zs, zs.probe(Facets(session=session), uuid, event))
            self._fail(list(check_failed_request(self.model[uuid], zs.query(uuid))), sent)

        @rule(uuid=st.sampled_from(images))
        def query(self, uuid: str) -> None:
            image = zs.query(uuid)
            self._fail(list(check_query_agrees(self.model[uuid]["state"], image)), None)
            self._fail(list(check_failed_request(self.model[uuid], image)), None)

        @precondition(has_deletable)
        @rule(data=st.data())
        def delete_or_recover(self, data: st.DataObject) -> None:
            uuid = data.draw(st.sampled_from(deletable))
            deleted = self.model[uuid]["status"] == "Deleted"
            result = zs.main.recover_image(uuid) if deleted else zs.main.delete_image(uuid)
            self.written[uuid] = Stamp.now()
            assert result.ok, f"{'recover' if deleted else 'delete'} of fixture image failed: {result.final.text()}"
            after = self._query(uuid, None)
            assert after["status"] == ("Ready" if deleted else "Deleted"), after["status"]
            assert after["state"] == self.model[uuid]["state"], "delete/recover changed the state"
            if deleted and result.inventory is not None:
                self._fail_write("recoverImage", result, after)
            self.model[uuid] = after

        @precondition(has_deletable)
        @rule(data=st.data(), texts=image_texts)
        def update(self, data: st.DataObject, texts: dict[str, str]) -> None:
            """UpdateImage with names as ZStack's users write them: the echo is the stored image, the text
            comes back exactly, and the image's state is untouched (the SDK found a stale echo here)."""
            uuid = data.draw(st.sampled_from(deletable))
            session = zs.live_session(zs.main).uuid
            result = zs.main.call(wire.image_action(uuid, "updateImage", texts, session))
            self.written[uuid] = Stamp.now()
            assert result.ok, f"updateImage of fixture image failed: {result.final.text()}"
            after = self._query(uuid, None)
            problems = list(check_strings_round_trip(texts, after, "a query after updateImage"))
            if result.inventory is not None:
                problems += check_strings_round_trip(texts, dict(result.inventory), "updateImage's answer")
            if after["state"] != self.model[uuid]["state"]:
                problems.append(Violation("no_other_field_changes", "updateImage changed the state"))
            self._fail_write("updateImage", result, after, problems)
            # Put the created names back: the scenarios compare fixture images with their creation snapshot.
            original = {k: zs.snapshots[uuid][k] for k in texts if k in zs.snapshots[uuid]}
            if original:
                zs.main.call(wire.image_action(uuid, "updateImage", original, zs.live_session(zs.main).uuid))
                self.written[uuid] = Stamp.now()
            self.model[uuid] = self._query(uuid, None)

        def _fail_write(
            self, action: str, result: Any, after: dict[str, Any], problems: list[Violation] | None = None
        ) -> None:
            """A fixture write (not a judged probe) whose answer disagrees with the query after it."""
            violations = list(problems or [])
            if result.inventory is not None:
                violations += check_echo_matches_query(
                    action, dict(result.inventory), after, result.final, documented=zs.dialect == "documented"
                )
            if violations:
                request = result.exchanges[0].request
                sent = Sent(zs.success_probe(uuid_of(request.path)), result, violations, Facets())
                raise zs.violation(sent)

    return ImageStates


def uuid_of(path: str) -> str:
    return path.rstrip("/").split("/")[-2]  # /zstack/v1/images/{uuid}/actions


def lanes_for(zs: Harness) -> int:
    """How many lanes the state machine runs: one per fixture image of its own, up to `--workers`."""
    budget = max(5, settings().max_examples // 4)
    return max(1, min(zs.workers, budget // 3))


@beside(lambda zs: zs.can_create_images)
def test_image_state_model(zs: Harness) -> None:
    """The state machine runs in lanes, one machine each on images of its own, side by side (`--workers`):
    ZStack's images are independent, so each image's sequence of steps stays in order while jobs of
    different lanes overlap. When the run makes images, each lane gets one made for it and the whole test
    runs beside the other suites (no other suite touches these images), within the run's `--workers`
    requests in flight; otherwise the lanes share out the run's fixture images when the test is reached."""
    current = settings()
    # The profile's budget (a quarter of max_examples, at least 5, of up to 25 steps each) is shared out
    # among the lanes, one lane per fixture image up to `--workers`, three examples each at least:
    # Hypothesis' first example is its simplest (one rule), so a lane needs a few to be worth running.
    # Against a real node every step waits for a job and a lane's steps wait for each other, so the run
    # takes as long as its longest lane: more, shorter lanes for the same budget, not fewer, longer ones.
    budget = max(5, current.max_examples // 4)
    own = zs.scratch_images(lanes_for(zs), prefix="zscheck-machine")
    images = own or zs.admin_images
    lanes = max(1, min(zs.workers, len(images), budget // 3))
    per_lane = settings(current, max_examples=max(3, round(budget / lanes)), stateful_step_count=25)
    groups = [images[i::lanes] for i in range(lanes)]  # each image in exactly one lane
    machines = [machine_for(zs, group) for group in groups]
    in_parallel([partial(run_state_machine_as_test, m, settings=per_lane) for m in machines], lanes)
