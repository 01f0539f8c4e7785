"""Reproducers: a short POSIX shell script per failure that reproduces it on its own.

What a pasted curl got wrong, and what the script does instead:
- it carried the harness's session: the script logs in, the password from an environment variable
  (never written into the script);
- it carried the harness's X-Job-UUID (a reused one is `400 Duplicate job uuid`): the script makes its own;
- it named a fixture image the run had expunged (`SYS.1003`): the script creates an image like it when the
  original is gone;
- it stopped at the PUT, while the violation is often in the api-job: the script follows the job, printing
  every answer;
- it pointed at the embedded server's port, gone with the run: the script says how to start a server with
  the run's faults (`zscheck serve --fault ...`) and targets $ZSTACK.

It needs sh, curl, sha512sum, od and python3 (to read JSON).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_IMAGE_URL = "http://127.0.0.1/zscheck-fixture.qcow2"
EMBEDDED_URL = "http://127.0.0.1:8080"  # where `zscheck serve` listens by default
MAX_POLLS = 100  # the script's job polls, 0.1 s apart: a job that never finishes shows as 100 answers of 202


@dataclass(frozen=True)
class Where:
    """The run's target, as a reproducer needs it: its URL (None: the embedded server), the embedded
    server's faults and dialect, the account and where its password comes from."""

    url: str | None
    faults: Sequence[str] = ()
    dialect: str = "rest"
    account: str = "admin"
    password_env: str = "ZSCHECK_PASSWORD"
    image_url: str = DEFAULT_IMAGE_URL

    def serve_command(self) -> str:
        parts = ["zscheck", "serve", "--port", "8080", "--dialect", self.dialect]
        for fault in self.faults:
            parts += ["--fault", fault]
        return " ".join(shlex.quote(p) for p in parts)


@dataclass(frozen=True)
class Request:
    """A request as sent, secrets already out: method, path, headers, body; whether its api-job is
    followed, and with X-JSON-Schema on the polls or not (None: as the request itself asked)."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    follow: bool = True
    schema: bool | None = None

    def polls_with_schema(self) -> bool:
        if self.schema is not None:
            return self.schema
        return any(k.lower() == "x-json-schema" for k in self.headers)


_PRELUDE = r"""set -eu
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
j() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
fresh() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }  # a new X-Job-UUID: a reused one is a 400
show() { echo "$1: HTTP $(cat "$T/status") $(cat "$T/body")"; }
follow() {  # poll the api-job the last 202 named until it is no longer pending; print every answer
  n=0
  while [ "$(cat "$T/status")" = 202 ]; do
    loc=$(j 'd.get("location", "")' < "$T/body" 2>/dev/null || true)
    [ -n "$loc" ] || { echo "(the 202 names no api-job to follow)"; return 0; }
    n=$((n + 1)); [ "$n" -le MAX_POLLS ] || { echo "(still pending after MAX_POLLS polls)"; return 0; }
    sleep 0.1
    curl -sS -o "$T/body" -w '%{http_code}' "$ZSTACK/zstack/v1/api-jobs/${loc##*/api-jobs/}" \
      -H "Authorization: OAuth $SESSION" $SCHEMA > "$T/status"
    show "poll $n"
  done
}
HASH=$(printf %s "$PASSWORD" | sha512sum | cut -d' ' -f1)
curl -sS -o "$T/body" -w '%{http_code}' -X PUT "$ZSTACK/zstack/v1/accounts/login" \
  -H 'Content-Type: application/json; charset=utf-8' \
  --data-binary "{\"logInByAccount\":{\"accountName\":\"$ACCOUNT\",\"password\":\"$HASH\"}}" > "$T/status"
SESSION=$(j 'd["inventory"]["uuid"]' < "$T/body") || { show login; exit 2; }
"""

_IMAGE = r"""# The run's image may be gone (a run deletes and expunges its fixture images): make one like it if so.
get() { curl -sS -o "$T/body" -w '%{http_code}' "$ZSTACK$1" -H "Authorization: OAuth $SESSION" > "$T/status"; }
get "/zstack/v1/images/$IMAGE"
if [ -z "$(j '(d.get("inventories") or [{}])[0].get("uuid", "")' < "$T/body" 2>/dev/null || true)" ]; then
  get /zstack/v1/backup-storage
  BS=$(j '[b["uuid"] for b in d["inventories"] if (b.get("status"), b.get("state")) == ("Connected", "Enabled")][0]' \
    < "$T/body")
  IMAGE=$(fresh)
  ADD="{\"name\":\"zscheck-reproducer\",\"url\":\"IMAGE_URL\",\"format\":\"qcow2\""
  ADD="$ADD,\"backupStorageUuids\":[\"$BS\"],\"resourceUuid\":\"$IMAGE\"}"
  curl -sS -o "$T/body" -w '%{http_code}' -X POST "$ZSTACK/zstack/v1/images" \
    -H 'Content-Type: application/json; charset=utf-8' -H "Authorization: OAuth $SESSION" -H "X-Job-UUID: $(fresh)" \
    --data-binary "{\"params\":$ADD}" > "$T/status"
  follow > /dev/null
  echo "image: the run's image is gone; created $IMAGE"
