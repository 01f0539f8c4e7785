"""SLO gates: `p99<250ms`, `error_rate<0.1%`, `rps>=200`, optionally per operation (`job:p99<1s`).

A gate is parsed once, with an error that shows the value, the rule and an example when it is wrong,
and evaluated against measured numbers. Latencies are in seconds internally, rates per second, error
rates as fractions.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from zscheck.errors import ConfigError

LATENCY_METRICS = ("p50", "p90", "p95", "p99", "p99.9", "max", "mean")
METRICS = (*LATENCY_METRICS, "error_rate", "rps")
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_GATE_RE = re.compile(
    r"^\s*(?:(?P<operation>[^:<>=]+?)\s*:\s*)?(?P<metric>[a-z_0-9.]+)\s*(?P<cmp><=|>=|<|>)\s*"
    r"(?P<value>[0-9]*\.?[0-9]+)\s*(?P<unit>us|ms|s|%|/s)?\s*$"
)
_EXAMPLES = "p99<250ms, error_rate<0.1%, rps>=200, job:p99.9<=1s"


@dataclass(frozen=True)
class Gate:
    metric: str
    comparison: str
    threshold: float  # seconds, fraction or per second
    operation: str | None = None  # None: all operations together
    text: str = ""

    def passes(self, measured: float) -> bool:
        return _COMPARISONS[self.comparison](measured, self.threshold)

    def show(self, value: float) -> str:
        """A measured value in the gate's own terms."""
        if self.metric in LATENCY_METRICS:
            return f"{value * 1000:.1f}ms"
        if self.metric == "error_rate":
            return f"{value * 100:.3g}%"
        return f"{value:.1f}/s"


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    measured: float | None  # None: nothing was measured for that operation
    passed: bool

    def line(self) -> str:
        if self.measured is None:
            return f"FAIL {self.gate.text}: nothing measured for {self.gate.operation or 'any operation'}"
        verdict = "pass" if self.passed else "FAIL"
        return f"{verdict} {self.gate.text}: measured {self.gate.show(self.measured)}"


def parse_gate(text: str) -> Gate:
    match = _GATE_RE.match(text)
    if match is None:
        raise ConfigError(f"--slo {text!r} is not a gate: write [operation:]metric comparison value, e.g. {_EXAMPLES}")
    metric, unit, raw = match["metric"], match["unit"], float(match["value"])
    if metric not in METRICS:
        raise ConfigError(f"--slo {text!r}: unknown metric {metric!r}; metrics are {', '.join(METRICS)}")
    if metric in LATENCY_METRICS:
        if unit not in _TIME_UNITS:
            raise ConfigError(f"--slo {text!r}: a latency needs a unit (us, ms or s), e.g. {metric}<250ms")
        threshold = raw * _TIME_UNITS[unit]
    elif metric == "error_rate":
        if unit not in ("%", None):
            raise ConfigError(f"--slo {text!r}: an error rate is a percentage or a fraction, e.g. error_rate<0.1%")
        threshold = raw / 100 if unit == "%" else raw
        if threshold > 1:
            raise ConfigError(f"--slo {text!r}: an error rate above 100% can never be measured")
    else:
        if unit not in ("/s", None):
            raise ConfigError(f"--slo {text!r}: rps is requests per second, e.g. rps>=200")
        threshold = raw
    operation = match["operation"].strip() if match["operation"] else None
    return Gate(metric, match["cmp"], threshold, operation, text.strip())


def evaluate(gates: list[Gate], measured: Mapping[str | None, Mapping[str, float]]) -> list[GateResult]:
    """`measured[operation][metric]`, with the key None for all operations together."""
    results = []
    for gate in gates:
        value = measured.get(gate.operation, {}).get(gate.metric)
        results.append(GateResult(gate, value, value is not None and gate.passes(value)))
    return results
