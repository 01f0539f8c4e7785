"""The commands where their copies used to meet: each defect found there, held by a test that fails if it
comes back (issue #11), and the rule that every option is declared once."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ServeProcess, ServerFactory
from zscheck import Client
from zscheck.cli import build_parser, command_index, main
from zscheck.fixtures import FixtureImages, Journal
from zscheck.load.plan import LoadPlan
from zscheck.load.runner import LoadRun, locust_command
from zscheck.options import COMMANDS, GROUPS, options_of
from zscheck.target import TargetOptions


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize(
    ("argv", "index"),
    [
        (["faults"], 0),
        (["--profile", "faults", "faults"], 2),
        (["--config", "run", "--profile", "load", "load", "--users", "2"], 4),
        (["--profile=x", "run"], 1),
    ],
)
def test_the_command_word_is_found_past_the_top_level_options(argv: list[str], index: int) -> None:
    assert command_index(argv) == index


def test_a_profile_named_like_a_command_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`zscheck --profile faults faults` was refused: the command was looked up with argv.index()."""
    (tmp_path / "zscheck.toml").write_text("[profiles.faults]\nusers = 3\n[profiles.load]\nusers = 4\n")
    monkeypatch.chdir(tmp_path)
    assert main(["--profile", "faults", "faults"]) == 0
    assert "contract faults" in capsys.readouterr().out
    assert main(["--profile", "load", "config", "load"]) == 0
    assert "users" in capsys.readouterr().out


def test_a_missing_password_names_the_variable_the_user_chose(capsys: pytest.CaptureFixture[str]) -> None:
    """`zscheck drift --password-env MYVAR` told the user to set ZSCHECK_PASSWORD."""
    os.environ.pop("MYVAR_ZSCHECK_TEST", None)
    for command in ("drift", "contract", "load", "run", "capacity"):
        args = [command, "--target", "http://127.0.0.1:9", "--password-env", "MYVAR_ZSCHECK_TEST"]
        assert main(args + (["--slo", "p99<1s"] if command == "capacity" else [])) == 2
        err = capsys.readouterr().err
        assert "MYVAR_ZSCHECK_TEST" in err and "ZSCHECK_PASSWORD" not in err, (command, err)


def test_master_bind_host_reaches_locust(tmp_path: Path) -> None:
    """`--master-bind-host` was accepted and dropped."""
    run = LoadRun(tmp_path, master=True, master_bind_host="10.1.2.3", master_bind_port=6000, expect_workers=3)
    plan = LoadPlan(target="http://127.0.0.1:1", scenario="toggle", images={}, results=str(tmp_path / "r.json"))
    args = locust_command(run, plan, tmp_path, users=2, duration=5)
    assert args[args.index("--master-bind-host") + 1] == "10.1.2.3"
    assert args[args.index("--master-bind-port") + 1] == "6000"
    assert args[args.index("--expect-workers") + 1] == "3"
    parsed = subcommands()["load"].parse_args(["--master", "--master-bind-host", "10.1.2.3"])
    assert parsed.master_bind_host == "10.1.2.3"


