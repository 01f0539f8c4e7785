"""Deliberate faults (`zscheck serve --fault NAME`): each one a realistic way a server gets the contract
wrong, so the tests can prove that every check catches the class of fault it claims to.

The app consults these at a handful of points (see `App`); all the fault logic lives here so the correct
path stays readable. Each entry names the area it breaks; the harness's checks are written without
knowledge of this list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# name -> (area, what goes wrong)
FAULTS: dict[str, tuple[str, str]] = {
    "success-with-error": ("envelope", "a successful job result also carries an `error`"),
    "success-field": ("envelope", "REST answers carry a legacy `success: true` field"),
    "error-code-shape": ("envelope", "ErrorCodes lose their prefix (`1007`) and their description"),
    "wrong-error-code": ("error codes", "SYS.1000 (internal error) where SYS.1007 belongs"),
    "case-insensitive-event": ("error codes", "`Enable`, `DISABLE` and other case variants are accepted"),
    "session-before-arguments": ("error codes", "the session is checked before stateEvent and the image"),
    "same-state-error": ("state transitions", "a same-state change fails with SYS.1006 instead of succeeding"),
    "sync-validation": ("HTTP statuses", "an invalid stateEvent is rejected at once with a 400 JSON error"),
    "business-error-500": ("HTTP statuses", "failed jobs answer 500 instead of 503"),
    "params-accepted": ("HTTP statuses", "the rest dialect accepts the documented `params` body key"),
    "disable-noop": ("state transitions", "disable answers and leaves the image Enabled"),
    "status-touched": ("state transitions", "a state change resets the image's status to Ready"),
    "other-field-changes": ("state transitions", "a state change also resets the image's platform to Other"),
    "lastopdate-frozen": ("state transitions", "lastOpDate is not advanced by a state change"),
    "lost-update": ("persistence", "the job acknowledges the change, but it is never stored"),
    "any-session": ("sessions", "unknown, expired and logged-out sessions are accepted"),
    "no-ownership": ("ownership", "a normal account may change any account's image"),
    "job-never-finishes": ("job handling", "api-jobs answer 202 forever"),
    "no-location": ("job handling", "the 202 answer has no `location`"),
    "pending-body-location": ("job handling", "a job's first poll answers 202 with a location instead of {}"),
    "iso-timestamps": ("inventory", "timestamps in ISO 8601 instead of ZStack's format"),
    "missing-status": ("inventory", "the inventory lacks its `status`"),
    "wrong-inventory": ("inventory", "the job result carries another image's inventory"),
    "null-fields": ("inventory", "absent fields are sent as null"),
}


class UnknownFault(ValueError):
    pass


class Faults:
    def __init__(self, names: Iterable[str] = ()) -> None:
        names = tuple(names)
        unknown = [n for n in names if n not in FAULTS]
        if unknown:
            raise UnknownFault(f"unknown fault {', '.join(unknown)}; known faults: {', '.join(sorted(FAULTS))}")
        self.on = frozenset(names)
        self._polled: set[str] = set()

    def __contains__(self, name: str) -> bool:
        return name in self.on

    def __bool__(self) -> bool:
        return bool(self.on)

    def event(self, event: str) -> str:
        return event.lower() if "case-insensitive-event" in self.on else event

    def change(self, before: dict[str, Any], changed: dict[str, Any]) -> dict[str, Any]:
        """What a state change writes, faults applied."""
        changed = dict(changed)
        if "disable-noop" in self.on and changed["state"] == "Disabled":
            changed["state"] = before["state"]
        if "status-touched" in self.on:
            changed["status"] = "Ready"
        if "other-field-changes" in self.on:
            changed["platform"] = "Other"
        if "lastopdate-frozen" in self.on:
            changed["lastOpDate"] = before["lastOpDate"]
        return changed

    def job_result(
        self, status: int, payload: dict[str, Any], other_image: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        """The rendered job result (rest dialect), faults applied."""
        if "inventory" in payload:
            inventory = dict(payload["inventory"])
            if "success-with-error" in self.on:
                payload = {**payload, "error": {"code": "SYS.1000", "description": "x", "details": "x"}}
            if "missing-status" in self.on:
                inventory.pop("status", None)
            if "iso-timestamps" in self.on:
                inventory["createDate"] = inventory["lastOpDate"] = "2025-10-28T14:09:26Z"
            if "null-fields" in self.on:
                inventory = {k: inventory.get(k) for k in (*inventory, "description", "md5Sum", "guestOsType")}
            if "wrong-inventory" in self.on and other_image is not None:
                inventory = other_image
            payload = {**payload, "inventory": inventory}
        if "error" in payload and status == 503:
            error = dict(payload["error"])
            if "wrong-error-code" in self.on and error["code"] == "SYS.1007":
                error["code"], error["description"] = "SYS.1000", "An internal error happened in system"
            if "error-code-shape" in self.on:
                error["code"] = error["code"].split(".")[-1]
                error.pop("description", None)
            payload = {**payload, "error": error}
            if "business-error-500" in self.on:
                status = 500
        if "success-field" in self.on:
            payload = {"success": status == 200, **payload}
        return status, payload

    def pending_body(self, job_uuid: str, location: str) -> bytes | None:
        """A fault's body for a poll of a finished job that should still look pending, else None."""
        if "job-never-finishes" in self.on:
            return b"{}"
        if "pending-body-location" in self.on and job_uuid not in self._polled:
            self._polled.add(job_uuid)
            return f'{{"location":"{location}"}}'.encode()
        return None
