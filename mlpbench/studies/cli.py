"""What the studies' command lines share: usage errors as one line with exit code 2.

``python -m mlpbench.scaling`` and ``python -m mlpbench.gradcheck`` take flags through argparse;
this makes their bad input look like the Hydra entry point's: one line naming the flag and
what is allowed, exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from mlpbench.errors import EXIT_USAGE, MlpbenchError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2, like the other CLIs."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got '{text}'")
        return value

    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got '{text}'")
    return value


def usage_error(prog: str, error: MlpbenchError) -> int:
    """A user error found while measuring: one line on stderr, exit code 2."""
    print(f"{prog}: error: {error}", file=sys.stderr)
    return EXIT_USAGE


def written(table: str, rows: int, started: float, path: Path) -> int:
    """What a study prints once its parquet is written: its table, the row count, the time
    since ``started`` (``time.perf_counter``) and the file; exit code 0."""
    print(table)
    print(f"\n{rows} rows; total {time.perf_counter() - started:.1f} s; wrote {path}")
    return 0
