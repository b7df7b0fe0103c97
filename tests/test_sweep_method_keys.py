"""A method key given once to a sweep over several methods: every job gets it when every swept
method has it; otherwise one line names who has it and who not, before anything is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlpbench.__main__ import chosen_method, is_multirun, sweep_arguments
from mlpbench.config import check_method_keys, unknown_key
from mlpbench.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
REAL = ["epochs=2", "dataset=mnist_subset", "progress=false"]
MIXED = ("mlpbench: error: method.directions: a key of forward_gradient, spsa, not of backprop "
         "(swept: backprop, spsa)")


def multirun(*args: str, results: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlpbench", "--multirun", *args, f"results_dir={results}"],
        cwd=REPO, capture_output=True, text=True, timeout=300)


def test_a_plain_method_key_becomes_a_one_value_sweep():
    given = ["method=spsa,forward_gradient", "method.directions=10", "+method.extra=1",
             "++method.other=2", "method.noise=table,fresh", "method.jvp=choice(dual)",
             "epochs=2", "method=spsa", "method.distribution='a,b'", "--config-dir", "conf"]
    assert sweep_arguments(given) == [
        "method=spsa,forward_gradient", "method.directions=choice(10)", "+method.extra=1",
        "++method.other=2", "method.noise=table,fresh", "method.jvp=choice(dual)", "epochs=2",
        "method=spsa", "method.distribution=choice('a,b')", "--config-dir", "conf"]


def test_a_glob_over_a_group_offers_its_names_without_the_schema():
    assert sweep_arguments(["dataset=glob(*)"]) == [
        "dataset=choice(fashion_mnist,mnist,mnist_subset)"]
    assert sweep_arguments(["method=glob(*,exclude=[backprop,numerical])"]) == [
        "method=choice(es,forward_gradient,spsa)"]
    with pytest.raises(ConfigError, match=r"^method: no name matches glob\(x\*\); allowed: "):
        sweep_arguments(["method=glob(x*)"])


@pytest.mark.parametrize(("arguments", "expected"), [
    (["--multirun", "seed=0,1"], True), (["-m"], True), (["--multi"], True),
    (["hydra.mode=MULTIRUN"], True), (["seed=0"], False), (["-h"], False), (["--help"], False),
])
def test_multirun_is_recognised_as_hydra_recognises_it(arguments, expected):
    assert is_multirun(arguments) is expected


def test_the_jobs_methods_are_checked_together():
    jobs = [["method=backprop", "method.directions=10", "seed=0"],
            ["method=spsa", "method.directions=10", "seed=0"]]
    with pytest.raises(ConfigError) as info:
        check_method_keys(jobs, "backprop")
    assert f"mlpbench: error: {info.value}" == MIXED
    with pytest.raises(ConfigError, match=r"^method.engine: a key of numerical, not of es "
                                          r"\(swept: backprop, es, numerical\)$"):
        check_method_keys([["seed=1"], ["method=es", "method.engine=naive"],
                           ["method=numerical", "method.engine=naive"]], "backprop")
    check_method_keys([["method=spsa", "method.directions=3"],
                       ["method=forward_gradient", "method.directions=3"]], "backprop")
    check_method_keys([["method=spsa", "method.direction=3"]], "backprop")  # left to Hydra


def test_a_single_run_names_its_method():
    assert chosen_method(["epochs=1"]) == "backprop"
    assert chosen_method(["method=spsa", "method=es", "seed=2"]) == "es"
    assert unknown_key("method.directions", method="numerical") == (
        "method.directions: not a key of numerical; a key of forward_gradient, spsa "
        "(python -m mlpbench --help lists every method's keys)")
    assert unknown_key("method.direction", method="spsa").startswith(
        "method.direction: unknown key; did you mean method.directions")


@pytest.mark.slow
def test_two_methods_share_a_key_given_once(tmp_path):
    results = tmp_path / "R"
    proc = multirun("method=spsa,forward_gradient", "method.directions=10", *REAL,
                    results=results)
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_parquet(results / "runs")
    assert sorted(runs["method"]) == ["forward_gradient", "spsa"]
    assert list(runs["status"]) == ["ok", "ok"]
    assert all(o.startswith("directions=10, ") for o in runs["options"])
    assert len([line for line in proc.stdout.splitlines() if "status ok" in line]) == 2


@pytest.mark.slow
@pytest.mark.parametrize(("args", "line"), [
    (["method=backprop,spsa", "method.directions=10"], MIXED),
    (["+sweep=estimators", "method.directions=10"],
     "mlpbench: error: method.directions: a key of forward_gradient, spsa, not of backprop, "
     "numerical, es (swept: backprop, numerical, spsa, forward_gradient, es)"),
], ids=["command-line", "sweep-file"])
def test_a_key_some_swept_methods_lack_is_one_line_and_nothing_is_written(tmp_path, args, line):
    results = tmp_path / "R"
    proc = multirun(*args, *REAL, results=results)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [line]
    assert not results.exists()


@pytest.mark.slow
def test_a_sweep_files_grid_value_is_replaced_by_the_command_line(tmp_path):
    (tmp_path / "conf" / "sweep").mkdir(parents=True)
    (tmp_path / "conf" / "sweep" / "pair.yaml").write_text(
        "# @package _global_\n# SPSA and forward gradients at two direction counts.\n"
        "hydra:\n  sweeper:\n    grids:\n"
        "      - method: spsa\n        method.directions: 1,10\n"
        "      - method: forward_gradient\n        method.directions: 1,10\n")
    results = tmp_path / "R"
    proc = multirun("--config-dir", str(tmp_path / "conf"), "+sweep=pair",
                    "method.directions=3", "epochs=1", "dataset=mnist_subset", "progress=false",
                    results=results)
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_parquet(results / "runs")
    assert sorted(zip(runs["method"], runs["options"].str.split(",").str[0], strict=True)) == [
        ("forward_gradient", "directions=3"), ("spsa", "directions=3")]
