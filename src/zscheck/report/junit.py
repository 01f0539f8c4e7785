"""JUnit XML as CI servers read it (Jenkins, GitLab, GitHub test reporters): one <testsuite> with
`tests`, `failures`, `errors` and `skipped` counts that agree with its <testcase>s."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree as ET

Outcome = Literal["passed", "failed", "error", "skipped"]


@dataclass(frozen=True)
class Case:
    classname: str
    name: str
    outcome: Outcome
    message: str = ""
    text: str = ""
    seconds: float = 0.0


def _clean(text: str) -> str:
    """XML 1.0 has no place for most control characters (a fuzzed body may carry them)."""
    return "".join(c if c in "\t\n\r" or (ord(c) >= 0x20 and c not in "\ufffe\uffff") else "?" for c in text)


def junit_xml(suite: str, cases: list[Case], *, seconds: float = 0.0) -> str:
    counts = {k: sum(1 for c in cases if c.outcome == k) for k in ("failed", "error", "skipped")}
    root = ET.Element("testsuites")
    node = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(cases)),
        failures=str(counts["failed"]),
        errors=str(counts["error"]),
        skipped=str(counts["skipped"]),
        time=f"{seconds:.3f}",
        timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
    )
    for case in cases:
        element = ET.SubElement(
            node, "testcase", classname=_clean(case.classname), name=_clean(case.name), time=f"{case.seconds:.3f}"
        )
        tag = {"failed": "failure", "error": "error", "skipped": "skipped"}.get(case.outcome)
        if tag is not None:
            child = ET.SubElement(element, tag, message=_clean(case.message))
            child.text = _clean(case.text) or None
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, suite: str, *, cases: list[Case], seconds: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(suite, cases, seconds=seconds), encoding="utf-8")
    return path
