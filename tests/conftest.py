"""Shared fixtures: small slices of the embedded real MNIST digits, never synthetic images."""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from mlpbench.data import Dataset, fixed_batch, load_dataset
from mlpbench.model import init_network

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def subset() -> Dataset:
    return load_dataset("mnist_subset")


@pytest.fixture(scope="session")
def real_batch(subset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """20 real digits, scaled as the seed scales them, with one-hot targets."""
    return fixed_batch(subset, 20, seed=7)


@pytest.fixture
def small_params() -> dict[str, np.ndarray]:
    """A 784-6-10 network: small enough for the naive loop to finish in well under a second."""
    return init_network(6, np.random.default_rng(0))


@pytest.fixture(scope="session")
def sweep_dry_run(tmp_path_factory):
    """``--multirun +sweep=<sweep> hydra.sweeper.dry_run=true`` and the results folder it was
    given, once per sweep and process: the expansion test and the memory test read the same
    output (both carry ``xdist_group("sweep_dry_runs")``, so a parallel session runs each
    sweep's dry run once)."""
    @functools.cache
    def dry_run(sweep: str) -> tuple[subprocess.CompletedProcess, Path]:
        results_dir = tmp_path_factory.mktemp(f"dry-{sweep}")
        proc = subprocess.run(
            [sys.executable, "-m", "mlpbench", "--multirun", f"+sweep={sweep}",
             f"results_dir={results_dir}", "hydra.sweeper.dry_run=true"],
            cwd=REPO, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO)})
        return proc, results_dir

    return dry_run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on the Ray head run in one process of a parallel session (``make test`` runs
    pytest-xdist with ``--dist loadgroup``): a head is per process, and the ``ray stop
    --force`` of one process's teardown would stop every head on the machine."""
    for item in items:
        if "ray_head" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("ray"))


@pytest.fixture(scope="session")
def ray_head():
    """A Ray head on 127.0.0.1 with its own temp dir and HOME, shared by the Ray tests of the
    session (a head takes seconds to start); stopped in teardown, whatever the outcome."""
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec(
            "hydra_plugins.hydra_ray_launcher") is None:
        if os.environ.get("MLPBENCH_REQUIRE_RAY") == "1":
            pytest.fail("Ray is required here but not installed: run `make install-ray`")
        pytest.skip("the optional Ray extra is not installed (make install-ray)")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray puts unix sockets in it
    port = free_port()
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "RAY_USAGE_STATS_ENABLED": "0", "RAY_TMPDIR": temp, "HOME": temp}
    env.pop("RAY_ADDRESS", None)
    ray = str(Path(sys.executable).with_name("ray"))
    try:
        subprocess.run(
            [ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
             "--dashboard-host=127.0.0.1", "--include-dashboard=false",
             "--disable-usage-stats", "--num-cpus=2", f"--temp-dir={temp}"],
            cwd=REPO, env=env, check=True, capture_output=True, timeout=180,
        )
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
