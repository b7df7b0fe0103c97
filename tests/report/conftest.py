"""Fixtures shared by the report tests: one small results dir and its rendered report."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpbench.report import ReportOutputs, render

from .helpers import write_shared_runs


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``helpers.write_shared_runs``: written once, since the tests only read it."""
    return write_shared_runs(tmp_path_factory.mktemp("shared") / "results")


@pytest.fixture(scope="session")
def rendered(results_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportOutputs:
    """The report of ``results_dir``: no scaling, gradcheck or estimators section."""
    return render(results_dir, tmp_path_factory.mktemp("rendered") / "report")
