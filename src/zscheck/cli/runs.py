"""`zscheck runs`: the run store from the command line (list, show, export, import), and the recording of
every command's results into it (`Recording`, called once from `zscheck.cli.common.execute`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from zscheck._transport import Timeouts
from zscheck.cli.common import EXIT_OK, Subparsers, add_command
from zscheck.client import Client
from zscheck.errors import ConfigError, ZscheckError
from zscheck.events import Emit, Event, VerdictReached
from zscheck.history.record import RunRecord, from_directory
from zscheck.history.store import DEFAULT_STORE, OFF, Query, Store, open_store
from zscheck.refserver.node import VERSION as EMBEDDED_VERSION
from zscheck.target import TargetOptions
from zscheck.verdict import Verdict

_EPILOG = """\
actions:
  list [N]          the newest N runs (default 20), one a line: id, time, command, verdict, target, version
  show ID           one run: its facts, its documents and their schema tags (an id prefix is enough)
  export [FILE]     every run as JSON lines (zscheck/run-record/1), to FILE or standard output
  import FILE       runs from JSON lines (a CI artifact) into this store; runs already there are kept

examples:
  zscheck runs
  zscheck runs show 20261203T0612
  zscheck runs export runs.jsonl && zscheck runs import runs.jsonl --store postgresql://ci@db/zscheck
  ZSCHECK_STORE=postgresql://ci@db.example/zscheck zscheck run    # every CI runner shares one history

Every contract, load, capacity, drift and run is recorded after it wrote its reports (--store off: none).
"""


def register(sub: Subparsers) -> None:
    p = add_command(
        sub,
        "runs",
        "list, show, export and import the runs recorded in the run store",
        "The run store keeps every command's typed results (its summary.json and friends) with the target's "
        "GetVersion, the dialect, seed, scenario and host facts; compare and trend read it.",
        _EPILOG,
        run,
    )
    p.add_argument("action", nargs="?", default="list", choices=("list", "show", "export", "import"))
    p.add_argument("what", nargs="?", default=None, help="list: how many; show: a run id; export/import: a file")


def store_spec(args: argparse.Namespace) -> str:
    return str(getattr(args, "store", None) or DEFAULT_STORE)


def run(args: argparse.Namespace) -> int:
    spec = store_spec(args)
    if spec == OFF:
        raise ConfigError("zscheck runs: --store off: there is no store to read; give --store PATH or URL")
    with open_store(spec, existing=args.action != "import") as store:
        if args.action == "list":
            _list(store, args.what)
        elif args.action == "show":
            if not args.what:
                raise ConfigError("zscheck runs show: which run? give its id (zscheck runs list shows them)")
            _show(store.get(args.what))
        elif args.action == "export":
            if args.what:
                with open(args.what, "w", encoding="utf-8") as out:
                    n = store.export_lines(out)
                print(f"zscheck runs: exported {n} runs to {args.what}", file=sys.stderr)
            else:
                store.export_lines(sys.stdout)
        else:
            if not args.what:
                raise ConfigError("zscheck runs import: give the JSON lines file (from zscheck runs export)")
            try:
                lines = Path(args.what).read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"zscheck runs import: cannot read {args.what}: {exc}") from exc
            added, kept = store.import_lines(lines, args.what)
            print(f"zscheck runs: imported {added} runs into {store.where} ({kept} were already there)")
    return EXIT_OK


def _list(store: Store, what: str | None) -> None:
    try:
        limit = int(what) if what else 20
    except ValueError:
        limit = 0
    if limit < 1:
        raise ConfigError(f"zscheck runs list: {what!r} is not a number of runs: write e.g. zscheck runs list 50")
    records = store.query(Query(limit=limit))
    if not records:
        print(f"zscheck runs: no runs in {store.where} yet")
        return
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.started))
        print(
            f"{r.id}  {when}  {r.command:<8}  {r.verdict:<13}  {r.target}"
            f"  {r.target_version or '-'}  seed {r.seed if r.seed is not None else '-'}"
        )


def _show(r: RunRecord) -> None:
    facts = {k: v for k, v in r.to_json().items() if k != "documents"}
    for key, value in facts.items():
        print(f"{key:<16} {json.dumps(value) if isinstance(value, dict) else value}")
    print("documents:")
    for path, doc in r.documents.items():
        print(f"  {path:<22} {doc.get('schema', '(0.1.0, untagged)')}  verdict {doc.get('verdict', '-')}")


# ------------------------------------------------------------------------------------------ recording


class Recording:
    """Watches a command's events for its final verdict (which names where its reports are), and then
    records that directory's documents in the store. A store the user named (--store, ZSCHECK_STORE, the
    file) that fails is an error; the default store failing is a warning, never the run's verdict."""

    def __init__(self, args: argparse.Namespace, target: TargetOptions) -> None:
        self.quiet = bool(getattr(args, "quiet", False))  # --quiet: the verdict only
        self.command = str(args.command)
        self.spec = getattr(args, "store", None)
        self.enabled = hasattr(args, "store") and self.spec != OFF
        self.target = target
        self.final: VerdictReached | None = None

    def tap(self, emit: Emit) -> Emit:
        def watch(event: Event) -> None:
            if isinstance(event, VerdictReached) and event.phase == self.command:
                self.final = event
            emit(event)

        return watch

    def record(self, verdict: Verdict) -> Verdict:
        """Record the run; the verdict to exit with (COULD NOT RUN joins it when a named store failed)."""
        if not self.enabled or self.final is None or not self.final.report:
            return verdict
        spec = str(self.spec or DEFAULT_STORE)
        try:
            version = self.target_version(verdict)
            record = from_directory(report_directory(self.final.report), command=self.command, target_version=version)
            with open_store(spec) as store:
                store.add(record)
        except ZscheckError as exc:
            if self.spec is None:
                print(
                    f"zscheck: warning: the run was not recorded: {exc} (--store off to stop trying)", file=sys.stderr
                )
                return verdict
            print(f"zscheck {self.command}: error: the run was not recorded: {exc}", file=sys.stderr)
            return Verdict.combine([verdict, Verdict.COULD_NOT_RUN])
        if not self.quiet:
            print(f"zscheck: recorded as run {record.id} in {store.where}", file=sys.stderr)
        return verdict

    def target_version(self, verdict: Verdict) -> str | None:
        """The target's GetVersion answer. Not asked of a target the run could not use (it may not answer,
        and the record must not cost a timeout); the embedded server's is its declared version."""
        if not self.target.url:
            return EMBEDDED_VERSION
        if verdict is Verdict.COULD_NOT_RUN:
            return None
        verify: bool | str = self.target.ca_bundle or not self.target.insecure
        try:
            with Client(self.target.url, verify=verify, timeouts=Timeouts(connect=3.0, read=3.0)) as zs:
                result = zs.get_version()
        except ZscheckError:
            return None
        version = result.data.get("version") if result.ok and isinstance(result.data, dict) else None
        return str(version) if version is not None else None


def report_directory(report: str) -> Path:
    """The directory a command's final event points at: the directory itself (contract), a file in it
    (capacity.json, drift.json, a run's index.html), or the directory with its files named after it (load)."""
    path = Path(report)
    if not path.exists() and report.endswith(")") and " (" in report:
        path = Path(report[: report.rfind(" (")])
    return path.parent if path.is_file() else path
