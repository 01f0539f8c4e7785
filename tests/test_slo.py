"""SLO gates: parsed once with errors that show the value, the rule and an example; evaluated per operation."""

from __future__ import annotations

import pytest

from zscheck.errors import ConfigError
from zscheck.slo import evaluate, parse_gate


@pytest.mark.parametrize(
    ("text", "metric", "comparison", "threshold", "operation"),
    [
        ("p99<250ms", "p99", "<", 0.25, None),
        ("p99.9 <= 1s", "p99.9", "<=", 1.0, None),
        ("max<900us", "max", "<", 0.0009, None),
        ("error_rate<0.1%", "error_rate", "<", 0.001, None),
        ("error_rate<=0.02", "error_rate", "<=", 0.02, None),
        ("rps>=200", "rps", ">=", 200.0, None),
        ("rps>=200/s", "rps", ">=", 200.0, None),
        ("PUT actions:p50<20ms", "p50", "<", 0.02, "PUT actions"),
        (" job : p90 > 1ms ", "p90", ">", 0.001, "job"),
    ],
)
def test_gates_parse(text: str, metric: str, comparison: str, threshold: float, operation: str | None) -> None:
    gate = parse_gate(text)
    assert (gate.metric, gate.comparison, gate.operation) == (metric, comparison, operation)
    assert gate.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p99 is fast", "is not a gate: write [operation:]metric comparison value, e.g. p99<250ms"),
        ("p42<10ms", "unknown metric 'p42'; metrics are p50, p90"),
        ("p99<250", "a latency needs a unit (us, ms or s)"),
        ("error_rate<5ms", "an error rate is a percentage or a fraction"),
        ("error_rate<150%", "an error rate above 100% can never be measured"),
        ("rps>=200ms", "rps is requests per second"),
    ],
)
def test_bad_gates_say_the_value_the_rule_and_an_example(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_gate(text)
    assert repr(text) in str(info.value) and message in str(info.value)


def test_evaluate_per_operation_and_overall() -> None:
    gates = [parse_gate(t) for t in ("p99<250ms", "error_rate<0.1%", "rps>=200", "job:p99<100ms", "query:p50<1s")]
    measured = {
        None: {"p99": 0.2, "error_rate": 0.002, "rps": 350.0},
        "job": {"p99": 0.15},
    }
    results = evaluate(gates, measured)
    assert [r.passed for r in results] == [True, False, True, False, False]
    assert results[0].line() == "pass p99<250ms: measured 200.0ms"
    assert results[1].line() == "FAIL error_rate<0.1%: measured 0.2%"
    assert results[4].line() == "FAIL query:p50<1s: nothing measured for query"
