"""Load runs: the plan, the operations (judged by `zscheck.checks`), the recorder, the orchestrator.

`users` is the only module that imports locust; it is imported by the locustfiles in `loadtests/`.
"""

from zscheck.load.plan import SCENARIOS, LoadPlan
from zscheck.load.runner import LoadRun, run_load
from zscheck.load.search import CapacitySearch, run_capacity

__all__ = ["SCENARIOS", "CapacitySearch", "LoadPlan", "LoadRun", "run_capacity", "run_load"]
