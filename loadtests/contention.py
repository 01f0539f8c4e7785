"""contention: every user changes and reads the same few images at once (races, lost updates, stale
reads). Writes follow wall-clock phases (every user writes the phase's value, then the other's), and in
solo phases one user alone writes (the other value every 50 ms) while the others read, so a lost or
stale write shows in the history check; see ZscheckUser.phased_change and Phases."""

from locust import task

from zscheck.load.users import ZscheckUser


class Contention(ZscheckUser):
    @task(3)
    def change_any(self) -> None:
        self.paced(self.phased_change)

    @task(1)
    def query(self) -> None:
        self.paced(self.read)
