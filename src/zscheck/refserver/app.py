"""The reference server's behaviour: ZStack's REST layer and the image APIs behind it.

Each function here follows a section of `../shared/zstack-api.md` (cited as §n). The synchronous part of
a request (routing, body parsing, the Authorization header, X-Job-UUID) answers plain text on failure,
exactly as RestServer does; everything after the 202 runs as an api-job whose failures are ErrorCodes.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias
from urllib.parse import parse_qs, unquote_plus

from zscheck.refserver import model
from zscheck.refserver.faults import Faults
from zscheck.refserver.query import matches, parse_query
from zscheck.refserver.rest import (
    DROP,
    Request,
    Response,
    RestError,
    action_params,
    json_bytes,
    json_text,
    parse_body,
    session_id,
    tag_lists,
    text,
    top_level_tags,
)
from zscheck.refserver.store import Account, Job, Session, Store, new_uuid

Dialect = Literal["rest", "documented"]
Timing = Literal["instant", "realistic"]
# What `App.handle` gives the server: an answer, or (a load fault's delay) a coroutine that gives one later.
Answer: TypeAlias = Response | Coroutine[Any, Any, Response]

# §1.1: the seven open-source actions sharing /images/{uuid}/actions, in registration order.
IMAGE_ACTIONS = (
    "changeImageState",
    "updateImage",
    "syncImageSize",
    "setImageBootMode",
    "calculateImageHash",
    "expungeImage",
    "recoverImage",
)
# How each action's map is read into its message fields (Gson's rehash; unknown keys are ignored).
_UPDATABLE = ("name", "description", "guestOsType", "mediaType", "format", "platform", "architecture")
# ImageApiInterceptor's URL message, verbatim (its full-width comma included).
_URL_RULE = "url must starts with 'file:///', 'http://', 'https://'\uff0c 'ftp://', 'sftp://' or '/'"
_UPDATABLE_FIELDS = frozenset((*_UPDATABLE, "system", "virtio"))
# Each map also has its message's resource field (uuid or imageUuid): overridden by the URL, but read.
ACTION_PARAMS: dict[str, dict[str, str]] = {
    "changeImageState": {"uuid": "string", "stateEvent": "string"},
    "updateImage": {"uuid": "string"} | dict.fromkeys(_UPDATABLE, "string") | {"system": "bool", "virtio": "bool"},
    "syncImageSize": {"uuid": "string"},
    "setImageBootMode": {"uuid": "string", "bootMode": "string"},
    "calculateImageHash": {"uuid": "string", "algorithm": "string"},
    "expungeImage": {"imageUuid": "string", "backupStorageUuids": "list"},
    "recoverImage": {"imageUuid": "string", "backupStorageUuids": "list"},
}
# UpdateImage's value checks (APIUpdateImageMsg.java:28-38); AddImage has the same lists.
_UPDATE_VALID = {
    "mediaType": model.MEDIA_TYPES,
    "format": model.FORMATS,
    "platform": model.PLATFORMS,
    "architecture": model.ARCHITECTURES,
}


def _java_long(value: str) -> int:
    """Long.parseLong: an optional sign and ASCII digits, in range; else NumberFormatException (a 500)."""
    digits = value[1:] if value[:1] in "+-" else value
    if not digits or not digits.isascii() or not digits.isdigit() or not -(2**63) <= int(value) < 2**63:
        raise RestError(500, f'For input string: "{value}"')
    return int(value)


_STATE_MARK, _DATE_MARK = "\x00state\x00", "\x00lastOpDate\x00"  # placeholders in cached inventory text
_ROUTED_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "HEAD"})


@dataclass(frozen=True)
class AppConfig:
    dialect: Dialect = "rest"
    session_timeout: float = 7200.0  # identity.session.timeout
    max_sessions: int = 500  # session.maxConcurrent, per account
    job_delay: float = 0.0  # how long an api-job stays "processing" (real ZStack: a few ms)
    job_ttl: float = 10800.0  # rest.completedApi.expiredPeriod
    api_timeout_ms: int = 1_800_000  # the default 30m API timeout
    base_url: str = "http://127.0.0.1:8080"
    timing: Timing = "instant"
    timing_seed: int = 0


# The realistic timing profile (facts §10, "Timing on a real node"): an api-job finishes after a log-normal
# delay with a median of 60 ms and a 90th percentile of 200 ms, capped at 1.5 s; synchronous answers
# (queries, login, the 202 itself) take 1-5 ms. Job polls are answered at once, as a real node does.
JOB_DELAY_MEDIAN = 0.060
JOB_DELAY_P90 = 0.200
JOB_DELAY_CAP = 1.5
_JOB_MU = math.log(JOB_DELAY_MEDIAN)
_JOB_SIGMA = math.log(JOB_DELAY_P90 / JOB_DELAY_MEDIAN) / 1.2815515655446004  # z of the 90th percentile
SYNC_DELAY = (0.001, 0.005)
VERSION = "5.2.1"  # GetVersion: the newest schema_version of the source snapshot (conf/db/upgrade/V5.2.1)


@dataclass(slots=True)
class Outcome:
    """What an API did: an error, or success with an optional inventory (or other result), plus the write
    to commit. `splice` says the inventory differs from the stored image in state and lastOpDate at most,
    so its cached text can be reused."""

    error: dict[str, Any] | None = None
    image: dict[str, Any] | None = None
    write: Callable[[Job | None], None] | None = None
    splice: bool = False
    result: dict[str, Any] | None = None  # a result that is not an image: {"inventory", "class"}
    handler: bool = False  # the error comes from the handler, which a validationOnly request never reaches


class App:
    def __init__(
        self,
        store: Store,
        config: AppConfig,
        schedule: Callable[[float, Callable[[], None]], Any],
        faults: Faults | None = None,
    ):
        self.store = store
        self.config = config
        self.faults = faults or Faults()
        self._inventory_text: dict[str, tuple[int, str, str, str]] = {}
        self._schedule = schedule
        self.backup_storage = store.meta("backup_storage") or new_uuid()
        store.set_meta("backup_storage", self.backup_storage)
        self.admin = store.ensure_admin()  # replaced by seed() when a password is configured
        # One generator per server, seeded: a run under the realistic profile can be replayed.
        self._rng = random.Random(config.timing_seed)
        self._realistic = config.timing == "realistic"

    def job_delay(self) -> float:
        """How long a new api-job stays processing: --job-delay, plus a draw under the realistic profile."""
        delay = self.config.job_delay
        if self._realistic:
            delay += min(JOB_DELAY_CAP, self._rng.lognormvariate(_JOB_MU, _JOB_SIGMA))
        return delay

    # ---------------------------------------------------------------------------------------- routing

    def handle(self, req: Request) -> Answer:
        if self._realistic and "/api-jobs/" not in req.path:
            return self._handle_later(req, self._rng.uniform(*SYNC_DELAY))
        return self._handle_now(req)

    def _handle_now(self, req: Request) -> Answer:
        try:
            return self._route(req)
        except RestError as exc:
            return text(exc.status, exc.text)

    async def _handle_later(self, req: Request, delay: float) -> Response:
        """The realistic profile's synchronous answer: handled after `delay`, as a real node's is."""
        await asyncio.sleep(delay)
        answer = self._handle_now(req)
        return answer if isinstance(answer, Response) else await answer

    def _route(self, req: Request) -> Answer:
        if not req.path.startswith("/zstack/"):
            return Response(404)  # outside the webapp context: the servlet container's own 404
        if req.method not in _ROUTED_METHODS:
            return Response(405)  # the controller maps five methods only; the container answers the rest
        path = unquote_plus(req.path[len("/zstack") :])
        parts = path.split("/")[1:]  # "/v1/images/x" -> ["v1", "images", "x"]
        if len(parts) == 3 and parts[:2] == ["v1", "api-jobs"] and parts[2]:
            return self._poll_job(req, parts[2])
        match parts:
            case ["v1", "accounts", "login"]:
                return self._login(req)
            case ["v1", "accounts"]:
                return self._non_unique(req, path, {"POST": self._create_account})
            case ["v1", "accounts", "sessions", session_uuid] if session_uuid:
                return self._logout(session_uuid)
            case ["v1", "accounts", "sessions", session_uuid, "valid"] if session_uuid:
                return self._validate_session(session_uuid)
            case ["v1", "accounts", "sessions", session_uuid, "renew"] if session_uuid:
                return self._renew_session(req, session_uuid)
            case ["v1", "accounts", account_uuid] if account_uuid:
                return self._non_unique(req, path, {"DELETE": self._delete_account}, account_uuid)
            case ["v1", "management-nodes", "actions"]:
                return self._non_unique(req, path, {"PUT": self._management_action})
            case ["v1", "backup-storage"]:
                return self._non_unique(req, path, {"GET": self._query_backup_storage})
            case ["v1", "images"]:
                return self._non_unique(req, path, {"POST": self._add_image, "GET": self._query_images})
            case ["v1", "images", image_uuid] if image_uuid:
                return self._non_unique(
                    req, path, {"GET": self._query_images, "DELETE": self._delete_image}, image_uuid
                )
            case ["v1", "images", image_uuid, "actions"] if image_uuid:
                return self._non_unique(req, path, {"PUT": self._image_action}, image_uuid)
        return text(404, f"no api mapping to {path}")

    def _non_unique(self, req: Request, path: str, handlers: dict[str, Callable[..., Answer]], *args: str) -> Answer:
        """RestServer.handleNonUniqueApi: the body is parsed before the method picks the API (§1.4)."""
        body = parse_body(req.body)
        kinds = {"POST": "creational", "GET": "query", "DELETE": "delete"}
        if req.method == "HEAD":
            raise RestError(405, f"The method[HEAD] is not allowed for the path[{req.path}]")
        if req.method == "PUT" and "PUT" not in handlers:
            raise RestError(400, f"the body doesn't contain action mapping to the URL[{path}]")
        handler = handlers.get(req.method)
        if handler is None:
            raise RestError(500, f"No {kinds[req.method]} API found for the path[{req.path}]")
        if body is None and req.method in ("PUT",):
            raise RestError(500, "")  # NullPointerException on m.containsKey(): no message
        return handler(req, path, body or {}, *args)

    # ------------------------------------------------------------------------------- the action PUT

    def _image_action(self, req: Request, path: str, body: dict[str, Any], image_uuid: str) -> Answer:
        if self.config.dialect == "documented" and "params" in body:
            session_uuid = session_id(req)
            params = action_params(body.get("params"), {"stateEvent": "string"})
            top_level_tags(body)
            # The same validator as the rest dialect's: a null tag element is SYS.1007 here too.
            inner = body.get("params") if isinstance(body.get("params"), dict) else None
            changed = self._documented_change(image_uuid, session_uuid, params, tag_lists(body, inner))
            return self.faults.answer(changed) if self.faults.slow else changed
        documented = self.config.dialect == "documented"
        if not documented and "params-accepted" in self.faults and "params" in body:
            body = {**body, "changeImageState": body["params"]}
        action = next((a for a in IMAGE_ACTIONS if a in body and not (documented and a == "changeImageState")), None)
        if action is None:
            raise RestError(400, f"the body doesn't contain action mapping to the URL[{path}]")
        if self.faults.dropping and action == "changeImageState" and self.faults.drops():
            return DROP
        session_uuid = session_id(req)
        shape = ACTION_PARAMS.get(action, {})
        params = action_params(body.get(action), shape)
        if "sync-validation" in self.faults and action == "changeImageState":
            event = params.get("stateEvent")
            if event is None or model.java_trim(event) not in model.STATE_EVENTS:
                return Response(
                    400, json_bytes({"error": model.invalid_value("stateEvent", ["enable", "disable"], str(event))})
                )
        request = {"action": action, "image": image_uuid, "session": session_uuid, "params": params}
        accepted = self._accept_job(req, request, body)
        if self.faults.slow and action == "changeImageState":
            return self.faults.answer(accepted)
        return accepted

    def _documented_change(
        self, image_uuid: str, session_uuid: str, params: dict[str, Any], tags: dict[str, Any] | None = None
    ) -> Response:
        """The published page, literally: synchronous `200 {success, error, inventory}` (§0)."""
        outcome = self._change_state(image_uuid, session_uuid, params, tags)
        if outcome.write is not None:
            outcome.write(None)
        error = outcome.error
        envelope = {
            "success": error is None,
            "error": None
            if error is None
            else {
                "code": error["code"],
                "description": error["description"],
                "details": error["details"],
                "elaboration": None,
                "opaque": None,
                "cause": None,
            },
            "inventory": None if outcome.image is None else model.render_image(outcome.image, keep_nulls=True),
        }
        return Response(200, json_bytes(envelope), "application/json")

    # ---------------------------------------------------------------------------------- api-jobs (§1.2)

    def _accept_job(self, req: Request, request: dict[str, Any], body: dict[str, Any] | None = None) -> Response:
        """RestServer.handleApi from the X-Job-UUID header on: the header, the top-level tags, then 202."""
        job_uuid = req.headers.get("x-job-uuid")
        if job_uuid is not None:
            if len(job_uuid) != 32:
                raise RestError(400, "Invalid header[X-Job-UUID], it must be a UUID with '-' stripped")
            if self.store.job_exists(job_uuid) and not self.faults.reuses_job_uuids():
                raise RestError(400, f"Duplicate job uuid[{job_uuid}]")
        else:
            job_uuid = new_uuid()
        api_timeout = self.config.api_timeout_ms
        if "x-api-timeout" in req.headers:
            api_timeout = _java_long(req.headers["x-api-timeout"]) * 1000  # seconds; msg.setTimeout(ms)
        if body is not None:
            top_level_tags(body)
        request["tags"] = tag_lists(body, request.get("params"))
        job = Job(job_uuid, done=False, request=request, action=request["action"], created=time.time())
        delay = self.job_delay()
        if self.faults.stalling and request["action"] == "changeImageState":
            delay = self.faults.accepted(job_uuid, delay)
        if delay > 0:
            self.store.save_job(job)
            self._schedule(delay, lambda: self._finish_job(job))
        else:
            self._finish_job(job)
        if "no-location" in self.faults and request["action"] == "changeImageState":
            return Response(202, json_bytes({"apiTimeout": api_timeout}))
        location = f"{self.config.base_url}/zstack/v1/api-jobs/{job_uuid}"
        if self.faults:
            return Response(202, json_bytes(self.faults.api_timeout({"location": location, "apiTimeout": api_timeout})))
        if not job_uuid.isalnum():  # X-Job-UUID is the client's: anything but hex goes through the encoder
            return Response(202, json_bytes({"location": location, "apiTimeout": api_timeout}))
        # Formatted by hand: this answer is on the hot path and its shape never varies.
        return Response(202, f'{{"location":"{location}","apiTimeout":{api_timeout}}}'.encode())

    def pending_after_restart(self) -> int:
        """Jobs accepted before a restart are not run again: ZStack's AsyncRestVO row stays `processing`
        (a poll answers 202) until it expires. Returns how many there are."""
        return len(self.store.pending_jobs())

    def _finish_job(self, job: Job) -> None:
        request = job.request or {}
        outcome = self._run(request)
        if self.faults.racy and outcome.write is not None and request.get("action") == "changeImageState":
            self.store.save_job(job)  # processing until the write
            self.faults.after_read(self._schedule, lambda: self._complete_job(job, request, outcome))
            return
        self._complete_job(job, request, outcome)

    def _complete_job(self, job: Job, request: dict[str, Any], outcome: Outcome) -> None:
        faulty = self.faults.rewrites and request.get("action") == "changeImageState"  # faults break this API only
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
        if faulty:
            other = next((i for u, i in self.store.images.items() if u != request.get("image")), None)
            rendered = None if other is None else model.render_image(other, keep_nulls=False)
            job.status, payload = self.faults.job_result(job.status, json.loads(job.payload), rendered)
            job.payload, job.with_schema = json_text(payload), None
        job.done = True
        # The image change and the job result commit together: a 200 poll implies a durable change.
        if outcome.write is not None:
            outcome.write(job)
        else:
            self.store.save_job(job)

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

    def _run(self, request: dict[str, Any]) -> Outcome:
        action = request["action"]
        session_uuid = request["session"]
        params = request["params"]
        tags: dict[str, Any] = request.get("tags") or {}
        if action == "changeImageState":
            outcome = self._change_state(request["image"], session_uuid, params, tags)
        elif action == "addImage":
            outcome = self._do_add_image(session_uuid, params, tags)
        elif action == "deleteImage":
            outcome = self._do_delete_image(request["image"], session_uuid, params)
        elif action == "createAccount":
            outcome = self._do_create_account(session_uuid, params, tags)
        elif action == "deleteAccount":
            outcome = self._do_delete_account(request["image"], session_uuid)
        elif action == "renewSession":
            outcome = self._do_renew_session(request["image"], session_uuid, params, tags)
        else:
            outcome = self._other_action(action, request["image"], session_uuid, params, tags)
        if model.VALIDATION_ONLY in (tags.get("systemTags") or ()) and (outcome.error is None or outcome.handler):
            # ApiMediatorImpl: every validator and interceptor ran; the handler does not: a bare event (§10).
            return Outcome()
        return outcome

    def _poll_job(self, req: Request, job_uuid: str) -> Answer:
        if req.method != "GET":
            raise RestError(405, "only GET method is allowed for querying job status")
        job = self.store.get_job(job_uuid)
        if job is None:
            if self.faults and (fake := self.faults.unknown_job()) is not None:
                return fake
            raise RestError(404, "the job has been expired")
        if self.faults.dropping and job.action == "changeImageState" and self.faults.drops():
            return DROP
        answer = self._job_answer(req, job)
        if self.faults.load and job.action == "changeImageState":
            return self.faults.polled(job_uuid, answer)
        return answer

    def _job_answer(self, req: Request, job: Job) -> Response:
        job_uuid = job.uuid
        if not job.done:
            return Response(202, b"{}")
        if self.faults and job.action == "changeImageState":
            pending = self.faults.pending_body(job_uuid, f"{self.config.base_url}/zstack/v1/api-jobs/{job_uuid}")
            if pending is not None:
                return Response(202, pending)
        payload = job.payload or "{}"
        if job.status == 200 and ("x-json-schema" in req.headers or (self.faults and self.faults.schema_unasked())):
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

    # ----------------------------------------------------------------------- job bodies (§1.4, §2.4)

    def _change_state(
        self, image_uuid: str, session_uuid: str, params: dict[str, Any], tags: dict[str, Any] | None = None
    ) -> Outcome:
        # ApiParamValidator (SYSTEM) runs before AuthorizationManager (FRONT): arguments (stateEvent, the
        # tags, then uuid's existence), then the session, then ownership (§1.4 notes, §10).
        if "session-before-arguments" in self.faults:
            denied, _ = self._authorize(session_uuid, None)
            if denied is not None:
                return Outcome(denied)
        if self.faults and self.faults.session_first(session_uuid, self.store.sessions, self.store.ended_sessions):
            return Outcome(model.session_expired())
        raw = params.get("stateEvent")
        if raw is None:
            return Outcome(model.mandatory("stateEvent"))
        event = self.faults.event(model.java_trim(raw))
        if event not in model.STATE_EVENTS:
            return Outcome(model.invalid_value("stateEvent", list(model.STATE_EVENTS), event))
        tag_error = self._tags_error(tags)
        if tag_error is not None:
            return Outcome(tag_error)
        image, error = self._resolve(image_uuid, session_uuid)
        if error is not None or image is None:
            return Outcome(error)
        new_state = model.STATE_EVENTS[event]
        if image["state"] == new_state:
            if "same-state-error" in self.faults:
                return Outcome(model.error("SYS.1006", f"image[uuid:{image_uuid}] is already {new_state}"))
            return Outcome(image=image, splice=True)  # idempotent: same state succeeds, nothing written (§2.4)
        changed = self.faults.change(image, dict(image, state=new_state, lastOpDate=model.now()))
        if not self.faults:
            return Outcome(image=changed, write=lambda job: self.store.set_state(changed, job), splice=True)
        if "lost-update" in self.faults or (self.faults.load and self.faults.unstored()):
            return Outcome(image=changed, write=self._record_only)
        owner = self.store.owners[image_uuid]
        if self.faults.load:
            return Outcome(
                image=changed, write=self.faults.state_write(self.store, self._schedule, image, changed, owner)
            )
        return Outcome(image=changed, write=lambda job: self.store.put_image(changed, owner, job))

    def _tags_error(self, tags: dict[str, Any] | None) -> dict[str, Any] | None:
        """The default @APIParam of systemTags and userTags: no null element (nullElements=false, §10)."""
        if "null-tag-accepted" in self.faults:
            return None
        for name in ("systemTags", "userTags"):
            values = (tags or {}).get(name)
            if values is not None and any(v is None for v in values):
                return model.error("SYS.1007", f"field[{name}] cannot contain a NULL element")
        return None

    def _record_only(self, job: Job | None) -> None:
        """The lost-update fault's write: the job result is recorded, the image is not."""
        if job is not None:
            self.store.save_job(job)

    def _authorize(self, session_uuid: str, image_uuid: str | None) -> tuple[dict[str, Any] | None, Session]:
        """The session, then ownership: only the initial admin is exempt (OperationTargetAPIRequestChecker)."""
        session = self._live_session(session_uuid)
        if session is None and "any-session" in self.faults:
            session = Session(session_uuid, self.admin.uuid, 0, 0, 0)
        if session is None:
            return model.session_expired(), Session("", "", 0, 0, 0)
        if (
            "no-ownership" not in self.faults
            and image_uuid is not None
            and (session.account != model.ADMIN_UUID or (self.faults and self.faults.admin_not_owner()))
            and self.store.owners.get(image_uuid) != session.account
        ):
            return model.not_owner(session.account, image_uuid), session
        return None, session

    def _live_session(self, session_uuid: str) -> Session | None:
        """AuthorizationManager.evaluateSession: expired sessions are logged out, live ones renewed."""
        session = self.store.sessions.get(session_uuid)
        if session is None:
            return None
        now = time.time()
        if session.expires <= now:
            self.store.drop_session(session_uuid)
            return None
        if self.faults.load and self.faults.session_dropped():
            return None  # session-drop: rejected, and still valid
        self.store.renew_session(session, now + self.config.session_timeout)
        return session

    def _resolve(self, image_uuid: str, session_uuid: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """PortApiValidator, then AuthorizationManager: the image must exist, then the session may act on it."""
        image = self.store.images.get(image_uuid)
        if image is None:
            return None, model.not_found("uuid", image_uuid, "ImageVO")
        denied, _ = self._authorize(session_uuid, image_uuid)
        return (None, denied) if denied is not None else (image, None)

    def _other_action(
        self, action: str, image_uuid: str, session_uuid: str, params: dict[str, Any], tags: dict[str, Any]
    ) -> Outcome:
        if action == "updateImage":
            for name, valid in _UPDATE_VALID.items():
                if params.get(name) is not None and params[name] not in valid:
                    return Outcome(model.invalid_value(name, valid, params[name]))
        tag_error = self._tags_error(tags)
        if tag_error is not None:
            return Outcome(tag_error)
        image, error = self._resolve(image_uuid, session_uuid)
        if error is not None or image is None:
            return Outcome(error)
        owner = self.store.owners[image_uuid]
        deleted = image["status"] == "Deleted"
        if action in ("expungeImage", "recoverImage") and not deleted:
            error = model.error(
                "SYS.1006", f"the image[uuid:{image_uuid}, name:{image['name']}] is not deleted on any backup storage"
            )
            return Outcome(error, handler=True)
        now = model.now()
        if action == "expungeImage":
            return Outcome(write=lambda job: self.store.remove_image(image_uuid, job))
        if action == "recoverImage":
            refs = [dict(ref, status="Ready", lastOpDate=now) for ref in image["backupStorageRefs"]]
            changed = dict(image, status="Ready", backupStorageRefs=refs, lastOpDate=now)
        elif action == "updateImage":
            updates = {k: v for k, v in params.items() if v is not None and k in _UPDATABLE_FIELDS}
            changed = self.faults.stored_strings(dict(image, **updates, lastOpDate=now))
        elif action == "syncImageSize":
            return Outcome(image=image, splice=True)  # the simulated backup storage never drifts from the size
        else:
            return Outcome(model.error("SYS.1014", f"the reference server does not model {action}"), handler=True)
        # getSelfInventory() after the write: the echo is what a query returns next (§10).
        echo = self.faults.echo(action, image, changed)
        return Outcome(image=echo, write=lambda job: self.store.put_image(changed, owner, job))

    # ------------------------------------------------------------------------------ login (§4)

    def _login(self, req: Request) -> Response:
        body = parse_body(req.body) or {}
        params = action_params(body.get("logInByAccount"), {"accountName": "string", "password": "string"})
        error = None
        for name in ("accountName", "password"):
            if params.get(name) is None:
                error = model.mandatory(name)
                break
        account = None
        if error is None:
            account = next(
                (
                    a
                    for a in self.store.accounts.values()
                    if a.name == params["accountName"] and a.password == params["password"]
                ),
                None,
            )
            if account is None:
                error = model.error("ID.1000", "wrong account name or password")
        if error is not None or account is None:
            return Response(503, json_bytes({"error": error}))
        now = time.time()
        active = sum(1 for s in self.store.sessions.values() if s.account == account.uuid and s.expires > now)
        if active >= self.config.max_sessions:
            return Response(
                503,
                json_bytes(
                    {
                        "error": model.error(
                            "ID.1006", "Login sessions hit limit of max allowed concurrent login sessions"
                        )
                    }
                ),
            )
        session = self.store.add_session(account.uuid, self.config.session_timeout)
        inventory = model.session_inventory(session, session.expires)
        reply: dict[str, Any] = {"inventory": inventory}
        if "x-json-schema" in req.headers:
            reply["schema"] = {"inventory": model.SESSION_INVENTORY_CLASS}
        return Response(200, json_bytes(reply))

    def _logout(self, session_uuid: str) -> Response:
        self.store.drop_session(session_uuid)  # unknown sessions log out successfully too (§4.3)
        return Response(200, b"{}")

    def _validate_session(self, session_uuid: str) -> Response:
        session = self.store.sessions.get(session_uuid)
        valid = session is not None and session.expires > time.time()
        return Response(200, json_bytes({"valid": valid}))

    # ------------------------------------------------------------------------------ query (§5.1)

    def _query_images(self, req: Request, path: str, body: dict[str, Any], image_uuid: str | None = None) -> Response:
        session_uuid = session_id(req)
        spec = parse_query(req.query, image_uuid)
        session = self._live_session(session_uuid)
        if session is None:
            return Response(503, json_bytes({"error": model.session_expired()}))
        account = self.store.accounts.get(session.account)
        images = [
            img
            for uuid, img in self.store.images.items()
            if account is None
            or account.type == "SystemAdmin"
            or self.store.owners.get(uuid) == account.uuid
            or (self.faults and self.faults.sees_all())
        ]
        if self.faults.lagging:
            images = self.faults.replica(images)
        for name, _op, _value in spec.conditions:
            if name not in model.IMAGE_FIELDS:
                return Response(
                    503,
                    json_bytes(
                        {
                            "error": model.error(
                                "SYS.1007",
                                f"condition name[{name}] is invalid, no such field on inventory class"
                                f"[{model.IMAGE_INVENTORY_CLASS}]",
                            )
                        }
                    ),
                )
        images = [img for img in images if all(matches(img.get(n), op, v) for n, op, v in spec.conditions)]
        sort_by = spec.sort_by
        if sort_by is not None and sort_by in model.IMAGE_FIELDS:
            images.sort(key=lambda img: (img.get(sort_by) is None, img.get(sort_by) or 0), reverse=spec.descending)
        reply: dict[str, Any] = {}
        if not spec.count:
            page = images[spec.start : spec.start + spec.limit]
            rendered = [model.render_image(img, keep_nulls=False) for img in page]
            if spec.fields:
                rendered = [{k: v for k, v in inv.items() if k in spec.fields} for inv in rendered]
            reply["inventories"] = rendered
        if spec.count or spec.reply_with_count:
            reply["total"] = len(images)
        schema: dict[str, str] = {}
        for i, inv in enumerate(reply.get("inventories", ())):
            schema.update(model.image_schema(f"inventories[{i}]", inv))
        reply["schema"] = schema
        return Response(200, json_bytes(reply))

    def _query_backup_storage(self, req: Request, path: str, body: dict[str, Any]) -> Response:
        """The one simulated backup storage AddImage accepts (enough for fixtures to find it)."""
        if self._live_session(session_id(req)) is None:
            return Response(503, json_bytes({"error": model.session_expired()}))
        created = model.zstack_time(self.store.created)
        inventory = {
            "uuid": self.backup_storage,
            "name": "zscheck-simulated-bs",
            "url": "/zstack_bs",
            "type": "SftpBackupStorage",
            "state": "Enabled",
            "status": "Connected",
            "totalCapacity": 1 << 42,
            "availableCapacity": 1 << 41,
            "createDate": created,
            "lastOpDate": created,
        }
        schema = {"inventories[0]": "org.zstack.header.storage.backup.BackupStorageInventory"}
        return Response(200, json_bytes({"inventories": [inventory], "schema": schema}))

    # ----------------------------------------------------------------------- add and delete (§5.2, §5.3)

    def _add_image(self, req: Request, path: str, body: dict[str, Any]) -> Response:
        session_uuid = session_id(req)
        shape = {
            f: "string"
            for f in (
                "name",
                "url",
                "description",
                "mediaType",
                "format",
                "platform",
                "architecture",
                "guestOsType",
                "resourceUuid",
            )
        }
        params = action_params(
            body.get("params"), shape | {"backupStorageUuids": "list", "system": "bool", "virtio": "bool"}
        )
        return self._accept_job(
            req, {"action": "addImage", "image": None, "session": session_uuid, "params": params}, body
        )

    def _do_add_image(self, session_uuid: str, params: dict[str, Any], tags: dict[str, Any]) -> Outcome:
        # ApiMessageParamValidator and PortApiValidator (fields, then backupStorageUuids' existence), the
        # session, ImageApiInterceptor (format, the URL), then TagManager (END): the system tags.
        for name in ("name", "url", "backupStorageUuids"):
            if params.get(name) is None:
                return Outcome(model.mandatory(name))
        for name, valid in (
            ("mediaType", model.MEDIA_TYPES),
            ("platform", model.PLATFORMS),
            ("architecture", model.ARCHITECTURES),
        ):
            if params.get(name) is not None and params[name] not in valid:
                return Outcome(model.invalid_value(name, valid, params[name]))
        for name, limit in (("name", 255), ("url", 1024), ("description", 2048)):
            if params.get(name) is not None and len(params[name]) > limit:
                return Outcome(model.too_long(name, limit, len(params[name])))
        if not params["backupStorageUuids"]:
            return Outcome(model.error("SYS.1007", "field[backupStorageUuids] must be a nonempty list"))
        tag_error = self._tags_error(tags)
        if tag_error is not None:
            return Outcome(tag_error)
        missing = [str(bs) for bs in params["backupStorageUuids"] if bs != self.backup_storage]
        if missing:
            return Outcome(
                model.error(
                    "SYS.1003",
                    f"invalid field[backupStorageUuids], resource[uuids:[{', '.join(missing)}], "
                    "type:BackupStorageVO] not found",
                )
            )
        denied, session = self._authorize(session_uuid, None)
        if denied is not None:
            return Outcome(denied)
        fmt = "iso" if params.get("mediaType") == "ISO" else params.get("format")
        if params.get("system") and fmt == "iso":
            return Outcome(model.error("SYS.1007", "ISO cannot be used as system image"))
        if fmt not in model.FORMATS:
            return Outcome(model.error("SYS.1007", f"unknown format[{'null' if fmt is None else fmt}]"))
        url = params["url"]
        if not url.startswith(model.URL_SCHEMES):
            return Outcome(model.error("SYS.1007", _URL_RULE))
        unknown = model.unknown_system_tag(tags.get("systemTags"))
        if unknown is not None:
            return Outcome(model.error("SYS.1007", f"no system tag matches {unknown}"))
        image = self.faults.stored_strings(self.new_image({**params, "format": fmt}, owner=session.account))
        return Outcome(image=image, write=lambda job: self.store.put_image(image, session.account, job))

    def new_image(self, params: dict[str, Any], owner: str) -> dict[str, Any]:
        now = model.now()
        image_uuid = params.get("resourceUuid") or new_uuid()
        media = params.get("mediaType") or "RootVolumeTemplate"
        fmt = params.get("format") or ("iso" if media == "ISO" else "qcow2")
        size = 1 << 30 if media != "ISO" else 512 << 20
        install = f"/zstack_bs/rootVolumeTemplates/acct-{owner}/{image_uuid}/{image_uuid}.{fmt}"
        ref = {
            "id": len(self.store.images) + 1,
            "imageUuid": image_uuid,
            "backupStorageUuid": self.backup_storage,
            "installPath": install,
            "status": "Ready",
            "createDate": now,
            "lastOpDate": now,
        }
        return {
            "uuid": image_uuid,
            "name": params["name"],
            "description": params.get("description"),
            "state": "Enabled",
            "status": "Ready",
            "size": size,
            "actualSize": size // 3,
            "md5Sum": None,
            "url": params["url"],
            "mediaType": media,
            "guestOsType": params.get("guestOsType"),
            "type": "zstack",
            "platform": params.get("platform") or "Linux",
            "architecture": params.get("architecture") or "x86_64",
            "format": fmt,
            "system": bool(params.get("system")),
            "virtio": True if params.get("virtio") is None else bool(params["virtio"]),
            "createDate": now,
            "lastOpDate": now,
            "backupStorageRefs": [ref],
        }

    def _delete_image(self, req: Request, path: str, body: dict[str, Any], image_uuid: str) -> Response:
        session_uuid = session_id(req)
        query = parse_qs(req.query, keep_blank_values=True)
        params = {"deleteMode": query.get("deleteMode", [None])[0]}
        return self._accept_job(
            req, {"action": "deleteImage", "image": image_uuid, "session": session_uuid, "params": params}
        )

    def _do_delete_image(self, image_uuid: str, session_uuid: str, params: dict[str, Any]) -> Outcome:
        if not model.UUID_RE.match(image_uuid):
            return Outcome(model.error("SYS.1003", f"invalid value[{image_uuid}] of field [uuid]"))
        image = self.store.images.get(image_uuid)
        if image is None:
            return Outcome()  # successIfResourceNotExisting
        denied, _ = self._authorize(session_uuid, image_uuid)
        if denied is not None:
            return Outcome(denied)
        mode = params.get("deleteMode")
        if mode is not None and mode not in ("Permissive", "Enforcing"):
            # DeletionMode.valueOf in the handler, after the session and ownership checks (§10): SYS.1000.
            error = model.error(
                "SYS.1000",
                f"java.lang.IllegalArgumentException: No enum constant "
                f"org.zstack.header.message.APIDeleteMessage.DeletionMode.{mode}",
            )
            return Outcome(error, handler=True)
        if image["status"] == "Deleted":
            return Outcome()
        return Outcome(write=self._deletion(image))

    def _deletion(self, image: dict[str, Any]) -> Callable[[Job | None], None]:
        """The Delay deletion policy: the row stays, with status Deleted (§5.3)."""
        now = model.now()
        refs = [dict(ref, status="Deleted", lastOpDate=now) for ref in image["backupStorageRefs"]]
        changed = dict(image, status="Deleted", backupStorageRefs=refs, lastOpDate=now)
        owner = self.store.owners[image["uuid"]]
        return lambda job: self.store.put_image(changed, owner, job)

    # ------------------------------------------------------------------- accounts and sessions (§10)

    def _create_account(self, req: Request, path: str, body: dict[str, Any]) -> Response:
        session_uuid = session_id(req)
        shape = dict.fromkeys(("name", "password", "type", "description", "resourceUuid"), "string")
        params = action_params(body.get("params"), shape)
        request = {"action": "createAccount", "image": None, "session": session_uuid, "params": params}
        return self._accept_job(req, request, body)

    def _do_create_account(self, session_uuid: str, params: dict[str, Any], tags: dict[str, Any]) -> Outcome:
        # The validator (name, password, type, description), the session, RBAC (CreateAccount is an
        # admin-only API: ID.1002), AccountManagerImpl's interceptor (a taken name), TagManager (END).
        for name in ("name", "password"):
            if params.get(name) is None:
                return Outcome(model.mandatory(name))
        for name, limit in (("name", 255), ("password", 255), ("description", 2048)):
            if params.get(name) is not None and len(params[name]) > limit:
                return Outcome(model.too_long(name, limit, len(params[name])))
        account_type = params.get("type")
        if account_type is not None and account_type not in model.ACCOUNT_TYPES:
            return Outcome(model.invalid_value("type", model.ACCOUNT_TYPES, account_type))
        tag_error = self._tags_error(tags)
        if tag_error is not None:
            return Outcome(tag_error)
        denied, session = self._authorize(session_uuid, None)
        if denied is not None:
            return Outcome(denied)
        if not self._is_admin(session):
            return Outcome(model.admin_only("org.zstack.header.identity.APICreateAccountMsg"))
        name = params["name"]
        if any(a.name == name for a in self.store.accounts.values()):
            return Outcome(model.error("SYS.1007", f"unable to create an account. An account already called {name}"))
        unknown = model.unknown_system_tag(tags.get("systemTags"))
        if unknown is not None:
            return Outcome(model.error("SYS.1007", f"no system tag matches {unknown}"))
        account = Account(params.get("resourceUuid") or new_uuid(), name, params["password"], account_type or "Normal")
        account.created = model.now()

        def write(job: Job | None) -> None:
            # The password is stored as sent: clients send the SHA-512 hex, as for login (§10).
            self.store.add_account(account.name, account.password, account.type, account.uuid, account.created)
            if job is not None:
                self.store.save_job(job)

        inventory = model.account_inventory(account, params.get("description"))
        return Outcome(result={"inventory": inventory, "class": model.ACCOUNT_INVENTORY_CLASS}, write=write)

    def _delete_account(self, req: Request, path: str, body: dict[str, Any], account_uuid: str) -> Response:
        session_uuid = session_id(req)
        request = {"action": "deleteAccount", "image": account_uuid, "session": session_uuid, "params": {}}
        return self._accept_job(req, request)

    def _do_delete_account(self, account_uuid: str, session_uuid: str) -> Outcome:
        # uuid: successIfResourceNotExisting (an unknown well-formed uuid succeeds before the session is
        # read), the session, then AccountManagerImpl.validate(APIDeleteAccountMsg).
        if not model.UUID_RE.match(account_uuid) and account_uuid not in self.store.accounts:
            return Outcome(model.error("SYS.1003", f"invalid value[{account_uuid}] of field [uuid]"))
        account = self.store.accounts.get(account_uuid)
        if account is None:
            return Outcome()
        denied, session = self._authorize(session_uuid, None)
        if denied is not None:
            return Outcome(denied)
        if account.type == "SystemAdmin":
            if account_uuid == session.account:
                return Outcome(model.error("SYS.1007", "account cannot delete itself"))
            if account_uuid == model.ADMIN_UUID:
                return Outcome(model.error("SYS.1007", "cannot delete builtin admin account."))
        if not self._is_admin(session):
            return Outcome(model.error("SYS.1007", "Only admin can delete account."))

        def write(job: Job | None) -> None:
            # AccountBase.deleteAccount: the cascade deletes the account's images (Delay policy: they stay,
            # Deleted), then the admin adopts what the account owned; its sessions go with it.
            for image_uuid, owner in list(self.store.owners.items()):
                if owner == account_uuid:
                    image = self.store.images[image_uuid]
                    if image["status"] != "Deleted":
                        self._deletion(image)(None)
                    self.store.put_image(self.store.images[image_uuid], model.ADMIN_UUID)
            self.store.remove_account(account_uuid)
            if job is not None:
                self.store.save_job(job)

        return Outcome(write=write)

    def _is_admin(self, session: Session) -> bool:
        """AccountConstant.isAdminPermission: an account of type SystemAdmin."""
        account = self.store.accounts.get(session.account)
        return account is not None and account.type == "SystemAdmin"

    def _renew_session(self, req: Request, session_uuid: str) -> Response:
        caller = session_id(req)
        body = parse_body(req.body)
        params = action_params((body or {}).get("renewSession"), {"sessionUuid": "string", "duration": "long"})
        request = {"action": "renewSession", "image": session_uuid, "session": caller, "params": params}
        return self._accept_job(req, request, body)

    def _do_renew_session(
        self, session_uuid: str, caller: str, params: dict[str, Any], tags: dict[str, Any]
    ) -> Outcome:
        duration = params.get("duration")
        if duration is not None and not 60 <= duration <= 31_536_000:
            return Outcome(model.error("SYS.1007", "field[duration] must be in range of [60, 31536000]"))
        tag_error = self._tags_error(tags)
        if tag_error is not None:
            return Outcome(tag_error)
        if session_uuid not in self.store.sessions:
            return Outcome(model.not_found("sessionUuid", session_uuid, "SessionVO"))
        denied, _ = self._authorize(caller, None)
        if denied is not None:
            return Outcome(denied)
        target = self.store.sessions.get(session_uuid)
        if target is None or target.expires <= time.time():  # Session.renewSession: errorOnTimeout first
            return Outcome(model.session_expired(), handler=True)
        renewed = target
        expires = time.time() + (self.config.session_timeout if duration is None else duration)

        def write(job: Job | None) -> None:
            self.store.renew_session(renewed, expires)
            if job is not None:
                self.store.save_job(job)

        inventory = model.session_inventory(renewed, expires)
        return Outcome(result={"inventory": inventory, "class": model.SESSION_INVENTORY_CLASS}, write=write)

    def _management_action(self, req: Request, path: str, body: dict[str, Any]) -> Response:
        """PUT /v1/management-nodes/actions: GetVersion only (sync, @SuppressCredentialCheck)."""
        if "getVersion" not in body:
            raise RestError(400, f"the body doesn't contain action mapping to the URL[{path}]")
        action_params(body.get("getVersion"), {})
        reply: dict[str, Any] = {"version": VERSION}
        if "x-json-schema" in req.headers:
            reply["schema"] = {}
        return Response(200, json_bytes(reply))

    # ------------------------------------------------------------------------------ housekeeping

    def seed(self, count: int, tenant_name: str, tenant_password: str, admin_password: str = "password") -> None:
        """First start only: a normal account and `count` images, every fourth owned by the tenant."""
        self.store.set_password(self.admin.uuid, admin_password)
        tenant = self.store.ensure_account(tenant_name, tenant_password, "Normal")
        self.store.set_password(tenant.uuid, tenant_password)
        if self.store.meta("seeded") is not None:
            return
        for i in range(count):
            owner = tenant.uuid if i % 4 == 3 else self.admin.uuid
            media = "ISO" if i % 5 == 4 else "RootVolumeTemplate"
            params = {
                "name": f"seed-image-{i:03d}",
                "url": f"http://127.0.0.1/images/seed-{i:03d}.qcow2",
                "mediaType": media,
                "description": f"seeded image {i}" if i % 2 == 0 else None,
                "guestOsType": "CentOS 7" if i % 3 == 0 else None,
                "architecture": "aarch64" if i % 6 == 5 else "x86_64",
            }
            self.store.put_image(self.new_image(params, owner), owner)
        self.store.set_meta("seeded", str(count))

    def maintain(self) -> None:
        now = time.time()
        self.store.expire_jobs(now - self.config.job_ttl)
        self.store.drop_expired_sessions(now)
