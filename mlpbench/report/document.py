"""Rendering: read the parquet once, title the report, run every section in order, write the
figures, then report.md, each file atomically.

The title says what the results hold: the title and question the sweep recorded in the results
folder (``results.read_sweeps``), or, without one, what the runs compare (``title_section``).
``SECTIONS`` is the report below it, top to bottom: adding a section is one module with a
``section(inputs) -> Section`` and a ``FIGURES`` tuple, plus one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from mlpbench import results
from mlpbench.errors import ResultsError
from mlpbench.report import (
    budget_section,
    costs,
    estimators,
    gradcheck_section,
    memory,
    published,
    quality_section,
    runs,
    scaling_section,
    speed,
)
from mlpbench.report.configs import label_configs, summarise
from mlpbench.report.describe import contents_title
from mlpbench.report.figures import colors, figure_png
from mlpbench.report.format import plural
from mlpbench.report.section import Inputs, Section

SectionFn = Callable[[Inputs], Section]

SECTIONS: tuple[SectionFn, ...] = (
    runs.table_section,  # what was measured, "## Our results"
    budget_section.section,  # "## Equal budget, ..." (a tuned sweep's final runs)
    estimators.section,  # "## Estimators"
    speed.section,  # "## Speed"
    costs.section,  # "## Cost in forward passes" (runs that recorded theory_forward_passes)
    memory.section,  # "## Memory" (runs that recorded peak_mem_bytes)
    published.heading_section,  # "## The post's published figures" (runs of the post's)
    published.section,  # "## Published experiments" (runs of a publication's protocol)
    runs.figures_section,  # "## Figures"
    scaling_section.section,  # "## Scaling"
    gradcheck_section.section,  # "## Gradient error against h"
    quality_section.section,  # "## Gradient quality at fixed weights"
)
"""The sections in the order report.md shows them; one without anything to say is left out."""

REPORT_MD = "report.md"


@dataclass(frozen=True, eq=False)
class ReportOutputs:
    """What ``render`` wrote and the numbers behind it, so callers and tests need not re-parse.

    ``figures`` maps each figure file name written to its path, in the order the sections'
    modules declare them (``figure_names``);
    ``numbers`` maps each section's name to its ``Section.numbers``, the title's under
    "title"; ``bad_files`` lists the files left out as (path, reason).
    """

    report_md: Path
    figures: dict[str, Path]
    numbers: dict[str, dict[str, Any]]
    bad_files: list[tuple[Path, str]]


def figure_names(sections: Iterable[SectionFn] = SECTIONS) -> tuple[str, ...]:
    """Every figure file name the sections' modules declare (``FIGURES``), once each."""
    names: dict[str, None] = {}
    for entry in sections:
        for name in importlib.import_module(entry.__module__).FIGURES:
            names.setdefault(name, None)
    return tuple(names)


