"""The Estimators section beside theory: the committed estimators runs measure the cosine
``theory.expected_cosine`` expects, and the section states its formula once, with a theory
column beside the measured one."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpbench.report.document import read_inputs
from mlpbench.report.estimators import section as estimators_section
from mlpbench.report.section import Section
from mlpbench.theory import EXPECTED_COSINE_FORMULA

REFERENCE = Path(__file__).resolve().parents[2] / "results" / "reference" / "estimators"


@pytest.fixture(scope="module")
def reference_section() -> Section:
    """The Estimators section of the committed estimators runs (drawn, not written)."""
    return estimators_section(read_inputs(REFERENCE, []))


def test_committed_runs_measure_what_theory_expects(reference_section: Section) -> None:
    """The measured mean cosines (0.0039-0.0043 with one direction, 0.0153-0.0156 with 10,
    0.0497-0.0502 with 100) are within 10% of the theory column, for every configuration it
    covers; rank-shaped ES has none."""
    estimators = reference_section.numbers["estimators"]
    covered = estimators[estimators["cos_theory"].notna()]
    assert len(covered) == 10
    assert set(covered["directions"]) == {1, 10, 100}
    ratio = covered["cos_mean"] / covered["cos_theory"]
    assert ratio.between(0.9, 1.1).all(), ratio
    shaped = estimators[estimators["config"].str.contains("rank_shaping=true")]
    assert len(shaped) == 2 and shaped["cos_theory"].isna().all()


def test_report_states_the_formula_once_beside_a_theory_column(
    reference_section: Section,
) -> None:
    text = reference_section.markdown
    assert text.count(EXPECTED_COSINE_FORMULA) == 1
    assert "sqrt(k / P)" not in text and "0.005 for one direction" not in text
    header = next(line for line in text.splitlines() if line.startswith("| Method"))
    assert "cos, theory" in header
    cells = {name.strip(): [c.strip() for c in line.strip("|").split("|")]
             for line in text.splitlines() if line.startswith("| ")
             for name in [line.strip("|").split("|")[0]]}
    columns = cells["Method"]
    theory, measured = columns.index("cos, theory"), columns.index("cos to backprop (mean)")
    spsa = "spsa (h=1e-03, directions={}, distribution=rademacher, noise=fresh)"
    assert [cells[spsa.format(k)][theory] for k in (1, 10, 100)] == ["0.0040", "0.0155", "0.0500"]
    assert [cells[spsa.format(k)][measured] for k in (1, 10, 100)] == ["0.0039", "0.0156", "0.0502"]
    assert cells["backprop"][theory] == "n/a"
    assert cells["numerical (central, h=1e-04, incremental)"][theory] == "n/a"
