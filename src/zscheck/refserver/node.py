"""The simulated management node itself: its version (GetVersion) and its one backup storage
(QueryBackupStorage), whose uuid AddImage accepts and every image's backupStorageRefs name.

Why apart: neither is an image or account API, and the backup storage's uuid is node state that
outlives restarts (kept in the store's meta table).
"""

from __future__ import annotations

from typing import Any

from zscheck.refserver import model
from zscheck.refserver.accounts import Accounts
from zscheck.refserver.rest import Request, Response, RestError, action_params, json_bytes, session_id
from zscheck.refserver.store import Store, new_uuid

VERSION = "5.2.1"  # GetVersion: the newest schema_version of the source snapshot (conf/db/upgrade/V5.2.1)


def backup_storage_uuid(store: Store) -> str:
    """The backup storage's uuid: made on the first start, the same ever after."""
    uuid = store.meta("backup_storage") or new_uuid()
    store.set_meta("backup_storage", uuid)
    return uuid


class Node:
    def __init__(self, store: Store, accounts: Accounts, backup_storage: str) -> None:
        self.store = store
        self.accounts = accounts
        self.backup_storage = backup_storage

    def management_action(self, req: Request, path: str, body: dict[str, Any]) -> Response:
        """PUT /v1/management-nodes/actions: GetVersion only (sync, @SuppressCredentialCheck)."""
        if "getVersion" not in body:
            raise RestError(400, f"the body doesn't contain action mapping to the URL[{path}]")
        action_params(body.get("getVersion"), {})
        reply: dict[str, Any] = {"version": VERSION}
        if "x-json-schema" in req.headers:
            reply["schema"] = {}
        return Response(200, json_bytes(reply))

    def query_backup_storage(self, req: Request, path: str, body: dict[str, Any]) -> Response:
        """The one simulated backup storage AddImage accepts (enough for fixtures to find it)."""
        if self.accounts.live_session(session_id(req)) is None:
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
