"""The report's title and opening: the recorded sweep's title and question, or a title from the
runs; the protocol stated once with its exceptions; the post's table only where the post's
experiment was run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlpbench import results
from mlpbench.report import ReportOutputs, render
from mlpbench.report.published import POST_QUESTION

from .helpers import BACKPROP, N_PARAMS, NUMERICAL, T0, config, roles

INCREMENTAL = {**NUMERICAL, "engine": "incremental"}
POST_HEADING = "## The post's published figures"
POST_TITLE = f"# {POST_QUESTION} Our measurements"


def write_run(out: Path, method: dict[str, Any], seed: int, epochs: int = 100,
              **settings: Any) -> None:
    """One ok run of ``epochs`` one-row epochs under the seed's config with ``settings`` changed,
    through the trainer's writer."""
    cfg = {**config(method, seed, epochs), **settings}
    ids = {"run_id": results.run_id_for(cfg), "attempt_id": f"{results.run_id_for(cfg)}-a",
           **cfg}
    curves = [{**ids, "epoch": e, "step": e, "loss": 2.0 - e / epochs, "test_acc": 0.5,
               "elapsed_s": e * 0.01, "grad_time_s": e * 0.005, "loss_evals": e,
               "status": "ok"} for e in range(1, epochs + 1)]
    run = {**ids, "param_count": N_PARAMS, "epochs_done": epochs, "final_loss": 1.0,
           "final_test_acc": 0.5, "elapsed_s": epochs * 0.01, "grad_time_s": epochs * 0.005,
           "loss_evals": epochs, "grad_time_per_step_s": 0.005, "loss_evals_per_step": 1.0,
           "status": "ok", "error": None, "started_at": T0, **roles(method),
           **results.environment()}
    results.ensure_writable(out)
    results.write_run(out, curves, run)


def seed_table_like(out: Path) -> Path:
    """The post's experiment: backprop and central differences for 100 one-step epochs, and
    the seed's naive loop timed over 2 epochs."""
    for seed in (0, 1):
        write_run(out, BACKPROP, seed)
        write_run(out, INCREMENTAL, seed)
    write_run(out, NUMERICAL, 0, epochs=2)
    return out


def rendered(out: Path, tmp_path: Path) -> tuple[ReportOutputs, str]:
    outputs = render(out, tmp_path / "report")
    return outputs, outputs.report_md.read_text()


def opening(text: str) -> str:
    """The title, the question if any and the paragraph saying what was measured."""
    return text[:text.index("## Our results")]


def test_a_recorded_sweep_titles_the_report_and_asks_its_question_once(tmp_path):
    out = seed_table_like(tmp_path / "results")
    results.write_sweep(out, "h_scan", "Finite differences across the step h",
                        "How does h trade truncation against round-off?")
    outputs, text = rendered(out, tmp_path)
    assert text.startswith("# Finite differences across the step h\n\n"
                           "How does h trade truncation against round-off?\n\nWe trained ")
    assert text.count("How does h trade") == 1 and POST_QUESTION not in text
    assert outputs.numbers["title"]["title"] == "Finite differences across the step h"
    assert [line for line in text.splitlines() if line.startswith("# ")] == [
        "# Finite differences across the step h"]


def test_a_record_without_a_title_leaves_the_title_to_the_runs(tmp_path):
    out = seed_table_like(tmp_path / "results")
    results.write_sweep(out, "my_sweep", None, None)
    _, text = rendered(out, tmp_path)
    assert text.startswith(POST_TITLE + "\n\nWe trained ")


def test_several_sweeps_in_one_folder_are_each_named_under_a_title_from_the_runs(tmp_path):
    out = seed_table_like(tmp_path / "results")
    results.write_sweep(out, "seed_table", "The post's table", "Can it?")
    results.write_sweep(out, "h_scan", "Across h", None)
    outputs, text = rendered(out, tmp_path)
    assert opening(text).startswith(f"{POST_TITLE}\n\nThe sweeps run into this folder:\n\n"
                                    "- Across h\n- The post's table: Can it?\n\nWe trained ")
    assert outputs.numbers["title"]["question"] is None


def test_without_a_record_the_posts_experiment_is_titled_by_its_question(tmp_path):
    """Stated once: the common protocol, then the naive loop's 2 epochs as its exception."""
    outputs, text = rendered(seed_table_like(tmp_path / "results"), tmp_path)
    head = opening(text)
    assert head.startswith(POST_TITLE + "\n\n")
    assert "under the blog post's protocol: 100 epochs x 1 step of 100 samples (100 SGD " \
           "steps), lr 0.1, 784-50-10 sigmoid MLP, float64, log_eps 1e-07; numerical " \
           "(central, h=1e-04, naive): 2 epochs (2 SGD steps) instead. " in head
    assert head.count("784-50-10") == 1 and head.count("log_eps") == 1
    assert "as the post timed it" in head
    assert POST_HEADING in text
    assert outputs.numbers["published_heading"]["post"].iloc[0, 0] == "backprop"


def test_other_methods_are_titled_by_what_they_compare(tmp_path):
    """SPSA beside backprop under the post's protocol: its table is shown (backprop ran it),
    but the title is not the post's question."""
    out = tmp_path / "results"
    spsa = {"method": "spsa", "scheme": None, "engine": None, "h": 1e-3,
            "options": "directions=1"}
    write_run(out, spsa, 0, lr=0.03)
    write_run(out, BACKPROP, 0)
    _, text = rendered(out, tmp_path)
    assert text.startswith("# backprop against spsa on mnist_subset, 784-50-10 sigmoid MLP\n")
    assert "under the blog post's protocol" in text and POST_HEADING in text


@pytest.mark.parametrize("settings", [
    {"init": "normal", "init_std": 0.01, "sampling": "with_replacement", "steps_per_epoch": 100},
    {"hidden_sizes": "1024-1024", "activation": "relu", "batch_size": 64},
    {"batch_size": 1000},
], ids=["dlfs", "baydin", "batch_1000"])
def test_no_post_table_or_question_where_its_protocol_was_not_run(tmp_path, settings):
    out = tmp_path / "results"
    for method in (BACKPROP, INCREMENTAL):
        write_run(out, method, 0, **settings)
    outputs, text = rendered(out, tmp_path)
    assert POST_HEADING not in text
    assert POST_QUESTION not in text and "as the post timed it" not in text
    assert "under this protocol" in text
    assert text.startswith("# backprop against numerical on mnist_subset, 784-")
    assert outputs.numbers["published_heading"] == {}


def test_a_scanned_setting_lists_its_values_once(tmp_path):
    out = tmp_path / "results"
    for batch in (10, 100, 1000):
        write_run(out, BACKPROP, 0, epochs=3, batch_size=batch)
    _, text = rendered(out, tmp_path)
    assert ("under this protocol: 3 epochs x 1 step of 10, 100 or 1000 samples (3 SGD steps), "
            "lr 0.1, 784-50-10 sigmoid MLP, float64, log_eps 1e-07. ") in opening(text)
    assert " instead" not in opening(text)


def test_an_unreadable_record_is_a_file_left_out(tmp_path):
    out = seed_table_like(tmp_path / "results")
    results.write_sweep(out, "seed_table", "The post's table", None)
    junk = out / "sweeps" / "junk.parquet"
    junk.write_bytes(b"not parquet")
    outputs, text = rendered(out, tmp_path)
    assert text.startswith("# The post's table\n\nWe trained ")
    assert [path for path, _ in outputs.bad_files] == [junk]
    assert f"- `{junk}`" in text[text.index("## Files left out"):]
