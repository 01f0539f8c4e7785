"""The hook points: the named places where the correct path lets a deliberate fault change what it does.

Why hooks: the reference server's first job is to show what a correct ZStack does, so that code must read
without the faults in it. It calls a hook point where a fault may act (`hooks.change(changed, before)`,
`hooks.state_write(read, changed)`, ...) and knows nothing about which faults exist. A fault
(`faults.py`) is an object with methods named after the points it needs, pluggy's shape: `Hooks` collects
them when the server starts. With no faults every point is a shared module-level no-op, so on the hot path
a point costs one plain call.

Each point has a kind, which says how several faults on one point combine (in the order `faults.py`
defines them):
- pipe:   the first argument is a value; each fault returns it, changed or not, to the next.
- first:  the first fault to return something other than None decides; None means "do the correct thing".
- any:    true if any fault says so.
- result: `change_result` only: faults rewrite a changeImageState job's decoded result, (status, payload),
          in turn; the point re-encodes it once (see `_results`).

The spec functions below are the defaults and the documentation: a fault's method must take the same
parameter names (checked when the server starts, as pluggy checks hookimpls against hookspecs).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from zscheck.refserver.rest import json_text

if TYPE_CHECKING:
    from zscheck.refserver.jobs import JobRequest, Outcome, Write
    from zscheck.refserver.rest import Answer, Response
    from zscheck.refserver.store import Account, Job, Session

Kind = Literal["pipe", "first", "any", "result"]


# ------------------------------------------------------------------------------- the REST layer (images)


def action_body(body: dict[str, Any]) -> dict[str, Any]:
    """PUT /images/{uuid}/actions (rest dialect): the body, before the action is looked up."""
    return body


def drops(action: str | None) -> bool:
    """A PUT of `action`, or a poll of an `action` job: true to close the connection without an answer."""
    return False


def sync_answer(action: str, params: dict[str, Any]) -> Response | None:
    """A PUT action's synchronous answer in place of the 202 (the correct server has none)."""
    return None


def put_answer(answer: Answer, action: str) -> Answer:
    """The answer to a PUT of `action` (a 202, or the documented dialect's 200), just before it is sent."""
    return answer


# ----------------------------------------------------------------------------------------- api-jobs


def reuse_job_uuid(job_uuid: str) -> bool:
    """An X-Job-UUID that names an existing job: true to accept it instead of the 400."""
    return False


def job_delay(delay: float, request: JobRequest, job_uuid: str) -> float:
    """How long a new api-job stays processing (`delay` is the timing profile's)."""
    return delay


def accepted_body(action: str, location: str, api_timeout: int) -> dict[str, Any] | None:
    """The 202's body for a new `action` job; None: the correct `{location, apiTimeout}`."""
    return None


def completing(
    job: Job, request: JobRequest, outcome: Outcome, complete: Callable[[Job, JobRequest, Outcome], None]
) -> bool:
    """A job has run; true if a fault takes over calling `complete` (which renders and commits it)."""
    return False


def change_result(status: int, payload: dict[str, Any], request: JobRequest) -> tuple[int, dict[str, Any]]:
    """A changeImageState job's result as (HTTP status, decoded JSON), before it is stored (kind: result)."""
    return status, payload


def unknown_job(job_uuid: str) -> Response | None:
    """A poll of a job that does not exist; None: the correct 404."""
    return None


def done_answer(job: Job) -> Response | None:
    """A poll of a finished job; a Response to answer instead of its result."""
    return None


def schema_unasked(job: Job) -> bool:
    """A poll of a finished job without X-JSON-Schema: true to add `schema` anyway."""
    return False


def poll_answer(answer: Answer, job: Job) -> Answer:
    """The answer to a poll of `job`, just before it is sent."""
    return answer


# ------------------------------------------------------------------------------------- image APIs


def before_arguments(session_uuid: str) -> dict[str, Any] | None:
    """ChangeImageState, before its arguments are validated: an ErrorCode to fail with."""
    return None


def state_event(event: str) -> str:
    """ChangeImageState's stateEvent (trimmed), before it is looked up."""
    return event


def tags_error(error: dict[str, Any] | None) -> dict[str, Any] | None:
    """The systemTags/userTags check's ErrorCode (None: the tags are valid)."""
    return error


