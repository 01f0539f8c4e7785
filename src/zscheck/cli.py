"""The `zscheck` command. Thin: parse, call the library, print, exit.

Exit codes, for every command: 0 conformant (or clean shutdown), 1 violations found, 2 could not run.
Nothing below this module prints or exits; it raises `ZscheckError`s that become one line here.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from zscheck import __version__
from zscheck.config import Setting, resolve
from zscheck.conformance.drift import render, run_drift
from zscheck.conformance.harness import DEFAULT_WORKERS, ContractConfig
from zscheck.conformance.runner import ContractRun, run_contract
from zscheck.credentials import read_password
from zscheck.errors import ConfigError, ZscheckError
from zscheck.fixtures import Journal, restore_from
from zscheck.load.plan import SCENARIOS
from zscheck.load.runner import LoadRun, run_capacity, run_load
from zscheck.refserver.faults import ALL_FAULTS, FAULTS, LOAD_FAULTS
from zscheck.refserver.server import ServeError, ServerConfig, default_db_path, serve
from zscheck.run import DEFAULT_GATES, RunAll, run_all
from zscheck.slo import parse_gate

EXIT_OK, EXIT_VIOLATIONS, EXIT_CANNOT_RUN = 0, 1, 2


def _bounded(kind: Callable[[str], float], low: float, high: float | None, what: str) -> Callable[[str], float]:
    """An argparse type that says the value, the rule and an example when the value is out of range."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {what}") from None
        if value < low or (high is not None and value > high):
            upper = f" and at most {high}" if high is not None else ""
            raise argparse.ArgumentTypeError(f"{text} is out of range: it must be at least {low}{upper}")
        return value

    return parse


