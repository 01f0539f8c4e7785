"""The route table and dispatch (§1.1, §1.4): which API a request reaches, in both dialects.

Owns what RestServer does before any API runs: the webapp context (/zstack), the five mapped methods, the
URL decoding, the route table, `handleNonUniqueApi` (the body is parsed before the method picks the API),
the plain-text answers of a synchronous failure, and the realistic timing profile's delay before every
answer but a job poll. The dialect changes one route's behaviour only (the image action PUT, images.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from zscheck.refserver.accounts import Accounts
from zscheck.refserver.image_query import ImageQuery
from zscheck.refserver.images import Images
from zscheck.refserver.jobs import Jobs
from zscheck.refserver.node import Node
from zscheck.refserver.rest import Answer, Request, Response, RestError, parse_body, text
from zscheck.refserver.timing import TimingProfile

_ROUTED_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "HEAD"})
_KINDS = {"POST": "creational", "GET": "query", "DELETE": "delete"}


class Router:
    def __init__(
        self, timing: TimingProfile, jobs: Jobs, accounts: Accounts, images: Images, query: ImageQuery, node: Node
    ) -> None:
        self.timing = timing
        self.jobs = jobs
        self.accounts = accounts
        self.images = images
        self.query = query
        self.node = node

    def handle(self, req: Request) -> Answer:
        if self.timing.realistic and "/api-jobs/" not in req.path:
            return self._handle_later(req, self.timing.sync_delay())
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
            return self.jobs.poll(req, parts[2])
        accounts, images = self.accounts, self.images
        match parts:
            case ["v1", "accounts", "login"]:
                return accounts.login(req)
            case ["v1", "accounts"]:
                return self._non_unique(req, path, {"POST": accounts.create_account})
            case ["v1", "accounts", "sessions", session_uuid] if session_uuid:
                return accounts.logout(session_uuid)
            case ["v1", "accounts", "sessions", session_uuid, "valid"] if session_uuid:
                return accounts.validate_session(session_uuid)
            case ["v1", "accounts", "sessions", session_uuid, "renew"] if session_uuid:
                return accounts.renew_session(req, session_uuid)
            case ["v1", "accounts", account_uuid] if account_uuid:
                return self._non_unique(req, path, {"DELETE": accounts.delete_account}, account_uuid)
            case ["v1", "management-nodes", "actions"]:
                return self._non_unique(req, path, {"PUT": self.node.management_action})
            case ["v1", "backup-storage"]:
                return self._non_unique(req, path, {"GET": self.node.query_backup_storage})
            case ["v1", "images"]:
                return self._non_unique(req, path, {"POST": images.add_image, "GET": self.query.query})
            case ["v1", "images", image_uuid] if image_uuid:
                return self._non_unique(req, path, {"GET": self.query.query, "DELETE": images.delete_image}, image_uuid)
            case ["v1", "images", image_uuid, "actions"] if image_uuid:
                return self._non_unique(req, path, {"PUT": images.action_put}, image_uuid)
        return text(404, f"no api mapping to {path}")

    def _non_unique(self, req: Request, path: str, handlers: dict[str, Callable[..., Answer]], *args: Any) -> Answer:
        """RestServer.handleNonUniqueApi: the body is parsed before the method picks the API (§1.4)."""
        body = parse_body(req.body)
        if req.method == "HEAD":
            raise RestError(405, f"The method[HEAD] is not allowed for the path[{req.path}]")
        if req.method == "PUT" and "PUT" not in handlers:
            raise RestError(400, f"the body doesn't contain action mapping to the URL[{path}]")
        handler = handlers.get(req.method)
        if handler is None:
            raise RestError(500, f"No {_KINDS[req.method]} API found for the path[{req.path}]")
        if body is None and req.method in ("PUT",):
            raise RestError(500, "")  # NullPointerException on m.containsKey(): no message
        return handler(req, path, body or {}, *args)
