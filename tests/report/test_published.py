"""Published figures, each recognised by its protocol: the post's table where its experiment ran,
others beside quantities computed from our runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlpbench.report import render
from mlpbench.report.published import PUBLICATIONS, publication_rows, runs_the_post

from .helpers import BACKPROP, NUMERICAL, roles, table_rows, write, write_shared_runs

POST, BAYDIN, DLFS = PUBLICATIONS


def baydin_run(method: str, per_step: float, forward: float, elapsed: float, acc: float) -> dict:
    return {"method": method, "hidden_size": 1024, "hidden_sizes": "1024-1024",
            "activation": "relu", "init": "he", "init_std": None, "batch_size": 64, "lr": 2e-4,
            "lr_schedule": "exp_decay", "lr_decay": 1e-4, "sampling": None, "epochs": 20,
            "steps_per_epoch": 100,
            "grad_time_per_step_s": per_step, "forward_time_s": forward, "elapsed_s": elapsed,
            "final_test_acc": acc, "seed": 0,
            **roles({"method": method, "scheme": None, "engine": None})}


def test_baydin_ratios_are_step_time_over_forward_time_measured_in_the_same_run() -> None:
    runs = pd.DataFrame([baydin_run("forward_gradient", 0.075, 0.0075, 200.0, 0.5),
                         baydin_run("backprop", 0.025, 0.00625, 80.0, 0.6)])
    assert all(BAYDIN.matches(row) for _, row in runs.iterrows())
    assert not any(DLFS.matches(row) for _, row in runs.iterrows())
    table = publication_rows(BAYDIN, runs).set_index("Quantity")
    assert table.loc["R_f (forward gradient)", "Ours"] == "10.000"
    assert table.loc["R_b (backprop)", "Ours"] == "4.000"
    assert table.loc["R_f / R_b", "Ours"] == "2.500"
    assert table.loc["R_f / R_b", "Published"] == "0.598"
    assert table.loc["T_f / T_b (total time)", "Ours"] == "2.500"


def test_runs_without_a_forward_time_say_n_a_and_other_protocols_do_not_match() -> None:
    runs = pd.DataFrame([baydin_run("forward_gradient", 0.075, None, 200.0, 0.5),
                         baydin_run("backprop", 0.025, None, 80.0, 0.6)])
    table = publication_rows(BAYDIN, runs).set_index("Quantity")
    assert table.loc["R_f / R_b", "Ours"] == "n/a"
    seed_protocol = {**baydin_run("backprop", 1, 1, 1, 1), "hidden_sizes": None,
                     "activation": None, "batch_size": 100, "lr_schedule": None,
                     "lr_decay": None}
    assert not BAYDIN.matches(pd.Series(seed_protocol))


def dlfs_run(method: dict, seed: int, elapsed: float, acc: float) -> dict:
    return {**method, "hidden_size": 50, "hidden_sizes": None, "init": "normal",
            "sampling": "with_replacement", "epochs": 100, "steps_per_epoch": 100,
            "elapsed_s": elapsed, "final_test_acc": acc, "seed": seed, **roles(method)}


def test_dlfs_sets_the_reference_beside_the_seeds_kind_of_gradient() -> None:
    """Backprop is found by its role, numerical by the seed's kind; another estimator run on
    the same protocol (complex step: no role) is in neither figure."""
    backprop = {"method": "backprop", "scheme": None, "engine": None}
    central = {"method": "numerical", "scheme": "central", "engine": "incremental"}
    complex_step = {**central, "scheme": "complex_step"}
    runs = pd.DataFrame([dlfs_run(backprop, 0, 7.0, 0.93), dlfs_run(central, 0, 80.0, 0.91),
                         dlfs_run(central, 1, 90.0, 0.89), dlfs_run(complex_step, 0, 1e6, 0.1)])
    assert all(DLFS.matches(row) for _, row in runs.iterrows())
    table = publication_rows(DLFS, runs).set_index("Quantity")
    assert table.loc["final test accuracy, backprop", "Ours"] == "0.930"
    assert table.loc["final test accuracy, numerical", "Ours"] == "0.900"
    assert table.loc["training time, numerical", "Ours"] == "85 s"


def test_runs_without_roles_compare_nothing() -> None:
    """Results written before the role columns: no run is known as the reference, so no
    figure of ours is shown rather than one mixing methods."""
    runs = pd.DataFrame([baydin_run("forward_gradient", 0.075, 0.0075, 200.0, 0.5),
                         baydin_run("backprop", 0.025, 0.00625, 80.0, 0.6)])
    runs = runs.assign(role=None, engine_role=None)
    for pub in (BAYDIN, DLFS):
        assert set(publication_rows(pub, runs)["Ours"]) == {"n/a"}


def test_the_post_is_shown_under_its_own_heading_where_its_experiment_ran(
    tmp_path: Path,
) -> None:
    """The post is a publication too, recognised by its protocol (100 one-step epochs of 100
    samples, backprop or plain differences): its table is shown as printed, with nothing of
    ours beside it, between Memory or Speed and the figures. The shared results ran 5 epochs:
    not the post's experiment, so not its table."""
    assert POST.heading is not None and POST.matches is runs_the_post and POST.ours is None
    assert "Ours" not in publication_rows(POST, pd.DataFrame()).columns
    write(tmp_path / "r", BACKPROP, 0, 1.6, 0.7, 0.3, epochs=100)
    write(tmp_path / "r", NUMERICAL, 0, 1.6, 0.7, 40.0, epochs=100)
    outputs = render(tmp_path / "r", tmp_path / "report")
    text = outputs.report_md.read_text()
    part = text[text.index("## The post's published figures"):text.index("## Figures")]
    assert "As printed in the blog post: unseeded, full MNIST" in part
    assert table_rows(part, "numerical (central, h=1e-04)") == [
        ["numerical (central, h=1e-04)", "100", "141 min 55.3 s", "1.5788", "0.6309"]]
    assert "## Published experiments" not in text  # no run follows another publication
    assert outputs.numbers["published_heading"]["post"].equals(POST.figures)
    shared = render(write_shared_runs(tmp_path / "shared"), tmp_path / "shared-report")
    assert shared.numbers["published_heading"] == {}
    assert "## The post's published figures" not in shared.report_md.read_text()
