"""Every option of every command, declared once: its flag, kind, range, default and help.

The CLI builds each command's parser from the groups it takes (`add_groups`); the pytest plugin registers
the same declarations as `--zs-*` options (`add_pytest_options`), so `pytest contracts` and `zscheck
contract` cannot drift apart (they did: 40 against 100 examples, both called "the nightly profile"). The
values then become the typed run descriptions (`TargetOptions`, `ContractPlan`, `LoadRun`, ...) in one
place each (`target_options`, `contract_plan`, ...), and those validate themselves.
"""

from __future__ import annotations

import argparse
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zscheck.conformance.plan import DEFAULT_SHRINK_BUDGET, DEFAULT_WORKERS, NIGHTLY_MAX_EXAMPLES, ContractPlan
from zscheck.load.plan import SCENARIOS
from zscheck.target import DEFAULT_IMAGE_URL, DIALECTS, TIMINGS, TargetOptions

Get = Callable[[str], Any]  # an option's value by its name (argparse's dest)
RUN_GATES = ("error_rate<1%", "e2e:p99<1s")  # the gates `zscheck run` holds when none is given


def bounded(kind: Callable[[str], float], low: float, high: float | None, what: str) -> Callable[[str], Any]:
    """An argparse type that says the value, the rule and an example when the value is out of range."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {what}") from None
        if not math.isfinite(value):  # nan passes every comparison; inf is no bound
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite {what}: give e.g. {low if low else 1}")
        if value < low or (high is not None and value > high):
            upper = f" and at most {high}" if high is not None else ""
            raise argparse.ArgumentTypeError(f"{text} is out of range: it must be at least {low}{upper}")
        return value

    return parse


def duration(text: str) -> float:
    """`30s`, `2m`, `1h30m` or plain seconds, as locust writes them."""
    match = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", text.strip())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: write e.g. 30s, 2m, 1h30m or 45")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not 1 <= total <= 7 * 86400:
        raise argparse.ArgumentTypeError(f"{text} is out of range: a run lasts from 1 s to 7 days")
    return total


SEED = bounded(int, 0, 2**32 - 1, "whole number")
SECONDS = bounded(float, 0.1, 3600, "number of seconds")
SHARE = bounded(float, 0, 1, "number")


class _RefusePlainPassword(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        parser.error(
            "--password is not accepted: a password on the command line lands in shell history and process "
            "lists. Put it in ZSCHECK_PASSWORD, or name a variable with --password-env VAR or a file with "
            "--password-file FILE"
        )


@dataclass(frozen=True)
class Option:
    flag: str  # the long flag without dashes: "max-examples"
    help: str
    default: Any = None
    kind: Callable[[str], Any] | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    action: str | type[argparse.Action] | None = None  # "append", "store_true", ...
    defaults: Mapping[str, Any] = field(default_factory=dict)  # a command whose default differs
    nargs: str | None = None
    pytest: bool = True  # also a `--zs-*` option of the pytest plugin
    cli: bool = True  # an option of the commands (False: the pytest plugin's only)

    @property
    def dest(self) -> str:
        return self.flag.replace("-", "_")

    def default_for(self, command: str) -> Any:
        return self.defaults.get(command, self.default)

    def kwargs(self, command: str) -> dict[str, Any]:
        out: dict[str, Any] = {"help": self.help, "dest": self.dest}
        if self.action is not None:
            out["action"] = self.action
        if self.action == "append":
            out["default"] = list(self.default_for(command) or [])
        elif self.action != "store_true":
            out["default"] = self.default_for(command)
        for key, value in (
            ("type", self.kind),
            ("metavar", self.metavar),
            ("choices", self.choices),
            ("nargs", self.nargs),
        ):
            if value is not None:
                out[key] = value
        return out


def _options(*options: Option) -> dict[str, Option]:
    return {o.dest: o for o in options}


TARGET = _options(
    Option("target", "ZStack management node, e.g. http://10.0.0.5:8080 (default: start the embedded reference "
           "server on a free port)", metavar="URL"),
    Option("dialect", "what a correct answer looks like: rest (ZStack's REST server: 202 + api-job) or documented "
           "(the published page, literally) (default: %(default)s)", "rest", choices=DIALECTS),
    Option("account", "account to log in as (default: %(default)s)", "admin", metavar="NAME"),
    Option("password", argparse.SUPPRESS, action=_RefusePlainPassword, nargs="?", pytest=False),
    Option("password-env", "environment variable holding the password (default: %(default)s; the embedded server "
           "needs none)", "ZSCHECK_PASSWORD", metavar="VAR"),
    Option("password-file", "file holding the password", metavar="FILE"),
    Option("image", "an existing image the run may change (repeatable); restored at the end", metavar="UUID",
           action="append"),
    Option("timeout", "seconds any one request may take to connect or to answer (default: %(default)s)", 30.0,
           SECONDS, "SECONDS"),
    Option("ca-bundle", "CA bundle that signed an HTTPS target", metavar="FILE"),
    Option("insecure", "do not verify an HTTPS target's certificate", action="store_true"),
)  # fmt: skip

FIXTURES = _options(
    Option("tenant", "a normal account for the ownership rules, its password in ZSCHECK_TENANT_PASSWORD "
           "(default: the run creates one and deletes it at the end)", metavar="NAME"),
    Option("backup-storage", "backup storage for fixture images (default: the first connected one)",
           metavar="UUID"),
    Option("image-url", "URL AddImage downloads fixture images from (default: %(default)s)", DEFAULT_IMAGE_URL,
           metavar="URL"),
)  # fmt: skip

EMBEDDED = _options(
    Option("timing", "embedded server only: its api-jobs finish at once (instant), or after delays like a real "
           "node's, tens to hundreds of milliseconds with a tail, seeded by the run's seed (realistic) "
           "(default: %(default)s)", "instant", choices=TIMINGS),
    Option("timing-seed", "the seed of the realistic delays (default: the run's seed; the commands always use it)",
           kind=int, metavar="N", cli=False),
    Option("fault", "embedded server only: start it with this fault mode, to watch a check catch it "
           "(repeatable; `zscheck faults` lists them)", metavar="NAME", action="append"),
)  # fmt: skip

RUN = _options(
    Option("seed", "replay a run: the same seed sends the same requests (default: random, reported)",
           kind=SEED, metavar="N", pytest=False),  # pytest has --hypothesis-seed
    Option("report-dir", "where reports go (default: reports/<command>-<UTC time>)", metavar="DIR"),
    Option("quiet", "the verdict only (and its violations, one line each): no progress, phase lines or summaries; "
           "the reports have everything", action="store_true", pytest=False),
    Option("events", "also write every progress event and the verdict to FILE, one JSON object per line",
           metavar="FILE", pytest=False),
)  # fmt: skip

CONTRACT = _options(
    Option("max-examples", "Hypothesis examples per property (default: %(default)s, the nightly profile)",
           NIGHTLY_MAX_EXAMPLES, bounded(int, 1, 100_000, "whole number"), "N"),
    Option("create-images", "fixture images to create with AddImage (default: as many as --workers, so that "
           "the state machine runs one lane per image)", kind=bounded(int, 0, 50, "whole number"), metavar="N"),
    Option("poll-deadline", "how long an api-job may stay processing before that counts as a violation "
           "(default: 10; 1 for the instant embedded server)", kind=SECONDS, metavar="SECONDS"),
    Option("no-shrink", "report each failing example as found instead of searching for the shortest one: a "
           "faster verdict against a broken build, with longer reproducers", action="store_true"),
    Option("shrink-budget", "time the run's failing tests may spend, together, searching for their shortest "
           "forms; the verdict says when the budget cut one short (default: %(default)s)", DEFAULT_SHRINK_BUDGET,
           bounded(float, 1, 3600, "number of seconds"), "SECONDS"),
    Option("no-schemathesis-report", "skip schemathesis' own JUnit and HAR beside zscheck's reports (informational, "
           "never the verdict): about 10 s less a run", action="store_true", pytest=False),
    Option("workers", "independent probes in flight at once, a load a management node carries easily; each "
           "image's own sequence stays in order (default: %(default)s)", DEFAULT_WORKERS,
           bounded(int, 1, 64, "whole number"), "N"),
)  # fmt: skip

# contract's and load's: one file may hold the findings of both, each entry naming its command
KNOWN = _options(
    Option("baseline", "known findings (TOML, written by --baseline-update): reported, but they do not fail "
           "the run; new ones and ones past their `expires` date do; those no longer seen are listed as fixed. "
           "Entries name their command (contract or load): each command matches and rewrites its own",
           metavar="FILE"),
    Option("baseline-update", "write --baseline FILE from this run's findings, keeping each entry's reason "
           "and expiry (and the other command's entries)", action="store_true"),
)  # fmt: skip

LOAD = _options(
    Option("scenario", "what the users do (default: %(default)s)", "toggle", choices=tuple(sorted(SCENARIOS))),
    Option("users", "concurrent users; with capacity --by rate, the users that carry each rate "
           "(default: %(default)s)", 10, bounded(int, 1, 100_000, "whole number"), "N"),
    Option("spawn-rate", "users started per second (default: all within a second)",
           kind=bounded(float, 0.01, 10_000, "number"), metavar="R"),
    Option("rate", "arrival-rate mode: R operations per second in total, each timed from its intended start "
           "(open model; counts late starts) (default: closed loop, as fast as answers come)",
           kind=bounded(float, 0.1, 1_000_000, "number"), metavar="R"),
    Option("slo", "a gate such as 'p99<250ms', 'error_rate<0.1%%', 'rps>=200', 'job:p99.9<=1s' (repeatable; "
           "`zscheck run` holds error_rate<1%% and e2e:p99<1s unless one is given)", metavar="GATE",
           action="append", defaults={"run": list(RUN_GATES)}),
    Option("duration", "how long the load runs, e.g. 30s, 2m (default: 30s; 20s in `zscheck run`)", 30.0,
           duration, "TIME", defaults={"run": 20.0}),
    Option("processes", "load-generating processes on this machine (locust --processes) (default: %(default)s)",
           1, bounded(int, 1, 256, "whole number"), "N"),
    Option("images-per-user", "fixture images each user owns (default: %(default)s)", 1,
           bounded(int, 1, 100, "whole number"), "N"),
    Option("hot-images", "contention: images everyone fights over (default: %(default)s)", 2,
           bounded(int, 1, 100, "whole number"), "N"),
    Option("query-ratio", "mixed: share of queries (default: %(default)s)", 0.5, SHARE, "F"),
    Option("error-ratio", "errors: share of invalid requests (default: %(default)s)", 0.25, SHARE, "F"),
    Option("read-after-write", "share of acknowledged changes of a user's own image that the user reads back at "
           "once (read-your-writes; 0 turns it off) (default: %(default)s)", 0.25, SHARE, "F"),
)  # fmt: skip

DISTRIBUTED = _options(
    Option("master", "run locust's master only; workers join from other machines (see README)",
           action="store_true"),
    Option("expect-workers", "with --master: workers to wait for (default: %(default)s)", 1,
           bounded(int, 1, 1000, "whole number"), "N"),
    Option("master-bind-port", "with --master: port the workers connect to (default: %(default)s)", 5557,
           bounded(int, 1, 65535, "port number"), "PORT"),
    Option("master-bind-host", "with --master: the interface workers connect to (default: all)", "*",
           metavar="ADDR"),
    Option("clock-skew", "with workers: clock drift allowed in the run, beyond the offsets measured (default: 0)", 0.0,
           bounded(float, 0, 10, "number of seconds"), "S"),
)  # fmt: skip

CAPACITY = _options(
    Option("by", "what each step raises (default: %(default)s)", "users", choices=("users", "rate")),
    Option("start", "first step (default: %(default)s)", 5.0, bounded(float, 0.1, 1e6, "number")),
    Option("step", "increment (default: %(default)s)", 5.0, bounded(float, 0.1, 1e6, "number")),
    Option("stop", "last step (default: %(default)s)", 50.0, bounded(float, 0.1, 1e6, "number")),
    Option("step-duration", "each step's length (default: 10s)", 10.0, duration, "TIME"),
    Option("refine", "bisect between the last good and the first bad step, so the knee is not a step-size "
           "artefact (at most as many more runs as the steps took)", action="store_true"),
    Option("repeat", "runs of each step, for a 95%% interval on every point (default: %(default)s)", 1,
           bounded(int, 1, 20, "whole number"), "K"),
)  # fmt: skip

ALL_IN_ONE = _options(
    Option("skip", "leave a phase out (repeatable)", choices=("contract", "load", "drift"), action="append"),
    Option("reports", "where run directories go (default: %(default)s)", "reports", metavar="DIR"),
)  # fmt: skip

# The run store and what reads it (issue 13; zscheck.history). The store is also a ZSCHECK_STORE or a
# `store = "postgresql://..."` key, so that every CI job of a pipeline shares one history.
STORE = _options(
    Option("store", "where runs are recorded and read: an SQLite file, or a postgresql:// URL; `off` records "
           "nothing (default: reports/history.sqlite)", metavar="PATH|URL", pytest=False),
)  # fmt: skip

COMPARE = _options(
    Option("last", "compare the newest N stored runs of each side (BASE and CANDIDATE name a target URL or "
           "`embedded`) instead of one run each (default: one)", kind=bounded(int, 1, 1000, "whole number"),
           metavar="N", pytest=False),
    Option("max-regression", "exit 1 when a metric is significantly worse by more than this, e.g. 5%% "
           "(default: any significant regression is reported, none fails)", metavar="PCT", pytest=False),
    Option("equivalence", "prove instead: no regression larger than --max-regression (TOST), at 1-alpha",
           action="store_true", pytest=False),
    Option("alpha", "significance level of the tests (default: %(default)s)", 0.05,
           bounded(float, 0.0001, 0.5, "number"), "A", pytest=False),
    Option("html", "also write the comparison (or the trend) as an HTML page to FILE", metavar="FILE",
           pytest=False),
    Option("json", "also write the comparison (or the trend) as JSON to FILE", metavar="FILE", pytest=False),
)  # fmt: skip

TREND = _options(
    Option("fail-on-change", "exit 1 when the newest run of a series is on the far side of a change point that "
           "made it worse, and the canary did not change with it (a nightly gate)", action="store_true",
           pytest=False),
    Option("max-pvalue", "significance a change point must reach (default: %(default)s, as Apache Otava's)",
           0.001, bounded(float, 1e-9, 0.5, "number"), "P", pytest=False),
    Option("window", "Otava's window of runs each test looks at (default: %(default)s)", 30,
           bounded(int, 6, 1000, "whole number"), "N", pytest=False),
)  # fmt: skip

# `zscheck run --compare-to`: the run against a stored baseline, after it has run (needs a store)
BASELINE_RUN = _options(
    Option("compare-to", "after the run, compare it with a stored run: `last-pass` (the newest passing run of this "
           "target and scenario) or a run id; writes comparison.json and a 'Since the baseline' section in "
           "index.html", metavar="last-pass|RUN_ID", pytest=False),
)  # fmt: skip

NOISE = _options(
    Option("pairs", "A/A pairs to run: 2 x K runs of the same target, back to back (default: %(default)s)", 3,
           bounded(int, 2, 50, "whole number"), "K", pytest=False),
)  # fmt: skip

DIFF = _options(
    # not --baseline/--candidate: --baseline is contract's known-findings file, and a flag has one meaning
    Option("baseline-target", "the released build: a URL, or `embedded` (the reference server) (default: "
           "%(default)s)", "embedded", metavar="URL", pytest=False),
    Option("candidate-target", "the build under test: a URL, or `embedded` (default: %(default)s)", "embedded",
           metavar="URL", pytest=False),
    Option("candidate-fault", "an embedded candidate's fault mode (repeatable): to watch diff catch it",
           metavar="NAME", action="append", pytest=False),
    Option("sequences", "seeded sequences beside the fixed probes (default: %(default)s)", 10,
           bounded(int, 0, 500, "whole number"), "N", pytest=False),
)  # fmt: skip

GROUPS: dict[str, tuple[str, Mapping[str, Option]]] = {
    "target": ("the target", TARGET),
    "fixtures": ("fixtures", FIXTURES),
    "embedded": ("the embedded reference server", EMBEDDED),
    "run": ("the run", RUN),
    "contract": ("conformance", CONTRACT),
    "known": ("known findings", KNOWN),
    "load": ("load", LOAD),
    "distributed": ("distributed load (locust master/worker)", DISTRIBUTED),
    "capacity": ("the capacity search", CAPACITY),
    "all-in-one": ("zscheck run", ALL_IN_ONE),
    "store": ("the run store", STORE),
    "compare": ("the comparison", COMPARE),
    "trend": ("change points", TREND),
    "noise": ("the A/A pairs", NOISE),
    "baseline-run": ("since the baseline", BASELINE_RUN),
    "diff": ("the two targets", DIFF),
}

# Which groups each command takes (and, within a group, which options, when it takes only some).
COMMANDS: dict[str, tuple[tuple[str, tuple[str, ...] | None], ...]] = {
    "contract": (("target", None), ("fixtures", None), ("embedded", None), ("run", None), ("contract", None),
                 ("known", None), ("store", None)),
    "load": (("target", None), ("fixtures", ("backup-storage", "image-url")), ("embedded", None), ("run", None),
             ("load", None), ("distributed", None), ("known", None), ("store", None)),
    "capacity": (("target", None), ("fixtures", ("backup-storage", "image-url")), ("embedded", None),
                 ("run", None),
                 ("load", tuple(o.flag for o in LOAD.values() if o.flag != "duration")),  # --step-duration
                 ("capacity", None), ("known", ("baseline",)), ("store", None)),
    "run": (("target", None), ("fixtures", None), ("embedded", None), ("run", ("seed", "quiet", "events")),
            ("contract", ("max-examples",)), ("known", None),
            ("load", ("scenario", "users", "duration", "rate", "slo")),
            ("all-in-one", None), ("store", None), ("baseline-run", None),
            ("compare", ("max-regression", "alpha"))),
    "drift": (("target", ("target", "account", "password", "password-env", "password-file", "image", "timeout",
                          "ca-bundle", "insecure")), ("run", ("report-dir", "quiet", "events")), ("store", None)),
    "restore": (("target", ("target", "account", "password", "password-env", "password-file", "timeout",
                            "ca-bundle", "insecure")),),
    "replay": (("target", ("target", "password-env", "password-file", "timeout", "ca-bundle", "insecure")),
               ("run", ("quiet", "events"))),
    "runs": (("store", None),),
    "compare": (("store", None), ("compare", None)),
    "trend": (("store", None), ("compare", ("html", "json")), ("trend", None)),
    "noise": (("target", None), ("fixtures", ("backup-storage", "image-url")), ("embedded", None), ("run", None),
              ("load", None), ("store", None), ("noise", None), ("compare", ("alpha", "json"))),
    "diff": (("target", ("account", "password", "password-env", "password-file", "timeout", "ca-bundle",
                         "insecure")), ("fixtures", ("backup-storage", "image-url")), ("run", ("seed",)),
             ("diff", None), ("compare", ("json",))),
}  # fmt: skip


def options_of(command: str) -> Iterable[tuple[str, Option]]:
    """(group title, option) for every option `command` takes, in the order help shows them."""
    for group, only in COMMANDS[command]:
        title, table = GROUPS[group]
        for option in table.values():
            if only is None or option.flag in only:
                yield title, option


def add_groups(parser: argparse.ArgumentParser, command: str) -> None:
    """Give an argparse parser the options of `command`, in titled groups."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for title, option in options_of(command):
        if not option.cli:
            continue
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        groups[title].add_argument(f"--{option.flag}", **option.kwargs(command))


