"""The timing profile: how long the reference server takes, `instant` (the default) or `realistic`.

Why a module of its own: the profile spans the job engine (how long an api-job stays processing) and the
routing (the delay before every synchronous answer), and both must draw from one seeded generator so a
run under the realistic profile replays.

The realistic profile (facts §10, "Timing on a real node"): an api-job finishes after a log-normal delay
with a median of 60 ms and a 90th percentile of 200 ms, capped at 1.5 s; synchronous answers (queries,
login, the 202 itself) take 1-5 ms. Job polls are answered at once, as a real node does.
"""

from __future__ import annotations

import math
import random

JOB_DELAY_MEDIAN = 0.060
JOB_DELAY_P90 = 0.200
JOB_DELAY_CAP = 1.5
_JOB_MU = math.log(JOB_DELAY_MEDIAN)
_JOB_SIGMA = math.log(JOB_DELAY_P90 / JOB_DELAY_MEDIAN) / 1.2815515655446004  # z of the 90th percentile
SYNC_DELAY = (0.001, 0.005)


class TimingProfile:
    """One per server. `job_delay` is `--job-delay` plus, when realistic, a seeded draw."""

    def __init__(self, realistic: bool, seed: int, job_delay: float) -> None:
        self.realistic = realistic
        self._fixed = job_delay
        self._rng = random.Random(seed)  # one generator per server, seeded: a run can be replayed

    def job_delay(self) -> float:
        """How long a new api-job stays processing."""
        delay = self._fixed
        if self.realistic:
            delay += min(JOB_DELAY_CAP, self._rng.lognormvariate(_JOB_MU, _JOB_SIGMA))
        return delay

    def sync_delay(self) -> float:
        """The realistic profile's delay before a synchronous answer."""
        return self._rng.uniform(*SYNC_DELAY)
