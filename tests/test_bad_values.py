"""Values that passed every check and then wrote to the wrong place, crashed or ran without
end: each is now one line naming the key, exit 2, nothing written. Most are direct calls of the
check functions; a few go through the command line to show the whole path."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hydra import compose, initialize

from mlpbench import memory_estimate
from mlpbench.config import register_configs, results_dir_from, settings_from
from mlpbench.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    register_configs()


def settings(*overrides: str):
    """The validated settings of a run composed from ``overrides``."""
    with initialize(version_base="1.3", config_path="../conf"):
        return settings_from(compose("config", overrides=list(overrides)))


def mlpbench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m mlpbench ARGS`` on the embedded subset, 3 epochs, results under ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "mlpbench", "dataset=mnist_subset", "epochs=3", "progress=false",
         *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def one_line_exit_2(proc: subprocess.CompletedProcess, key: str) -> str:
    """The single error line of a rejected command, after checking its shape."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith(f"mlpbench: error: {key}"), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize("value", ["/..", "/tmp/..", "/tmp/../", "//", "/./tmp/../.."])
def test_results_dir_that_folds_to_the_root_is_refused(value):
    with pytest.raises(ConfigError, match="results_dir: must not be the file system root"):
        results_dir_from(value)


def test_results_dir_through_a_link_to_the_root_is_refused(tmp_path):
    (tmp_path / "root").symlink_to("/")
    with pytest.raises(ConfigError, match="file system root"):
        results_dir_from(str(tmp_path / "root"))


def test_results_dir_is_normalised(tmp_path):
    assert results_dir_from(f"{tmp_path}/a/../b") == tmp_path / "b"


def test_results_dir_up_from_the_root_writes_nothing(tmp_path):
    proc = mlpbench("results_dir=/tmp/..", cwd=tmp_path)
    one_line_exit_2(proc, "results_dir: must not be the file system root")
    assert not Path("/curves").exists() and not Path("/runs").exists()


@pytest.mark.parametrize("value", ["[[1]]", "[[1],2]", "[1,[]]"])
def test_nested_hidden_sizes_name_the_key(value):
    with pytest.raises(ConfigError, match=r"model\.hidden_sizes: must be a non-empty list") as info:
        settings(f"model.hidden_sizes={value}")
    assert "(" not in str(info.value).split("got ", 1)[1]  # written as given, not as tuples


@pytest.mark.parametrize("value", ["1e9", "1", "0.011", "inf", "-1e-9"])
def test_log_eps_beyond_a_small_guard_is_refused(value):
    with pytest.raises(ConfigError, match=r"log_eps: must be a finite number >= 0 and <= 0.01"):
        settings(f"log_eps={value}")


@pytest.mark.parametrize("value", ["0", "1e-7", "1e-2"])
def test_log_eps_from_the_textbook_loss_to_the_bound_is_allowed(value):
    assert settings(f"log_eps={value}").log_eps == float(value)


