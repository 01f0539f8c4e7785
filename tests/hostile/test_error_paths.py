"""Every error that is not a verdict is one line on stderr and exit 2 (issue #15.11, #15.8, #12).

Exit 1 means "the target is wrong" and nothing else, so a careless input must never end in a traceback
and exit 1. Each row of the table is an input a user or a CI job really gives: a configuration file that
is not UTF-8 or nests deeply, URLs that are not URLs or carry credentials, numbers that are not numbers
(`nan`), report directories that are files or read-only, journals that are damaged or in use. Each must
end in exit 2 with one line on stderr that names what was wrong, and no traceback. Run in-process (the
same `main` the console script calls): the table is large and each row is cheap.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServerFactory
from zscheck import cli
from zscheck.cli import main
from zscheck.refserver import RunningServer

Setup = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # `{tmp}` is the test's directory, `{url}` a live reference server's URL
    says: str  # a piece of the one line that tells the user what was wrong
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content, written first


def toml(text: str) -> dict[str, bytes]:
    return {"zscheck.toml": text.encode()}


JOURNAL = b'{"kind": "target", "url": "http://127.0.0.1:9", "time": 1}\n{"kind": "image", "uuid": "a", ' \
    b'"state": "Enabled", "created": true}\n'  # fmt: skip

CASES = [
    # ---- configuration files
    Case("toml-not-utf8", ("config", "load"), "is not UTF-8", files={"zscheck.toml": b'users = "\xff\xfe"\n'}),
    Case("toml-latin1", ("load",), "is not UTF-8", files={"zscheck.toml": 'scenario = "caf\xe9"\n'.encode("latin-1")}),
    Case("toml-deep-arrays", ("config", "load"), "nests", files=toml("a = " + "[" * 2000 + "]" * 2000 + "\n")),
    Case("toml-deep-tables", ("config", "load"), "nests", files=toml("a = " + "{b = " * 2000 + "1" + "}" * 2000)),
    Case("toml-syntax", ("config", "load"), "is not valid TOML", files=toml("users = = 3\n")),
    Case("toml-typo", ("load",), "did you mean `duration`", files=toml('duraton = "5s"\n')),
    Case("toml-typo-in-profile", ("--profile", "ci", "load"), "did you mean `users`",
         files=toml("[profiles.ci]\nuserz = 3\n")),
    Case("toml-unknown-command-table", ("load",), "did you mean [commands.load]",
         files=toml("[commands.lod]\nusers = 3\n")),
    Case("toml-option-of-another-command", ("drift",), "not an option of `zscheck drift`",
         files=toml("[commands.drift]\nusers = 3\n")),
    Case("toml-secret", ("config", "load"), "would put a secret", files=toml('password = "x"\n')),
    Case("toml-wrong-type", ("config", "load"), "users", files=toml('users = "many"\n')),
    Case("toml-bool-for-number", ("config", "load"), "users", files=toml("users = true\n")),
    Case("toml-list-for-value", ("config", "load"), "single value", files=toml("users = [1, 2]\n")),
    Case("toml-bad-duration", ("config", "load"), "not a duration", files=toml('duration = "soon"\n')),
    Case("toml-nan-timeout", ("config", "load"), "finite", files=toml("timeout = nan\n")),
    Case("no-such-profile", ("--profile", "nope", "config", "load"), "no [profiles.nope]", files=toml("users = 3\n")),
    Case("profile-without-file", ("--profile", "nope", "config", "load"), "no zscheck.toml"),
    Case("config-file-missing", ("--config", "{tmp}/none.toml", "config", "load"), "no such file"),
    Case("config-file-is-a-directory", ("--config", "{tmp}", "config", "load"), "Is a directory"),
    # ---- environment variables
    Case("env-not-a-number", ("config", "load"), "ZSCHECK_USERS", env={"ZSCHECK_USERS": "lots"}),
    Case("env-nan", ("config", "load"), "finite", env={"ZSCHECK_TIMEOUT": "nan"}),
    # ---- URLs
    Case("url-broken-ipv6", ("load", "--target", "http://[::1"), "not a valid URL"),
    Case("url-ftp", ("load", "--target", "ftp://10.0.0.5"), "not an http:// or https:// URL"),
    Case("url-no-scheme", ("load", "--target", "10.0.0.5:8080"), "not an http:// or https:// URL"),
    Case("url-no-host", ("load", "--target", "http://"), "names no host"),
    Case("url-port-too-big", ("load", "--target", "http://127.0.0.1:99999"), "not a valid URL"),
    Case("url-port-not-a-number", ("load", "--target", "http://127.0.0.1:http"), "not a valid URL"),
    Case("url-port-zero", ("load", "--target", "http://127.0.0.1:0"), "port 0"),
    Case("url-blank", ("load", "--target", "http://127.0.0.1 :8080"), "blanks"),
    Case("url-control-character", ("load", "--target", "http://127.0.0.1\x07"), "control characters"),
    Case("url-query", ("load", "--target", "http://127.0.0.1:8080/?x=1"), "without ?query"),
    Case("url-credentials", ("load", "--target", "http://admin:s3cret@127.0.0.1:8080"), "carries credentials"),
    Case("url-credentials-slash", ("contract", "--target", "http://admin:s3/cr@t@127.0.0.1:8080"), "ZSCHECK_PASSWORD"),
    Case("url-credentials-drift", ("drift", "--target", "http://admin:pw@127.0.0.1:8080"), "--password-file"),
    Case("url-credentials-restore", ("restore", "{tmp}/j.jsonl", "--target", "http://a:b@127.0.0.1:9"),
         "carries credentials", files={"j.jsonl": JOURNAL}),
    Case("url-credentials-run", ("run", "--target", "https://u:p:q@127.0.0.1"), "carries credentials"),
    # ---- numbers
    Case("timeout-nan", ("load", "--timeout", "nan"), "finite"),
    Case("timeout-inf", ("load", "--timeout", "inf"), "finite"),
    Case("timeout-negative", ("load", "--timeout", "-1"), "out of range"),
    Case("timeout-text", ("load", "--timeout", "soon"), "not a number"),
    Case("duration-zero", ("load", "--duration", "0s"), "out of range"),
    Case("duration-unit", ("load", "--duration", "5x"), "not a duration"),
    Case("users-zero", ("load", "--users", "0"), "out of range"),
    Case("users-float", ("load", "--users", "1.5"), "not a whole number"),
    Case("max-examples-zero", ("contract", "--max-examples", "0"), "out of range"),
    Case("seed-negative", ("contract", "--seed", "-1"), "out of range"),
    Case("share-above-one", ("load", "--query-ratio", "2"), "out of range"),
    Case("workers-nan", ("contract", "--workers", "nan"), "not a whole number"),
    Case("rate-nan", ("load", "--rate", "nan"), "finite"),
    # ---- choices and combinations
    Case("unknown-scenario", ("load", "--scenario", "nope"), "invalid choice"),
    Case("unknown-dialect", ("contract", "--dialect", "soap"), "invalid choice"),
    Case("unknown-fault", ("contract", "--fault", "nope"), "no such fault mode"),
    Case("fault-with-target", ("contract", "--fault", "disable-noop", "--target", "http://127.0.0.1:9"),
         "embedded reference server only", env={"ZSCHECK_PASSWORD": "x"}),
    Case("timing-with-target", ("load", "--timing", "realistic", "--target", "http://127.0.0.1:9"),
         "embedded reference server only", env={"ZSCHECK_PASSWORD": "x"}),
    Case("bad-gate", ("load", "--slo", "p99<<1"), "p99<<1"),
    Case("bad-gate-in-run", ("run", "--slo", "fast"), "fast"),
    Case("capacity-without-gate", ("capacity",), "at least one --slo"),
    Case("capacity-backwards", ("capacity", "--slo", "p99<1s", "--start", "10", "--stop", "5"), "--stop >= --start"),
    Case("image-on-embedded", ("load", "--image", "0f"), "--image names images on a --target"),
    Case("skip-unknown", ("run", "--skip", "nope"), "invalid choice"),
    Case("password-on-command-line", ("contract", "--password", "x"), "--password is not accepted"),
    Case("unknown-option", ("drift", "--bogus"), "unrecognized arguments: --bogus"),
    Case("unknown-command", ("bogus",), "invalid choice"),
    Case("config-of-unknown-command", ("config", "bogus"), "not a command"),
    # ---- passwords
    Case("no-password-for-target", ("drift", "--target", "http://127.0.0.1:9"), "ZSCHECK_PASSWORD is not set"),
    Case("password-file-missing", ("drift", "--target", "http://127.0.0.1:9", "--password-file", "{tmp}/none"),
         "cannot read the password file"),
    Case("password-file-is-a-directory", ("drift", "--target", "http://127.0.0.1:9", "--password-file", "{tmp}"),
         "cannot read the password file"),
    Case("tenant-without-password", ("contract", "--target", "http://127.0.0.1:9", "--tenant", "t"),
         "ZSCHECK_TENANT_PASSWORD", env={"ZSCHECK_PASSWORD": "x"}),
    # ---- the target itself
    Case("unreachable", ("drift", "--target", "http://127.0.0.1:9", "--report-dir", "{tmp}/r"), "cannot reach",
         env={"ZSCHECK_PASSWORD": "x"}),
    Case("wrong-password", ("drift", "--target", "{url}", "--report-dir", "{tmp}/r"), "login as 'admin'",
         env={"ZSCHECK_PASSWORD": "wrong"}),
    # ---- report directories and files
    Case("report-dir-is-a-file", ("drift", "--report-dir", "{tmp}/f"), "is a file", files={"f": b"x"}),
    Case("report-dir-under-a-file", ("drift", "--report-dir", "{tmp}/f/sub"), "cannot create it", files={"f": b"x"}),
    Case("report-dir-read-only", ("drift", "--report-dir", "/sys/kernel"), "cannot be written"),
    Case("report-dir-cannot-be-made", ("load", "--report-dir", "/sys/zscheck-reports"), "cannot create it"),
    Case("report-dir-of-an-earlier-run", ("drift", "--report-dir", "{tmp}/old"), "holds an earlier run's reports",
         files={"old/summary.json": b"{}", "old/junit.xml": b"<testsuites/>"}),
    Case("report-dir-of-an-earlier-run-phase", ("load", "--report-dir", "{tmp}/old"), "contract/failures.md",
         files={"old/contract/failures.md": b"# failures"}),
    Case("events-file-in-a-file", ("drift", "--report-dir", "{tmp}/r", "--events", "{tmp}/f/events.jsonl"),
         "f", files={"f": b"x"}),
    # ---- the run store: a reading command never takes a mistyped path for an empty store
    Case("runs-store-missing", ("runs", "list", "--store", "{tmp}/typo.sqlite"), "no such file: nothing was recorded"),
    Case("trend-store-missing", ("trend", "--store", "{tmp}/typo.sqlite"), "no such file: nothing was recorded"),
    Case("compare-store-missing", ("compare", "a", "b", "--store", "{tmp}/typo.sqlite"), "no such file"),
    Case("runs-list-zero", ("runs", "list", "0", "--store", "{tmp}/h.sqlite"), "'0' is not a number of runs",
         files={"h.sqlite": b""}),
    Case("runs-list-negative", ("runs", "list", "-1", "--store", "{tmp}/h.sqlite"), "'-1' is not a number of runs",
         files={"h.sqlite": b""}),
    # ---- journals
    Case("restore-no-journal", ("restore", "{tmp}/none.jsonl"), "does not exist"),
    Case("restore-damaged-journal", ("restore", "{tmp}/j.jsonl"), "is not JSON",
         files={"j.jsonl": b'{"kind": "target", "url": "http://127.0.0.1:9"}\n{oops\n{"kind": "x"}\n'}),
    Case("restore-not-a-journal", ("restore", "{tmp}/j.jsonl"), "names no target", files={"j.jsonl": b"\n"}),
    Case("restore-journal-is-binary", ("restore", "{tmp}/j.jsonl"), "j.jsonl", files={"j.jsonl": b"\xff\xfe\x00"}),
    Case("restore-journal-is-a-directory", ("restore", "{tmp}"), "Is a directory"),
    Case("restore-another-target", ("restore", "{tmp}/j.jsonl", "--target", "http://127.0.0.1:10"),
         "belongs to http://127.0.0.1:9", files={"j.jsonl": JOURNAL}),
]  # fmt: skip


@pytest.fixture(scope="module")
def live() -> Iterator[RunningServer]:
    from dataclasses import replace

    from zscheck.refserver import ServerConfig, start_in_thread

    server = start_in_thread(replace(ServerConfig(port=0, db=":memory:"), seed_images=2))
    yield server
    server.stop()


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("ZSCHECK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no zscheck.toml of the checkout, default reports under tmp_path
    return tmp_path


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 50 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_error_is_one_line_and_exit_2(
    case: Case,
    clean_env: Path,
    live: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tmp = clean_env
    for name, content in case.files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(content)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    argv = [a.replace("{tmp}", str(tmp)).replace("{url}", live.url) for a in case.argv]
    code, out, err = run_main(argv, capsys)
    lines = err.splitlines()
    assert code == 2, f"exit {code}: {err[-1500:]} {out[-500:]}"
    assert len(lines) == 1, f"{len(lines)} lines on stderr: {err[-1500:]}"
    assert "Traceback" not in err + out
    assert lines[0].startswith(("zscheck ", "zscheck:")), lines[0]
    assert case.says in lines[0], lines[0]
    assert "s3cret" not in err + out and "s3/cr@t" not in err + out  # a password in a URL is never echoed


def test_a_journal_in_use_by_another_process_is_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run holds its journal with flock; `zscheck restore` of it meanwhile would fight the run's own
    restore. A lock held elsewhere (here: another open file description, as another process has) refuses."""
    monkeypatch.setenv("ZSCHECK_PASSWORD", "x")
    journal = clean_env / "journal.jsonl"
    journal.write_bytes(JOURNAL)
    fd = os.open(journal, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, _, err = run_main(["restore", str(journal)], capsys)
    finally:
        os.close(fd)
    assert code == 2 and len(err.splitlines()) == 1 and "in use by another zscheck process" in err
    code, _, err = run_main(["restore", str(journal)], capsys)  # the holder is gone: the lock is free again
    assert "in use" not in err and "cannot reach" in err  # on to the journal's (unreachable) target


def test_an_unexpected_exception_is_an_internal_error_of_one_line(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(cli, "_cmd_faults", broken)
    code, _, err = run_main(["faults"], capsys)
    assert code == 2
    assert err == (
        "zscheck faults: internal error: RuntimeError: a bug | over two lines (a bug in zscheck; set ZSCHECK_DEBUG=1 "
        "for the traceback)\n"
    )
    monkeypatch.setenv("ZSCHECK_DEBUG", "1")
    code, _, err = run_main(["faults"], capsys)
    assert code == 2 and "Traceback (most recent call last)" in err and err.endswith("for the traceback)\n")


def test_an_exported_password_is_the_embedded_servers_password(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With ZSCHECK_PASSWORD exported (for a real node, for locust workers), every embedded-server command
    failed to log in: the embedded server kept its own password. It takes the run's now."""
    monkeypatch.setenv("ZSCHECK_PASSWORD", "an exported s3cret")
    code, out, err = run_main(["drift", "--report-dir", str(clean_env / "r")], capsys)
    assert code in (0, 1), err  # drift's verdict, whatever it is: it ran
    assert "login" not in err
    assert "an exported s3cret" not in out + err + "".join(
        p.read_text(errors="replace") for p in (clean_env / "r").rglob("*") if p.is_file()
    )


@pytest.mark.parametrize(
    "password", ["p@ss", "pa/ss", "a:b@c/d", "@@//::", "s3cr@t/with:all"], ids=["at", "slash", "mixed", "only", "all"]
)
def test_config_masks_a_password_in_a_url_whatever_it_holds(
    password: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`zscheck config` shows a URL from the environment as given, with user:password@ masked (it is the
    one command that shows the value rather than refusing it): `//[^/@]+@` missed passwords with `@` or `/`."""
    monkeypatch.setenv("ZSCHECK_TARGET", f"http://admin:{password}@10.0.0.5:8080")
    code, out, err = run_main(["config", "contract"], capsys)
    assert code == 0, err
    assert "http://***@10.0.0.5:8080" in out
    assert password not in out + err


def test_credentials_in_a_url_never_reach_the_wire_nor_any_file(
    make_server: ServerFactory, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The refusal comes before anything is opened: no journal, no summary, no request (so no Basic auth)."""
    server = make_server()
    host = server.url.split("//", 1)[1]
    code, out, err = run_main(
        ["load", "--target", f"http://admin:{PASSWORD}x@{host}", "--report-dir", str(clean_env / "r")], capsys
    )
    assert code == 2 and "carries credentials" in err
    assert not (clean_env / "r").exists()
    assert f"{PASSWORD}x" not in out + err
    assert json.dumps(os.listdir(clean_env)) == "[]"


def test_sigterm_while_starting_is_one_line_and_exit_2() -> None:
    """A CI job cancelled while zscheck still imports its commands: exit 2 and one line, never a bare 143.
    The signal comes 0.1 s after `python -m zscheck` began loading its commands (which take seconds)."""
    import subprocess
    import sys

    code = (
        "import os, runpy, signal, sys, threading; import zscheck; sys.argv = ['zscheck', 'config', 'load']; "
        "threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGTERM)).start(); "
        "runpy.run_module('zscheck', run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 2), proc.stderr  # 0: the command was done before the signal came
    if proc.returncode == 2:
        assert len(proc.stderr.splitlines()) == 1 and "interrupted" in proc.stderr, proc.stderr
