"""The studies' figures, drawn from the committed reference results: the gradcheck legend names
schemes in words, and the scaling title says when its timings ran under several conditions."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from mlpbench.report import gradcheck_section, scaling_section
from mlpbench.report.document import read_inputs

REFERENCE = Path(__file__).resolve().parents[2] / "results" / "reference"


def test_gradcheck_legend_names_schemes_in_words() -> None:
    figure = gradcheck_section.section(read_inputs(REFERENCE / "h_scan", [])).figures[
        gradcheck_section.FIGURE]
    assert isinstance(figure, Figure)
    [legend] = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "forward", "backward", "central", "richardson", "complex step"]
    slopes = [t.get_text() for ax in figure.get_axes() for t in ax.get_legend().get_texts()]
    assert "∝ h²: truncation of central, complex step" in slopes
    assert not [text for text in slopes if "_" in text]


def test_scaling_title_says_its_timings_ran_under_two_conditions() -> None:
    section = scaling_section.section(read_inputs(REFERENCE / "seed_table", []))
    figure = section.figures[scaling_section.FIGURE]
    assert isinstance(figure, Figure)
    title = figure.get_suptitle().replace("\n", " ")
    assert "measured under 2 conditions: numba threads 2, BLAS threads at the library default" \
        in title
    assert "measured under 2 conditions:" in section.markdown
    assert max(len(line) for line in figure.get_suptitle().split("\n")) <= (
        figure.get_figwidth() * 72 / 5.5)
