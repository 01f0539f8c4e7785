"""`zscheck diff`: differential testing of two live targets (a released build and a candidate).

The same sequences of ChangeImageState calls (seeded, plus fixed error-code probes) run against both, each
target with its own fixture images (created, journalled and restored as every command's are). Every
answer is flattened into fields (`answer.inventory.state`, `http`, `outcome`, the image's state read back
after the call, ...) and compared field by field, except the fields that must differ between any two
runs: uuids, timestamps, `cost`, job locations. Those are learned, not listed: the baseline runs the same
sequences a second time, and a field whose value differed between the baseline and itself anywhere is
masked (Diffy's noise filter). What the baseline against itself cannot learn is what differs only between
installations: a backup storage's uuid never changes on one node and is another on every other node. So
every uuid is compared by its role, not its value: named by where it first appeared in the sequence
(`<image>` for the sequence's fixture image), the same uuid named twice stays one name and two uuids two.
Each difference is reported with both exchanges (curl reproducers, the session a placeholder) and shrunk
to the shortest sequence that still shows it.
"""

from __future__ import annotations

import random
import re
import tempfile
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zscheck._models import ApiResult
from zscheck.client import Client
from zscheck.fixtures import fixture_names
from zscheck.target import Target, TargetOptions

POLL_DEADLINE = 10.0  # an api-job still processing after this is an answer too ("timeout"), as in contract
MASK_GAP = 2.0  # seconds between the starts of the baseline's two runs

# A step: a stateEvent as sent ("enable", "disable", or a wrong one), or a probe with a wrong part.
EVENTS = ("enable", "disable")
WRONG = ("Enable", "", "delete")
PROBES: tuple[tuple[str, ...], ...] = (
    ("disable", "enable"),
    ("disable", "disable"),  # a same-state change
    ("enable",),  # already enabled
    ("Enable",),  # case matters
    ("",),  # empty stateEvent
    ("delete",),  # not an event of this API
    ("unknown-image",),  # an image that does not exist
    ("bad-session",),  # a session that was never issued
    ("disable", "bad-session"),
    ("bad-session-bad-event",),  # both wrong: which is checked first decides the ErrorCode
)


def sequences(seed: int, count: int) -> list[tuple[str, ...]]:
    """The fixed probes, then `count` seeded sequences of one to four steps."""
    rng = random.Random(seed)
    out = list(PROBES)
    for _ in range(count):
        out.append(
            tuple(
                rng.choice(EVENTS + WRONG) if rng.random() < 0.2 else rng.choice(EVENTS)
                for _ in range(rng.randint(1, 4))
            )
        )
    return out


@dataclass(frozen=True)
class Observation:
    step: str
    fields: dict[str, Any]  # path -> scalar
    exchange: str  # the calls as curl reproducers, and their answers
    image: str = ""  # the sequence's fixture image: the uuid every answer should name as `<image>`


