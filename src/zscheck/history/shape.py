"""A run's shape: what decides its numbers besides the target's build (the command, and the load it put on
the target: scenario, users, rate, duration, processes, the load options). Runs of one shape are
comparable; another shape's are not: 10 users wait longer than 5, a contract run takes longer than a 5 s
load. `zscheck trend` keeps each shape a series of its own, and `zscheck compare` judges load metrics only
between runs of one load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from zscheck.history.record import RunRecord
from zscheck.report.documents import LoadOptions, LoadSummary

# The embedded server's own setting: a target's runs have none. (Its faults need no fact: a faulty
# embedded server is another target, zscheck.history.record.series_target.)
SERVER_FACTS = ("timing",)


@dataclass(frozen=True)
class Shape:
    """What decides a run's numbers besides the target's build: the command and the load it put on the
    target. Runs of one shape make one series; another shape is another series, never mixed in."""

    command: str
    facts: tuple[tuple[str, str], ...] = ()  # (name, value) in the order the label shows them
    # False: an older zscheck wrote the run, before its documents held the load options (not part of the
    # shape's identity: such a run joins the series it agrees with, `by_shape`)
    complete: bool = field(default=True, compare=False)

    @property
    def label(self) -> str:
        return self.command + (" (" + ", ".join(f"{k} {v}" for k, v in self.facts) + ")" if self.facts else "")

    def conflicts(self, other: Shape) -> list[tuple[str, str, str]]:
        """How `other` differs (another command: that); a fact only one of them recorded is no conflict."""
        if self.command != other.command:
            return [("command", self.command, other.command)]
        return differences(dict(self.facts), dict(other.facts))

    def agrees(self, other: Shape) -> bool:
        """`other` has every fact this one recorded: a run that could not run may lack some (no duration
        measured), and belongs with the runs it agrees with."""
        return self.command == other.command and set(self.facts) <= set(other.facts)

    def of_target(self) -> Shape:
        """This shape without the embedded server's own settings: what a target's run of it would be."""
        return Shape(self.command, tuple((k, v) for k, v in self.facts if k not in SERVER_FACTS))

    def to_json(self) -> dict[str, str]:
        return {"command": self.command, **dict(self.facts)}


def _load_facts(load: LoadOptions | None) -> dict[str, str]:
    """The facts of the load options a record holds; none from a zscheck before they were recorded."""
    if load is None:
        return {}
    return {
        "images per user": str(load.images_per_user),
        "hot images": str(load.hot_images),
        "query ratio": f"{load.query_ratio:g}",
        "error ratio": f"{load.error_ratio:g}",
        "spawn rate": "all at once" if load.spawn_rate is None else f"{load.spawn_rate:g}/s",
        "generators": "remote workers" if load.remote else "this machine",
    }


def load_facts(load: LoadSummary, *, canary: bool) -> dict[str, str]:
    """What a load run put on its target, from its summary: every option that changes its numbers (the
    embedded server's timing only for a run against it, `canary`). A summary an older zscheck wrote has
    fewer facts; `Shape.agrees` and `differences` read it by the facts it has."""
    facts = {
        "scenario": load.scenario,
        "users": str(load.users),
        "rate": "closed loop" if load.rate is None else f"{load.rate:g}/s",
    }
    # In whole seconds: the duration asked, or in an older record the measured one (which overruns the
    # asked one by a fraction of a second), so that the two agree.
    if load.duration is not None:
        facts["duration"] = f"{round(load.duration)} s"
    elif load.result is not None:
        facts["duration"] = f"{round(load.result.duration)} s"
    facts["processes"] = str(load.processes)
    facts["read-after-write"] = f"{load.read_after_write:g}"
    facts.update(_load_facts(load.load))
    facts["dialect"] = load.dialect
    if canary and load.timing is not None:
        facts["timing"] = load.timing
    return facts


def differences(one: dict[str, str], other: dict[str, str]) -> list[tuple[str, str, str]]:
    """(fact, one's value, other's value) for each fact both recorded with another value: a fact only one
    side recorded (an older zscheck's summary) is no difference."""
    return [(k, v, other[k]) for k, v in one.items() if k in other and other[k] != v]


def shape_of(record: RunRecord) -> Shape:
    """The shape of `record`, from what the record holds: every load option that changes the numbers.
    (`contract --max-examples` changes a contract run's time too, and its summary does not hold it.)"""
    facts: dict[str, str] = {}
    complete = True
    for load in record.load_summaries()[:1]:  # the one metrics_of reads
        complete = load.load is not None
        facts.update(load_facts(load, canary=record.is_canary))
    for contract in record.contract_summaries()[:1]:
        facts.setdefault("dialect", contract.dialect)
        if record.is_canary:
            facts.setdefault("timing", contract.timing)
    capacity = record.capacity()
    if capacity is not None:
        complete = complete and capacity.load is not None
        facts.update(scenario=capacity.scenario, by=capacity.by, repeat=str(capacity.repeat))
        facts["refine"] = "yes" if capacity.refine else "no"
        facts["slo"] = ",".join(capacity.slo) or "none"
        if capacity.steps:
            facts["step"] = f"{round(capacity.steps[0].duration)} s"
        if capacity.range is not None:
            facts["range"] = capacity.range.arguments
        if capacity.users is not None:
            facts["users"] = str(capacity.users)
        if capacity.processes is not None:
            facts["processes"] = str(capacity.processes)
        if capacity.read_after_write is not None:
            facts["read-after-write"] = f"{capacity.read_after_write:g}"
        facts.update(_load_facts(capacity.load))
        if capacity.dialect is not None:
            facts["dialect"] = capacity.dialect
        if record.is_canary and capacity.timing is not None:
            facts["timing"] = capacity.timing
    return Shape(record.command, tuple(facts.items()), complete)


def by_shape(records: Sequence[RunRecord]) -> dict[Shape, list[RunRecord]]:
    """`records` (oldest first) by shape, the shape with the newest run first. A run that recorded less of
    its shape (it could not run, or an older zscheck wrote it: `Shape.complete`) joins the newest earlier
    run's shape that agrees with all it recorded (else the oldest later one's), so that it still counts
    among its series' runs (a store's history goes on across an upgrade of zscheck)."""
    shapes = [shape_of(r) for r in records]
    partial = [r.verdict == "COULD NOT RUN" or not s.complete for r, s in zip(records, shapes, strict=True)]
    complete = [(i, s) for i, s in enumerate(shapes) if not partial[i]]
    out: dict[Shape, list[RunRecord]] = {}
    for i, (record, shape) in enumerate(zip(records, shapes, strict=True)):
        if partial[i]:
            before = [s for j, s in reversed(complete) if j < i and shape.agrees(s)]
            after = [s for j, s in complete if j > i and shape.agrees(s)]
            shape = (before or after or [shape])[0]
        out.setdefault(shape, []).append(record)
    return dict(sorted(out.items(), key=lambda item: -item[1][-1].started))