def same_state(image: dict[str, Any], new_state: str) -> dict[str, Any] | None:
    """A change to the state the image is already in (which succeeds): an ErrorCode to fail with."""
    return None


def change(changed: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """The image a state change writes (`before` with the new state and lastOpDate)."""
    return changed


def state_write(read: dict[str, Any], changed: dict[str, Any]) -> Write | None:
    """How a state change is written; None: the correct write (two JSON fields, in this turn)."""
    return None


def image_row(image: dict[str, Any]) -> dict[str, Any]:
    """The row AddImage or UpdateImage stores."""
    return image


def echo(echo: dict[str, Any], action: str, before: dict[str, Any]) -> dict[str, Any]:
    """The inventory an image action replies with (`echo`: the image after its write)."""
    return echo


def visible_images(images: list[dict[str, Any]], account: Account | None) -> list[dict[str, Any]]:
    """The images a QueryImage by `account` sees, before its conditions apply."""
    return images


def delete_denied(error: dict[str, Any] | None, session_uuid: str, image_uuid: str) -> dict[str, Any] | None:
    """DeleteImage's session and ownership check: its ErrorCode (None: allowed)."""
    return error


def delete_mode(mode: str | None) -> str | None:
    """DeleteImage's `deleteMode` query parameter, before DeletionMode.valueOf reads it."""
    return mode


def deletion(write: Write, image: dict[str, Any], mode: str | None) -> Write:
    """How DeleteImage writes under the Delay policy (`write` keeps the row with status Deleted)."""
    return write


# ----------------------------------------------------------------------------------------- sessions


def no_session(session_uuid: str) -> Session | None:
    """A session that is unknown, expired or logged out: a Session to act as instead."""
    return None


def login_session(session: Session, account: Account) -> Session:
    """The session a successful login answers with (`session`: the new one just issued to `account`)."""
    return session


def session_dropped(session: Session) -> bool:
    """A live session: true to reject it (it stays valid)."""
    return False


def owner_denied(denied: bool, session: Session, image_uuid: str) -> bool:
    """Whether `session` is denied acting on `image_uuid` (`denied`: the correct answer)."""
    return denied


_SPECS: tuple[tuple[Kind, Callable[..., Any]], ...] = (
    ("pipe", action_body),
    ("any", drops),
    ("first", sync_answer),
    ("pipe", put_answer),
    ("any", reuse_job_uuid),
    ("pipe", job_delay),
    ("first", accepted_body),
    ("any", completing),
    ("result", change_result),
    ("first", unknown_job),
    ("first", done_answer),
    ("any", schema_unasked),
    ("pipe", poll_answer),
    ("first", before_arguments),
    ("pipe", state_event),
    ("pipe", tags_error),
    ("first", same_state),
    ("pipe", change),
    ("first", state_write),
    ("pipe", image_row),
    ("pipe", echo),
    ("pipe", visible_images),
    ("pipe", delete_denied),
    ("pipe", delete_mode),
    ("pipe", deletion),
    ("first", no_session),
    ("pipe", login_session),
    ("any", session_dropped),
    ("pipe", owner_denied),
)
POINTS: dict[str, tuple[Kind, Callable[..., Any]]] = {spec.__name__: (kind, spec) for kind, spec in _SPECS}


def _no_result(job: Job, request: JobRequest) -> None:
    return None


def _pipe(impls: tuple[Callable[..., Any], ...]) -> Callable[..., Any]:
    if len(impls) == 1:
        return impls[0]

    def piped(value: Any, *context: Any) -> Any:
        for impl in impls:
            value = impl(value, *context)
        return value

    return piped


def _first(impls: tuple[Callable[..., Any], ...]) -> Callable[..., Any]:
    if len(impls) == 1:
        return impls[0]

    def first(*args: Any) -> Any:
        for impl in impls:
            found = impl(*args)
            if found is not None:
                return found
        return None

    return first


def _any(impls: tuple[Callable[..., Any], ...]) -> Callable[..., bool]:
    if len(impls) == 1:
        return impls[0]

    def any_(*args: Any) -> bool:
        return any(impl(*args) for impl in impls)

    return any_


def _results(impls: tuple[Callable[..., Any], ...]) -> Callable[[Job, JobRequest], None]:
    """The `change_result` point as the job engine calls it: `(job, request)`, rewriting the job in place.
    Only changeImageState's results go through the faults; the payload is decoded and re-encoded once, and
    the cached `schema`-bearing variant is dropped (it is rebuilt from the new payload when a poll asks)."""

    def job_result(job: Job, request: JobRequest) -> None:
        if request.action != "changeImageState":
            return
        status, payload = job.status or 200, json.loads(job.payload or "{}")
        for impl in impls:
            status, payload = impl(status, payload, request)
        job.status, job.payload, job.with_schema = status, json_text(payload), None

    return job_result


_COMBINE: dict[Kind, Callable[[tuple[Callable[..., Any], ...]], Callable[..., Any]]] = {
    "pipe": _pipe,
    "first": _first,
    "any": _any,
    "result": _results,
}


class HookError(TypeError):
    """A fault's method does not match a hook point (a typo, or a signature that drifted)."""


class Hooks:
    """Every hook point as a callable attribute: the spec's no-op when no fault registered for it, else
    the registered methods combined by the point's kind. `registered` lists what each point holds."""

    action_body: Callable[[dict[str, Any]], dict[str, Any]]
    drops: Callable[[str | None], bool]
    sync_answer: Callable[[str, dict[str, Any]], Response | None]
    put_answer: Callable[[Answer, str], Answer]
    reuse_job_uuid: Callable[[str], bool]
    job_delay: Callable[[float, JobRequest, str], float]
    accepted_body: Callable[[str, str, int], dict[str, Any] | None]
    completing: Callable[[Job, JobRequest, Outcome, Callable[[Job, JobRequest, Outcome], None]], bool]
    job_result: Callable[[Job, JobRequest], None]  # the `change_result` point, as the job engine calls it
    unknown_job: Callable[[str], Response | None]
    done_answer: Callable[[Job], Response | None]
    schema_unasked: Callable[[Job], bool]
    poll_answer: Callable[[Answer, Job], Answer]
    before_arguments: Callable[[str], dict[str, Any] | None]
    state_event: Callable[[str], str]
    tags_error: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    same_state: Callable[[dict[str, Any], str], dict[str, Any] | None]
    change: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
    state_write: Callable[[dict[str, Any], dict[str, Any]], Write | None]
    image_row: Callable[[dict[str, Any]], dict[str, Any]]
    echo: Callable[[dict[str, Any], str, dict[str, Any]], dict[str, Any]]
    visible_images: Callable[[list[dict[str, Any]], Account | None], list[dict[str, Any]]]
    delete_denied: Callable[[dict[str, Any] | None, str, str], dict[str, Any] | None]
    delete_mode: Callable[[str | None], str | None]
    deletion: Callable[[Write, dict[str, Any], str | None], Write]
    no_session: Callable[[str], Session | None]
    login_session: Callable[[Session, Account], Session]
    session_dropped: Callable[[Session], bool]
    owner_denied: Callable[[bool, Session, str], bool]

    def __init__(self, plugins: Sequence[object] = ()) -> None:
        for plugin in plugins:
            _check(plugin)
        self.registered: dict[str, tuple[Callable[..., Any], ...]] = {}
        for name, (kind, spec) in POINTS.items():
            impls = tuple(getattr(p, name) for p in plugins if callable(getattr(p, name, None)))
            attribute = "job_result" if kind == "result" else name
            if impls:
                self.registered[name] = impls
                setattr(self, attribute, _COMBINE[kind](impls))
            else:
                setattr(self, attribute, _no_result if kind == "result" else spec)


def _check(plugin: object) -> None:
    """Every public method of a fault is a hook point, with the point's parameter names."""
    for attribute in dir(plugin):
        value = getattr(plugin, attribute)
        if attribute.startswith("_") or not callable(value) or isinstance(value, type):
            continue
        if attribute not in POINTS:
            raise HookError(f"{type(plugin).__name__}.{attribute} is not a hook point (see hooks.POINTS)")
        wanted = list(inspect.signature(POINTS[attribute][1]).parameters)
        found = list(inspect.signature(value).parameters)
        if found != wanted:
            raise HookError(f"{type(plugin).__name__}.{attribute}{tuple(found)}: the hook point takes {tuple(wanted)}")
