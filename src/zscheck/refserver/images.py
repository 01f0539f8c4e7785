"""The image APIs that change images (§1.1, §2.4, §5.2, §5.3, §10): the PUT on /images/{uuid}/actions in
both dialects (ChangeImageState, UpdateImage, SyncImageSize, ExpungeImage, RecoverImage, and the two the
server refuses as unmodelled), AddImage and DeleteImage, with the Delay deletion policy.

Why one module: these APIs share their validation order (ApiParamValidator, then PortApiValidator, then
AuthorizationManager, then the interceptors) and the image row they write; queries are image_query.py.
ChangeImageState is the hot path (bench/server_vs_locust.py): its correct write updates two JSON fields
and its inventory is spliced from cached text (jobs.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from zscheck.refserver import model
from zscheck.refserver.hooks import Hooks
from zscheck.refserver.jobs import JobRequest, Jobs, Outcome, Write
from zscheck.refserver.rest import (
    DROP,
    Answer,
    Request,
    Response,
    RestError,
    action_params,
    json_bytes,
    session_id,
    tag_lists,
    top_level_tags,
)
from zscheck.refserver.store import Store, new_uuid

if TYPE_CHECKING:
    from zscheck.refserver.accounts import Accounts

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
# The documented dialect sends ChangeImageState as `params` (§0): the action key does not route there.
_DOCUMENTED_ACTIONS = tuple(a for a in IMAGE_ACTIONS if a != "changeImageState")
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
_ADD_PARAMS = dict.fromkeys(
    ("name", "url", "description", "mediaType", "format", "platform", "architecture", "guestOsType", "resourceUuid"),
    "string",
) | {"backupStorageUuids": "list", "system": "bool", "virtio": "bool"}


def deletion(store: Store, image: dict[str, Any]) -> Write:
    """The Delay deletion policy: the row stays, with status Deleted (§5.3). DeleteAccount's cascade too."""
    now = model.now()
    refs = [dict(ref, status="Deleted", lastOpDate=now) for ref in image["backupStorageRefs"]]
    changed = dict(image, status="Deleted", backupStorageRefs=refs, lastOpDate=now)
    owner = store.owners[image["uuid"]]
    return lambda job: store.put_image(changed, owner, job)


