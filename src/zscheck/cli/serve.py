"""`zscheck serve`: the embedded reference server as a program of its own."""

from __future__ import annotations

import argparse
import os
import sys

from zscheck import options
from zscheck.cli.common import EXIT_CANNOT_RUN, EXIT_OK, Subparsers
from zscheck.options import bounded
from zscheck.refserver.server import Limits, ServeError, ServerConfig, default_db_path, serve
from zscheck.target import TargetOptions

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


def register(sub: Subparsers) -> None:
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
        type=bounded(int, 0, 65535, "port number"),
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
    p.add_argument("--dialect", **options.TARGET["dialect"].kwargs("serve"))
    p.add_argument(
        "--seed-images",
        type=bounded(int, 0, 100_000, "whole number"),
        default=16,
        metavar="N",
        help="images created on the first start of a new database (default: %(default)s)",
    )
    p.add_argument(
        "--session-timeout",
        type=bounded(float, 0.1, None, "number of seconds"),
        default=7200.0,
        metavar="SECONDS",
        help="sliding session lifetime (default: %(default)s, as ZStack)",
    )
    p.add_argument(
        "--job-delay",
        type=bounded(float, 0.0, 3600, "number of seconds"),
        default=0.0,
        metavar="SECONDS",
        help="how long each api-job stays processing (polls answer 202 {}) (default: %(default)s)",
    )
    p.add_argument(
        "--job-ttl",
        type=bounded(float, 1.0, None, "number of seconds"),
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
    p.add_argument("--fault", **options.EMBEDDED["fault"].kwargs("serve"))
    limits = Limits()
    for flag, default, rule, what in (
        ("--max-url-bytes", limits.max_url, "414", "bytes of request target (path and query)"),
        ("--max-header-bytes", limits.max_headers, "431", "bytes of header names and values"),
        ("--max-body-bytes", limits.max_body, "413", "bytes of request body (chunked included)"),
    ):
        p.add_argument(
            flag,
            type=bounded(int, 256, 1 << 30, "whole number of bytes"),
            default=default,
            metavar="BYTES",
            help=f"most {what} a request may send; more is answered {rule} (default: %(default)s)",
        )
    for flag, seconds, what in (
        ("--request-timeout", limits.request_timeout, "a request may take to arrive, first byte to last; "
         "more is answered 408 (a client dripping bytes holds no connection)"),
        ("--idle-timeout", limits.idle_timeout, "a keep-alive connection may sit with nothing asked before "
         "it is closed"),
    ):  # fmt: skip
        p.add_argument(
            flag,
            type=_seconds,
            default=seconds,
            metavar="SECONDS",
            help=f"most seconds {what} (default: %(default)s)",
        )
    p.add_argument(
        "--fsync", action="store_true", help="fsync every commit: survive power loss, not only a crash (slower)"
    )
    p.set_defaults(func=_cmd_serve)


def _seconds(text: str) -> float:
    """A timeout from 0.1 s to a day; nan and inf are not numbers of seconds."""
    value = bounded(float, 0.1, 86400.0, "number of seconds")(text)
    if value != value:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return float(value)


def _cmd_serve(args: argparse.Namespace) -> int:
    TargetOptions(faults=tuple(args.fault)).validate()  # the fault names, checked where every command checks them
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
        limits=Limits(
            max_url=args.max_url_bytes,
            max_headers=args.max_header_bytes,
            max_body=args.max_body_bytes,
            request_timeout=args.request_timeout,
            idle_timeout=args.idle_timeout,
        ),
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
