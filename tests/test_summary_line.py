"""The line printed after each run names the run, so every run of a sweep prints its own."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from mlpbench.methods import backprop, numerical, spsa
from mlpbench.run import result_config, summary_line
from tests.run_settings import run_settings

DATA = SimpleNamespace(name="mnist_subset", n_train=4000, n_test=1000)
MEASURED = {"run_id": "0123456789abcdef", "status": "ok", "epochs_done": 1, "final_loss": 2.3,
            "final_test_acc": 0.1, "elapsed_s": 0.5, "grad_time_s": 0.25}
OUT = Path("/r")


def row(**given: Any) -> dict[str, Any]:
    """A run's summary row as ``execute`` returns it (config columns, then measurements)."""
    measured = {k: given.pop(k) for k in list(given) if k in MEASURED}
    return {**result_config(run_settings(**given), DATA), **MEASURED, **measured}


def prefix(line: str) -> str:
    return line.split(" on ", 1)[0]


def test_the_four_runs_of_a_two_by_two_sweep_print_four_labels():
    lines = [summary_line(row(method=spsa.Config(directions=d), lr=lr, h=1e-3, epochs=1), OUT)
             for d in (1, 10) for lr in (0.01, 0.03)]
    assert [prefix(line) for line in lines] == [
        "spsa (directions=1, distribution=rademacher, noise=fresh) h=0.001 lr=0.01 seed=0",
        "spsa (directions=1, distribution=rademacher, noise=fresh) h=0.001 lr=0.03 seed=0",
        "spsa (directions=10, distribution=rademacher, noise=fresh) h=0.001 lr=0.01 seed=0",
        "spsa (directions=10, distribution=rademacher, noise=fresh) h=0.001 lr=0.03 seed=0",
    ]


def test_the_seeds_run_is_named_and_measured_in_one_line():
    line = summary_line(row(method=backprop.Config(), lr=0.1, h=1e-4, epochs=1), OUT)
    assert line == ("backprop lr=0.1 seed=0 on mnist_subset (4000 train / 1000 test): 1 epoch, "
                    "status ok, loss 2.3000, test_acc 0.1000, elapsed 0.50s (gradients 0.25s) "
                    "-> /r")


def test_scheme_engine_network_and_changed_settings_are_named():
    run = row(method=numerical.Config(scheme="forward", engine="naive"), lr=0.5, h=1e-3,
              hidden_sizes=[64, 32], activation="relu", batch_size=20, dtype="float32",
              seed=3, epochs=2, epochs_done=2)
    assert summary_line(run, OUT).startswith(
        "numerical (scheme=forward, engine=naive) h=0.001 lr=0.5 784-64-32-10 relu "
        "batch_size=20 dtype=float32 seed=3 on mnist_subset (4000 train / 1000 test): 2 epochs,")
    one = row(method=backprop.Config(), lr=0.1, h=1e-4, hidden_size=8, epochs=1)
    assert prefix(summary_line(one, OUT)) == "backprop lr=0.1 784-8-10 sigmoid seed=0"


def test_a_diverged_run_says_how_far_it_got():
    run = row(method=backprop.Config(), lr=1e9, h=1e-4, epochs=100, epochs_done=2,
              status="diverged")
    assert ": 2 of 100 epochs, status diverged," in summary_line(run, OUT)


def test_a_skipped_run_is_named_the_same_way():
    run = {**row(method=spsa.Config(directions=10), lr=0.1, h=1e-3, epochs=1),
           "skipped": "already in results_dir with status ok (force=true runs it again)"}
    assert summary_line(run, OUT) == (
        "skipped spsa (directions=10, distribution=rademacher, noise=fresh) h=0.001 lr=0.1 "
        "seed=0 on mnist_subset, 1 epoch (run_id 0123456789abcdef): already in results_dir "
        "with status ok (force=true runs it again)")