def add_pytest_options(group: Any) -> None:
    """Register `zscheck contract`'s options on the pytest plugin as `--zs-*` (same kinds, defaults, help)."""
    group.addoption("--zs-plan", default=None, metavar="JSON", help="the whole run as zscheck contract writes it")
    for _, option in options_of("contract"):
        if option.pytest:
            kwargs = option.kwargs("contract")
            kwargs["dest"] = f"zs_{option.dest}"
            group.addoption(f"--zs-{option.flag}", **kwargs)


# ----------------------------------------------------------------------------------- values into run types


def utc_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def report_dir(get: Get, command: str) -> Path:
    return Path(get("report_dir") or f"reports/{command}-{utc_stamp()}")


def target_options(get: Get, command: str) -> TargetOptions:
    """The target group's values as one `TargetOptions` (options a command does not take keep their default)."""
    taken = {option.dest for _, option in options_of(command)}

    def value(dest: str, default: Any) -> Any:
        return get(dest) if dest in taken else default

    plain = TargetOptions()
    return TargetOptions(
        url=value("target", plain.url),
        dialect=value("dialect", plain.dialect),
        account=value("account", plain.account),
        password_env=value("password_env", plain.password_env),
        password_file=value("password_file", plain.password_file),
        tenant=value("tenant", plain.tenant),
        images=tuple(value("image", plain.images)),
        backup_storage=value("backup_storage", plain.backup_storage),
        image_url=value("image_url", plain.image_url),
        ca_bundle=value("ca_bundle", plain.ca_bundle),
        insecure=bool(value("insecure", plain.insecure)),
        timeout=float(value("timeout", plain.timeout)),
        timing=value("timing", plain.timing),
        faults=tuple(value("fault", plain.faults)),
    )


def contract_plan(get: Get, *, seed: int | None = None, command: str = "contract") -> ContractPlan:
    return ContractPlan(
        report_dir=report_dir(get, command),
        target=target_options(get, command),
        max_examples=int(get("max_examples")),
        seed=seed if seed is not None else get("seed"),
        create_images=get("create_images"),
        poll_deadline=get("poll_deadline"),
        workers=int(get("workers")),
        shrink=not get("no_shrink"),
        shrink_budget=float(get("shrink_budget")),
        schemathesis_report=not get("no_schemathesis_report"),
        baseline=get("baseline"),
        baseline_update=bool(get("baseline_update")),
    )