def _read(
    results_dir: Path, bad_files: list[tuple[Path, str]], left_out: list[dict[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the runs, turning every way of finding nothing into one ``ResultsError``.

    Files that are not committed results are added to ``bad_files`` and left out. When that
    leaves no run, the error names them, so a folder of cut or foreign files is never taken for
    an empty one.
    """
    no_runs = ResultsError(f"no runs in '{results_dir}'; run `make sweep` first")
    if not results_dir.is_dir():
        raise no_runs
    try:
        curves, run_rows = results.read_results(results_dir, bad_files, left_out)
    except ResultsError:
        stray = sorted(results_dir.glob("*.parquet"))
        if stray:
            raise ResultsError(
                f"no runs in '{results_dir}' (no curves/ and runs/ folders); "
                + left_out_names(results_dir, [(p, "not in curves/ or runs/") for p in stray])
            ) from None
        raise no_runs from None
    except (pa.ArrowException, OSError) as ex:
        reason = str(ex).splitlines()[0] if str(ex) else type(ex).__name__
        raise ResultsError(f"cannot read results in '{results_dir}': {reason}") from None
    if run_rows.empty:
        if bad_files:
            raise ResultsError(f"no readable runs in '{results_dir}'; "
                               + left_out_names(results_dir, bad_files))
        raise no_runs
    return curves, run_rows


NAMED_AT_MOST = 3
"""Files an error line names before it counts the rest: enough to see what went wrong, short
enough to stay one line."""


def left_out_names(results_dir: Path, bad_files: list[tuple[Path, str]]) -> str:
    """"left out: runs/x.parquet (reason), ... and 4 more", paths relative to ``results_dir``."""
    def short(path: Path) -> str:
        try:
            return str(path.relative_to(results_dir))
        except ValueError:
            return str(path)

    named = [f"{short(path)} ({reason})" for path, reason in bad_files[:NAMED_AT_MOST]]
    more = len(bad_files) - len(named)
    return "left out: " + ", ".join(named) + (f" and {more} more" if more else "")


def read_inputs(results_dir: Path, bad_files: list[tuple[Path, str]]) -> Inputs:
    """Everything the sections read: the runs, one attempt per run_id, labelled and summarised,
    and the scaling and gradcheck rows. Unreadable files are added to ``bad_files``; finding no
    run at all is a ``ResultsError``.
    """
    results_dir = Path(results_dir)
    left_out: list[dict[str, Any]] = []
    curves, all_runs = _read(results_dir, bad_files, left_out)
    attempts = results.select_attempts(all_runs)
    all_kept = attempts.kept
    tunings = results.read_tunings(results_dir, bad_files)
    if not tunings.empty:  # a tuned sweep: the sections show its final runs
        all_kept = label_configs(all_kept)
        finals = budget_section.final_attempts(all_kept, tunings)
        kept = label_configs(attempts.kept[attempts.kept["attempt_id"].isin(
            finals["attempt_id"])])
    else:
        kept = label_configs(all_kept)
        all_kept = kept
    ok_runs = kept[kept["status"].eq("ok")]
    summary = summarise(ok_runs)
    scaling_rows = scaling_section.read_scaling(results_dir, bad_files)
    gradcheck_rows = gradcheck_section.read_gradcheck(results_dir, bad_files)
    return Inputs(curves=curves, kept=kept, ok_runs=ok_runs, set_aside=attempts.set_aside,
                  summary=summary, colors=colors(summary["config"]), scaling=scaling_rows,
                  gradcheck=gradcheck_rows, left_out=pd.DataFrame(left_out), tuning=tunings,
                  all_kept=all_kept, quality=quality_section.read_quality(results_dir, bad_files))


def title_section(sweeps: pd.DataFrame, runs: pd.DataFrame) -> Section:
    """The report's title, by what its results hold, and the question they answer, stated once.

    One titled sweep recorded in the folder: its title, its question under it. Several (sweeps
    run into one folder): a title from the runs, then each sweep's title and question. None
    (results from before the records, or a plain ``--multirun``): a title from the runs, the
    post's question only where they are the post's experiment, so that a report of another
    publication's runs or another comparison never claims to answer it.
    Numbers: ``title``, ``question`` (None when no single sweep gives one) and ``sweeps``.
    """
    titled = sweeps[sweeps["title"].notna()].reset_index(drop=True)
    question = None
    if len(titled) == 1:
        title = str(titled["title"].iloc[0])
        question = None if pd.isna(titled["question"].iloc[0]) else str(titled["question"].iloc[0])
        lines = [f"# {title}", "", *([question, ""] if question else [])]
    else:
        title = (f"{published.POST_QUESTION} Our measurements"
                 if published.asks_the_posts_question(runs) else contents_title(runs))
        lines = [f"# {title}", ""]
        if len(titled):
            lines += ["The sweeps run into this folder:", ""]
            lines += [f"- {row['title']}" + ("" if pd.isna(row["question"])
                                              else f": {row['question']}")
                      for _, row in titled.iterrows()]
            lines.append("")
    return Section("title", "\n".join(lines),
                   numbers={"title": title, "question": question, "sweeps": sweeps})


QUALITY_TITLE = "Gradient estimates at fixed weights: cosine, error, bias and variance"
"""The title of a folder that holds a gradient-quality study and no runs."""


def quality_only(results_dir: Path) -> bool:
    """A folder with a ``quality`` study and no ``runs`` folder: rendered as that study alone."""
    return (results_dir / "quality").is_dir() and not (results_dir / "runs").is_dir()


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically: a reader sees the old file or the new one."""
    results.write_atomic(path, lambda fh: fh.write(data), replace=True)


def render(results_dir: Path, out_dir: Path) -> ReportOutputs:
    """Read the parquet under ``results_dir`` and write report.md and the figures to ``out_dir``.

    Every section is computed and drawn before anything is written. Figures are written before
    report.md, so the report never links to a missing image; a figure an earlier render wrote
    that no section draws now (paired_seed.png when no seed is shared any more) is removed.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    bad_files: list[tuple[Path, str]] = []
    if quality_only(results_dir):
        title = Section("title", f"# {QUALITY_TITLE}\n", numbers={"title": QUALITY_TITLE})
        computed = [(quality_section.section,
                     quality_section.quality_parts(
                         quality_section.read_quality(results_dir, bad_files)))]
    else:
        inputs = read_inputs(results_dir, bad_files)
        title = title_section(results.read_sweeps(results_dir, bad_files), inputs.kept)
        computed = [(entry, entry(inputs)) for entry in SECTIONS]
    parts: list[str] = [title.markdown]
    pngs: dict[str, bytes] = {}
    numbers: dict[str, dict[str, Any]] = {title.name: title.numbers}
    for entry, part in computed:
        undeclared = set(part.figures) - set(figure_names([entry]))
        if undeclared or part.name in numbers:
            raise ValueError(f"section {entry.__module__}.{entry.__name__}: undeclared figure "
                             f"{sorted(undeclared)} or a second section named {part.name!r}")
        for name, figure in part.figures.items():
            pngs[name] = figure if isinstance(figure, bytes) else figure_png(figure)
        numbers[part.name] = part.numbers
        if part.markdown:
            parts.append(part.markdown)
    text = "\n".join(parts) + bad_files_markdown(bad_files)

    report_md = out_dir / REPORT_MD
    written: dict[str, Path] = {}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in figure_names():
            if name in pngs:
                _write(out_dir / name, pngs[name])
                written[name] = out_dir / name
            else:
                (out_dir / name).unlink(missing_ok=True)
        _write(report_md, text.encode())
    except OSError as ex:
        reason = ex.strerror or type(ex).__name__
        raise ResultsError(f"cannot write the report to '{out_dir}': {reason}") from None
    return ReportOutputs(report_md=report_md, figures=written, numbers=numbers,
                         bad_files=bad_files)


def bad_files_markdown(bad_files: list[tuple[Path, str]]) -> str:
    """A closing section naming every file that was left out because it could not be read."""
    if not bad_files:
        return ""
    lines = ["", "## Files left out", "",
             "These files in the results folder are not committed mlpbench results (unreadable, "
             "cut short, foreign, or not the one file the writer gave an attempt) and are not in "
             "any table or figure above. The next run started in the folder moves those in "
             "curves/ and runs/ to .debris/:", ""]
    lines += [f"- `{path}`: {reason}" for path, reason in bad_files]
    return "\n".join(lines) + "\n"


def terminal_text(outputs: ReportOutputs) -> str:
    """What the CLI prints: the table, what was left out, and where the files are."""
    if "runs" not in outputs.numbers:  # a gradient-quality study alone
        return "\n".join(f"wrote {path}" for path in (outputs.report_md,
                                                      *outputs.figures.values()))
    numbers = outputs.numbers["runs"]
    lines = [numbers["table"], ""]
    if numbers["footnote"]:
        lines += [numbers["footnote"], ""]
    lines.append(runs.excluded_line(numbers["excluded"]))
    if numbers["duplicates"]:
        lines.append(f"{plural(numbers['duplicates'], 'duplicate attempt')} set aside "
                     "(latest ok attempt used).")
    lines.append("")
    lines += [f"wrote {path}" for path in (outputs.report_md, *outputs.figures.values())]
    return "\n".join(lines)
