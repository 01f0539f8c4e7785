"""QueryImage (§5.1): GET /v1/images and /v1/images/{uuid}, the read side of the image APIs.

Owns who sees which images (a normal account its own, an admin all), the conditions (`q=`, checked
against ImageInventory's fields), sort, paging, `count`, `fields`, and the `schema` of the reply. The
query language itself is query.py; this module applies it to the store.
"""

from __future__ import annotations

from typing import Any

from zscheck.refserver import model
from zscheck.refserver.accounts import Accounts
from zscheck.refserver.hooks import Hooks
from zscheck.refserver.query import matches, parse_query
from zscheck.refserver.rest import Request, Response, json_bytes, session_id
from zscheck.refserver.store import Store


class ImageQuery:
    def __init__(self, store: Store, hooks: Hooks, accounts: Accounts) -> None:
        self.store = store
        self.hooks = hooks
        self.accounts = accounts

    def query(self, req: Request, path: str, body: dict[str, Any], image_uuid: str | None = None) -> Response:
        session_uuid = session_id(req)
        spec = parse_query(req.query, image_uuid)
        session = self.accounts.live_session(session_uuid)
        if session is None:
            return Response(503, json_bytes({"error": model.session_expired()}))
        account = self.store.accounts.get(session.account)
        images = [
            img
            for uuid, img in self.store.images.items()
            if account is None or account.type == "SystemAdmin" or self.store.owners.get(uuid) == account.uuid
        ]
        images = self.hooks.visible_images(images, account)
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
