"""ARCHITECTURE.md's import table, enforced: a layering rule that is not checked is a wish."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "zscheck"

ALLOWED = {
    "zscheck._wire": set(),
    "zscheck._models": {"zscheck._wire"},
    "zscheck._transport": {"zscheck._wire", "zscheck._models"},
    "zscheck.client": {"zscheck", "zscheck._wire", "zscheck._models", "zscheck._transport", "zscheck.errors"},
    "zscheck.errors": set(),
    "zscheck.slo": {"zscheck.errors"},
    "zscheck.linearizability": set(),
    "zscheck.metrics": set(),
    "zscheck.config": {"zscheck.errors"},
    "zscheck.report.html": set(),
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
    elif name in ALLOWED:
        extra = imports - ALLOWED[name]
        assert not extra, f"{name} imports {extra}, outside ARCHITECTURE.md's table"


# Only these start the reference server as a target; nothing that judges answers may import it.
MAY_START_THE_SERVER = {"zscheck.cli", "zscheck.conformance.harness", "zscheck.load.runner"}


def test_harness_never_imports_the_reference_server() -> None:
    for path in MODULES:
        name = module_name(path)
        if name.startswith("zscheck.refserver") or name in MAY_START_THE_SERVER:
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
