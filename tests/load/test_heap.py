"""The locust processes hand freed C-heap pages back to the OS: a heap left full of holes (freed answers
between live ones, as a long run leaves it) shrinks in RSS only when zscheck.load.heap releases it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from zscheck.load import heap

# In a fresh interpreter: 40 MB of 2 kB objects (the size of an answer, above pymalloc's 512 bytes, so
# glibc's), every 50th kept, the last one too (glibc trims only the top of its heap by itself).
PROGRAM = """
import json, sys
from zscheck.load import heap
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("RssAnon:")) / 1024
blocks = [bytes(2000) + bytes([i % 256]) for i in range(20000)]
kept = blocks[::50] + blocks[-1:]
del blocks
before = rss()
took = heap.release() if sys.argv[1] == "release" else 0.0
print(json.dumps({"before": before, "after": rss(), "took": took, "kept": len(kept)}))
"""


def freed_heap(how: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", PROGRAM, how], capture_output=True, text=True, timeout=60, check=True)
    return dict(json.loads(out.stdout))


@pytest.mark.skipif(not heap.available(), reason="this C library has no malloc_trim (glibc only): nothing to release")
def test_release_gives_a_holed_heap_back_and_keeping_it_does_not() -> None:
    kept = freed_heap("keep")
    released = freed_heap("release")
    # 40 MB allocated, 39 MB of it freed in holes: kept, the RSS stays; released, most of it goes back.
    assert kept["before"] - kept["after"] < 5, kept
    assert released["before"] - released["after"] > 25, released
    assert 0 <= released["took"] < 1.0


def test_without_malloc_trim_release_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_TRIM", None)
    assert heap.release() is None and not heap.available()
