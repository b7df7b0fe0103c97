"""The Memory section: the median peak per method beside one forward pass, checked against hand
computation; left out when no run recorded the columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpbench.report import ReportOutputs, costs, document, memory, speed
from mlpbench.report.format import human_bytes
from mlpbench.report.memory import FORWARD_LABEL
from mlpbench.report.section import Section

from .helpers import BACKPROP, N_PARAMS, NUMERICAL, table_rows, write, write_one_step

SPSA = {"method": "spsa", "scheme": None, "engine": None, "h": 1e-3,
        "options": "directions=1, distribution=rademacher"}
SPSA_LABEL = "spsa (h=1e-03, directions=1, distribution=rademacher)"
FORWARD = 121_344
# (method, seed, status, peak_mem_bytes)
MEASURED = [
    (BACKPROP, 0, "ok", 407_000), (BACKPROP, 1, "ok", 410_000), (BACKPROP, 2, "ok", 2_000_000),
    (SPSA, 0, "ok", 1_078_472), (SPSA, 1, "diverged", 1_100_000),
]


@pytest.fixture(scope="module")
def memory_section(tmp_path_factory: pytest.TempPathFactory) -> Section:
    """The section of five measured runs (one diverged) and one run from before the columns,
    read as ``render`` reads them (without drawing the other sections' figures)."""
    out = tmp_path_factory.mktemp("memory") / "results"
    for method, seed, status, peak in MEASURED:
        write_one_step(out, method, seed, status, peak_mem_bytes=peak,
                       forward_peak_mem_bytes=FORWARD)
    write(out, NUMERICAL, 0, 1.55, 0.63, 3780.0)
    bad: list[tuple[Path, str]] = []
    inputs = document.read_inputs(out, bad)
    assert bad == []
    return memory.section(inputs)


def test_medians_and_ratios_match_hand_computation(memory_section: Section) -> None:
    memory = memory_section.numbers["memory"]
    assert list(memory["method_label"]) == [FORWARD_LABEL, "backprop", SPSA_LABEL]
    forward, backprop, spsa = (memory.iloc[i] for i in range(3))
    assert (forward["n"], forward["peak_mem_bytes_median"]) == (5, FORWARD)
    assert (backprop["n"], backprop["peak_mem_bytes_median"]) == (3, 410_000)
    assert (spsa["n"], spsa["peak_mem_bytes_median"]) == (2, (1_078_472 + 1_100_000) / 2)
    assert backprop["vs_forward"] == pytest.approx(410_000 / FORWARD)
    assert backprop["peak_mem_bytes_median"] >= N_PARAMS * 8  # its returned gradient


def test_memory_section_text(memory_section: Section) -> None:
    text = memory_section.markdown
    assert text.startswith("## Memory\n")
    assert "tracemalloc" in text and "initial weights" in text and "dtype" in text
    assert ("**mnist_subset, 784-50-10 (39,760 parameters, 310.6 KiB in float64), batch 100**"
            in text)
    assert table_rows(text, FORWARD_LABEL) == [[FORWARD_LABEL, "5", "118.5 KiB", "reference"]]
    assert table_rows(text, "backprop") == [["backprop", "3", "400.4 KiB", "3.38x"]]
    assert table_rows(text, SPSA_LABEL) == [[SPSA_LABEL, "2", "1.04 MiB", "8.98x"]]
    assert "naive" not in text  # its run predates the columns
    order = list(document.SECTIONS)
    assert order.index(speed.section) < order.index(costs.section) < order.index(memory.section)


def test_no_memory_section_when_no_run_has_the_columns(rendered: ReportOutputs) -> None:
    assert "## Memory" not in rendered.report_md.read_text()
    assert rendered.numbers["memory"]["memory"].empty


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (512, 121_344, 1_089_236, 3 * 1024**3)] == [
        "512 B", "118.5 KiB", "1.04 MiB", "3.00 GiB"]
    assert human_bytes(float("nan")) == "n/a"
