"""The Estimators section: short real runs (``run.execute``, the run path without Hydra) of
SPSA with two direction counts, and backprop, at 3 epochs; a forward-gradient run of 2 epochs
is the odd length out."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from mlpbench import results
from mlpbench.report import ReportOutputs, render
from mlpbench.report.configs import label_configs, method_label
from mlpbench.report.estimators import FIGURE, estimator_curves
from mlpbench.theory import expected_cosine

from .helpers import N_PARAMS, is_png, table_rows

EST_EPOCHS = 3
EST_SEEDS = (0, 1)
SPSA_1 = "spsa (h=1e-03, directions=1, distribution=rademacher, noise=fresh)"
SPSA_10 = "spsa (h=1e-03, directions=10, distribution=rademacher, noise=fresh)"


def execute_run(results_dir: Path, method_cfg: Any, seed: int, epochs: int) -> None:
    """One real run with the method's default h, lr and fidelity_every, as the CLI sets them."""
    from mlpbench import methods
    from mlpbench.run import execute
    from tests.run_settings import run_settings

    method = methods.get(method_cfg.name)
    execute(run_settings(
        method=method_cfg, dataset="mnist_subset", download=False, hidden_size=50,
        epochs=epochs, steps_per_epoch=1, batch_size=100, lr=method.default_lr(method_cfg),
        h=method.default_h(method_cfg), seed=seed, dtype="float64", log_eps=1e-7,
        data_dir=None, results_dir=results_dir, progress=False,
        fidelity_every=0 if method_cfg.name == "backprop" else 1,
    ))


@pytest.fixture(scope="module")
def estimator_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlpbench.methods import backprop, forward_gradient, spsa

    out = tmp_path_factory.mktemp("estimators") / "results"
    for cfg in (backprop.Config(), spsa.Config(directions=1), spsa.Config(directions=10)):
        for seed in EST_SEEDS:
            execute_run(out, cfg, seed, EST_EPOCHS)
    execute_run(out, forward_gradient.Config(), 0, EST_EPOCHS - 1)
    return out


@pytest.fixture(scope="module")
def estimator_rendered(
    estimator_results: Path, tmp_path_factory: pytest.TempPathFactory
) -> ReportOutputs:
    return render(estimator_results, tmp_path_factory.mktemp("est-report") / "report")


def test_method_label_names_options_and_tiny_h() -> None:
    spsa = {"method": "spsa", "scheme": None, "engine": None, "h": 1e-3,
            "options": "directions=10, distribution=gaussian"}
    assert method_label(spsa) == "spsa (h=1e-03, directions=10, distribution=gaussian)"
    assert method_label({**spsa, "options": "directions=1, distribution=gaussian"}) != (
        method_label(spsa))
    complex_step = {"method": "numerical", "scheme": "complex_step", "engine": "incremental",
                    "h": 1e-20, "options": None}
    assert method_label(complex_step) == "numerical (complex_step, h=1e-20, incremental)"
    assert method_label({"method": "forward_gradient", "scheme": None, "engine": None,
                         "h": None, "options": "directions=1"}) == (
        "forward_gradient (directions=1)")


def test_estimator_rows_at_equal_epochs(
    estimator_rendered: ReportOutputs, estimator_results: Path
) -> None:
    estimators = estimator_rendered.numbers["estimators"]["estimators"]
    assert estimator_rendered.numbers["estimators"]["epochs"] == EST_EPOCHS
    assert list(estimators["config"]) == ["backprop", SPSA_1, SPSA_10]
    assert list(estimators["n"]) == [2, 2, 2]
    assert list(estimators["epochs"]) == [EST_EPOCHS] * 3
    curves, runs = results.read_results(estimator_results)
    for config, options in ((SPSA_1, "directions=1, distribution=rademacher, noise=fresh"),
                            (SPSA_10, "directions=10, distribution=rademacher, noise=fresh")):
        mine = runs[runs["options"] == options]
        row = estimators[estimators["config"] == config].iloc[0]
        assert row["loss_mean"] == pytest.approx(mine["final_loss"].mean())
        assert row["loss_std"] == pytest.approx(mine["final_loss"].std(ddof=1))
        measured = curves[curves["attempt_id"].isin(mine["attempt_id"])]
        assert measured["grad_cos"].notna().all() and len(measured) == 2 * EST_EPOCHS
        assert row["cos_mean"] == pytest.approx(measured["grad_cos"].mean())
        assert row["rel_err_mean"] == pytest.approx(measured["grad_rel_err"].mean())
        assert row["measured"] == 2 * EST_EPOCHS
        assert 0 < row["cos_mean"] < 0.1  # random directions: about sqrt(k / 39,760)
        assert row["rel_err_mean"] > 1
    backprop = estimators[estimators["config"] == "backprop"].iloc[0]
    assert math.isnan(backprop["cos_mean"]) and backprop["measured"] == 0