def flatten(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k in sorted(value):
            yield from flatten(value[k], f"{prefix}.{k}")
    elif isinstance(value, list):
        yield f"{prefix}.length", len(value)
        for i, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _observe(client: Client, base_url: str, image: str, step: str) -> Observation:
    if step == "unknown-image":
        result = client.change_state(uuidlib.uuid4().hex, "enable")
    elif step == "bad-session":
        result = client.change_state(image, "enable", session=uuidlib.uuid4().hex)
    elif step == "bad-session-bad-event":
        result = client.change_state(image, "Enable", session=uuidlib.uuid4().hex)
    else:
        result = client.change_state(image, step)
    after = client.get_image(image)
    fields = dict(flatten(result.data, "answer"))
    fields["outcome"] = result.outcome.value
    # the first answer and the last: how many polls came between is the target's timing, not its contract
    first, last = result.exchanges[0], result.exchanges[-1]
    fields["http"] = f"{first.status} {last.status}" if len(result.exchanges) > 1 else str(first.status)
    if len(result.exchanges) > 1:  # an api-job: its 202 answer (location, apiTimeout) is compared too
        fields.update(flatten(first.json, "accepted"))
    fields["state.after"] = None if after is None else after.get("state")
    return Observation(step, fields, _exchange(result, base_url), image)


def _exchange(result: ApiResult, base_url: str) -> str:
    return "\n".join(f"{e.request.curl(base_url)}\n  -> {e.status} {e.text(300)}" for e in result.exchanges)


Run = list[list[Observation]]  # per sequence, per step


@contextmanager
def _opened(options: TargetOptions) -> Iterator[Target]:
    with (
        tempfile.TemporaryDirectory(prefix="zscheck-diff-") as tmp,
        Target(options, Path(tmp) / "journal.jsonl", poll_deadline=POLL_DEADLINE) as t,
    ):
        yield t


def observe(options: TargetOptions, seqs: Sequence[tuple[str, ...]]) -> Run:
    """Every sequence against a target, each on a fresh fixture image; restored at the end."""
    with _opened(options) as target:
        assert target.fixtures is not None
        storage = target.backup_storage()
        names = fixture_names(len(seqs), prefix="zscheck-diff")
        run: Run = []
        for seq, (name, _) in zip(seqs, names, strict=False):
            image = target.fixtures.create(name, options.image_url, storage)["uuid"]
            run.append([_observe(target.main, target.url, image, step) for step in seq])
        return run


def _field(path: str) -> str:
    """A path with its list indices dropped: what is masked is a kind of field, wherever it occurs."""
    out, depth = [], 0
    for ch in path:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


# ZStack's uuid (32 lowercase hex) or the dashed form, not a piece of a longer hex string (a checksum)
_UUID = re.compile(
    r"(?<![0-9a-f])(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?![0-9a-f])"
)
ROLE = re.compile(r"<(?:image|uuid@[^>]*)>")  # how roles() names a uuid
_TOKEN = re.compile(f"{ROLE.pattern}|{_UUID.pattern}|\\d+")


def shape(value: Any) -> str:
    """What must stay the same about a value that may differ: its type and its form (uuids as one token,
    every run of digits as 0), so "Dec 3, 2026 5:57:44 AM" and "2026-12-03T05:57:44Z" differ, two times
    of one form do not. A uuid already named by its role keeps the name: the role is part of the form."""
    if not isinstance(value, str):
        return type(value).__name__

    def token(m: re.Match[str]) -> str:
        text = m.group()
        return text if ROLE.fullmatch(text) else "<uuid>" if _UUID.fullmatch(text) else "0"

    return _TOKEN.sub(token, value)


def roles(seq: Sequence[Observation]) -> list[dict[str, Any]]:
    """Each step's fields with every uuid in them named by its role in the sequence: `<image>` for the
    fixture image, else where it first appeared (`<uuid@STEP:PATH>`, `#N` for the Nth uuid of one field).
    Which uuids an installation chose (its backup storage, its jobs) is not the contract; which answers
    name the same resource is."""
    names: dict[str, str] = {seq[0].image: "<image>"} if seq and seq[0].image else {}
    out = []
    for i, obs in enumerate(seq, 1):
        named: dict[str, Any] = {}
        for path in sorted(obs.fields):  # both targets' answers in the same order: the same names
            value, count = obs.fields[path], 0

            def name(m: re.Match[str], i: int = i, path: str = path) -> str:
                nonlocal count
                count += 1
                return names.setdefault(m.group(), f"<uuid@{i}:{path}{f'#{count}' if count > 1 else ''}>")

            named[path] = _UUID.sub(name, value) if isinstance(value, str) else value
        out.append(named)
    return out


@dataclass(frozen=True)
class Mask:
    values: frozenset[str]  # fields whose value differed between the baseline and itself: compared by shape
    shapes: frozenset[str]  # ...whose shape differed too (free text naming uuids): not compared at all

    def __contains__(self, name: str) -> bool:
        return name in self.values


def learn_mask(first: Run, second: Run) -> Mask:
    """The fields that differed between two runs of the same build (the noise): by value, and by shape
    (uuids by role, as they are compared)."""
    values: set[str] = set()
    shapes: set[str] = set()
    for seq_a, seq_b in zip(first, second, strict=True):
        for a, b, ra, rb in zip(seq_a, seq_b, roles(seq_a), roles(seq_b), strict=True):
            for path in a.fields.keys() | b.fields.keys():
                if a.fields.get(path, _ABSENT) != b.fields.get(path, _ABSENT):
                    values.add(_field(path))
                    if shape(ra.get(path, _ABSENT)) != shape(rb.get(path, _ABSENT)):
                        shapes.add(_field(path))
    return Mask(frozenset(values), frozenset(shapes))


_ABSENT = "<absent>"


@dataclass(frozen=True)
class Difference:
    sequence: tuple[str, ...]  # the shortest sequence found that shows it
    step: int  # which step of it
    path: str
    baseline: Any  # uuids named by their role (roles())
    candidate: Any
    baseline_exchange: str
    candidate_exchange: str


def differences(base: Run, cand: Run, seqs: Sequence[tuple[str, ...]], mask: Mask) -> list[Difference]:
    """Every field that differs at each sequence's first differing step (later steps follow from it)."""
    out = []
    for seq, seq_b, seq_c in zip(seqs, base, cand, strict=True):
        out.extend(_diverged(seq, seq_b, seq_c, mask))
    return out


def _diverged(seq: tuple[str, ...], seq_b: list[Observation], seq_c: list[Observation], mask: Mask) -> list[Difference]:
    # Every field of the step, not its first: one difference (a true one, or noise the mask missed) that
    # sorts first would otherwise stand for the answer and hide the others, in every sequence alike.
    for i, (b, c, rb, rc) in enumerate(zip(seq_b, seq_c, roles(seq_b), roles(seq_c), strict=True)):
        found = []
        for path in sorted(rb.keys() | rc.keys()):
            name = _field(path)
            if name in mask.shapes:
                continue
            vb, vc = rb.get(path, _ABSENT), rc.get(path, _ABSENT)
            if (shape(vb) != shape(vc)) if name in mask.values else (vb != vc):
                found.append(Difference(seq[: i + 1], i, path, vb, vc, b.exchange, c.exchange))
        if found:
            return found
    return []


@dataclass
class DiffResult:
    baseline: str
    candidate: str
    sequences: int
    mask: list[str]  # compared by shape only
    unmasked_never: list[str]  # not compared at all: their shape differed between the baseline and itself
    differences: list[Difference] = field(default_factory=list)


def shrink(found: Difference, check: Callable[[tuple[str, ...]], Difference | None], budget: int = 8) -> Difference:
    """Drop steps one at a time while the difference (the same field) still shows; at most `budget` tries."""
    best = found
    tries = 0
    changed = True
    while changed and tries < budget and len(best.sequence) > 1:
        changed = False
        for i in range(len(best.sequence)):
            if tries >= budget:
                break
            shorter = best.sequence[:i] + best.sequence[i + 1 :]
            tries += 1
            again = check(shorter)
            if again is not None and _field(again.path) == _field(found.path):
                best, changed = again, True
                break
    return best


def _label(options: TargetOptions) -> str:
    if options.url:
        return options.url
    return "embedded reference server" + (f" with --fault {','.join(options.faults)}" if options.faults else "")


def run_diff(baseline: TargetOptions, candidate: TargetOptions, *, seed: int = 0, count: int = 10) -> DiffResult:
    """The whole differential run: baseline twice (the mask), the candidate once, differences shrunk."""
    seqs = sequences(seed, count)
    started = time.monotonic()
    first = observe(baseline, seqs)
    # ZStack's timestamps have one-second resolution: two quick runs could agree on them by chance and
    # leave them unmasked. The second run starts at least 2 s after the first, so each call's time differs.
    time.sleep(max(0.0, MASK_GAP - (time.monotonic() - started)))
    second = observe(baseline, seqs)
    mask = learn_mask(first, second)
    cand = observe(candidate, seqs)
    result = DiffResult(_label(baseline), _label(candidate), len(seqs), sorted(mask.values), sorted(mask.shapes))

    def check_for(kind: str) -> Callable[[tuple[str, ...]], Difference | None]:
        def check(seq: tuple[str, ...]) -> Difference | None:  # this kind of field's difference, if it shows
            (b,), (c,) = observe(baseline, [seq]), observe(candidate, [seq])
            return next((d for d in _diverged(seq, b, c, mask) if _field(d.path) == kind), None)

        return check

    kinds: dict[str, Difference] = {}  # one per kind of field, from the shortest sequence that shows it
    for found in differences(first, cand, seqs, mask):
        seen = kinds.get(_field(found.path))
        if seen is None or len(found.sequence) < len(seen.sequence):
            kinds[_field(found.path)] = found
    result.differences = [shrink(found, check_for(kind)) for kind, found in kinds.items()]
    return result