fi
"""


_JOB_ID = re.compile(r"^[0-9a-fA-F]{32}$")


def script(
    request: Request,
    where: Where,
    *,
    image: str = "",
    title: Sequence[str] = (),
    before: Sequence[Request] = (),
) -> str:
    """The shell script that reproduces `request` against `where` (see the module's docstring), after the
    requests it needs `before` it (a job to reuse, a job to poll again), each sent and followed in turn.
    Every 32-digit X-Job-UUID becomes a fresh one, the same wherever the original appeared."""
    lines = ["#!/bin/sh"]
    lines += [f"# {t}" for t in title]
    if where.url is None:
        lines += [
            "# The run's target was the embedded reference server, gone with the run. Start one like it in",
            "# another shell (same faults), then run this script:",
            f"#   {where.serve_command()}",
        ]
    default = where.url.rstrip("/") if where.url else EMBEDDED_URL
    lines += [
        f"ZSTACK=${{ZSTACK:-{default}}}",
        f"ACCOUNT=${{ZSTACK_ACCOUNT:-{where.account}}}",
        f"PASSWORD=${{{where.password_env}:?set {where.password_env} to the password of the account}}",
    ]
    steps = [*before, request]
    lines.append(f"SCHEMA='{'-H X-JSON-Schema:true' if request.polls_with_schema() else ''}'")
    lines.append(_PRELUDE.replace("MAX_POLLS", str(MAX_POLLS)).rstrip("\n"))
    subs: dict[str, str] = {}
    jobs = [v for r in steps for k, v in r.headers.items() if k.lower() == "x-job-uuid" and _JOB_ID.match(v)]
    for job in dict.fromkeys(jobs):
        subs[job] = f"JOB{len(subs) + 1}"
        lines.append(f"{subs[job]}=$(fresh)  # the run's X-Job-UUID was {job}: a reused one is a 400")
    if image and any(image in r.path for r in steps):
        lines.append(f"IMAGE={image}")
        lines.append(_IMAGE.replace("IMAGE_URL", where.image_url).rstrip("\n"))
        subs[image] = "IMAGE"
    for n, step in enumerate(before, 1):
        lines.append(f"# Step {n} of {len(steps)}: what the failing request needs before it")
        lines.append(_curl(step, subs))
        lines.append(f'show "step {n}"')
        if step.follow:
            lines.append(f"SCHEMA='{'-H X-JSON-Schema:true' if step.polls_with_schema() else ''}'")
            lines.append("follow")
    if before:
        lines.append(f"SCHEMA='{'-H X-JSON-Schema:true' if request.polls_with_schema() else ''}'")
    lines.append("# The failing request (its own session and X-Job-UUID), then its api-job followed:")
    lines.append(_curl(request, subs))
    lines.append('show "request"')
    lines.append("follow")
    return "\n".join(lines) + "\n"


def _word(text: str, subs: Mapping[str, str]) -> str:
    """`text` as one shell word, each key of `subs` in it replaced by its variable ("$IMAGE")."""
    if not subs:
        return shlex.quote(text)
    pattern = re.compile("|".join(re.escape(k) for k in sorted(subs, key=len, reverse=True)))
    out, at = [], 0
    for match in pattern.finditer(text):
        if match.start() > at:
            out.append(shlex.quote(text[at : match.start()]))
        out.append(f'"${subs[match.group(0)]}"')
        at = match.end()
    if at < len(text):
        out.append(shlex.quote(text[at:]))
    return "".join(out) or "''"


def _curl(request: Request, subs: Mapping[str, str]) -> str:
    parts = ["curl -sS -o \"$T/body\" -w '%{http_code}'", "-X", request.method, f'"$ZSTACK"{_word(request.path, subs)}']
    for name, value in request.headers.items():
        if name.lower() == "authorization":
            scheme = value.split(" ", 1)[0] if " " in value else "OAuth"
            parts += ["-H", f'"{name}: {scheme} $SESSION"' if scheme == "OAuth" else shlex.quote(f"{name}: {value}")]
        elif name.lower() == "x-job-uuid" and value in subs:
            parts += ["-H", f'"{name}: ${subs[value]}"']
        else:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    if request.body is not None:
        parts += ["--data-binary", _word(request.body, subs)]
    return " \\\n  ".join(_wrap(parts)) + ' > "$T/status"'


def _wrap(parts: list[str]) -> list[str]:
    """curl's words, a header or the body per line (a long one-liner cannot be read)."""
    out: list[str] = [" ".join(parts[:4])]
    rest = parts[4:]
    for i in range(0, len(rest), 2):
        out.append(" ".join(rest[i : i + 2]))
    return out


def write_scripts(directory: Path, scripts: Mapping[str, str]) -> Path | None:
    """Each script as `directory/<name>.sh`, executable; the directory (None when there is none to write)."""
    if not scripts:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in scripts.items():
        path = directory / f"{name}.sh"
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)
    return directory
