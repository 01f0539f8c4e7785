"""errors: a steady share (`--error-ratio`) of invalid requests (bad event, unknown image, logged-out
session) among state changes, to measure the error path and check its codes under load."""

from locust import task

from zscheck.load.users import ZscheckUser


class Errors(ZscheckUser):
    @task
    def step(self) -> None:
        self.paced(self.invalid if self.rng.random() < self.state.plan.error_ratio else self.toggle)
