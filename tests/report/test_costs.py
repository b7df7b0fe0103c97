"""The cost section: each method's step in forward passes, the mean of every run's own ratio,
beside its theoretical count; left out when no run recorded the count."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpbench.report import ReportOutputs, costs, document
from mlpbench.report.section import Section

from .helpers import BACKPROP, NUMERICAL, table_rows, write, write_one_step

SPSA = {"method": "spsa", "scheme": None, "engine": None, "h": 1e-3,
        "options": "directions=1, distribution=rademacher, noise=fresh"}
SPSA_LABEL = "spsa (h=1e-03, directions=1, distribution=rademacher, noise=fresh)"
# (method, seed, status, gradient time per step, forward pass time, theory)
MEASURED = [
    (BACKPROP, 0, "ok", 0.50e-3, 0.25e-3, 2.0126), (BACKPROP, 1, "ok", 0.60e-3, 0.20e-3, 2.0126),
    (SPSA, 0, "ok", 0.55e-3, 0.25e-3, 2.0), (SPSA, 1, "diverged", 9.0e-3, 0.25e-3, 2.0),
]


@pytest.fixture(scope="module")
def cost_section(tmp_path_factory: pytest.TempPathFactory) -> Section:
    """Four costed runs (one diverged) and one run from before the count."""
    out = tmp_path_factory.mktemp("costs") / "results"
    for method, seed, status, step, forward, theory in MEASURED:
        write_one_step(out, method, seed, status, grad_time=step, forward_time_s=forward,
                       theory_forward_passes=theory)
    write(out, NUMERICAL, 0, 1.55, 0.63, 3780.0)
    bad: list[tuple[Path, str]] = []
    inputs = document.read_inputs(out, bad)
    assert bad == []
    return costs.section(inputs)


def test_each_run_is_divided_by_its_own_forward_pass(cost_section: Section) -> None:
    table = cost_section.numbers["costs"]
    assert list(table["method_label"]) == [SPSA_LABEL, "backprop"]  # cheapest first
    spsa, backprop = table.iloc[0], table.iloc[1]
    assert backprop["n"] == 2
    assert backprop["measured_forward_passes"] == pytest.approx((0.5 / 0.25 + 0.6 / 0.2) / 2)
    assert backprop["theory_forward_passes"] == pytest.approx(2.0126)
    assert (spsa["n"], spsa["measured_forward_passes"]) == (1, pytest.approx(2.2))  # ok only


def test_cost_section_text(cost_section: Section) -> None:
    text = cost_section.markdown
    assert text.startswith("## Cost in forward passes\n")
    assert "batch 100; one forward pass" in text
    assert table_rows(text, "backprop") == [["backprop", "2", "550 µs", "2.50", "2.01"]]
    assert table_rows(text, SPSA_LABEL) == [[SPSA_LABEL, "1", "550 µs", "2.20", "2.00"]]
    assert "numerical" not in text.split("\n\n", 2)[2]  # its run predates the count


def test_no_cost_section_without_the_count(rendered: ReportOutputs) -> None:
    assert "## Cost in forward passes" not in rendered.report_md.read_text()
    assert rendered.numbers["costs"]["costs"].empty