@pytest.mark.parametrize(
    "line",
    [
        '{"kind": "image", "uuid": "a"}',  # fields missing
        '["kind", "image"]',  # JSON, not an object
        '{"kind": "image", "uuid": 5, "state": "Enabled", "created": true}',  # a number for a uuid
        '{"url": "http://x"}',  # no kind
    ],
)
def test_a_damaged_journal_is_one_line_and_exit_2(
    tmp_path: Path, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A journal line that is JSON but not an entry made `zscheck restore` print a traceback and exit 1
    (the code for "violations found")."""
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps({"kind": "target", "url": "http://127.0.0.1:9"}) + "\n" + line + "\n{}\n")
    assert main(["restore", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "line 2" in err[0] and "damaged" in err[0], err


@pytest.mark.slow
def test_a_refused_login_still_writes_the_load_summary(make_server: ServerFactory, tmp_path: Path) -> None:
    """`zscheck load` with a wrong password wrote no summary.json: a nightly job had nothing to read. The
    could-not-run report names the target given and says why, in the terminal and in summary.json."""
    server = make_server()
    report = tmp_path / "r"
    proc = subprocess.run(
        [sys.executable, "-m", "zscheck", "load", "--target", server.url, "--duration", "2", "--users", "1",
         "--report-dir", str(report)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "ZSCHECK_PASSWORD": "not-the-password"},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    summary = json.loads((report / "summary.json").read_text())
    assert summary["verdict"] == "COULD NOT RUN" and "ID.1000" in summary["error"]
    assert summary["target"] == server.url
    headline = next(line for line in proc.stdout.splitlines() if "COULD NOT RUN" in line)
    assert headline.startswith(f"zscheck: COULD NOT RUN (load) - {server.url}, seed ") and "ID.1000" in headline
    assert "Traceback" not in proc.stderr


def test_restore_checks_the_target_before_saying_there_is_nothing_to_do(
    make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server()
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        journal = Journal.create(tmp_path / "j.jsonl", server.url)
        FixtureImages(zs, journal).adopt(zs.query_images().data["inventories"][0]["uuid"])
    monkeypatch.setenv("ZSCHECK_PASSWORD", PASSWORD)
    assert main(["restore", str(journal.path)]) == 0
    assert main(["restore", str(journal.path), "--target", "http://127.0.0.1:9"]) == 2


# ----------------------------------------------------------------------------------- options, declared once


def test_every_option_of_every_command_comes_from_the_one_table() -> None:
    declared = {option.flag for _, table in GROUPS.values() for option in table.values()}
    own = {"serve": None, "config": {"for_command", "options"}, "faults": set(), "restore": {"journal"},
           "replay": {"report", "finding"}}  # fmt: skip
    own |= {"runs": {"action", "what"}, "compare": {"base", "candidate"}, "trend": {"series"}}  # what they name
    for name, parser in subcommands().items():
        if name == "serve":
            continue  # the reference server's own options: one command, declared there once
        for action in parser._actions:
            if action.dest == "help":
                continue
            if action.option_strings:
                flag = action.option_strings[-1].removeprefix("--")
                assert flag in declared, f"zscheck {name} {flag}: declared outside zscheck.options"
            else:
                assert action.dest in (own.get(name) or set()), f"zscheck {name}: positional {action.dest}"


def test_no_option_is_declared_twice() -> None:
    """One declaration per flag; the one name two groups share is `--baseline`, which the issues give two
    commands that never take both groups: `contract --baseline FILE` (known findings) and `diff --baseline URL`
    (the released build)."""
    flags = [option.flag for _, table in GROUPS.values() for option in table.values()]
    shared = {flag for flag in flags if flags.count(flag) > 1}
    assert shared <= {"baseline"}, shared
    for name in COMMANDS:
        mine = [option.flag for _, option in options_of(name)]
        assert len(mine) == len(set(mine)), name


def test_the_pytest_plugin_takes_the_same_options_with_the_same_defaults() -> None:
    """`pytest contracts` ran 40 examples where `zscheck contract` ran 100, both "the nightly profile"."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "contracts", "--help", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    text = " ".join(proc.stdout.split())
    contract = subcommands()["contract"]
    for _, option in options_of("contract"):
        if not option.pytest:
            continue
        assert f"--zs-{option.flag}" in text, option.flag
        default = contract.get_default(option.dest)
        if option.action is None and default is not None:
            assert f"--zs-{option.flag}" in text and str(default) in text, option.flag
    assert "(default: 100, the nightly profile)" in text


def test_options_a_command_does_not_take_keep_the_target_defaults() -> None:
    parsed = subcommands()["drift"].parse_args(["--target", "http://127.0.0.1:9"])
    from zscheck.options import target_options

    options = target_options(lambda dest: getattr(parsed, dest), "drift")
    assert options == TargetOptions(url="http://127.0.0.1:9")


# ----------------------------------------------------------------------------------- found by review


def test_an_unknown_option_is_named_by_its_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["drift", "--bogus"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    # one line, like every error that is not a verdict, naming the command whose --help lists the options
    assert err == "zscheck drift: error: unrecognized arguments: --bogus (`zscheck drift --help` lists the options)\n"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["load", "drift"])
def test_sigterm_while_setting_up_unwinds_through_the_restore(
    serve_process: Callable[..., ServeProcess], tmp_path: Path, command: str
) -> None:
    """SIGTERM before locust starts (or anywhere in drift) killed the process with nothing restored: the
    target kept the fixture images and the account. Now the first signal unwinds through the restore."""
    server = serve_process("--db", ":memory:", "--job-delay", "1.5")  # every api-job takes 1.5 s
    with Client(server.url) as zs:
        zs.login("admin", PASSWORD)
        before = {i["uuid"]: i["state"] for i in zs.query_images().data["inventories"]}
        proc = subprocess.Popen(
            [sys.executable, "-m", "zscheck", command, "--target", server.url, "--report-dir", str(tmp_path / "r"),
             *(["--users", "3", "--timeout", "10"] if command == "load" else [])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "ZSCHECK_PASSWORD": PASSWORD},
        )  # fmt: skip
        journal = tmp_path / "r" / "journal.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and '"kind": "' + ("image" if command == "load" else "account") not in (
            journal.read_text() if journal.exists() else ""
        ):  # logged in, and the first fixture image's AddImage (or the account) on its way
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.8)  # its api-job (1.5 s) in flight
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        after = {i["uuid"]: i["state"] for i in zs.query_images().data["inventories"]}
    assert proc.returncode == 2, out + err
    assert "Traceback" not in err
    assert after == before, "images left behind or changed"
    if command == "load":
        assert json.loads((tmp_path / "r" / "summary.json").read_text())["verdict"] == "COULD NOT RUN"