_SERVE_EPILOG = """\
examples:
  zscheck serve                               # http://127.0.0.1:8080, data in ./data
  zscheck serve --port 0 --db :memory:        # a free port, nothing written to disk
  zscheck serve --dialect documented          # answer as the published API page says
  zscheck serve --session-timeout 2 --job-delay 0.5

accounts: `admin` (the SystemAdmin, password "password" as on a fresh ZStack) and a normal account
(`--tenant`, password "password") that owns every fourth seeded image. Set other passwords with the
environment variables ZSCHECK_REFSERVER_ADMIN_PASSWORD and ZSCHECK_REFSERVER_TENANT_PASSWORD.
"""


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the embedded reference ZStack server",
        description="Run the reference ZStack management node: the image API, login, and api-jobs, "
        "faithful to the real REST server. Stops cleanly on Ctrl-C or SIGTERM.",
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument(
        "--port",
        type=_bounded(int, 0, 65535, "port number"),
        default=8080,
        help="port to bind; 0 picks a free one and prints the URL (default: %(default)s)",
    )
    p.add_argument(
        "--db",
        default=None,
        metavar="PATH",
        help="SQLite file holding the server's state, or :memory: for none "
        "(default: $ZSCHECK_DATA_DIR/zscheck-refserver.db, ZSCHECK_DATA_DIR defaulting to ./data)",
    )
    p.add_argument(
        "--dialect",
        choices=("rest", "documented"),
        default="rest",
        help="rest: what ZStack serves (202 + api-job); documented: the published page, "
        "literally (200 {success, error, inventory}) (default: %(default)s)",
    )
    p.add_argument(
        "--seed-images",
        type=_bounded(int, 0, 100_000, "whole number"),
        default=16,
        metavar="N",
        help="images created on the first start of a new database (default: %(default)s)",
    )
    p.add_argument(
        "--session-timeout",
        type=_bounded(float, 0.1, None, "number of seconds"),
        default=7200.0,
        metavar="SECONDS",
        help="sliding session lifetime (default: %(default)s, as ZStack)",
    )
    p.add_argument(
        "--job-delay",
        type=_bounded(float, 0.0, 3600, "number of seconds"),
        default=0.0,
        metavar="SECONDS",
        help="how long each api-job stays processing (polls answer 202 {}) (default: %(default)s)",
    )
    p.add_argument(
        "--job-ttl",
        type=_bounded(float, 1.0, None, "number of seconds"),
        default=10800.0,
        metavar="SECONDS",
        help="how long finished job results are kept before polls answer 404 (default: %(default)s)",
    )
    p.add_argument(
        "--timing",
        choices=("instant", "realistic"),
        default="instant",
        help="instant: api-jobs finish at once; realistic: like a real node, each api-job takes a seeded "
        "log-normal delay (median 60 ms, 90th percentile 200 ms, at most 1.5 s) and synchronous answers "
        "1-5 ms; --job-delay adds to it (default: %(default)s)",
    )
    p.add_argument(
        "--timing-seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of the realistic profile's delays: the same seed and requests replay the same run "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--tenant",
        default="tenant",
        metavar="NAME",
        help="name of the normal account that owns some images (default: %(default)s)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        choices=sorted(ALL_FAULTS),
        metavar="NAME",
        help="break the contract on purpose, to prove a check catches it (repeatable); `zscheck faults` lists them",
    )
    p.add_argument(
        "--fsync", action="store_true", help="fsync every commit: survive power loss, not only a crash (slower)"
    )
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    config = ServerConfig(
        host=args.host,
        port=int(args.port),
        db=args.db or default_db_path(),
        dialect=args.dialect,
        seed_images=int(args.seed_images),
        session_timeout=args.session_timeout,
        job_delay=args.job_delay,
        job_ttl=args.job_ttl,
        tenant_name=args.tenant,
        admin_password=os.environ.get("ZSCHECK_REFSERVER_ADMIN_PASSWORD", "password"),
        tenant_password=os.environ.get("ZSCHECK_REFSERVER_TENANT_PASSWORD", "password"),
        durable_fsync=args.fsync,
        faults=tuple(args.fault),
        timing=args.timing,
        timing_seed=args.timing_seed,
    )

    def ready(url: str) -> None:
        faults = f", faults: {', '.join(config.faults)}" if config.faults else ""
        timing = f", realistic timing (seed {config.timing_seed})" if config.timing == "realistic" else ""
        print(f"zscheck reference server ({config.dialect} dialect{timing}{faults}) listening on {url}", flush=True)
        print(f"  api: {url}/zstack/v1   data: {config.db}   stop: Ctrl-C", flush=True)

    try:
        serve(config, on_ready=ready)
    except ServeError as exc:
        print(f"zscheck serve: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    print("zscheck reference server stopped", flush=True)
    return EXIT_OK


def _utc_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


class _RefusePlainPassword(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        parser.error(
            "--password is not accepted: a password on the command line lands in shell history and process "
            "lists. Put it in ZSCHECK_PASSWORD, or name a variable with --password-env VAR or a file with "
            "--password-file FILE"
        )


def _add_credentials(p: argparse.ArgumentParser) -> None:
    """Where the password comes from: never a plain argument, which would land in shell history."""
    p.add_argument("--password", action=_RefusePlainPassword, nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--account", default="admin", help="account to log in as (default: %(default)s)")
    p.add_argument(
        "--password-env",
        default="ZSCHECK_PASSWORD",
        metavar="VAR",
        help="environment variable holding the password (default: %(default)s; the embedded server needs none)",
    )
    p.add_argument("--password-file", default=None, metavar="FILE", help="file holding the password")


def _require_password(args: argparse.Namespace) -> None:
    """A real target needs a password: say so before anything runs (the embedded server needs none)."""
    if args.password_file is None and args.target is not None and args.password_env not in os.environ:
        raise ConfigError(
            f"no password: the environment variable {args.password_env} is not set. Set it (export "
            f"{args.password_env}=...) or pass --password-file FILE"
        )


def _add_tls(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--timeout",
        type=_bounded(float, 0.1, 3600, "number of seconds"),
        default=30.0,
        metavar="SECONDS",
        help="seconds any one request may take to connect or to answer (default: %(default)s)",
    )
    p.add_argument("--ca-bundle", default=None, metavar="FILE", help="CA bundle that signed an HTTPS target")
    p.add_argument("--insecure", action="store_true", help="do not verify an HTTPS target's certificate")


_CONTRACT_EPILOG = """\
examples:
  zscheck contract                                   # the embedded reference server, nightly profile
  ZSCHECK_PASSWORD=... zscheck contract --target http://10.0.0.5:8080 --image 0f3e...
  zscheck contract --dialect documented --seed 42    # replay a run exactly
  zscheck contract --max-examples 1000               # release profile: deeper
  zscheck contract --fault disable-noop              # watch a check catch a broken server

exit codes: 0 conformant, 1 violations found, 2 could not run.
reports: junit.xml, summary.json, failures.md (with curl reproducers) and journal.jsonl in --report-dir.
"""


def _add_contract(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "contract",
        help="check a target against the ChangeImageState contract",
        description="Run the conformance suites (error codes, envelope, the image state model) against a target. "
        "Only images the run creates, or names with --image, are touched, and all are restored at the end.",
        epilog=_CONTRACT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--target",
        default=None,
        metavar="URL",
        help="ZStack management node, e.g. http://10.0.0.5:8080 (default: start the embedded "
        "reference server on a free port)",
    )
    p.add_argument(
        "--dialect",
        choices=("rest", "documented"),
        default="rest",
        help="what a correct answer looks like: rest (ZStack's server) or documented (the "
        "published page) (default: %(default)s)",
    )
    _add_credentials(p)
    p.add_argument(
        "--tenant",
        default=None,
        metavar="NAME",
        help="a normal account for the ownership checks; its password from ZSCHECK_TENANT_PASSWORD",
    )
    p.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="UUID",
        help="an existing image the run may change (repeatable); restored at the end",
    )
    p.add_argument(
        "--create-images",
        type=_bounded(int, 0, 50, "whole number"),
        default=None,
        metavar="N",
        help="fixture images to create with AddImage (default: as many as --workers, so that the state machine "
        "runs one lane per image)",
    )
    p.add_argument(
        "--backup-storage",
        default=None,
        metavar="UUID",
        help="backup storage for fixture images (default: the first connected one)",
    )
    p.add_argument("--image-url", default=None, metavar="URL", help="URL AddImage downloads fixture images from")
    p.add_argument(
        "--max-examples",
        type=_bounded(int, 1, 100_000, "whole number"),
        default=100,
        metavar="N",
        help="Hypothesis examples per property (default: %(default)s, the nightly profile)",
    )
    p.add_argument(
        "--seed",
        type=_bounded(int, 0, 2**32 - 1, "whole number"),
        default=None,
        metavar="N",
        help="replay a run: the same seed sends the same requests (default: random, reported)",
    )
    p.add_argument(
        "--report-dir", default=None, metavar="DIR", help="where reports go (default: reports/contract-<UTC time>)"
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        choices=sorted(FAULTS),
        metavar="NAME",
        help="embedded server only: start it with this fault mode (repeatable; see `zscheck faults`)",
    )
    p.add_argument(
        "--poll-deadline",
        type=_bounded(float, 0.1, 3600, "number of seconds"),
        default=None,
        metavar="SECONDS",
        help="how long an api-job may stay processing before that counts as a violation (default: 10; 1 for the "
        "embedded server)",
    )
    p.add_argument(
        "--no-shrink",
        action="store_true",
        help="report each failing example as found instead of searching for the shortest one: a faster verdict "
        "against a broken build, with longer reproducers",
    )
    p.add_argument(
        "--shrink-budget",
        type=_bounded(float, 1, 3600, "number of seconds"),
        default=30.0,
        metavar="SECONDS",
        help="time a failing test may spend searching for its shortest form; the verdict says when the budget "
        "cut it short (default: %(default)s)",
    )
    p.add_argument(
        "--workers",
        type=_bounded(int, 1, 64, "whole number"),
        default=DEFAULT_WORKERS,
        metavar="N",
        help="independent probes in flight at once, a load a management node carries easily; each image's own "
        "sequence stays in order (default: %(default)s)",
    )
    _add_timing(p)
    _add_tls(p)
    p.add_argument("--quiet", action="store_true", help="one line per failure and the verdict, nothing else")
    p.set_defaults(func=_cmd_contract)


def _add_timing(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--timing",
        choices=("instant", "realistic"),
        default="instant",
        help="embedded server only: its api-jobs finish at once (instant), or after delays like a real node's, "
        "tens to hundreds of milliseconds with a tail, seeded by --seed (realistic) (default: %(default)s)",
    )


def _cmd_contract(args: argparse.Namespace) -> int:
    _require_password(args)
    run = ContractRun(
        report_dir=Path(args.report_dir or f"reports/contract-{_utc_stamp()}"),
        target=args.target,
        dialect=args.dialect,
        account=args.account,
        password_env=args.password_env,
        password_file=args.password_file,
        tenant=args.tenant,
        images=tuple(args.image),
        create_images=None if args.create_images is None else int(args.create_images),
        backup_storage=args.backup_storage,
        image_url=args.image_url,
        max_examples=int(args.max_examples),
        seed=None if args.seed is None else int(args.seed),
        faults=tuple(args.fault),
        poll_deadline=args.poll_deadline,
        ca_bundle=args.ca_bundle,
        insecure=args.insecure,
        quiet=args.quiet,
        shrink=not args.no_shrink,
        shrink_budget=float(args.shrink_budget),
        workers=int(args.workers),
        timing=args.timing,
        timeout=float(args.timeout),
    )
    return run_contract(run)


_RUN_EPILOG = """\
examples:
  zscheck run                                          # everything against the embedded reference server
  ZSCHECK_PASSWORD=... zscheck run --target http://10.0.0.5:8080 --image UUID
  zscheck run --seed 42 --quiet                        # a nightly CI job: replayable, terse
  zscheck --profile release run                        # [profiles.release] from zscheck.toml

phases: contract (the nightly profile: 100 examples per property), load (toggle, 10 users, 20 s, gates
error_rate<1% and e2e:p99<1s unless --slo is given), drift (informational: never a violation).
exit codes: 0 every phase passed, 1 violations found in any phase, 2 a phase could not run.
reports: reports/<UTC time>/ with index.html, summary.json and one directory per phase; reports/latest
points at the newest run.
"""


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="conformance, a short load run and drift, with one HTML report",
        description="The one command: run the conformance suites, a short load run with default gates, and the "
        "drift check against a target (the embedded reference server unless --target is given), write "
        "everything to reports/<UTC time>/, and print the verdict and the path of index.html.",
        epilog=_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--target", default=None, metavar="URL", help="ZStack management node (default: embedded server)")
    p.add_argument("--dialect", choices=("rest", "documented"), default="rest", help="(default: %(default)s)")
    _add_credentials(p)
    p.add_argument(
        "--image", action="append", default=[], metavar="UUID",
        help="target only: an existing image the run may change (repeatable); restored at the end",
    )  # fmt: skip
    p.add_argument(
        "--seed", type=_bounded(int, 0, 2**32 - 1, "whole number"), default=None, metavar="N",
        help="one seed for every phase, to replay a run (default: random, reported)",
    )  # fmt: skip
    p.add_argument(
        "--max-examples", type=_bounded(int, 1, 100_000, "whole number"), default=100, metavar="N",
        help="conformance: Hypothesis examples per property (default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--scenario", default="toggle", choices=sorted(SCENARIOS), help="load scenario (default: toggle)")
    p.add_argument(
        "--users", type=_bounded(int, 1, 100_000, "whole number"), default=10, metavar="N",
        help="load: concurrent users (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--duration", type=_duration, default=20.0, metavar="TIME", help="load: how long, e.g. 20s (default: 20s)"
    )
    p.add_argument(
        "--rate", type=_bounded(float, 0.1, 1_000_000, "number"), default=None, metavar="R",
        help="load: arrival-rate mode, R operations per second (default: closed loop)",
    )  # fmt: skip
    p.add_argument(
        "--slo", action="append", default=[], metavar="GATE",
        help="load gate, repeatable (default: error_rate<1%% and e2e:p99<1s)",
    )  # fmt: skip
    p.add_argument(
        "--skip", action="append", default=[], choices=("contract", "load", "drift"),
        help="leave a phase out (repeatable)",
    )  # fmt: skip
    p.add_argument("--reports", default="reports", metavar="DIR", help="where run directories go (default: reports)")
    _add_timing(p)
    _add_tls(p)
    p.add_argument("--quiet", action="store_true", help="phase lines and the verdict only")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    _require_password(args)
    for gate in args.slo:
        parse_gate(gate)  # a bad gate is a usage error now, not after the conformance phase
    result = run_all(
        RunAll(
            reports=Path(args.reports),
            target=args.target,
            dialect=args.dialect,
            account=args.account,
            password_env=args.password_env,
            password_file=args.password_file,
            images=tuple(args.image),
            seed=args.seed,
            max_examples=int(args.max_examples),
            scenario=args.scenario,
            users=int(args.users),
            duration=float(args.duration),
            rate=args.rate,
            slo=tuple(args.slo) or DEFAULT_GATES,
            skip=tuple(args.skip),
            ca_bundle=args.ca_bundle,
            insecure=args.insecure,
            quiet=args.quiet,
            timeout=float(args.timeout),
            timing=args.timing,
        ),
        progress=progress_printer(),
    )
    return result.exit_code


def _add_drift(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "drift",
        help="show where a target departs from the published API page",
        description="Send the published page's request and the server's request, and list point by point where "
        "the target departs from the page (body key, synchronous vs api-job, success field, status of business "
        "failures, ...). Exit 0 when there is no drift, 1 when there is, 2 when it could not run.",
        epilog="examples:\n  zscheck drift\n  ZSCHECK_PASSWORD=... zscheck drift --target http://10.0.0.5:8080 "
        "--image 0f3e...",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--target",
        default=None,
        metavar="URL",
        help="ZStack management node (default: the embedded reference server, rest dialect)",
    )
    _add_credentials(p)
    p.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="UUID",
        help="an existing image drift may change (restored at the end); default: create one",
    )
    p.add_argument(
        "--report-dir",
        default=None,
        metavar="DIR",
        help="where drift.json and the journal go (default: reports/drift-<UTC time>)",
    )
    _add_tls(p)
    p.set_defaults(func=_cmd_drift)


def _cmd_drift(args: argparse.Namespace) -> int:
    result = run_drift(
        ContractConfig(
            report_dir=Path(args.report_dir or f"reports/drift-{_utc_stamp()}"),
            target=args.target,
            account=args.account,
            password=_read_password(args),
            images=tuple(args.image),
            create_images=0 if args.image else 1,
            verify=args.ca_bundle or not args.insecure,
            timeout=float(args.timeout),
        )
    )
    print(render(result.points, result.target), end="")
    for problem in result.restore_problems:
        print(f"zscheck drift: RESTORE FAILED: {problem}", file=sys.stderr)
    return result.exit_code


def _add_restore(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "restore",
        help="finish an interrupted run's restore from its journal",
        description="Put every image a run changed back as it was, from the run's journal.jsonl. Safe to run "
        "twice. Created images are deleted and expunged; given images get their original state back.",
        epilog="examples:\n  zscheck restore reports/load-20261128T120000Z/journal.jsonl\n"
        "  ZSCHECK_PASSWORD=... zscheck restore reports/latest/contract/journal.jsonl --target http://10.0.0.5:8080\n\n"
        "exit codes: 0 everything restored (or nothing to do), 2 something could not be restored.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("journal", metavar="JOURNAL", help="the run's journal.jsonl")
    p.add_argument(
        "--target",
        default=None,
        metavar="URL",
        help="must match the journal's target if given (default: the journal's target)",
    )
    _add_credentials(p)
    _add_tls(p)
    p.set_defaults(func=_cmd_restore)


def _read_password(args: argparse.Namespace) -> str | None:
    return read_password(args.password_env, args.password_file)


def _cmd_restore(args: argparse.Namespace) -> int:
    journal = Journal.load(Path(args.journal))
    assert journal.target is not None
    if args.target is not None and args.target.rstrip("/") != journal.target.rstrip("/"):
        raise ConfigError(
            f"journal {args.journal} belongs to {journal.target}, not {args.target}: refusing to touch another "
            "target's images"
        )
    pending = journal.pending()
    if not pending:
        print(f"zscheck restore: nothing to do, every image in {args.journal} is already restored")
        return EXIT_OK
    password = _read_password(args)
    if password is None:
        raise ConfigError(f"no password: set {args.password_env} or pass --password-file FILE")
    verify: bool | str = args.ca_bundle or not args.insecure
    report = restore_from(Path(args.journal), args.account, password, verify=verify, timeout=float(args.timeout))
    for uuid in report.restored:
        print(f"restored {uuid}")
    for uuid, why in report.failed.items():
        print(f"FAILED {uuid}: {why}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_CANNOT_RUN


def _duration(text: str) -> float:
    """`30s`, `2m`, `1h30m` or plain seconds, as locust writes them."""
    match = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", text.strip())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: write e.g. 30s, 2m, 1h30m or 45")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not 1 <= total <= 7 * 86400:
        raise argparse.ArgumentTypeError(f"{text} is out of range: a run lasts from 1 s to 7 days")
    return total


_LOAD_EPILOG = """\
scenarios:
{scenarios}

examples:
  zscheck load                                        # toggle, 10 users, 30 s, embedded server
  zscheck load --scenario contention --users 50 --duration 1m
  zscheck load --rate 200 --users 50 --slo 'e2e:p99<250ms' --slo 'error_rate<0.1%'
  zscheck load --processes 2 --users 100 --slo 'rps>=500'
  zscheck load --target http://10.0.0.5:8080 --image UUID --image UUID --users 2
  zscheck load --fault lost-update-race --scenario contention   # watch the history check catch it
  zscheck load --timing realistic                     # the embedded server's jobs timed like a real node's
  zscheck load --fault drop-connections               # a dropped connection is a violation, never re-sent

gates (--slo): [operation:]metric comparison value. Metrics: p50 p90 p95 p99 p99.9 max mean (with us, ms
or s), error_rate (% or fraction), rps. Operations: put, job, e2e, query, invalid, and per event or kind
(e2e.enable, invalid.bad-event); none means every user-level operation (e2e, query, invalid) together.

exit codes: 0 every check, gate and history passed, 1 violations found, 2 could not run.
reports: summary.json, locust.html, locust_*.csv, plan.json and journal.jsonl in --report-dir.
"""


def _add_load_options(p: argparse.ArgumentParser, *, capacity: bool) -> None:
    p.add_argument("--target", default=None, metavar="URL", help="ZStack management node (default: embedded server)")
    p.add_argument(
        "--scenario", default="toggle", choices=sorted(SCENARIOS), help="what the users do (default: toggle)"
    )
    p.add_argument("--dialect", choices=("rest", "documented"), default="rest", help="(default: %(default)s)")
    _add_credentials(p)
    p.add_argument(
        "--users",
        type=_bounded(int, 1, 100_000, "whole number"),
        default=10,
        metavar="N",
        help="concurrent users (default: %(default)s)"
        + ("; with --by rate, the users that carry each rate" if capacity else ""),
    )
    p.add_argument(
        "--spawn-rate",
        type=_bounded(float, 0.01, 10_000, "number"),
        default=None,
        metavar="R",
        help="users started per second (default: all within a second)",
    )
    p.add_argument(
        "--rate",
        type=_bounded(float, 0.1, 1_000_000, "number"),
        default=None,
        metavar="R",
        help="arrival-rate mode: R operations per second in total, each timed from its intended start "
        "(open model; counts late starts) (default: closed loop, as fast as answers come)",
    )
    p.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar="GATE",
        help="a gate such as 'p99<250ms', 'error_rate<0.1%%', 'rps>=200', 'job:p99.9<=1s' (repeatable)",
    )
    p.add_argument(
        "--processes",
        type=_bounded(int, 1, 256, "whole number"),
        default=1,
        metavar="N",
        help="load-generating processes on this machine (locust --processes) (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=_bounded(int, 0, 2**32 - 1, "whole number"),
        default=None,
        metavar="N",
        help="seed for the users' choices (default: random, reported)",
    )
    p.add_argument(
        "--report-dir", default=None, metavar="DIR", help="where reports go (default: reports/<command>-<UTC time>)"
    )
    p.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="UUID",
        help="target only: an existing image the run may change (repeatable); restored at the end",
    )
    p.add_argument(
        "--images-per-user",
        type=_bounded(int, 1, 100, "whole number"),
        default=1,
        metavar="N",
        help="fixture images each user owns (default: %(default)s)",
    )
    p.add_argument(
        "--hot-images",
        type=_bounded(int, 1, 100, "whole number"),
        default=2,
        metavar="N",
        help="contention: images everyone fights over (default: %(default)s)",
    )
    p.add_argument(
        "--query-ratio",
        type=_bounded(float, 0, 1, "number"),
        default=0.5,
        metavar="F",
        help="mixed: share of queries (default: %(default)s)",
    )
    p.add_argument(
        "--error-ratio",
        type=_bounded(float, 0, 1, "number"),
        default=0.25,
        metavar="F",
        help="errors: share of invalid requests (default: %(default)s)",
    )
    p.add_argument(
        "--read-after-write",
        type=_bounded(float, 0, 1, "number"),
        default=0.25,
        metavar="F",
        help="share of acknowledged changes of a user's own image that the user reads back at once "
        "(read-your-writes; 0 turns it off) (default: %(default)s)",
    )
    _add_timing(p)
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        choices=sorted(ALL_FAULTS),
        metavar="NAME",
        help="embedded server only: start it with this fault mode (repeatable; see `zscheck faults`)",
    )
    if not capacity:
        p.add_argument(
            "--master",
            action="store_true",
            help="run locust's master only; workers join from other machines (see README)",
        )
        p.add_argument(
            "--expect-workers",
            type=_bounded(int, 1, 1000, "whole number"),
            default=1,
            metavar="N",
            help="with --master: workers to wait for (default: %(default)s)",
        )
        p.add_argument(
            "--master-bind-port",
            type=_bounded(int, 1, 65535, "port number"),
            default=5557,
            metavar="PORT",
            help="with --master: port the workers connect to (default: %(default)s)",
        )
        p.add_argument(
            "--master-bind-host",
            default="*",
            metavar="ADDR",
            help="with --master: the interface workers connect to (default: all)",
        )
        p.add_argument(
            "--clock-skew",
            type=_bounded(float, 0, 10, "number of seconds"),
            default=0.0,
            metavar="S",
            help="with workers on other machines: their clocks' worst disagreement (default: 0)",
        )
    _add_tls(p)


