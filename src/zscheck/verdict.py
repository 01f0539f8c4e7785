"""The one verdict vocabulary: every phase and every command ends in one of three words and exit codes.

0 PASS (conformant, no drift, every gate met), 1 VIOLATIONS (the target is wrong), 2 COULD NOT RUN (no
verdict about the target). Terminal lines, summary.json, index.html and JUnit all take the word from here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Verdict(enum.IntEnum):
    PASS = 0
    VIOLATIONS = 1
    COULD_NOT_RUN = 2

    @property
    def word(self) -> str:
        """What a person reads: `PASS`, `VIOLATIONS`, `COULD NOT RUN`."""
        return self.name.replace("_", " ")

    @property
    def exit_code(self) -> int:
        return int(self)

    @classmethod
    def of(cls, code: int) -> Verdict:
        """The verdict of an exit code; anything unknown (a crash's code) is no verdict about the target."""
        return cls(code) if code in (0, 1, 2) else cls.COULD_NOT_RUN

    @classmethod
    def interrupted(cls, found: Verdict) -> Verdict:
        """The verdict of a run cut short by Ctrl-C or SIGTERM, given what it had found: violations already
        seen stand (exit 1, they are facts about the target); anything else is no verdict (exit 2), even a
        pass so far, since the run did not finish what it set out to check."""
        return cls.VIOLATIONS if found is cls.VIOLATIONS else cls.COULD_NOT_RUN

    @classmethod
    def combine(cls, verdicts: Iterable[Verdict]) -> Verdict:
        """Several phases' verdicts as one: any violation wins (it is a fact about the target, even when
        another phase could not run); then any phase that could not run; an empty run never passes."""
        seen = list(verdicts)
        if cls.VIOLATIONS in seen:
            return cls.VIOLATIONS
        return cls.COULD_NOT_RUN if cls.COULD_NOT_RUN in seen or not seen else cls.PASS
