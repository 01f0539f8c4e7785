"""The `zscheck` command. Thin: parse, call the library, print, exit.

Exit codes, for every command: 0 conformant (or clean shutdown), 1 violations found, 2 could not run.
Nothing below this module prints or exits; it raises `ZscheckError`s that become one line here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from zscheck import __version__
from zscheck.errors import ZscheckError
from zscheck.refserver.server import ServeError, ServerConfig, default_db_path, serve

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
        "--tenant",
        default="tenant",
        metavar="NAME",
        help="name of the normal account that owns some images (default: %(default)s)",
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
    )

    def ready(url: str) -> None:
        print(f"zscheck reference server ({config.dialect} dialect) listening on {url}", flush=True)
        print(f"  api: {url}/zstack/v1   data: {config.db}   stop: Ctrl-C", flush=True)

    try:
        serve(config, on_ready=ready)
    except ServeError as exc:
        print(f"zscheck serve: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    print("zscheck reference server stopped", flush=True)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zscheck",
        description="Contract and load testing for ZStack's ChangeImageState API. "
        "Exit codes: 0 conformant, 1 violations found, 2 could not run.",
    )
    parser.add_argument("--version", action="version", version=f"zscheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_CANNOT_RUN
    try:
        code: int = args.func(args)
    except ZscheckError as exc:
        print(f"zscheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        print(f"zscheck {args.command}: interrupted", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return code