def _load_run(args: argparse.Namespace, command: str) -> LoadRun:
    _require_password(args)
    return LoadRun(
        report_dir=Path(args.report_dir or f"reports/{command}-{_utc_stamp()}"),
        scenario=args.scenario,
        target=args.target,
        dialect=args.dialect,
        account=args.account,
        password_env=args.password_env,
        password_file=args.password_file,
        users=int(args.users),
        spawn_rate=args.spawn_rate,
        duration=float(getattr(args, "duration", 30.0)),
        rate=args.rate,
        slo=tuple(args.slo),
        processes=int(args.processes),
        seed=None if args.seed is None else int(args.seed),
        images=tuple(args.image),
        images_per_user=int(args.images_per_user),
        hot_images=int(args.hot_images),
        query_ratio=float(args.query_ratio),
        error_ratio=float(args.error_ratio),
        read_after_write=float(args.read_after_write),
        timing=str(args.timing),
        faults=tuple(args.fault),
        master=bool(getattr(args, "master", False)),
        expect_workers=int(getattr(args, "expect_workers", 1)),
        master_bind_port=int(getattr(args, "master_bind_port", 5557)),
        master_bind_host=str(getattr(args, "master_bind_host", "*")),
        clock_skew=float(getattr(args, "clock_skew", 0.0)),
        ca_bundle=args.ca_bundle,
        insecure=args.insecure,
        timeout=float(args.timeout),
    )


