"""Formatting: pure functions from numbers to the strings a reader sees.

Every section formats through these, so one quantity reads the same in every table; the
gradcheck study prints its stdout table with ``format_step``, ``format_error`` and
``weights_text`` from here too.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from tabulate import tabulate


def is_missing(value: Any) -> bool:
    """True for None and NaN-like values, whatever column type they came from."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def plural(n: int, word: str) -> str:
    """ "1 run", "2 runs"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def human_duration(seconds: float) -> str:
    """Seconds in the unit a reader thinks in: "85.2 µs", "0.31 s", "2 min 05.3 s", "1 h 03 min".

    Sub-0.1 s values switch to ms/µs so that a per-step gradient time never shows as "0.00 s".
    """
    if is_missing(seconds) or not math.isfinite(seconds):
        return "n/a"
    if seconds == 0:
        return "0 s"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 0.1:
        return f"{seconds * 1e3:.3g} ms"
    if round(seconds, 2) < 60:
        return f"{seconds:.2f} s"
    tenths = round(seconds * 10)
    if tenths < 3600 * 10:
        minutes, rest = divmod(tenths, 600)
        return f"{minutes} min {rest / 10:04.1f} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def format_h(h: float) -> str:
    """The shortest scientific form that reads back as the same float ("1e-04", "2.5e-03")."""
    for digits in range(7):
        text = f"{h:.{digits}e}"
        if float(text) == h:
            return text
    return repr(h)


def format_value(value: Any) -> str:
    """A config value in a label: floats as %g, missing as "none"."""
    if is_missing(value):
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def mean_std(mean: float, std: float, n: int, fmt: str = ".4f") -> str:
    """"mean ± std", or the mean alone when n=1 (a single seed has no spread to report)."""
    if is_missing(mean):
        return "n/a"
    if n > 1 and not is_missing(std):
        return f"{mean:{fmt}} ± {std:{fmt}}"
    return f"{mean:{fmt}}"


def duration_mean_std(mean: float, std: float, n: int) -> str:
    """Like ``mean_std`` but in human time units, each part in its own unit."""
    if n > 1 and not is_missing(std):
        return f"{human_duration(mean)} ± {human_duration(std)}"
    return human_duration(mean)


def format_count(value: float) -> str:
    """Loss evaluations per step: "79,520", with a decimal only when the mean is fractional."""
    if is_missing(value):
        return "n/a"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def human_bytes(n: float) -> str:
    """A memory size in binary units, as a reader compares them: "512 B", "407.8 KiB",
    "3.10 MiB", "1.25 GiB"; "n/a" when missing."""
    if is_missing(n) or not math.isfinite(n):
        return "n/a"
    if n < 1024:
        return f"{int(n)} B"
    if n < 1024**2:
        return f"{n / 1024:.1f} KiB"
    if n < 1024**3:
        return f"{n / 1024**2:.2f} MiB"
    return f"{n / 1024**3:.2f} GiB"


def format_ratio(ratio: float) -> str:
    """A speed ratio as "1,234x", "56.7x" or "1.23x"; "n/a" when there is nothing to divide."""
    if is_missing(ratio) or not math.isfinite(ratio):
        return "n/a"
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    if ratio >= 10:
        return f"{ratio:.1f}x"
    return f"{ratio:.2f}x"


def format_cos(value: float) -> str:
    """A cosine to four decimals: 0.0036 for one random direction, 1.0000 for differences."""
    return "n/a" if is_missing(value) else f"{value:.4f}"


def format_rel_err(value: float) -> str:
    """A relative error in scientific form, "5.13e-10" or "1.44e+02"."""
    return "n/a" if is_missing(value) else f"{value:.2e}"


def format_step(h: float) -> str:
    """A step as "1.0e-04" / "3.2e-05": grid points of half decades stay readable."""
    return "n/a" if pd.isna(h) else f"{h:.1e}"


def format_error(value: float) -> str:
    """A relative error as "8.8e-11"; "n/a" for NaN (a non-finite gradient)."""
    return "n/a" if pd.isna(value) else f"{value:.1e}"


def weights_text(weights: str, trained_epochs: int) -> str:
    """ "init" or "trained (100 epochs)"."""
    if weights == "trained":
        return f"trained ({trained_epochs} epoch{'s' if trained_epochs != 1 else ''})"
    return str(weights)


def markdown(frame: pd.DataFrame, text_columns: int = 1) -> str:
    """A pipe table, text as given (no re-parsing of "1.6600"), numbers aligned right.

    The first ``text_columns`` columns hold names and are aligned left.
    """
    align = [*(["left"] * text_columns), *(["right"] * (len(frame.columns) - text_columns))]
    return tabulate(frame, headers="keys", tablefmt="pipe", showindex=False,
                    disable_numparse=True, colalign=align)
