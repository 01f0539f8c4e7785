"""api-jobs (§1.2): everything an asynchronous API does after RestServer has read its request.

Owns the job's life: `accept` (X-Job-UUID, X-API-Timeout, the top-level tags, the 202 with `location`),
running the API's body after the timing profile's delay, rendering its result (inventory JSON cached per
image), committing the result with the API's write, and answering polls (§1.2's table; `schema` when asked,
§10). Expiry counts from a job's creation (MysqlAsyncRestStore reads createDate). The APIs themselves
(images.py, accounts.py) register a handler per action: this module knows no API.

Why typed requests: a `JobRequest` says what a job was asked to do (action, target, session, params,
tags) with names a reader and mypy can follow; it is also what a pending job keeps on disk.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from zscheck.refserver import model
from zscheck.refserver.hooks import Hooks
from zscheck.refserver.rest import (
    DROP,
    Answer,
    Request,
    Response,
    RestError,
    json_bytes,
    json_text,
    tag_lists,
    top_level_tags,
)
from zscheck.refserver.store import Job, Store, WriteError, new_uuid
from zscheck.refserver.timing import TimingProfile

# An API's write: run when its job completes, committing the job's result (`job`) in the same
# transaction; the documented dialect's synchronous change passes None.
Write: TypeAlias = Callable[[Job | None], None]

_STATE_MARK, _DATE_MARK = "\x00state\x00", "\x00lastOpDate\x00"  # placeholders in cached inventory text


@dataclass(slots=True)
class JobRequest:
    """What an api-job was asked to do."""

    action: str  # the API, as the body names it: "changeImageState", "addImage", ...
    target: str | None  # the URL's resource: an image, account or session uuid (None for creations)
    session: str  # the caller's session uuid, from the Authorization header
    params: dict[str, Any]  # the message fields, as `rest.action_params` read them
    tags: dict[str, Any] = field(default_factory=dict)  # systemTags and userTags (set by `Jobs.accept`)


@dataclass(slots=True)
class Outcome:
    """What an API did: an error, or success with an optional inventory (or other result), plus the write
    to commit. `splice` says the inventory differs from the stored image in state and lastOpDate at most,
    so its cached text can be reused."""

    error: dict[str, Any] | None = None
    image: dict[str, Any] | None = None
    write: Write | None = None
    splice: bool = False
    result: dict[str, Any] | None = None  # a result that is not an image: {"inventory", "class"}
    handler: bool = False  # the error comes from the handler, which a validationOnly request never reaches


Handler: TypeAlias = Callable[[JobRequest], Outcome]


def java_long(value: str) -> int:
    """Long.parseLong: an optional sign and ASCII digits, in range; else NumberFormatException (a 500)."""
    digits = value[1:] if value[:1] in "+-" else value
    if not digits or not digits.isascii() or not digits.isdigit() or not -(2**63) <= int(value) < 2**63:
        raise RestError(500, f'For input string: "{value}"')
    return int(value)


class Jobs:
    def __init__(
        self,
        store: Store,
        hooks: Hooks,
        timing: TimingProfile,
        schedule: Callable[[float, Callable[[], None]], Any],
        *,
        base_url: str,
        api_timeout_ms: int,
        job_ttl: float,
    ) -> None:
        self.store = store
        self.hooks = hooks
        self.timing = timing
        self._schedule = schedule
        self._base_url = base_url
        self._api_timeout_ms = api_timeout_ms
        self._job_ttl = job_ttl
        self._handlers: dict[str, Handler] = {}
        self._inventory_text: dict[str, tuple[int, str, str, str]] = {}
        self._complete_job = self._complete  # bound once: passed to a hook on every job

    def register(self, action: str, handler: Handler) -> None:
        self._handlers[action] = handler

    def location(self, job_uuid: str) -> str:
        return f"{self._base_url}/zstack/v1/api-jobs/{job_uuid}"

    # ------------------------------------------------------------------------------------ accepting

    def accept(self, req: Request, request: JobRequest, body: dict[str, Any] | None = None) -> Response:
        """RestServer.handleApi from the X-Job-UUID header on: the header, the top-level tags, then 202."""
        job_uuid = req.headers.get("x-job-uuid")
        if job_uuid is not None:
            if len(job_uuid) != 32:
                raise RestError(400, "Invalid header[X-Job-UUID], it must be a UUID with '-' stripped")
            if self.store.job_exists(job_uuid) and not self.hooks.reuse_job_uuid(job_uuid):
                raise RestError(400, f"Duplicate job uuid[{job_uuid}]")
        else:
            job_uuid = new_uuid()
        api_timeout = self._api_timeout_ms
        if "x-api-timeout" in req.headers:
            api_timeout = java_long(req.headers["x-api-timeout"]) * 1000  # seconds; msg.setTimeout(ms)
        if body is not None:
            top_level_tags(body)
        request.tags = tag_lists(body, request.params)
        job = Job(job_uuid, done=False, request=request, action=request.action, created=time.time())
        delay = self.hooks.job_delay(self.timing.job_delay(), request, job_uuid)
        if delay > 0:
            self.store.save_job(job)
            self._schedule(delay, lambda: self._finish(job, request))
        else:
            self._finish(job, request)
        location = self.location(job_uuid)
        faulty = self.hooks.accepted_body(request.action, location, api_timeout)
        if faulty is not None:
            return Response(202, json_bytes(faulty))
        if not job_uuid.isalnum():  # X-Job-UUID is the client's: anything but hex goes through the encoder
            return Response(202, json_bytes({"location": location, "apiTimeout": api_timeout}))
        # Formatted by hand: this answer is on the hot path and its shape never varies.
        return Response(202, f'{{"location":"{location}","apiTimeout":{api_timeout}}}'.encode())

    def pending_after_restart(self) -> int:
        """Jobs accepted before a restart are not run again: ZStack's AsyncRestVO row stays `processing`
        (a poll answers 202) until it expires. Returns how many there are."""
        return len(self.store.pending_jobs())

    def expire(self, now: float) -> None:
        """rest.completedApi.expiredPeriod, counted from each job's creation."""
        self.store.expire_jobs(now - self._job_ttl)

    # ------------------------------------------------------------------------------ running a job

    def _finish(self, job: Job, request: JobRequest) -> None:
        outcome = self.run(request)
        if not self.hooks.completing(job, request, outcome, self._complete_job):
            self._complete(job, request, outcome)

    def run(self, request: JobRequest) -> Outcome:
        """The API's body; a validationOnly request stops before the handler (ApiMediatorImpl, §10)."""
        outcome = self._handlers[request.action](request)
        if model.VALIDATION_ONLY in (request.tags.get("systemTags") or ()) and (
            outcome.error is None or outcome.handler
        ):
            # Every validator and interceptor ran; the handler does not: a bare event.
            return Outcome()
        return outcome

    def _complete(self, job: Job, request: JobRequest, outcome: Outcome) -> None:
        if outcome.error is not None:
            job.status, job.payload = 503, json_text({"error": outcome.error})
        elif outcome.image is not None:
            inventory = self._inventory_json(outcome.image) if outcome.splice else self._render(outcome.image)
            job.status, job.payload = 200, '{"inventory":' + inventory + "}"
            # Pollers that send X-JSON-Schema (the Java SDK always does) get this; spliced, not re-encoded.
            schema = json_text(model.image_schema("inventory", outcome.image))
            job.with_schema = f'{job.payload[:-1]},"schema":{schema}}}'.encode()
        elif outcome.result is not None:
            job.status, job.payload = 200, json_text({"inventory": outcome.result["inventory"]})
            job.with_schema = json_bytes(
                {"inventory": outcome.result["inventory"], "schema": {"inventory": outcome.result["class"]}}
            )
        else:
            job.status, job.payload = 200, "{}"
        self.hooks.job_result(job, request)
        job.done = True
        # The change and the job result commit together: a 200 poll implies a durable change.
        try:
            if outcome.write is not None:
                outcome.write(job)
            else:
                self.store.save_job(job)
        except WriteError as exc:
            # Undone alone (the batch's other jobs commit): this job ends with the error, never at 202.
            job.status, job.with_schema = 503, None
            job.payload = json_text({"error": model.error("SYS.1000", str(exc))})
            try:
                self.store.save_job(job)
            except WriteError:
                self.store.keep_failed(job)  # saved with the next batch that commits

    @staticmethod
    def _render(image: dict[str, Any]) -> str:
        return json_text(model.render_image(image, keep_nulls=False))

    def _inventory_json(self, image: dict[str, Any]) -> str:
        """The inventory of a state change as `rest` JSON. It differs from the stored image in state and
        lastOpDate only, so the rest of the text is kept per image and stored version (every write but a
        state change bumps the version) and the two values are spliced in. Only for Outcome.splice: any
        other write renders in full, since its inventory is not the stored version's."""
        version = self.store.versions.get(image["uuid"], 0)
        cached = self._inventory_text.get(image["uuid"])
        if cached is None or cached[0] != version:
            rendered = model.render_image(image, keep_nulls=False)
            rendered["state"], rendered["lastOpDate"] = _STATE_MARK, _DATE_MARK
            head, rest = json_text(rendered).split(json_text(_STATE_MARK))
            middle, tail = rest.split(json_text(_DATE_MARK))
            cached = (version, head, middle, tail)
            self._inventory_text[image["uuid"]] = cached
        _, head, middle, tail = cached
        return f'{head}"{image["state"]}"{middle}"{model.zstack_time(image["lastOpDate"])}"{tail}'

    # ----------------------------------------------------------------------------------- polling

    def poll(self, req: Request, job_uuid: str) -> Answer:
        if req.method != "GET":
            raise RestError(405, "only GET method is allowed for querying job status")
        job = self.store.get_job(job_uuid)
        if job is None:
            fake = self.hooks.unknown_job(job_uuid)
            if fake is not None:
                return fake
            raise RestError(404, "the job has been expired")
        if self.hooks.drops(job.action):
            return DROP
        return self.hooks.poll_answer(self._answer(req, job), job)

    def _answer(self, req: Request, job: Job) -> Response:
        if not job.done:
            return Response(202, b"{}")
        instead = self.hooks.done_answer(job)
        if instead is not None:
            return instead
        payload = job.payload or "{}"
        if job.status == 200 and ("x-json-schema" in req.headers or self.hooks.schema_unasked(job)):
            # writeResponse adds `schema` whenever the poll asks, an empty result's being {} (§10).
            if job.with_schema is None:  # a job read back from disk: add the schema to what was stored
                data = json.loads(payload)
                inventory = data.get("inventory")
                schema: dict[str, str] = {}
                if isinstance(inventory, dict) and "state" in inventory:
                    schema = model.image_schema("inventory", inventory)
                elif isinstance(inventory, dict):
                    schema = {"inventory": model.ACCOUNT_INVENTORY_CLASS}
                    if "accountUuid" in inventory:
                        schema = {"inventory": model.SESSION_INVENTORY_CLASS}
                data["schema"] = schema
                job.with_schema = json_bytes(data)
            return Response(job.status, job.with_schema)
        return Response(job.status or 200, payload.encode())