def _add_load(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "load",
        help="load-test state changes with locust; check every answer, the history and the SLO gates",
        description="Drive ChangeImageState with locust users, judge every answer with the conformance checks, "
        "check each image's history for linearizability, and hold the --slo gates. Fixture images are "
        "created (or named with --image) and restored at the end.",
        epilog=_LOAD_EPILOG.format(scenarios="\n".join(f"  {k:11} {v}" for k, v in SCENARIOS.items())),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_load_options(p, capacity=False)
    p.add_argument(
        "--duration",
        type=_duration,
        default=30.0,
        metavar="TIME",
        help="how long the load runs, e.g. 30s, 2m (default: 30s)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines: the verdict only")
    p.set_defaults(func=lambda args: run_load(_load_run(args, "load"), progress=_quiet_or_live(args.quiet)))


_CAPACITY_EPILOG = """\
examples:
  zscheck capacity --slo 'e2e:p99<100ms' --start 5 --step 5 --stop 50          # users 5, 10, ... 50
  zscheck capacity --by rate --users 64 --start 100 --step 100 --stop 2000 --slo 'e2e:p99<50ms'

Each step is a locust run of --step-duration; the search stops at the first step that breaks a gate or
shows a violation. The knee is the highest throughput of a step that met every gate with no violation.
exit codes: 0 knee found, 1 violations found (or no step met the gates), 2 could not run.
reports: capacity.json (the table of steps and the knee) and one directory per step in --report-dir.
"""


def _add_capacity(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "capacity",
        help="raise the load in steps until a gate breaks; report the knee",
        description="Find the saturation point: run the scenario at increasing users (or arrival rates) "
        "until an --slo gate breaks, and report the highest throughput sustained with every gate met.",
        epilog=_CAPACITY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_load_options(p, capacity=True)
    p.add_argument("--by", choices=("users", "rate"), default="users", help="what each step raises (default: users)")
    p.add_argument("--start", type=_bounded(float, 0.1, 1e6, "number"), default=5, help="first step (default: 5)")
    p.add_argument("--step", type=_bounded(float, 0.1, 1e6, "number"), default=5, help="increment (default: 5)")
    p.add_argument("--stop", type=_bounded(float, 0.1, 1e6, "number"), default=50, help="last step (default: 50)")
    p.add_argument(
        "--step-duration", type=_duration, default=10.0, metavar="TIME", help="each step's length (default: 10s)"
    )
    p.set_defaults(
        func=lambda args: run_capacity(
            _load_run(args, "capacity"),
            progress=progress_printer(),
            start=args.start,
            step=args.step,
            stop=args.stop,
            step_duration=args.step_duration,
            by_rate=args.by == "rate",
        )
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zscheck",
        description="Contract and load testing for ZStack's ChangeImageState API. "
        "Exit codes: 0 conformant, 1 violations found, 2 could not run.",
    )
    parser.add_argument("--version", action="version", version=f"zscheck {__version__}")
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="configuration file (default: ./zscheck.toml, else [tool.zscheck] in ./pyproject.toml)",
    )
    parser.add_argument(
        "--profile", default=None, metavar="NAME", help="apply [profiles.NAME] of the configuration file"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve(sub)
    faults = sub.add_parser(
        "faults",
        help="list the reference server's deliberate fault modes",
        description="List the fault modes of `zscheck serve --fault NAME` (and of contract, load and run's "
        "embedded server with --fault NAME).",
        epilog="examples:\n  zscheck faults\n  zscheck contract --fault disable-noop\n"
        "  zscheck load --scenario contention --fault lost-update-race",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    faults.set_defaults(func=_cmd_faults)
    _add_run(sub)
    _add_contract(sub)
    _add_drift(sub)
    _add_load(sub)
    _add_capacity(sub)
    _add_restore(sub)
    _add_config(sub)
    return parser


def _cmd_faults(args: argparse.Namespace) -> int:
    width = max(map(len, ALL_FAULTS))
    print("contract faults (caught by `zscheck contract`; one sequential client sees them):")
    for name, (area, what) in FAULTS.items():
        print(f"  {name:<{width}}  {area:<17}  {what}")
    print("load faults (caught by `zscheck load`: its gates or its linearizability check; they need concurrency):")
    for name, (area, what) in LOAD_FAULTS.items():
        print(f"  {name:<{width}}  {area:<17}  {what}")
    return EXIT_OK


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _with_configuration(
    parser: argparse.ArgumentParser, argv: list[str], args: argparse.Namespace
) -> argparse.Namespace:
    """Re-read the command's options with the environment and the configuration file filling the gaps."""
    command = args.command
    rest = argv[argv.index(command) + 1 :]
    resolved, _ = resolve(_subparsers(parser)[command], rest, command, config_file=args.config, profile=args.profile)
    for name in ("command", "config", "profile"):
        setattr(resolved, name, getattr(args, name))
    return resolved


def _add_config(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "config",
        help="print the effective configuration of a command, and where each value comes from",
        description="Show what a command would run with: each option's value and its source (command line, "
        "ZSCHECK_* environment variable, zscheck.toml or [tool.zscheck] in pyproject.toml, or the default). "
        "Secrets are never shown: only which variable or file holds the password, and whether it is set.",
        epilog="examples:\n  zscheck config run\n  zscheck --profile release config contract\n"
        "  ZSCHECK_USERS=50 zscheck config load --duration 2m",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("for_command", metavar="COMMAND", nargs="?", default="run", help="the command (default: run)")
    p.add_argument("options", nargs=argparse.REMAINDER, help="that command's options, as you would give them")
    p.set_defaults(func=_cmd_config)


def _cmd_config(args: argparse.Namespace) -> int:
    parser = build_parser()
    commands = _subparsers(parser)
    if args.for_command not in commands or args.for_command == "config":
        choices = ", ".join(c for c in commands if c != "config")
        raise ConfigError(f"zscheck config {args.for_command}: not a command; choose one of {choices}")
    _, settings = resolve(
        commands[args.for_command], list(args.options), args.for_command, config_file=args.config, profile=args.profile
    )
    width = max(map(len, settings))
    print(f"zscheck {args.for_command}: effective configuration")
    for dest, setting in sorted(settings.items()):
        if dest == "password":
            continue
        print(f"  {dest.replace('_', '-'):<{width}}  {_masked(dest, setting.value):<40}  ({setting.source})")
    env = settings.get("password_env")
    if env is not None:
        state = "set" if str(env.value) in os.environ else "not set"
        print(f"  password: from ${env.value} ({state}; never shown)", end="")
        print(
            f", or the file {settings['password_file'].value}"
            if settings.get("password_file", Setting(None, "")).value
            else ""
        )
    return EXIT_OK


def _masked(dest: str, value: object) -> str:
    """A value as `zscheck config` shows it: user:password@ in URLs is masked."""
    text = "" if value is None else str(value)
    return re.sub(r"//[^/@]+@", "//***@", text)


_TICK = re.compile(r"^load: +\d+/\d+ s")  # the load run's once-every-5-seconds progress line


def _quiet_or_live(quiet: bool) -> Callable[[str], None]:
    printer = progress_printer()
    return (lambda line: printer(line) if line.startswith("zscheck:") else None) if quiet else printer


def progress_printer(stream: TextIO | None = None) -> Callable[[str], None]:
    """Progress lines: on a terminal the ticking load line is redrawn in place; elsewhere (CI logs, pipes)
    every line is a plain line of its own."""
    out = stream or sys.stdout
    if not out.isatty():
        return lambda line: print(line, file=out, flush=True)
    live = [False]

    def show(line: str) -> None:
        if _TICK.match(line):
            print("\r\033[K" + line, end="", file=out, flush=True)
            live[0] = True
            return
        if live[0]:
            print(file=out)
            live[0] = False
        print(line, file=out, flush=True)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_CANNOT_RUN
    try:
        if args.command != "config":
            args = _with_configuration(parser, argv, args)
        code: int = args.func(args)
    except ZscheckError as exc:
        print(f"zscheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        print(f"zscheck {args.command}: interrupted", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return code
