"""Every committed reference run's configuration, composed again from its result row through
today's schema and entry point, gets the run id it was written under: a change to how settings
are declared or recorded cannot silently re-key the results a user already has."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from hydra import compose, initialize

from mlpbench import results, settings
from mlpbench.config import register_configs, settings_from
from mlpbench.run import result_config

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"


def overrides_of(row: pd.Series) -> list[str]:
    """The command line that asks for the configuration a result row records."""
    found = [f"method={row['method']}", f"dataset={row['dataset']}"]
    for key in ("scheme", "engine"):
        if not pd.isna(row[key]):
            found.append(f"method.{key}={row[key]}")
    if not pd.isna(row["options"]):
        found += [f"method.{part.strip()}" for part in row["options"].split(",")]
    if not pd.isna(row["h"]):
        found.append(f"h={row['h']!r}")
    for leaf in settings.recorded():
        column = settings.column_name(leaf)
        value = row.get(column)
        if column in ("hidden_size", "optimizer") or value is None or pd.isna(value):
            continue
        if column == "hidden_sizes":
            found.append(f"model.hidden_sizes=[{value.replace('-', ',')}]")
        elif isinstance(value, float):
            found.append(f"{leaf.key}={value!r}")
        else:
            found.append(f"{leaf.key}={value}")
    if pd.isna(row["hidden_sizes"]):
        found.append(f"model.hidden_size={int(row['hidden_size'])}")
    if not pd.isna(row["n_validation"]):
        found += [f"dataset.validation={int(row['n_validation'])}",
                  f"dataset.validation_seed={int(row['validation_seed'])}"]
    return found + optimizer_overrides(row["optimizer"])


def optimizer_overrides(label: str | None) -> list[str]:
    """The overrides of an ``optimizer`` column: "adam(beta1=0.9, beta2=0.999, eps=1e-08)",
    "nesterov(beta=0.9)", "sgd, clip=1"; none for null (plain SGD)."""
    if label is None or pd.isna(label):
        return []
    head, _, clip = label.partition(", clip=")
    name, _, params = head.partition("(")
    found = (["optimizer=momentum", "optimizer.nesterov=true"] if name == "nesterov"
             else [f"optimizer={name}"])
    found += [f"optimizer.{part}" for part in params.rstrip(")").split(", ") if part]
    return found + ([f"optimizer.clip={clip}"] if clip else [])


def committed_runs() -> pd.DataFrame:
    frames = [results.read_results(folder, [])[1] for folder in sorted(REFERENCE.iterdir())
              if (folder / "runs").is_dir()]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module", autouse=True)
def _store():
    register_configs()


def test_every_reference_run_keeps_its_run_id():
    runs = committed_runs()
    assert len(runs) > 100
    # One composition per configuration: runs that differ only in seed and lr (a sweep's seeds,
    # a tuned sweep's grid) take those two from their row into the composed settings.
    composed: dict[tuple[str, ...], object] = {}
    with initialize(version_base="1.3", config_path="../conf"):
        for _, row in runs.iterrows():
            overrides = overrides_of(row)
            key = tuple(o for o in overrides if not o.startswith(("seed=", "lr=")))
            if key not in composed:
                composed[key] = settings_from(compose("config", overrides=overrides))
            run = dataclasses.replace(composed[key], seed=int(row["seed"]), lr=float(row["lr"]))
            held = 0 if pd.isna(row["n_validation"]) else int(row["n_validation"])
            data = SimpleNamespace(name=row["dataset"], n_train=int(row["n_train"]),
                                   n_test=int(row["n_test"]), n_validation=held)
            config = result_config(run, data)
            assert results.run_id_for(config) == row["run_id"], overrides_of(row)
