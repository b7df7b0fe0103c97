"""Config composition through Hydra's compose API, and the range checks Hydra cannot make."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from mlpbench import methods
from mlpbench.config import register_configs, settings_from
from mlpbench.errors import ConfigError
from mlpbench.methods import numerical

CONF = Path(__file__).resolve().parents[1] / "conf"
SWEEPS = sorted(p.stem for p in (CONF / "sweep").glob("*.yaml"))


@pytest.fixture(scope="module", autouse=True)
def _store():
    register_configs()


def settings(*overrides: str):
    with initialize(version_base="1.3", config_path="../conf"):
        return settings_from(compose("config", overrides=list(overrides)))


def test_defaults_are_the_seed_protocol():
    s = settings()
    assert (s.method.name, s.dataset.name, s.model.widths, s.epochs, s.steps_per_epoch) == (
        "backprop", "mnist", (50,), 100, 1)
    assert (s.batch_size, s.lr, s.h, s.dtype, s.log_eps, s.seed) == (
        100, 0.1, 1e-4, "float64", 1e-7, 0)
    assert s.fidelity_every == 0  # backprop: nothing to compare with


def test_numerical_keys():
    s = settings("method=numerical", "method.scheme=forward", "h=1e-3", "model.hidden_size=8")
    assert isinstance(s.method, numerical.Config)
    assert (s.method.scheme, s.method.engine, s.h, s.model.widths) == (
        "forward", "incremental", 1e-3, (8,))


def test_every_cli_key_is_accepted():
    s = settings("method=numerical", "epochs=3", "steps_per_epoch=2", "batch_size=7", "lr=0.5",
                 "h=1e-3", "seed=4", "dtype=float32", "model.hidden_size=9",
                 "dataset=mnist_subset", "data_dir=/tmp/x", "results_dir=/tmp/r",
                 "method.scheme=backward", "method.engine=naive")
    assert (s.epochs, s.steps_per_epoch, s.batch_size, s.lr, s.seed, s.dtype) == (
        3, 2, 7, 0.5, 4, "float32")
    assert (s.dataset.name, s.data_dir, s.results_dir) == ("mnist_subset", "/tmp/x", "/tmp/r")


def test_mistyped_key_is_rejected():
    with pytest.raises(ConfigCompositionException) as info:
        settings("epoch=3")
    assert isinstance(info.value.__cause__, ConfigKeyError | ConfigAttributeError)
    assert info.value.__cause__.full_key == "epoch"


def test_wrong_type_is_rejected():
    with pytest.raises(ConfigCompositionException) as info:
        settings("epochs=many")
    assert isinstance(info.value.__cause__, ValidationError)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("h=0", "h: must be a finite number > 0"),
        ("h=-1e-4", "h: must be a finite number > 0"),
        ("h=nan", "h: must be a finite number > 0"),
        ("h=inf", "h: must be a finite number > 0"),
        ("epochs=0", "epochs: must be an integer >= 1"),
        ("batch_size=0", "batch_size: must be an integer >= 1"),
        ("lr=0", "lr: must be a finite number > 0"),
        ("lr=-0.1", "lr: must be a finite number > 0"),
        ("model.hidden_size=0", "model.hidden_size: must be an integer >= 1"),
        ("dtype=float16", "dtype: unknown 'float16'; allowed: float64, float32"),
        ("steps_per_epoch=0", "steps_per_epoch: must be an integer >= 1"),
        ("fidelity_every=-2", "fidelity_every: must be an integer >= 0"),
        ("method=numerical method.scheme=complex", "method.scheme: unknown 'complex'"),
        ("method=spsa method.directions=0", "method.directions: must be an integer >= 1"),
        ("method=spsa method.distribution=normal", "method.distribution: unknown 'normal'"),
        ("method=forward_gradient method.directions=0", "method.directions: must be"),
        ("method=es method.population=0", "method.population: must be an integer >= 1"),
        ("model.hidden_sizes=[]", r"model\.hidden_sizes: must be a non-empty list"),
        ("model.hidden_sizes=[0]", r"model\.hidden_sizes: must be a non-empty list"),
        ("model.hidden_sizes=[50,-1]", r"model\.hidden_sizes: .* got \[50, -1\]"),
        ("model.hidden_size=8 model.hidden_sizes=[8]", r"model\.hidden_sizes: give .* not both"),
        ("model.hidden_sizes=[8] batch_size=0", "batch_size: must be an integer >= 1"),
        ("model.activation=gelu", "model.activation: unknown 'gelu'; allowed: sigmoid, tanh"),
        ("model.init=xavier", "model.init: unknown 'xavier'; allowed: seed, he, normal"),
        ("model.init=normal model.init_std=0", "model.init_std: must be a finite number > 0"),
        ("lr_schedule=cosine", "lr_schedule: unknown 'cosine'; allowed: constant, exp_decay"),
        ("lr_schedule=exp_decay", "lr_decay: must be given with lr_schedule=exp_decay"),
        ("lr_schedule=exp_decay lr_decay=-1", "lr_decay: must be a finite number > 0"),
        ("lr_decay=1e-4", "lr_decay: only with lr_schedule=exp_decay"),
        ("sampling=bootstrap", "sampling: unknown 'bootstrap'"),
    ],
)
def test_range_checks(override, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        settings(*override.split())


def test_network_keys_become_settings():
    s = settings("model.hidden_sizes=[64,32]", "model.activation=relu", "model.init=he",
                 "method=numerical", "method.engine=naive")
    assert (s.model.widths, s.model.activation, s.model.init) == ((64, 32), "relu", "he")
    assert settings().model.widths == (50,)
    assert settings("model.hidden_size=7").model.widths == (7,)
    assert settings("model.hidden_sizes=[7]").model.widths == (7,)


EXPECTED_JOBS = {"seed_table": 11, "h_scan": 31, "batch_scan": 18, "epochs_scan": 21,
                 "estimators": 57, "dlfs": 6, "baydin2022": 6, "tuned": 191, "fg_tuned": 42,
                 "compare": 108}


def test_every_sweep_file_is_counted():
    assert set(SWEEPS) == set(EXPECTED_JOBS)


@pytest.mark.slow
@pytest.mark.xdist_group("sweep_dry_runs")
@pytest.mark.parametrize("sweep", SWEEPS)
def test_sweep_expands_to_checked_jobs(sweep, sweep_dry_run):
    """The grids sweeper's dry run: every job composed and range-checked, none launched."""
    proc, results_dir = sweep_dry_run(sweep)
    assert proc.returncode == 0, proc.stderr
    jobs = [line for line in proc.stdout.splitlines() if f"+sweep={sweep}" in line]
    assert len(jobs) == len(set(jobs)) == EXPECTED_JOBS[sweep]
    assert proc.stdout.splitlines()[-1] == f"{len(jobs)} jobs (dry run: nothing launched)"
    assert not any(results_dir.iterdir())


