"""``python -m mlpbench.report --results-dir R [--out O]``: render R's parquet into O.

Exit codes: 0 when every file was read; ``EXIT_BAD_FILES`` when the report was written but
some files were left out (named on stderr and at the end of report.md); ``EXIT_USAGE`` on a
user error (no runs, an unwritable output folder), as one line on stderr, which names the files
left out when there were some but none held a committed run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mlpbench.errors import EXIT_USAGE, MlpbenchError
from mlpbench.report.document import render, terminal_text

EXIT_BAD_FILES = 1
"""The report was written from the readable files, but some files were left out."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mlpbench.report",
        description="Rebuild the blog post's table and curves from the parquet in results-dir.",
    )
    parser.add_argument("--results-dir", type=Path, default=Path("results"),
                        help="folder holding curves/ and runs/ (default: results)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write report.md and the PNGs "
                             "(default: <results-dir>/report)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Render the report; a user error is one line on stderr and exit code 2, no traceback."""
    args = parse_args(argv)
    out_dir = args.out if args.out is not None else args.results_dir / "report"
    try:
        outputs = render(args.results_dir, out_dir)
    except MlpbenchError as ex:
        print(f"mlpbench.report: error: {ex}", file=sys.stderr)
        return EXIT_USAGE
    print(terminal_text(outputs))
    for path, reason in outputs.bad_files:
        print(f"mlpbench.report: left out file '{path}': {reason}", file=sys.stderr)
    return EXIT_BAD_FILES if outputs.bad_files else 0


if __name__ == "__main__":
    sys.exit(main())
