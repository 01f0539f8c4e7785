"""The linearizability checker on hand-built histories: the ones it must accept and the ones it must not."""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zscheck.linearizability import (
    STAND_INS,
    Operation,
    Result,
    StreamChecker,
    check,
    final_configs,
    final_states,
    linearizable,
    simulated_history,
)

E, D = "Enabled", "Disabled"


def w(value: str, start: float, end: float | None, key: str = "img") -> Operation:
    return Operation(key, "write", value, start, end)


def r(value: str, start: float, end: float, key: str = "img") -> Operation:
    return Operation(key, "read", value, start, end)


@pytest.mark.parametrize(
    "history",
    [
        [],
        [w(D, 0, 1), r(D, 2, 3), w(E, 4, 5), r(E, 6, 7)],
        [w(D, 0, 10), r(E, 1, 2), r(D, 3, 4)],  # a read overlapping a write may see either side
        [w(D, 0, 4), w(E, 1, 5), r(D, 6, 7)],  # concurrent writes: either may land last
        [w(D, 0, 4), w(E, 1, 5), r(E, 6, 7)],
        [w(D, 0, None), r(E, 5, 6)],  # an indeterminate write may never have happened
        [w(D, 0, None), r(D, 5, 6)],  # ... or may have
        [w(D, 0, None), r(E, 2, 3), r(D, 5, 6)],  # ... at any instant after it was sent
        [r(E, 0, 1), r(E, 1, 2)],  # touching operations count as concurrent
    ],
)
def test_linearizable_histories_pass(history: list[Operation]) -> None:
    assert linearizable(history, E)


@pytest.mark.parametrize(
    ("name", "history"),
    [
        ("read of a value never written", [r(D, 0, 1)]),
        ("stale read after an acknowledged write", [w(D, 0, 1), r(E, 2, 3)]),
        ("lost update", [w(D, 0, 1), w(E, 2, 3), r(D, 4, 5)]),
        ("reads going back in time", [w(D, 0, 10), r(D, 1, 2), r(E, 3, 4)]),
        ("indeterminate write undone", [w(D, 0, None), r(D, 2, 3), r(E, 5, 6)]),
    ],
)
def test_violations_are_caught(name: str, history: list[Operation]) -> None:
    assert not linearizable(history, E), name


def test_unknown_initial_state_is_chosen_by_the_first_read() -> None:
    assert linearizable([r(D, 0, 1), r(D, 2, 3)], None)
    assert not linearizable([r(D, 0, 1), r(E, 2, 3)], None)


def test_keys_are_checked_independently_and_the_window_is_small() -> None:
    noise = [w(E if i % 2 else D, 10 * i, 10 * i + 1, key="other") for i in range(50)]
    good = [w(D if i % 2 else E, 10 * i, 10 * i + 5) for i in range(40)]
    bad = [w(D, 1000, 1001), r(E, 1002, 1003)]
    result = check(noise + good + bad, initial={"img": E, "other": E})
    assert not result.ok and result.keys == 2 and result.operations == 92
    (violation,) = result.violations
    assert violation.key == "img"
    assert set(violation.window) == set(bad)
    assert "read Enabled" in violation.describe() and "write Disabled" in violation.describe()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), clients=st.integers(1, 8), keys=st.integers(1, 4))
def test_simulated_registers_are_linearizable_and_a_corrupted_read_is_not(seed: int, clients: int, keys: int) -> None:
    history, initial = simulated_history(seed, 200, clients, keys)
    assert check(history, initial).ok
    reads = [i for i, op in enumerate(history) if op.kind == "read"]
    if not reads:
        return
    # Flip one read to the value no write could explain at any instant of its interval.
    i = random.Random(seed).choice(reads)
    op = history[i]
    others = [o for o in history if o.key == op.key and o is not op]
    possible = {initial[op.key]} | {o.value for o in others if o.kind == "write" and o.invoke < op.end}
    flipped = D if op.value == E else E
    if flipped in possible:
        return  # some order could still explain it: not a guaranteed violation
    corrupted = [*history[:i], Operation(op.key, "read", flipped, op.invoke, op.complete), *history[i + 1 :]]
    assert not check(corrupted, initial).ok