def test_seed_table_pairs_methods_over_the_same_seeds():
    with initialize(version_base="1.3", config_path="../conf"):
        cfg = compose("config", overrides=["+sweep=seed_table"], return_hydra_config=True)
    grids = cfg.hydra.sweeper.grids
    assert grids[0]["seed"] == grids[1]["seed"] == "range(0,5)"
    assert (grids[2]["method.engine"], grids[2]["epochs"]) == ("naive", 2)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_sweep_file_composes(sweep):
    with initialize(version_base="1.3", config_path="../conf"):
        cfg = compose("config", overrides=[f"+sweep={sweep}"], return_hydra_config=True)
    grids = cfg.hydra.sweeper.grids
    methods_run = {m for g in grids for m in str(g["method"]).split(",")}
    assert "backprop" in methods_run and len(methods_run) >= 2
    settings_from(cfg)


def test_estimators_sweep_covers_every_method_and_scheme():
    with initialize(version_base="1.3", config_path="../conf"):
        cfg = compose("config", overrides=["+sweep=estimators"], return_hydra_config=True)
    grids = cfg.hydra.sweeper.grids
    assert {g["method"] for g in grids} == set(methods.available())
    schemes = {s for g in grids if g["method"] == "numerical"
               for s in g["method.scheme"].split(",")}
    assert schemes == set(numerical.SCHEMES) - {"backward"}  # backward mirrors forward
    assert cfg.hydra.sweeper.params["seed"] == "range(0,3)"


def test_the_published_sweeps_set_the_publications_protocols():
    with initialize(version_base="1.3", config_path="../conf"):
        dlfs = settings_from(compose("config", overrides=["+sweep=dlfs", "method=numerical"]))
        baydin = settings_from(compose("config", overrides=["+sweep=baydin2022"]))
    assert (dlfs.model.widths, dlfs.model.init, dlfs.model.init_std, dlfs.sampling) == (
        (50,), "normal", 0.01, "with_replacement")
    assert (dlfs.epochs * dlfs.steps_per_epoch, dlfs.batch_size, dlfs.lr) == (10_000, 100, 0.1)
    assert (baydin.model.widths, baydin.model.activation, baydin.batch_size) == (
        (1024, 1024), "relu", 64)
    assert (baydin.lr, baydin.lr_decay) == (2e-4, 1e-4)