class Images:
    def __init__(
        self, store: Store, hooks: Hooks, jobs: Jobs, accounts: Accounts, *, backup_storage: str, documented: bool
    ) -> None:
        self.store = store
        self.hooks = hooks
        self.jobs = jobs
        self.accounts = accounts
        self.backup_storage = backup_storage
        self.documented = documented
        self._actions = _DOCUMENTED_ACTIONS if documented else IMAGE_ACTIONS
        jobs.register("changeImageState", self._change_state_job)
        jobs.register("addImage", self._add_image)
        jobs.register("deleteImage", self._delete_image)
        for action in _DOCUMENTED_ACTIONS:
            jobs.register(action, self._other_action)

    # ------------------------------------------------------------------------------- the action PUT

    def action_put(self, req: Request, path: str, body: dict[str, Any], image_uuid: str) -> Answer:
        if self.documented and "params" in body:
            session_uuid = session_id(req)
            params = action_params(body.get("params"), {"stateEvent": "string"})
            top_level_tags(body)
            # The same validator as the rest dialect's: a null tag element is SYS.1007 here too.
            inner = body.get("params") if isinstance(body.get("params"), dict) else None
            changed = self._documented_change(image_uuid, session_uuid, params, tag_lists(body, inner))
            return self.hooks.put_answer(changed, "changeImageState")
        body = self.hooks.action_body(body)
        action = next((a for a in self._actions if a in body), None)
        if action is None:
            raise RestError(400, f"the body doesn't contain action mapping to the URL[{path}]")
        if self.hooks.drops(action):
            return DROP
        session_uuid = session_id(req)
        params = action_params(body.get(action), ACTION_PARAMS[action])
        early = self.hooks.sync_answer(action, params)
        if early is not None:
            return early
        accepted = self.jobs.accept(req, JobRequest(action, image_uuid, session_uuid, params), body)
        return self.hooks.put_answer(accepted, action)

    def _documented_change(
        self, image_uuid: str, session_uuid: str, params: dict[str, Any], tags: dict[str, Any]
    ) -> Response:
        """The published page, literally: synchronous `200 {success, error, inventory}` (§0)."""
        outcome = self.change_state(image_uuid, session_uuid, params, tags)
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

    # ------------------------------------------------------------------- ChangeImageState (§1.4, §2.4)

    def _change_state_job(self, request: JobRequest) -> Outcome:
        return self.change_state(request.target or "", request.session, request.params, request.tags)

    def change_state(self, image_uuid: str, session_uuid: str, params: dict[str, Any], tags: dict[str, Any]) -> Outcome:
        # ApiParamValidator (SYSTEM) runs before AuthorizationManager (FRONT): arguments (stateEvent, the
        # tags, then uuid's existence), then the session, then ownership (§1.4 notes, §10).
        hooks = self.hooks
        early = hooks.before_arguments(session_uuid)
        if early is not None:
            return Outcome(early)
        raw = params.get("stateEvent")
        if raw is None:
            return Outcome(model.mandatory("stateEvent"))
        event = hooks.state_event(model.java_trim(raw))
        if event not in model.STATE_EVENTS:
            return Outcome(model.invalid_value("stateEvent", list(model.STATE_EVENTS), event))
        tag_error = hooks.tags_error(model.tags_error(tags))
        if tag_error is not None:
            return Outcome(tag_error)
        image, error = self.resolve(image_uuid, session_uuid)
        if error is not None or image is None:
            return Outcome(error)
        new_state = model.STATE_EVENTS[event]
        if image["state"] == new_state:
            error = hooks.same_state(image, new_state)
            if error is not None:
                return Outcome(error)
            return Outcome(image=image, splice=True)  # idempotent: same state succeeds, nothing written (§2.4)
        changed = hooks.change(dict(image, state=new_state, lastOpDate=model.now()), image)
        write = hooks.state_write(image, changed)
        if write is not None:  # a fault's write: what it stores may differ from the row in more than state
            return Outcome(image=changed, write=write)
        return Outcome(image=changed, write=lambda job: self.store.set_state(changed, job), splice=True)

    def resolve(self, image_uuid: str, session_uuid: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """PortApiValidator, then AuthorizationManager: the image must exist, then the session may act on it."""
        image = self.store.images.get(image_uuid)
        if image is None:
            return None, model.not_found("uuid", image_uuid, "ImageVO")
        denied, _ = self.accounts.authorize(session_uuid, image_uuid)
        return (None, denied) if denied is not None else (image, None)

    # ---------------------------------------------------------------- the other image actions (§10)

    def _other_action(self, request: JobRequest) -> Outcome:
        action, image_uuid, params = request.action, request.target or "", request.params
        if action == "updateImage":
            for name, valid in _UPDATE_VALID.items():
                if params.get(name) is not None and params[name] not in valid:
                    return Outcome(model.invalid_value(name, valid, params[name]))
        tag_error = self.hooks.tags_error(model.tags_error(request.tags))
        if tag_error is not None:
            return Outcome(tag_error)
        image, error = self.resolve(image_uuid, request.session)
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
            changed = self.hooks.image_row(dict(image, **updates, lastOpDate=now))
        elif action == "syncImageSize":
            return Outcome(image=image, splice=True)  # the simulated backup storage never drifts from the size
        else:
            return Outcome(model.error("SYS.1014", f"the reference server does not model {action}"), handler=True)
        # getSelfInventory() after the write: the echo is what a query returns next (§10).
        echo = self.hooks.echo(changed, action, image)
        return Outcome(image=echo, write=lambda job: self.store.put_image(changed, owner, job))

    # ------------------------------------------------------------------------------- AddImage (§5.2)

    def add_image(self, req: Request, path: str, body: dict[str, Any]) -> Response:
        session_uuid = session_id(req)
        params = action_params(body.get("params"), _ADD_PARAMS)
        return self.jobs.accept(req, JobRequest("addImage", None, session_uuid, params), body)

    def _add_image(self, request: JobRequest) -> Outcome:
        # ApiMessageParamValidator and PortApiValidator (fields, then backupStorageUuids' existence), the
        # session, ImageApiInterceptor (format, the URL), then TagManager (END): the system tags.
        params, tags = request.params, request.tags
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
        tag_error = self.hooks.tags_error(model.tags_error(tags))
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
        denied, session = self.accounts.authorize(request.session, None)
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
        image = self.hooks.image_row(self.new_image({**params, "format": fmt}, owner=session.account))
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

    # ---------------------------------------------------------------------------- DeleteImage (§5.3)

    def delete_image(self, req: Request, path: str, body: dict[str, Any], image_uuid: str) -> Response:
        session_uuid = session_id(req)
        query = parse_qs(req.query, keep_blank_values=True)
        params = {"deleteMode": query.get("deleteMode", [None])[0]}
        return self.jobs.accept(req, JobRequest("deleteImage", image_uuid, session_uuid, params))

    def _delete_image(self, request: JobRequest) -> Outcome:
        image_uuid = request.target or ""
        if not model.UUID_RE.match(image_uuid):
            return Outcome(model.error("SYS.1003", f"invalid value[{image_uuid}] of field [uuid]"))
        image = self.store.images.get(image_uuid)
        if image is None:
            return Outcome()  # successIfResourceNotExisting
        denied, _ = self.accounts.authorize(request.session, image_uuid)
        denied = self.hooks.delete_denied(denied, request.session, image_uuid)
        if denied is not None:
            return Outcome(denied)
        mode = self.hooks.delete_mode(request.params.get("deleteMode"))
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
        return Outcome(write=self.hooks.deletion(deletion(self.store, image), image, mode))