def test_a_run_full_of_timeouts_is_checked_quickly_and_soundly() -> None:
    """Thousands of indeterminate writes (a target that times out) must neither hang the search nor hide a
    violation: only the earliest-sent ones that some read could need are kept."""
    import time as _time

    flood = [Operation("k", "write", ("Enabled", "Disabled")[i % 2], float(i), None, f"c{i}") for i in range(5000)]
    started = _time.process_time()  # CPU: a loaded CI box stretches wall time, not what the search burns
    assert check([*flood, Operation("k", "read", "Disabled", 6000.0, 6001.0)], {"k": "Enabled"}).ok
    assert _time.process_time() - started < 2.0
    only_enabled = [op for op in flood if op.value == "Enabled"]
    bad = check([*only_enabled, Operation("k", "read", "Disabled", 6000.0, 6001.0)], {"k": "Enabled"})
    assert not bad.ok and bad.violations  # nothing could have written Disabled
    late = [Operation("k", "write", "Disabled", 7000.0, None), Operation("k", "read", "Disabled", 6000.0, 6001.0)]
    assert not check(late, {"k": "Enabled"}).ok  # a write sent after the read cannot explain it


def test_a_search_that_runs_out_of_budget_says_so() -> None:
    history, initial = simulated_history(seed=5, ops=400, clients=40, keys=1)
    result = check(history, initial, budget=10)
    assert result.ok and result.undecided == ["image-0"]
    assert check(history, initial).undecided == []


# ---------------------------------------------------------------- the streaming checker (soaks, issue 14)


def streamed(
    history: list[Operation], initial: dict[str, str], rng: random.Random, cut_budget: int = 200_000
) -> tuple[Result, StreamChecker]:
    """`history` fed the way the history files feed it: in a shuffled order within each stretch between two
    watermarks, each watermark the earliest send of what is still to come."""
    checker = StreamChecker(initial, cut_budget=cut_budget)
    ordered = sorted(history, key=lambda o: o.invoke)
    i = 0
    while i < len(ordered):
        stretch = ordered[i : i + rng.randrange(1, 12)]
        rng.shuffle(stretch)
        for op in stretch:
            checker.add(op)
        i += len(stretch)
        if i < len(ordered):
            checker.advance(ordered[i].invoke)
    return checker.finish(), checker


def mangled(seed: int) -> tuple[list[Operation], dict[str, str]]:
    """A simulated history with some reads and writes corrupted, some writes left indeterminate, some
    intervals stretched over their neighbours, and half the time no known initial state."""
    rng = random.Random(seed)
    history, initial = simulated_history(seed, rng.randrange(5, 150), rng.randrange(1, 6), rng.randrange(1, 4))
    out = []
    for op in history:
        roll = rng.random()
        if roll < 0.05:
            op = replace(op, value=D if op.value == E else E)
        elif roll < 0.08 and op.kind == "write":
            op = replace(op, complete=None)
        elif roll < 0.12 and op.complete is not None:
            op = replace(op, complete=op.complete + rng.random() * 10)
        out.append(op)
    return out, (initial if rng.random() < 0.5 else {})


