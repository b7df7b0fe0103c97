"""The contract between ``render`` and the sections: what a section gets and what it returns.

A section is a function ``section(inputs: Inputs) -> Section``. It reads the frames it needs
from ``Inputs`` (read once by ``document.read_inputs``), and returns its markdown, the figures it
links, and the numbers behind both. It writes nothing: ``render`` writes every figure, then
report.md. Each section module lists in ``FIGURES`` the file names it may write, so that a
figure an earlier render wrote and this one does not is removed rather than left stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib.figure import Figure


@dataclass(frozen=True, eq=False)
class Inputs:
    """Every frame the sections read, read and prepared once.

    ``kept`` is one attempt per run_id (``results.select_attempts``), labelled
    (``configs.label_configs``); ``ok_runs`` its status-ok rows, the only ones any mean is
    taken over; ``summary`` one row per configuration (``configs.summarise``); ``colors`` one
    colour per configuration, shared by every figure. ``scaling`` and ``gradcheck`` hold every
    row of the two studies' folders (empty frames when there are none). ``left_out`` holds the
    runs rows whose curves did not read back whole (``results.read_results``). ``tuning``
    holds the tuned sweeps' records (``results.read_tunings``); where there are any, ``kept``
    and what is made from it hold the final runs alone (every section then shows each
    configuration at its chosen rate), and ``all_kept`` every kept run, tuning runs included.
    ``quality`` holds every row of the gradient-quality study's folder.
    """

    curves: pd.DataFrame
    kept: pd.DataFrame
    ok_runs: pd.DataFrame
    set_aside: pd.DataFrame
    summary: pd.DataFrame
    colors: dict[str, str]
    scaling: pd.DataFrame
    gradcheck: pd.DataFrame
    left_out: pd.DataFrame = field(default_factory=pd.DataFrame)
    tuning: pd.DataFrame = field(default_factory=pd.DataFrame)
    all_kept: pd.DataFrame = field(default_factory=pd.DataFrame)
    quality: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True, eq=False)
class Section:
    """One section of the report.

    ``name`` keys its ``numbers`` in ``ReportOutputs``; ``markdown`` is "" when the section has
    nothing to say (and is then left out); ``figures`` maps a file name (one of its module's
    ``FIGURES``) to the figure, as a matplotlib Figure or PNG bytes; ``numbers`` holds the
    DataFrames and values the markdown and figures were made from, for callers and tests.
    """

    name: str
    markdown: str = ""
    figures: dict[str, Figure | bytes] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