@pytest.mark.slow
def test_a_contract_run_emits_its_violations_and_verdict_as_events(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"event": "from an earlier run"}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "zscheck", "contract", "--fault", "success-field", "--no-shrink", "--max-examples",
         "3", "--quiet", "--report-dir", str(tmp_path / "r"), "--events", str(events)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-2000:]
    rows = [json.loads(line) for line in events.read_text().splitlines()]
    kinds = [r["event"] for r in rows]
    assert kinds[-1] == "VerdictReached" and rows[-1]["verdict"] == "VIOLATIONS" and rows[-1]["phase"] == "contract"
    assert "ViolationFound" in kinds and "from an earlier run" not in kinds  # this run's events only
    assert "zscheck: VIOLATIONS (contract) - embedded reference server" in proc.stdout
    assert "Traceback" not in proc.stdout  # --quiet: pytest's tracebacks stay out; failures.md has them


def test_faults_help_promises_only_what_the_commands_take(capsys: pytest.CaptureFixture[str]) -> None:
    """`zscheck faults --help` promised `run --fault` while run refused it: the text is derived from the
    options each command takes, and each command it names parses --fault into its target."""
    from zscheck.cli import fault_commands
    from zscheck.options import target_options

    takers = fault_commands()
    assert "contract" in takers and "load" in takers and "drift" not in takers and "restore" not in takers
    with pytest.raises(SystemExit):
        main(["faults", "--help"])
    text = capsys.readouterr().out
    for command, parser in subcommands().items():
        if command in takers:
            assert f"zscheck {command} --fault" in text
            parsed = vars(parser.parse_args(["--fault", "disable-noop"]))
            assert target_options(parsed.__getitem__, command).faults == ("disable-noop",)
        elif command != "serve":  # serve's own --fault is the server's, named in the description
            assert f"zscheck {command} --fault" not in text


def test_config_run_shows_the_gates_the_run_holds(capsys: pytest.CaptureFixture[str]) -> None:
    """`zscheck config run` showed `slo []` while the run held two gates."""
    from zscheck.cli.values import run_all

    assert main(["config", "run"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("slo"))
    assert "['error_rate<1%', 'e2e:p99<1s']" in line and "(default)" in line
    parser = subcommands()["run"]
    args = parser.parse_args([])
    assert list(run_all(lambda dest: getattr(args, dest)).slo) == ["error_rate<1%", "e2e:p99<1s"]
    assert main(["config", "run", "--slo", "p99<1s"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("slo"))
    assert "['p99<1s']" in line and "(command line)" in line


def junit_counts(path: Path) -> tuple[int, int]:
    """failures and errors as a CI server counts them: every testcase's <failure> and <error>."""
    from xml.etree import ElementTree

    root = ElementTree.parse(path).getroot()
    cases = list(root.iter("testcase"))
    return (sum(len(c.findall("failure")) for c in cases), sum(len(c.findall("error")) for c in cases))


@pytest.mark.slow
def test_a_quiet_conformant_contract_run_prints_the_verdict_only_and_ci_reads_it_green(tmp_path: Path) -> None:
    """Three output defects of a first run, in one run: --quiet printed pytest's dots and summary; a plain
    install (no pytest-timeout: here `-p no:timeout`) printed `PytestConfigWarning: Unknown config option:
    timeout`; and schemathesis' own JUnit carried failures="1" on a pass, so a CI glob went red."""
    report = tmp_path / "r"
    proc = subprocess.run(
        [sys.executable, "-m", "zscheck", "contract", "--quiet", "--max-examples", "2", "--report-dir", str(report)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTEST_ADDOPTS": "-p no:timeout"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout
    assert lines[0].startswith("zscheck: PASS (contract) - embedded reference server") and lines[1].startswith(
        "zscheck: report "
    )
    assert "PytestConfigWarning" not in proc.stdout + proc.stderr and "Unknown config option" not in proc.stderr
    xmls = sorted(report.glob("**/*.xml"))  # every XML a `reports/**/*.xml` glob would hand a CI server
    assert any(p.parent.name == "schemathesis" for p in xmls), xmls
    for path in xmls:
        assert junit_counts(path) == (0, 0), path.read_text()[:2000]
