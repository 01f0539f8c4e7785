"""ARCHITECTURE.md's import table, enforced: a layering rule that is not checked is a wish."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "zscheck"

ALLOWED = {
    "zscheck._wire": set(),
    "zscheck.wire": {"zscheck._wire"},
    "zscheck._models": {"zscheck._wire"},
    "zscheck._jobs": {"zscheck._wire", "zscheck._models"},
    "zscheck._transport": {"zscheck._wire", "zscheck._models"},
    "zscheck.client": {
        "zscheck",
        "zscheck._wire",
        "zscheck._models",
        "zscheck._jobs",
        "zscheck._transport",
        "zscheck.errors",
    },
    "zscheck.errors": set(),
    "zscheck.cmdline": set(),
    "zscheck.verdict": set(),
    "zscheck.control": set(),
    "zscheck.events": {"zscheck.verdict"},
    "zscheck.slo": {"zscheck.errors"},
    "zscheck.linearizability": set(),
    "zscheck.expiry": set(),
    "zscheck.metrics": set(),
    "zscheck.config": {"zscheck.errors"},
    "zscheck.rundir": {"zscheck.errors"},
    "zscheck.target": {
        "zscheck._transport",
        "zscheck._wire",
        "zscheck.client",
        "zscheck.cmdline",
        "zscheck.control",
        "zscheck.credentials",
        "zscheck.errors",
        "zscheck.fixtures",
        "zscheck.refserver",  # the one place that starts the embedded server (lazily, when it is the target)
        "zscheck.refserver.faults",  # the fault names --fault is checked against
    },
    "zscheck.differential": {  # zscheck diff: two targets opened as every command opens one
        "zscheck._models",
        "zscheck.client",
        "zscheck.fixtures",
        "zscheck.target",
    },
    "zscheck.options": {
        "zscheck.conformance.plan",
        "zscheck.load.plan",
        "zscheck.target",
    },
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def zscheck_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zscheck"):
            found.add(node.module)
            found.update(
                f"{node.module}.{a.name}"
                for a in node.names
                if (SRC.parent / node.module.replace(".", "/") / f"{a.name}.py").exists()
            )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("zscheck"))
    return found


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_follow_the_table(path: Path) -> None:
    name = module_name(path)
    imports = zscheck_imports(path)
    if name.startswith("zscheck.refserver"):
        outside = {m for m in imports if not m.startswith("zscheck.refserver")}
        assert not outside, f"{name} imports {outside}: the reference server must not share harness code"
    elif name.startswith("zscheck.report"):
        # its version, and the verdict words every document shares
        outside = {m for m in imports if not m.startswith("zscheck.report")} - {"zscheck", "zscheck.verdict"}
        assert not outside, f"{name} imports {outside}: the report package renders documents, it runs nothing"
    elif name.startswith("zscheck.history"):
        # the run store and its readers: documents in, statistics out; they never reach a target
        allowed = ("zscheck.history", "zscheck.report", "zscheck.errors", "zscheck.verdict")
        outside = {m for m in imports if not m.startswith(allowed)} - {"zscheck"}
        assert not outside, f"{name} imports {outside}: the run store reads documents, it runs nothing"
    elif name in ALLOWED:
        extra = imports - ALLOWED[name]
        assert not extra, f"{name} imports {extra}, outside ARCHITECTURE.md's table"


# Only the target model starts the reference server as a target (and the CLI, for `zscheck serve` and the
# fault list); nothing that judges answers may import it.
MAY_START_THE_SERVER = {"zscheck.target"}


def test_harness_never_imports_the_reference_server() -> None:
    for path in MODULES:
        name = module_name(path)
        if name.startswith(("zscheck.refserver", "zscheck.cli")) or name in MAY_START_THE_SERVER:
            continue
        assert not any(m.startswith("zscheck.refserver") for m in zscheck_imports(path)), name


def test_checks_import_only_the_wire_format_and_models() -> None:
    allowed = ("zscheck._wire", "zscheck._models", "zscheck.errors", "zscheck.checks")
    for path in (SRC / "checks").rglob("*.py"):
        imports = zscheck_imports(path)
        assert all(m.startswith(allowed) for m in imports), f"{module_name(path)} imports {imports}"


def test_only_the_locust_glue_imports_locust() -> None:
    """Importing locust monkey-patches the process (gevent): the `zscheck load` process must never do it."""
    for path in MODULES:
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        uses_locust = any(m.split(".")[0] in ("locust", "gevent") for m in names)
        assert not uses_locust or module_name(path) == "zscheck.load.users", module_name(path)


# ----------------------------------------------------------------------------------- nothing below the CLI prints

# Calls that write to the terminal or end the process. Below the CLI, results are returned and events
# emitted (zscheck.events); only the CLI's handlers show them, and only the CLI chooses an exit code.
WRITES_OR_EXITS = {"print", "exit", "quit", "sys.exit", "os._exit", "sys.stdout.write", "sys.stderr.write"}
# The one exception, with its reason: pytest ends a session that cannot start with pytest.exit (an
# exception pytest turns into its return code; the process goes on).
MAY_WRITE_OR_EXIT = {("zscheck.conformance.plugin", "pytest.exit")}


def _calls(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts = []
            func: ast.expr = node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                yield node.lineno, ".".join([func.id, *reversed(parts)])


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_nothing_below_the_cli_prints_or_exits(path: Path) -> None:
    name = module_name(path)
    if name.startswith(("zscheck.cli", "zscheck.refserver")) or name == "zscheck.__main__":
        return  # the CLI is the one place that does; the reference server is a program of its own
    found = [
        f"line {line}: {call}()"
        for line, call in _calls(ast.parse(path.read_text()))
        if (call in WRITES_OR_EXITS or call == "pytest.exit") and (name, call) not in MAY_WRITE_OR_EXIT
    ]
    assert not found, f"{name} writes to the terminal or exits ({', '.join(found)}): emit an event instead"


def test_the_print_rule_can_fail() -> None:
    tree = ast.parse("import sys, os\nprint('x')\nsys.exit(2)\nos._exit(1)\nsys.stderr.write('y')\n")
    assert {call for _, call in _calls(tree)} >= {"print", "sys.exit", "os._exit", "sys.stderr.write"}


# ----------------------------------------------------------------------------------- public API tiers

# ARCHITECTURE.md, "Public API tiers": what suites, benchmarks and locustfiles may build on.
STABLE = ("zscheck", "zscheck.wire", "zscheck.checks", "zscheck.linearizability", "zscheck.verdict", "zscheck.events")
PLUGIN_INTERFACE = ("zscheck.conformance.plugin", "zscheck.conformance.harness", "zscheck.load.users")
TIERS = {"contracts": STABLE + PLUGIN_INTERFACE, "bench": STABLE, "loadtests": STABLE + PLUGIN_INTERFACE}
ROOT = SRC.parents[1]


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "zscheck":
            found.add(node.module)
            found.update(  # `from zscheck import _wire` imports the module zscheck._wire
                f"{node.module}.{a.name}"
                for a in node.names
                if (SRC.parent / node.module.replace(".", "/") / f"{a.name}.py").exists()
            )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "zscheck")
    return found


@pytest.mark.parametrize("directory", sorted(TIERS))
def test_suites_benchmarks_and_locustfiles_use_the_public_tiers(directory: str) -> None:
    allowed = set(TIERS[directory])
    for path in sorted((ROOT / directory).rglob("*.py")):
        outside = {m for m in _imported(path) if m not in allowed and not m.startswith("zscheck.checks.")}
        assert not outside, f"{path.relative_to(ROOT)} imports {outside}: only {sorted(allowed)} are public to it"