def test_sweep_batch_larger_than_the_training_set_stops_before_any_job(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mlpbench", "--multirun", "dataset=mnist_subset", "epochs=3",
         "progress=false", f"results_dir={tmp_path / 'r'}", "batch_size=4001", "seed=0,1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = one_line_exit_2(proc, "batch_size: must be at most the training set size")
    assert "(4000 for mnist_subset), got 4001" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("override", ["+hydra.foo=1", "++hydra.foo.bar=1", "++hydra.run.dirx=."])
def test_unknown_hydra_key_added_is_refused(override):
    from mlpbench.__main__ import check_hydra_overrides

    key = override.lstrip("+").split("=")[0]
    with pytest.raises(ConfigError, match=rf"{key}: unknown key of Hydra's config"):
        check_hydra_overrides([override])


@pytest.mark.parametrize("override", [
    '++hydra.verbose=""',  # "" names the root logger: debug logging, as hydra.verbose=true
    "+hydra.job.env_set.OMP_NUM_THREADS=1",  # a free-form dict of Hydra's
    "++hydra.launcher.n_jobs=2",  # the launcher's schema is its plugin's to check
    "++hydra.run.dir=.",
])
def test_hydra_keys_it_has_may_be_added(override):
    from mlpbench.__main__ import check_hydra_overrides

    check_hydra_overrides([override])


@pytest.mark.parametrize("arguments", [
    ["--package", "+_self_=1e-9"], ["-p", "model", "epochs=3"], ["--pack=model"]])
def test_package_without_cfg_or_info_is_refused(arguments):
    from mlpbench.__main__ import check_hydra_overrides

    with pytest.raises(ConfigError, match="--package: only with --cfg or --info"):
        check_hydra_overrides(arguments)


@pytest.mark.parametrize("arguments", [
    ["--cfg", "job", "--package", "model"], ["-p", "hydra.run", "--cfg", "hydra"],
    ["--info", "config", "-p", "model"]])
def test_package_with_cfg_or_info_is_hydras(arguments):
    from mlpbench.__main__ import check_hydra_overrides

    check_hydra_overrides(arguments)


def test_package_swallowing_an_override_runs_nothing(tmp_path):
    proc = mlpbench(f"results_dir={tmp_path / 'r'}", "--package", "+_self_=1e-9", cwd=tmp_path)
    one_line_exit_2(proc, "--package: only with --cfg or --info")
    assert not (tmp_path / "r").exists()


def test_unknown_hydra_key_stops_a_run(tmp_path):
    proc = mlpbench(f"results_dir={tmp_path / 'r'}", "+hydra.foo=1", cwd=tmp_path)
    one_line_exit_2(proc, "hydra.foo: unknown key of Hydra's config")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("override,key", [
    ("model.hidden_size=9223372036854775807", "model.hidden_size"),
    ("model.hidden_size=100000000", "model.hidden_size"),
    ("model.hidden_sizes=[100000,100000]", "model.hidden_sizes"),
])
def test_a_network_too_large_for_memory_is_refused(override, key):
    with pytest.raises(ConfigError, match=rf"^{key}: the run needs about [\d,.]+ GiB of memory, "
                                          r"[\d,.]+ GiB available \(784-"):
        settings(override)


def test_an_es_population_too_large_for_memory_names_it():
    run = settings("method=es")
    run = replace(run, method=replace(run.method, population=1000000))  # under the 100 x P bound
    with pytest.raises(ConfigError, match=r"^method\.population, model\.hidden_size: the run "
                                          r"needs about \d+ GiB of memory, 12 GiB available"):
        memory_estimate.check(run, available=12 * 2**30)


@pytest.mark.parametrize("overrides", [
    ("method=es", "method.population=9223372036854775807"),
    ("method=spsa", "method.directions=9223372036854775807"),
    ("method=forward_gradient", "method.directions=3976001"),
])
def test_direction_counts_past_100_per_parameter_are_refused(overrides):
    key = overrides[1].split("=")[0]
    with pytest.raises(ConfigError, match=rf"^{key}: at most 100 x the parameters \(3,976,000 "):
        settings(*overrides)


def test_the_largest_direction_count_allowed_passes():
    assert settings("method=spsa", "method.directions=3976000").method.directions == 3976000


def test_an_oversized_network_writes_nothing(tmp_path):
    proc = mlpbench(f"results_dir={tmp_path / 'r'}", "model.hidden_size=100000000", cwd=tmp_path)
    one_line_exit_2(proc, "model.hidden_size: the run needs about")
    assert not (tmp_path / "r").exists()


SWEEP_FILES = sorted(p.stem for p in (ROOT / "conf" / "sweep").glob("*.yaml"))
FITS = 4 * 2**30
"""Every reference job must fit a small machine's free memory, whatever this one has."""


@pytest.mark.xdist_group("sweep_dry_runs")
@pytest.mark.parametrize("sweep", SWEEP_FILES)
def test_every_reference_sweep_job_fits_the_estimate(sweep, sweep_dry_run):
    proc, _ = sweep_dry_run(sweep)
    assert proc.returncode == 0, proc.stderr
    jobs = {tuple(w for w in line.split() if not w.startswith(("seed=", "lr=")))
            for line in proc.stdout.splitlines() if "+sweep=" in line}
    assert jobs
    for job in jobs:
        memory_estimate.check(settings(*job), available=FITS)


def test_the_seeds_defaults_fit_in_one_gib():
    assert sum(t.bytes for t in memory_estimate.terms(settings())) < 2**30


def test_a_single_run_with_too_large_a_batch_leaves_no_folder(tmp_path):
    proc = mlpbench(f"results_dir={tmp_path / 'r' / 'deeper'}", "batch_size=4001", cwd=tmp_path)
    one_line_exit_2(proc, "batch_size: must be at most the training set size")
    assert not (tmp_path / "r").exists()


def test_runs_side_by_side_are_refused_when_they_do_not_fit_together():
    run = settings("model.hidden_size=2000")
    alone = memory_estimate.peak_bytes(run)
    memory_estimate.check_at_once([run] * 4, 1, "hydra.launcher.n_jobs", available=alone)
    memory_estimate.check_at_once([run] * 4, 2, "hydra.launcher.n_jobs", available=2 * alone)
    with pytest.raises(ConfigError) as caught:
        memory_estimate.check_at_once([run] * 4, 3, "hydra.launcher.n_jobs",
                                      available=2 * alone)
    assert str(caught.value).startswith("hydra.launcher.n_jobs: 3 runs at once need about ")
    assert "run fewer at once" in str(caught.value)


def test_at_once_counts_the_largest_runs_and_no_more_than_there_are():
    small, large = settings(), settings("model.hidden_size=2000")
    need = memory_estimate.peak_bytes(large) + memory_estimate.peak_bytes(small)
    memory_estimate.check_at_once([small, large, small], 2, "k", available=need)
    with pytest.raises(ConfigError):
        memory_estimate.check_at_once([small, large, large], 2, "k", available=need)
    memory_estimate.check_at_once([large, small], 8, "k", available=need)


def test_a_sweep_with_a_file_where_the_claims_folder_goes_stops_before_any_job(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / ".claims").write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "mlpbench", "--multirun", "dataset=mnist_subset", "epochs=1",
         "progress=false", f"results_dir={tmp_path / 'r'}", "seed=0,1",
         f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = one_line_exit_2(proc, "results_dir: cannot write to")
    assert line.endswith(f"'{tmp_path / 'r' / '.claims'}': not a folder")
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [".claims"]
    assert not (tmp_path / "sweep").exists()
