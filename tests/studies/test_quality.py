"""``python -m mlpbench.quality``: rows, theory, the statistics' agreement with theory on a small
real-digit problem, the report it renders alone, and bad input."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpbench import report, results, theory
from mlpbench.report import quality_section
from mlpbench.studies import quality_study

SMALL = ["--networks", "1", "--estimators", "fg_weights", "fg_weights_orthogonal",
         "fg_activations", "--directions", "1", "--fractions", "0.5", "--repeats", "400",
         "--min-repeats", "30", "--batches", "1", "--batch-size", "50", "--trained-steps", "3"]
"""784-1-10: P = 805, so k = round(P/2) = 402 is a sizeable share of P."""


@pytest.fixture(scope="module")
def small_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("quality")
    assert quality_study.main(["--out", str(folder / "quality"), *SMALL]) == 0
    rows = quality_section.read_quality(folder, [])
    return folder, rows


def test_one_row_per_setting_and_tensor(small_study) -> None:
    _, rows = small_study
    # 2 weights x (3 estimators x 2 values of k) x 5 tensors (W1, b1, W2, b2, all)
    assert len(rows) == 2 * 3 * 2 * 5
    assert set(rows["tensor"]) == {"W1", "b1", "W2", "b2", "all"}
    assert set(rows["directions"]) == {1, 402}
    assert (rows["total_params"] == 805).all()
    assert set(rows.loc[rows["weights"] == "trained", "trained_steps"]) == {3}
    theory_rows = rows[rows["cos_theory"].notna()]
    assert set(theory_rows["tensor"]) == {"all"}
    assert set(theory_rows["estimator"]) == {"fg_weights", "fg_weights_orthogonal"}
    assert rows.loc[rows["directions"] == 1, "repeats"].eq(400).all()
    assert rows.loc[rows["directions"] == 402, "repeats"].eq(30).all()  # 400 / sqrt(402) = 20


def test_weight_perturbation_agrees_with_theory(small_study) -> None:
    _, rows = small_study
    summary = quality_section.summarise(quality_section.latest_quality(rows))
    checked = summary[summary["cos_theory"].notna()]
    assert len(checked) == 8
    assert checked["cos_z"].abs().max() < 4
    assert checked["mse_z"].abs().max() < 4
    half = checked[(checked["directions"] == 402) & (checked["weights"] == "init")]
    by = half.set_index("estimator")
    assert by.loc["fg_weights", "mse_theory"] == pytest.approx(806 / 402)
    assert by.loc["fg_weights_orthogonal", "mse_theory"] == pytest.approx(805 / 402 - 1)
    # orthogonal blocks: a third of the error at k = P/2, and a larger cosine
    assert by.loc["fg_weights_orthogonal", "mse"] < 0.6 * by.loc["fg_weights", "mse"]
    assert by.loc["fg_weights_orthogonal", "cos"] > by.loc["fg_weights", "cos"] + 0.05


def test_estimates_are_unbiased_to_their_floor(small_study) -> None:
    _, rows = small_study
    every = rows[rows["tensor"] == "all"]
    assert (every["bias_rel"] < 4 * every["bias_floor_rel"]).all()
    assert np.allclose(every["mse_rel"], every["variance_rel"] + every["bias_rel"] ** 2,
                       rtol=0.05)


def test_the_folder_renders_as_a_report_of_its_own(small_study, tmp_path: Path) -> None:
    folder, _ = small_study
    outputs = report.render(folder, tmp_path / "report")
    text = outputs.report_md.read_text()
    assert text.startswith("# Gradient estimates at fixed weights")
    assert quality_section.HEADING in text
    assert "![gradient quality against directions](quality.png)" in text
    assert (tmp_path / "report" / "quality.png").read_bytes()[:4] == b"\x89PNG"
    assert outputs.numbers["quality"]["gain"] is not None


def test_theory_of_orthogonal_blocks_matches_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    p, k, draws = 12, 4, 20_000
    q, _ = np.linalg.qr(rng.standard_normal((draws, p, k)))
    g = np.zeros(p)
    g[0] = 1.0
    projected = np.einsum("npk,p->nk", q, g)
    cosines = np.linalg.norm(projected, axis=1)
    mse = ((p / k) ** 2 * cosines**2 - 2 * (p / k) * cosines**2 + 1)
    assert cosines.mean() == pytest.approx(theory.orthogonal_cosine(k, p), rel=0.01)
    assert mse.mean() == pytest.approx(theory.relative_mse(k, p, "orthogonal"), rel=0.02)
    assert theory.relative_mse(k, p, "gaussian") == (p + 1) / k
    assert theory.relative_mse(p, p, "orthogonal") == 0
    assert theory.orthogonal_cosine(p, p) == pytest.approx(1.0)
    assert theory.orthogonal_cosine(1, p) == pytest.approx(theory.expected_cosine_exact(1, p))


def test_repeats_shrink_as_one_over_sqrt_k() -> None:
    assert [quality_study.repeats_for(k, 2000, 100) for k in (1, 10, 100, 1000)] == [
        2000, 633, 200, 100]
    assert quality_study.directions_grid(1600, [1, 10], [0.25, 0.5], 5000) == [1, 10, 400, 800]
    assert quality_study.directions_grid(39_760, [1, 10], [0.25, 0.5], 5000) == [1, 10]


@pytest.mark.parametrize(("args", "message"), [
    (["--estimators", "bogus"], "argument --estimators: invalid choice: 'bogus'"),
    (["--fractions", "2"], "argument --fractions: each must be <= 1, got 2"),
    (["--repeats", "1"], "argument --repeats: must be an integer >= 2, got '1'"),
    (["--networks", "0"], "argument --networks: must be an integer >= 1, got '0'"),
])
def test_bad_argument_is_one_line_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        quality_study.main(["--out", str(tmp_path / "q"), *args])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1
    assert captured.err.startswith(f"python -m mlpbench.quality: error: {message}")
    assert not (tmp_path / "q").exists()


def test_too_large_a_batch_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlpbench.quality", "--out", str(tmp_path / "q"),
         "--batch-size", "5000"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "python -m mlpbench.quality: error: --batch-size: 5000 is larger than the training set "
        "(4,000 digits of mnist_subset)"]
    assert not (tmp_path / "q").exists()
    assert math.isfinite(results.QUALITY_SCHEMA.get_field_index("cos_mean"))
