"""mixed: queries and state changes at the ratio the plan gives (`--query-ratio`, 0.5 by default)."""

from locust import task

from zscheck.load.users import ZscheckUser


class Mixed(ZscheckUser):
    @task
    def step(self) -> None:
        self.paced(self.read if self.rng.random() < self.state.plan.query_ratio else self.toggle)
