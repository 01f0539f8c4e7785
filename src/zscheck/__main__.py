import os
import signal
import sys


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# SIGTERM from the first instruction on, as Ctrl-C already is: a CI job cancelled while zscheck still
# imports ends in one line and exit 2, never a bare 143. The commands install their own handlers later.
signal.signal(signal.SIGTERM, _interrupted)
try:
    from zscheck.cli import main
except KeyboardInterrupt:
    print("zscheck: interrupted by a signal while starting; nothing was changed", file=sys.stderr, flush=True)
    # Nothing to clean up, and a normal exit here can end as -SIGINT: CPython notes a KeyboardInterrupt
    # that interrupted an import (seen: `zscheck diff` stopped 0.8 s in exited -2, not 2).
    os._exit(2)

raise SystemExit(main())