@pytest.mark.parametrize("cut_budget", [200_000, 40])  # 40 steps: many segments too tangled to cut
def test_the_streaming_checker_gives_the_same_verdict_as_the_whole_history(cut_budget: int) -> None:
    violated = segmented = uncut = 0
    for seed in range(400):
        history, initial = mangled(seed)
        whole = check(history, initial=initial)
        stream, checker = streamed(history, initial, random.Random(seed), cut_budget)
        uncut += bool(checker.uncut)
        assert (stream.ok, stream.keys, stream.operations) == (whole.ok, whole.keys, whole.operations), seed
        assert sorted(v.key for v in stream.violations) == sorted(v.key for v in whole.violations), seed
        assert stream.undecided == whole.undecided == [], seed
        for v in stream.violations:  # each window really fails, and is no longer than the whole check's
            assert linearizable(list(v.window), v.initial) is False
        violated += not whole.ok
        segmented += checker.segments > len(whole.violations) + whole.keys
    assert violated > 50 and segmented > 200  # both verdicts, and histories really cut into segments
    assert (uncut > 50) == (cut_budget < 1000)  # ...and with the small budget, many keys held whole too


def test_a_segment_hands_the_next_every_state_it_can_leave() -> None:
    assert final_states([w(D, 0, 4), w(E, 1, 5)], E) == {D, E}  # concurrent writes: either lands last
    assert final_states([w(D, 0, 4), w(E, 1, 5), r(E, 2, 6)], E) == {D, E}
    assert final_states([w(D, 0, 1), w(E, 2, 3)], None) == {E}
    assert final_states([r(D, 0, 1)], E) == set()
    # ... so a read after the cut may see either write, but not a state neither left
    for seen, ok in ((D, True), (E, True)):
        checker = StreamChecker({"img": E})
        for op in (w(D, 0, 4), w(E, 1, 5), r(seen, 6, 7)):
            checker.add(op)
            checker.advance(op.invoke)
        assert checker.finish().ok is ok


def test_a_lost_update_across_a_cut_is_caught_and_memory_stays_bounded() -> None:
    # One user toggling an image for 20,000 operations, each done before the next: the checker holds a
    # handful at a time, and one stale read near the end (a lost update) is still caught.
    checker = StreamChecker({"img": E})
    state, t = E, 0.0
    for n in range(20_000):
        state = D if state == E else E
        checker.add(w(state, t, t + 0.5))
        checker.add(r(state if n != 19_000 else (E if state == D else D), t + 0.6, t + 0.9))
        t += 1.0
        checker.advance(t)
    result = checker.finish()
    assert not result.ok and [v.key for v in result.violations] == ["img"]
    assert result.operations == 40_000 and checker.peak_held <= 3
    assert len(result.violations[0].window) <= 3


def _every_end_state(ops: list[Operation], start: str | None) -> set[str | None]:
    """By brute force: the state after each order of `ops` that respects real time and explains every read."""
    ends: set[str | None] = set()
    for order in itertools.permutations(range(len(ops))):
        at = {i: n for n, i in enumerate(order)}
        if any(a.end < b.invoke and at[i] > at[j] for i, a in enumerate(ops) for j, b in enumerate(ops)):
            continue
        state, fits = start, True
        for i in order:
            fits = fits and (ops[i].kind == "write" or state is None or state == ops[i].value)
            state = ops[i].value
        if fits:
            ends.add(state)
    return ends


def test_the_end_states_of_a_segment_are_every_one_an_order_can_leave() -> None:
    rng = random.Random(5)
    for _ in range(1500):
        ops = []
        for _ in range(rng.randrange(1, 6)):
            begin = float(rng.randrange(10))
            ops.append(
                Operation("img", rng.choice(("write", "read")), rng.choice((E, D)), begin, begin + rng.randrange(6))
            )
        start = rng.choice((None, E, D))
        assert final_states(ops, start) == _every_end_state(ops, start), (ops, start)


def _every_end_config(ops: list[Operation], start: str | None) -> set[tuple[str | None, tuple[tuple[str, int], ...]]]:
    """By brute force: each subset of the indeterminate writes placed (the rest pending, counted by value),
    every order of the placed ones that respects real time and explains every read."""
    ends = set()
    maybe = [i for i, op in enumerate(ops) if op.complete is None]
    for k in range(len(maybe) + 1):
        for left in itertools.combinations(maybe, k):
            placed = [op for i, op in enumerate(ops) if i not in left]
            counts: dict[str, int] = {}
            for i in left:
                counts[ops[i].value] = counts.get(ops[i].value, 0) + 1
            pending = tuple(sorted(counts.items()))
            ends |= {(state, pending) for state in _every_end_state(placed, start)}
    return ends


