"""The method contract: every registered method satisfies ``GradientMethod`` and says so."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

from mlpbench import methods
from mlpbench.methods import backprop
from mlpbench.methods.base import GradientMethod, GradientResult, missing_members
from mlpbench.model import ACTIVATIONS, init_params, one_hot

REGISTERED = sorted(methods.available())


def test_the_registry_finds_every_method_module():
    assert REGISTERED == ["backprop", "es", "forward_gradient", "numerical", "spsa"]
    assert methods.reference().NAME in REGISTERED


@pytest.mark.parametrize("name", REGISTERED)
def test_every_method_satisfies_the_protocol(name):
    method = methods.get(name)
    assert isinstance(method, GradientMethod)
    assert missing_members(type(method)) == []
    assert name == method.NAME
    assert isinstance(method.USES_H, bool)
    assert dataclasses.is_dataclass(method.Config)
    assert method.Config().name == name
    params = inspect.signature(method.make_estimator).parameters
    assert list(params) == ["cfg", "h", "log_eps", "rng", "activation"]


@pytest.mark.parametrize("name", REGISTERED)
def test_defaults_are_positive_and_the_default_config_passes_its_check(name):
    method = methods.get(name)
    cfg = method.Config()
    method.check(cfg)  # raises ConfigError if the defaults were out of range
    assert method.default_h(cfg) > 0 and method.default_lr(cfg) > 0


@pytest.mark.parametrize("name", REGISTERED)
def test_every_estimator_returns_the_parameters_keys_and_a_count(name, small_params, real_batch):
    method = methods.get(name)
    cfg = method.Config()
    estimate = method.make_estimator(cfg, method.default_h(cfg), 1e-7, np.random.default_rng(0))
    result = estimate(small_params, *real_batch)
    assert isinstance(result, GradientResult) and result.loss_evals >= 1
    assert {k: g.shape for k, g in result.grads.items()} == \
        {k: p.shape for k, p in small_params.items()}


def test_a_method_missing_members_is_named():
    class Half(GradientMethod):
        NAME = "half"

    assert missing_members(Half) == ["Config", "make_estimator", "forward_passes"]
    with pytest.raises(TypeError, match="lacks Config, make_estimator, forward_passes"):
        methods.register(Half)
    assert "half" not in methods.available()


def test_defaults_of_the_base():
    class Plain(GradientMethod):
        NAME = "plain"

        @dataclasses.dataclass(frozen=True)
        class Config:
            name: str = "plain"

    plain = Plain()
    assert (plain.USES_H, plain.default_h(None), plain.default_lr(None)) == (False, 1e-4, 0.1)
    assert plain.role(None) is None and plain.engine_role(None) is None
    plain.check(Plain.Config())  # nothing declared, nothing to fail


@pytest.mark.parametrize(
    ("name", "options", "seed_network", "baydin"),
    [
        ("backprop", {}, 2.0126, 2.5688),
        ("forward_gradient", {}, 2.0126, 2.5688),  # forward mode costs what backprop does
        ("forward_gradient", {"jvp": "complex_step", "directions": 2}, 4.0504, 6.2750),
        ("spsa", {"directions": 3}, 6.0, 6.0),
        ("es", {}, 11.1134, 16.1188),
        ("numerical", {}, 79_520.0, 3_727_380.0),
        ("numerical", {"scheme": "forward"}, 39_761.0, 1_863_691.0),
    ],
)
def test_theoretical_cost_in_forward_passes(name, options, seed_network, baydin):
    """784-50-10 and 784-1024-1024-10: multiply-adds over a forward pass's, or loss counts."""
    method = methods.get(name)
    cfg = method.Config(**options)
    assert method.forward_passes(cfg, (784, 50, 10)) == pytest.approx(seed_network, abs=1e-4)
    assert method.forward_passes(cfg, (784, 1024, 1024, 10)) == pytest.approx(baydin, abs=1e-4)


@pytest.mark.parametrize("name", REGISTERED)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_method_trains_a_two_layer_network(name, activation):
    """Every method (numerical through its naive loop) on 7-5-4-3: the parameters' keys back,
    and for the exact methods the gradient itself."""
    rng = np.random.default_rng(1)
    params = init_params(7, [5, 4], 3, rng)
    x, t = rng.standard_normal((6, 7)), one_hot(rng.integers(0, 3, 6), 3)
    method = methods.get(name)
    cfg = method.Config(engine="naive", scheme="complex_step") if name == "numerical" \
        else method.Config()
    estimate = method.make_estimator(cfg, method.default_h(cfg), 1e-7,
                                     np.random.default_rng(0), activation)
    grads = estimate(params, x, t).grads
    assert list(grads) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    if name == "numerical":
        exact = backprop.gradient(params, x, t, 1e-7, activation)
        for key in exact:
            np.testing.assert_allclose(grads[key], exact[key], rtol=1e-12, atol=1e-15)