def test_estimators_section_text(estimator_rendered: ReportOutputs) -> None:
    text = estimator_rendered.report_md.read_text()
    assert text.index("## Estimators") < text.index("## Speed")
    section = text[text.index("## Estimators"):text.index("## Speed")]
    [spsa_1] = table_rows(section, SPSA_1)
    [spsa_10] = table_rows(section, SPSA_10)
    [backprop] = table_rows(section, "backprop")
    assert (spsa_1[1], spsa_1[2], spsa_1[3]) == ("0.03", "2", "2")  # lr, n, loss evals
    assert (spsa_10[1], spsa_10[2], spsa_10[3]) == ("0.1", "2", "20")
    assert (backprop[1], backprop[3]) == ("0.1", "1")
    assert backprop[-3:] == ["n/a", "n/a", "n/a"]  # measured cosine, theory, relative error
    estimators = estimator_rendered.numbers["estimators"]["estimators"]
    row = estimators.set_index("config").loc[SPSA_10]
    assert spsa_10[5] == f"{row['loss_mean']:.4f} ± {row['loss_std']:.4f}"
    assert spsa_10[-3:] == [f"{row['cos_mean']:.4f}", f"{expected_cosine(10, N_PARAMS):.4f}",
                            f"{row['rel_err_mean']:.2e}"]
    assert f"only configurations run for {EST_EPOCHS} epochs" in section
    assert "Left out, run for another number of epochs: forward_gradient (directions=1, " \
           "jvp=dual, noise=table) (2 epochs)." in section
    assert "Seeds: 0, 1." in section and results.environment()["cpu_model"] in section
    assert "lr per method (0.03 or 0.1)" in section
    assert "(estimators.png)" in section
    png = estimator_rendered.figures.get(FIGURE)
    assert png is not None and png.name == "estimators.png" and is_png(png)
    # the two direction counts are two rows of the Speed table too, never one mean
    speed = text[text.index("## Speed"):text.index("## Cost in forward passes")]
    assert len(table_rows(speed, SPSA_1)) == 1 and len(table_rows(speed, SPSA_10)) == 1


def test_estimator_curves_band_over_seeds(estimator_results: Path) -> None:
    curves, runs = results.read_results(estimator_results)
    kept = label_configs(results.select_attempts(runs).kept)
    stats = estimator_curves(curves, kept[kept["epochs"] == EST_EPOCHS])
    last = stats[(stats["config"] == SPSA_10) & (stats["epoch"] == EST_EPOCHS)].iloc[0]
    mine = curves[curves["attempt_id"].isin(kept.loc[kept["config"] == SPSA_10, "attempt_id"])
                  & (curves["epoch"] == EST_EPOCHS)]
    assert last["n"] == 2 and last["cos_n"] == 2
    assert (last["acc_min"], last["acc_max"]) == pytest.approx(
        (mine["test_acc"].min(), mine["test_acc"].max()))
    assert last["evals_mean"] == 20 * EST_EPOCHS
    assert last["cos_mean"] == pytest.approx(mine["grad_cos"].mean())


def test_no_estimators_section_for_the_seeds_comparison(rendered: ReportOutputs) -> None:
    assert rendered.numbers["estimators"] == {} and FIGURE not in rendered.figures
    assert "## Estimators" not in rendered.report_md.read_text()
    assert not (rendered.report_md.parent / "estimators.png").exists()


def test_report_markdown_is_deterministic(
    estimator_results: Path, estimator_rendered: ReportOutputs, tmp_path: Path
) -> None:
    again = render(estimator_results, tmp_path / "again")
    assert again.report_md.read_bytes() == estimator_rendered.report_md.read_bytes()
