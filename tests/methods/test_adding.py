"""docs/development.md "Adding a method", followed literally: its module, dropped into the methods
package's search path, is found by the registry, configured from the command line and trained by a
run."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize

from mlpbench import methods
from mlpbench.config import register_configs, settings_from
from mlpbench.run import execute

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "development.md"


def readme_method_module() -> str:
    section = GUIDE.read_text().split("## Adding a method", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def sign_method(tmp_path, monkeypatch):
    package = tmp_path / "methods"
    package.mkdir()
    (package / "sign.py").write_text(readme_method_module())
    monkeypatch.setattr(methods, "__path__", [*methods.__path__, str(package)])
    methods._discovered.cache_clear()
    yield
    methods._discovered.cache_clear()


def test_the_readme_method_is_found_configured_and_trained(sign_method, tmp_path):
    assert "sign" in methods.available()
    register_configs()
    with initialize(version_base="1.3", config_path="../../conf"):
        cfg = compose("config", overrides=[
            "method=sign", "method.scale=0.02", "dataset=mnist_subset", "epochs=3",
            "batch_size=20", "progress=false", f"results_dir={tmp_path / 'results'}"])
    run = execute(settings_from(cfg))
    assert (run["status"], run["method"], run["options"]) == ("ok", "sign", "scale=0.02")
    assert run["role"] is None and run["theory_forward_passes"] == pytest.approx(2.0126, 1e-4)
    curves = pd.read_parquet(tmp_path / "results" / "curves")
    assert len(curves) == 3 and curves["loss"].iloc[-1] < curves["loss"].iloc[0]
