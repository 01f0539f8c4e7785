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
    print("zscheck: interrupted by a signal while starting; nothing was changed", file=sys.stderr)
    raise SystemExit(2) from None

raise SystemExit(main())
