"""Validated run settings built directly, for tests that call ``run.execute`` or ``train``
without Hydra: flat keyword arguments, as a command line would give them."""

from __future__ import annotations

from typing import Any

from mlpbench.settings import DatasetConfig, ModelConfig, RunConfig

MODEL_KEYS = ("hidden_size", "hidden_sizes", "activation", "init", "init_std")


def run_settings(**given: Any) -> RunConfig:
    """``RunConfig`` from flat keys: ``dataset`` a name (``download`` beside it), the model's
    keys at the top level, paths as paths; everything else as the schema names it."""
    model = ModelConfig(**{k: given.pop(k) for k in MODEL_KEYS if k in given})
    dataset = DatasetConfig(name=given.pop("dataset", "mnist_subset"),
                            download=given.pop("download", False))
    for key in ("results_dir", "data_dir"):
        if given.get(key) is not None:
            given[key] = str(given[key])
    return RunConfig(model=model, dataset=dataset, **given)
