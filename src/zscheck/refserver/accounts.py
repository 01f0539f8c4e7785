"""Accounts and sessions (§4, §10): LogInByAccount, LogOut, ValidateSession, RenewSession, CreateAccount,
DeleteAccount, and the checks every other API makes through them (AuthorizationManager: is the session
live, may it act on this resource).

Why together: a session belongs to an account, the authorization checks read both, and DeleteAccount ends
its sessions; the image APIs ask this module, never the store, whether a caller may act.
"""

from __future__ import annotations

import time
from typing import Any

from zscheck.refserver import model
from zscheck.refserver.hooks import Hooks
from zscheck.refserver.images import deletion
from zscheck.refserver.jobs import JobRequest, Jobs, Outcome
from zscheck.refserver.rest import Request, Response, action_params, json_bytes, parse_body, session_id
from zscheck.refserver.store import Account, Job, Session, Store, new_uuid

_NO_SESSION = Session("", "", 0, 0, 0)


class Accounts:
    def __init__(self, store: Store, hooks: Hooks, jobs: Jobs, *, session_timeout: float, max_sessions: int) -> None:
        self.store = store
        self.hooks = hooks
        self.jobs = jobs
        self.session_timeout = session_timeout  # identity.session.timeout
        self.max_sessions = max_sessions  # session.maxConcurrent, per account
        jobs.register("createAccount", self._create_account)
        jobs.register("deleteAccount", self._delete_account)
        jobs.register("renewSession", self._renew_session)

    # ------------------------------------------------------------------------- authorization (§1.4, §10)

    def authorize(self, session_uuid: str, image_uuid: str | None) -> tuple[dict[str, Any] | None, Session]:
        """The session, then ownership: only the initial admin is exempt (OperationTargetAPIRequestChecker)."""
        session = self.live_session(session_uuid)
        if session is None:
            session = self.hooks.no_session(session_uuid)
            if session is None:
                return model.session_expired(), _NO_SESSION
        if image_uuid is not None:
            denied = session.account != model.ADMIN_UUID and self.store.owners.get(image_uuid) != session.account
            if self.hooks.owner_denied(denied, session, image_uuid):
                return model.not_owner(session.account, image_uuid), session
        return None, session

    def live_session(self, session_uuid: str) -> Session | None:
        """AuthorizationManager.evaluateSession: expired sessions are logged out, live ones renewed."""
        session = self.store.sessions.get(session_uuid)
        if session is None:
            return None
        now = time.time()
        if session.expires <= now:
            self.store.drop_session(session_uuid)
            return None
        if self.hooks.session_dropped(session):
            return None
        self.store.renew_session(session, now + self.session_timeout)
        return session

    def is_admin(self, session: Session) -> bool:
        """AccountConstant.isAdminPermission: an account of type SystemAdmin."""
        account = self.store.accounts.get(session.account)
        return account is not None and account.type == "SystemAdmin"

    # --------------------------------------------------------------------------------- sessions (§4)

    def login(self, req: Request) -> Response:
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
        if active >= self.max_sessions:
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
        session = self.hooks.login_session(self.store.add_session(account.uuid, self.session_timeout), account)
        inventory = model.session_inventory(session, session.expires)
        reply: dict[str, Any] = {"inventory": inventory}
        if "x-json-schema" in req.headers:
            reply["schema"] = {"inventory": model.SESSION_INVENTORY_CLASS}
        return Response(200, json_bytes(reply))

    def logout(self, session_uuid: str) -> Response:
        self.store.drop_session(session_uuid)  # unknown sessions log out successfully too (§4.3)
        return Response(200, b"{}")

    def validate_session(self, session_uuid: str) -> Response:
        session = self.store.sessions.get(session_uuid)
        valid = session is not None and session.expires > time.time()
        return Response(200, json_bytes({"valid": valid}))

    def renew_session(self, req: Request, session_uuid: str) -> Response:
        caller = session_id(req)
        body = parse_body(req.body)
        params = action_params((body or {}).get("renewSession"), {"sessionUuid": "string", "duration": "long"})
        return self.jobs.accept(req, JobRequest("renewSession", session_uuid, caller, params), body)

    def _renew_session(self, request: JobRequest) -> Outcome:
        session_uuid, params = request.target or "", request.params
        duration = params.get("duration")
        if duration is not None and not 60 <= duration <= 31_536_000:
            return Outcome(model.error("SYS.1007", "field[duration] must be in range of [60, 31536000]"))
        tag_error = self.hooks.tags_error(model.tags_error(request.tags))
        if tag_error is not None:
            return Outcome(tag_error)
        if session_uuid not in self.store.sessions:
            return Outcome(model.not_found("sessionUuid", session_uuid, "SessionVO"))
        denied, _ = self.authorize(request.session, None)
        if denied is not None:
            return Outcome(denied)
        target = self.store.sessions.get(session_uuid)
        if target is None or target.expires <= time.time():  # Session.renewSession: errorOnTimeout first
            return Outcome(model.session_expired(), handler=True)
        renewed = target
        expires = time.time() + (self.session_timeout if duration is None else duration)

        def write(job: Job | None) -> None:
            self.store.renew_session(renewed, expires)
            if job is not None:
                self.store.save_job(job)

        inventory = model.session_inventory(renewed, expires)
        return Outcome(result={"inventory": inventory, "class": model.SESSION_INVENTORY_CLASS}, write=write)

    # --------------------------------------------------------------------------------- accounts (§10)

    def create_account(self, req: Request, path: str, body: dict[str, Any]) -> Response:
        session_uuid = session_id(req)
        shape = dict.fromkeys(("name", "password", "type", "description", "resourceUuid"), "string")
        params = action_params(body.get("params"), shape)
        return self.jobs.accept(req, JobRequest("createAccount", None, session_uuid, params), body)

    def _create_account(self, request: JobRequest) -> Outcome:
        # The validator (name, password, type, description), the session, RBAC (CreateAccount is an
        # admin-only API: ID.1002), AccountManagerImpl's interceptor (a taken name), TagManager (END).
        params, tags = request.params, request.tags
        for name in ("name", "password"):
            if params.get(name) is None:
                return Outcome(model.mandatory(name))
        for name, limit in (("name", 255), ("password", 255), ("description", 2048)):
            if params.get(name) is not None and len(params[name]) > limit:
                return Outcome(model.too_long(name, limit, len(params[name])))
        account_type = params.get("type")
        if account_type is not None and account_type not in model.ACCOUNT_TYPES:
            return Outcome(model.invalid_value("type", model.ACCOUNT_TYPES, account_type))
        tag_error = self.hooks.tags_error(model.tags_error(tags))
        if tag_error is not None:
            return Outcome(tag_error)
        denied, session = self.authorize(request.session, None)
        if denied is not None:
            return Outcome(denied)
        if not self.is_admin(session):
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

    def delete_account(self, req: Request, path: str, body: dict[str, Any], account_uuid: str) -> Response:
        session_uuid = session_id(req)
        return self.jobs.accept(req, JobRequest("deleteAccount", account_uuid, session_uuid, {}))

    def _delete_account(self, request: JobRequest) -> Outcome:
        # uuid: successIfResourceNotExisting (an unknown well-formed uuid succeeds before the session is
        # read), the session, then AccountManagerImpl.validate(APIDeleteAccountMsg).
        account_uuid = request.target or ""
        if not model.UUID_RE.match(account_uuid) and account_uuid not in self.store.accounts:
            return Outcome(model.error("SYS.1003", f"invalid value[{account_uuid}] of field [uuid]"))
        account = self.store.accounts.get(account_uuid)
        if account is None:
            return Outcome()
        denied, session = self.authorize(request.session, None)
        if denied is not None:
            return Outcome(denied)
        if account.type == "SystemAdmin":
            if account_uuid == session.account:
                return Outcome(model.error("SYS.1007", "account cannot delete itself"))
            if account_uuid == model.ADMIN_UUID:
                return Outcome(model.error("SYS.1007", "cannot delete builtin admin account."))
        if not self.is_admin(session):
            return Outcome(model.error("SYS.1007", "Only admin can delete account."))

        def write(job: Job | None) -> None:
            # AccountBase.deleteAccount: the cascade deletes the account's images (Delay policy: they stay,
            # Deleted), then the admin adopts what the account owned; its sessions go with it.
            for image_uuid, owner in list(self.store.owners.items()):
                if owner == account_uuid:
                    image = self.store.images[image_uuid]
                    if image["status"] != "Deleted":
                        deletion(self.store, image)(None)
                    self.store.put_image(self.store.images[image_uuid], model.ADMIN_UUID)
            self.store.remove_account(account_uuid)
            if job is not None:
                self.store.save_job(job)

        return Outcome(write=write)
