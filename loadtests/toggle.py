"""toggle: each user owns its images and alternates enable/disable on them (the state-change hot path);
5% of the changes repeat the image's state (a same-state change, which must keep lastOpDate)."""

from locust import task

from zscheck.load.users import ZscheckUser


class Toggle(ZscheckUser):
    @task
    def change(self) -> None:
        self.paced(self.toggle)