def test_a_segment_hands_over_every_state_with_the_indeterminate_writes_it_left_unplaced() -> None:
    assert final_configs([w(D, 0, None), w(E, 1, 2)], E) == {(E, ((D, 1),)), (E, ()), (D, ())}
    assert final_configs([w(D, 0, None), r(D, 1, 2)], E) == {(D, ())}  # the read needs it: placed
    rng = random.Random(8)
    for _ in range(1500):
        ops = []
        for _ in range(rng.randrange(1, 6)):
            begin = float(rng.randrange(10))
            kind = rng.choice(("write", "read"))
            end = None if kind == "write" and rng.random() < 0.3 else begin + rng.randrange(6)
            ops.append(Operation("img", kind, rng.choice((E, D)), begin, end))
        start = rng.choice((None, E, D))
        assert final_configs(ops, start) == _every_end_config(ops, start), (ops, start)


def test_a_timed_out_write_does_not_hold_its_image_and_is_used_at_most_once() -> None:
    """A soak's image with one timeout early on: its later operations are checked and dropped as they
    come (before, the image was held whole until the run ended). The timed-out write may land late,
    once: one stale read of its value long after is explained by it, a second one after a later
    acknowledged change and a read of that is a violation, as the whole-history check says."""
    for stale_reads, ok in ((1, True), (2, False)):
        checker, history = StreamChecker({"img": E}), [w(D, 0.0, None)]
        state, t = E, 1.0
        stale = (1_801, 3_001)[:stale_reads]  # odd: a change to Enabled
        for n in range(4_000):
            state = D if state == E else E
            ops = [w(state, t, t + 0.5), r(state, t + 0.6, t + 0.9)]
            if n in stale and state == E:  # the timed-out D lands after the E write, before this read
                ops[1] = r(D, t + 0.6, t + 0.9)
            history += ops
            t += 1.0
        for op in history:  # each op added as it completes, the watermark the next one's send
            checker.add(op)
            checker.advance(op.invoke)
        result = checker.finish()
        assert result.ok is ok and check(history, {"img": E}).ok is ok, stale_reads
        assert checker.peak_held <= 4, checker.peak_held
        if not ok:
            assert [v.key for v in result.violations] == ["img"] and len(result.violations[0].window) <= 6


def test_many_timed_out_writes_keep_the_streaming_check_quick_and_the_image_cut() -> None:
    """One image, one user, a timeout every 25th step for 2,000 steps (80 writes that never landed): each
    segment searches only the pending writes a read of it could need, and a configuration with more writes
    pending covers one with fewer, so one configuration is handed on. Before, every segment searched each
    subset of the interchangeable pending writes: 14.5 s for 300 steps, and the image ended held whole."""
    checker, state, t, history = StreamChecker({"img": E}), E, 1.0, []
    for n in range(2_000):
        state = D if state == E else E
        if n % 25 == 0:
            history.append(w(state, t, None))  # timed out, never took effect
            state = D if state == E else E
        else:
            history += [w(state, t, t + 0.5), r(state, t + 0.6, t + 0.9)]
        t += 1.0
    started = time.process_time()
    for op in history:
        checker.add(op)
        checker.advance(op.invoke)
    result = checker.finish()
    assert time.process_time() - started < 5.0  # about 0.1 s here
    assert result.ok and check(history, {"img": E}).ok
    assert not checker.uncut and checker.peak_held <= 4 and len(checker.starts["img"]) <= 2
    assert all(len(kept) <= STAND_INS for kept in checker.carried["img"].values())
