"""Figures a reader can follow without the table: at most ``MAX_SERIES`` lines per panel, no
colour or line style twice in a panel, legends that state values, a cost axis in forward
passes, nothing cut at the edge; drawn from the committed reference runs."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from mlpbench.report import estimators, runs
from mlpbench.report.document import read_inputs
from mlpbench.report.figures import (
    MAX_SERIES,
    epoch_text,
    figure_png,
    new_figure,
    panels,
    series_labels,
    wrap,
)
from mlpbench.report.section import Inputs
from mlpbench.theory import expected_cosine

from .helpers import BACKPROP, NUMERICAL, write

REFERENCE = Path(__file__).resolve().parents[2] / "results" / "reference"
CONFIG_KEY = re.compile(r"\b(steps_per_epoch|directions=|distribution=|noise=|jvp=|"
                        r"rank_shaping|population=)")


@pytest.fixture(scope="module")
def inputs() -> dict[str, Inputs]:
    return {name: read_inputs(REFERENCE / name, [])
            for name in ("estimators", "seed_table", "h_scan")}


@pytest.fixture(scope="module")
def estimators_figure(inputs: dict[str, Inputs]) -> Figure:
    figure = estimators.section(inputs["estimators"]).figures[estimators.FIGURE]
    assert isinstance(figure, Figure)
    return figure


@pytest.fixture(scope="module")
def run_figures(inputs: dict[str, Inputs]) -> dict[str, dict[str, Figure]]:
    out = {}
    for name in ("seed_table", "h_scan", "estimators"):
        figures = runs.figures_section(inputs[name]).figures
        assert all(isinstance(f, Figure) for f in figures.values())
        out[name] = figures  # type: ignore[assignment]
    return out


def data_lines(ax: Axes) -> list[Line2D]:
    """The lines of an axes that draw data: neither the dashed theory levels nor empty ones."""
    return [line for line in ax.get_lines() if len(line.get_xdata()) > 2]


def assert_distinct_styles(ax: Axes) -> None:
    """At most ``MAX_SERIES`` data lines, no colour and no dash pattern twice. Line2D has no
    public getter for a custom dash sequence (get_linestyle says "--" for all of them), hence
    the private ``_dash_pattern``."""
    lines = data_lines(ax)
    assert 0 < len(lines) <= MAX_SERIES
    colors = [line.get_color() for line in lines]
    dashes = [(line.get_linestyle(), tuple(line._dash_pattern[1] or ())) for line in lines]
    assert len(set(colors)) == len(colors), colors
    assert len(set(dashes)) == len(dashes), dashes


def legend_texts(fig: Figure) -> list[str]:
    """Every legend entry of the figure and its subfigures, and of its axes."""
    holders = [fig, *fig.subfigs]
    legends = [leg for h in holders for leg in h.legends]
    legends += [ax.get_legend() for ax in fig.get_axes() if ax.get_legend() is not None]
    return [t.get_text() for leg in legends for t in leg.get_texts()]


def test_estimators_figure_has_a_row_per_family_with_backprop_in_each(
    estimators_figure: Figure,
) -> None:
    axes = estimators_figure.get_axes()
    titles = [ax.get_title(loc="left").replace("\n", " ") for ax in axes
              if ax.get_title(loc="left")]
    assert titles == ["finite differences over every parameter",
                      "SPSA / MeZO: two loss evaluations per random direction",
                      "forward gradients: one forward-mode pass per random direction",
                      "evolution strategies: antithetic pairs of random directions"]
    plotted = [ax for ax in axes if ax.axison and ax.get_xlabel()]
    assert len(plotted) == 16  # 4 families x (accuracy by epoch, cost, time; cosine)
    for ax in plotted:
        assert_distinct_styles(ax)
    accuracy = [ax for ax in plotted if "cosine" not in ax.get_ylabel()]
    for ax in accuracy:
        assert sum(line.get_color() == "black" for line in data_lines(ax)) == 1  # backprop


def test_estimators_legends_state_values_in_words(estimators_figure: Figure) -> None:
    labels = legend_texts(estimators_figure)
    flat = [label.replace("\n", " ") for label in labels]
    assert "SPSA, 10 Gaussian directions, noise table, h = 1e-03, lr 0.1" in flat
    assert "forward gradient, 1 direction, dual-number JVP, noise table, lr 0.03" in flat
    assert "ES, 100 pairs, rank-shaped, noise table, h = 1e-02, lr 0.003" in flat
    assert "Richardson extrapolation, h = 1e-04, incremental engine, lr 0.1" in flat
    assert flat.count("backprop (reference), lr 0.1") == 4
    assert not [label for label in flat if CONFIG_KEY.search(label)]


def test_cost_axis_counts_forward_passes(inputs: dict[str, Inputs],
                                         estimators_figure: Figure) -> None:
    """SPSA with one direction and forward gradients with one cost about the same (2 and 2.01
    passes per step), not 2 against 1 as loss evaluations would say."""
    curves = estimators.section(inputs["estimators"]).numbers["curves"]
    last = curves[curves["epoch"] == 100].set_index("config")
    assert (curves["cost_basis"] == "theory").all()
    spsa = last.loc["spsa (h=1e-03, directions=1, distribution=rademacher, noise=fresh)"]
    forward = last.loc["forward_gradient (directions=1, jvp=dual, noise=table)"]
    backprop = last.loc["backprop"]
    assert spsa["cost_mean"] == pytest.approx(2 * 100)
    assert forward["cost_mean"] == pytest.approx(2.012594 * 100, rel=1e-6)
    assert backprop["cost_mean"] == pytest.approx(2.012594 * 100, rel=1e-6)
    assert forward["evals_mean"] == 100 and spsa["evals_mean"] == 200
    cost_axes = [ax for ax in estimators_figure.get_axes() if "forward passes" in ax.get_xlabel()]
    assert len(cost_axes) == 4 and all(ax.get_xscale() == "log" for ax in cost_axes)
    assert "theoretical passes per step x SGD steps" in cost_axes[0].get_xlabel()


def test_cosine_panels_draw_the_theory_levels(estimators_figure: Figure) -> None:
    cosine = [ax for ax in estimators_figure.get_axes() if "cosine" in ax.get_ylabel()]
    assert len(cosine) == 4
    levels = [sorted({round(float(line.get_ydata()[0]), 6) for line in ax.get_lines()
                      if line.get_linestyle() == "--" and len(line.get_xdata()) == 2})
              for ax in cosine]
    p = 39_760
    assert levels == [[], [round(expected_cosine(k, p), 6) for k in (1, 10, 100)],
                      [round(expected_cosine(k, p), 6) for k in (1, 10, 100)],
                      [round(expected_cosine(k, p), 6) for k in (10, 100)]]
    assert all(ax.get_ylim()[0] <= 0 and ax.get_yscale() == "linear" for ax in cosine)


def test_fallback_to_loss_evaluations_without_a_theoretical_count(tmp_path: Path) -> None:
    write(tmp_path / "r", BACKPROP, 0, 1.6, 0.7, 0.3)
    write(tmp_path / "r", {**NUMERICAL, "engine": "incremental"}, 0, 1.6, 0.7, 3.0)
    data = read_inputs(tmp_path / "r", [])
    assert "theory_forward_passes" not in data.ok_runs or (
        data.ok_runs["theory_forward_passes"].isna().all())
    curves = estimators.estimator_curves(data.curves, data.ok_runs)
    assert (curves["cost_basis"] == "loss_evals").all()
    assert list(curves["cost_mean"]) == list(curves["evals_mean"])


def test_run_figures_panels_and_labels(run_figures: dict[str, dict[str, Figure]]) -> None:
    for name, figures in run_figures.items():
        for file, fig in figures.items():
            plotted = [ax for ax in fig.get_axes() if ax.axison]
            for ax in plotted:
                assert_distinct_styles(ax)
                assert "steps_per_epoch" not in ax.get_xlabel()
                assert ax.get_xlabel() == "epoch (one epoch = 1 SGD step of 100 samples)", \
                    (name, file)
            assert not [t for t in legend_texts(fig) if CONFIG_KEY.search(t)], (name, file)
    h_scan = run_figures["h_scan"][runs.LOSS_FIGURE]
    assert len(h_scan.get_axes()) == 6  # 3 schemes x 2 ranges of h, backprop + 5 in each
    assert [len(data_lines(ax)) for ax in h_scan.get_axes()] == [6] * 6
    assert h_scan.get_axes()[0].get_title().replace("\n", " ") == (
        "finite differences over every parameter: backward differences, h = 1e-10 to 1e-06")


def test_short_run_is_marked_and_says_so(run_figures: dict[str, dict[str, Figure]]) -> None:
    for file in (runs.LOSS_FIGURE, runs.PAIRED_FIGURE):
        fig = run_figures["seed_table"][file]
        [naive] = [t for t in legend_texts(fig) if "naive" in t]
        assert "ran only 2 epochs (full-length time extrapolated in the Speed table)" in naive
        ax = fig.get_axes()[0]
        [stub] = [line for line in ax.get_lines() if len(line.get_xdata()) == 2]
        assert stub.get_marker() not in (None, "None", "") and stub.get_markevery() is None


def test_series_labels_say_what_differs() -> None:
    rows = pd.DataFrame([
        {"config": "a", "method": "spsa", "scheme": None, "engine": None, "h": 1e-3,
         "options": "directions=10, distribution=gaussian", "lr": 0.1, "n": 3, "epochs": 5},
        {"config": "b", "method": "spsa", "scheme": None, "engine": None, "h": 1e-3,
         "options": "directions=1, distribution=rademacher", "lr": 0.03, "n": 1, "epochs": 2,
         "short": True},
    ])
    assert series_labels(rows) == {
        "a": "SPSA, 10 Gaussian directions, h = 1e-03, lr 0.1",
        "b": "SPSA, 1 Rademacher direction, h = 1e-03, lr 0.03, 1 seed, ran only 2 epochs "
             "(full-length time extrapolated in the Speed table)",
    }


def test_panels_split_a_large_family_and_never_repeat_a_style() -> None:
    rows = pd.DataFrame(
        [{"config": "backprop", "method": "backprop", "scheme": None, "h": None,
          "role": "reference", "n": 1}]
        + [{"config": f"{s} {h}", "method": "numerical", "scheme": s, "h": h, "role": None,
            "n": 1, "engine": "incremental"}
           for s in ("central", "forward") for h in (1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3,
                                                     1e-2, 1e-1)])
    made = panels(rows)
    assert [len(p.series) for p in made] == [6, 5, 6, 5]  # backprop + 9 split as 5 + 4
    assert made[0].title.endswith("central differences, h = 1e-09 to 1e-05")
    for panel in made:
        assert panel.series[0].reference
        styles = [(s.style["color"], str(s.style["ls"]), s.style.get("marker"))
                  for s in panel.series]
        for position in range(3):
            assert len({style[position] for style in styles}) == len(styles)


def test_epoch_text_states_values() -> None:
    frame = pd.DataFrame({"steps_per_epoch": [1, 100], "batch_size": [100, 100]})
    assert epoch_text(frame.iloc[:1]) == "one epoch = 1 SGD step of 100 samples"
    assert epoch_text(frame) == ("one epoch = 1 SGD step of 100 samples or 100 SGD steps of "
                                 "100 samples")


def test_png_keeps_long_titles_whole_and_is_deterministic() -> None:
    """A title longer than the figure is wrapped, the PNG is cropped to what was drawn, and the
    same figure gives the same bytes without a Software entry."""
    long = "a title " * 40

    def draw() -> Figure:
        fig = new_figure(4, 3)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1])
        fig.suptitle(wrap(long, 4), fontsize=10)
        return fig

    fig = draw()
    assert max(len(line) for line in fig._suptitle.get_text().split("\n")) <= 4 * 72 / 5.5
    first, second = figure_png(fig), figure_png(draw())
    assert first == second
    assert b"Software" not in first and b"matplotlib" not in first.lower()
    image = Image.open(io.BytesIO(first))
    fig.canvas.draw()
    title = fig._suptitle.get_window_extent()
    assert title.width <= image.size[0]


def test_two_references_are_told_apart() -> None:
    """Backprop under two dtypes: both references in every panel, in two styles."""
    rows = pd.DataFrame(
        [{"config": f"backprop [dtype={d}]", "method_label": "backprop", "method": "backprop",
          "scheme": None, "h": None, "role": "reference", "n": 1} for d in ("float64", "float32")]
        + [{"config": f"spsa {k}", "method": "spsa", "scheme": None, "h": 1e-3, "role": None,
            "options": f"directions={k}", "n": 1} for k in (1, 10)])
    [panel] = panels(rows)
    styles = [(s.style["color"], str(s.style["ls"])) for s in panel.series]
    assert len(set(styles)) == len({c for c, _ in styles}) == 4
    assert [s.label for s in panel.series[:2]] == ["backprop (reference), dtype float64",
                                                   "backprop (reference), dtype float32"]
