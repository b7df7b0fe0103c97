"""The text formatters: every number reads in the unit and precision a reader expects."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mlpbench.report.format import (
    format_error,
    format_ratio,
    format_step,
    human_duration,
    markdown,
    weights_text,
)


@pytest.mark.parametrize(("seconds", "text"), [
    (0.31, "0.31 s"), (3.1, "3.10 s"), (8515.3, "2 h 22 min"), (1234.5, "20 min 34.5 s"),
    (3780.0, "1 h 03 min"),
    (0.0123, "12.3 ms"), (8.5e-5, "85 µs"), (59.999, "1 min 00.0 s"), (3599.99, "1 h 00 min"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(("ratio", "text"), [
    (2681.8, "2,682x"), (268.18, "268x"), (10.0, "10.0x"), (9.0909, "9.09x"),
    (math.nan, "n/a"),
])
def test_format_ratio(ratio: float, text: str) -> None:
    assert format_ratio(ratio) == text


def test_gradcheck_formatters() -> None:
    assert (format_step(1e-4), format_step(math.nan)) == ("1.0e-04", "n/a")
    assert (format_error(8.8e-11), format_error(math.nan)) == ("8.8e-11", "n/a")
    assert weights_text("init", 0) == "init"
    assert weights_text("trained", 1) == "trained (1 epoch)"
    assert weights_text("trained", 100) == "trained (100 epochs)"


def test_markdown_keeps_text_as_given() -> None:
    table = markdown(pd.DataFrame([("a", "1.6600")], columns=["Name", "Loss"]))
    assert table.splitlines() == ["| Name   |   Loss |", "|:-------|-------:|",
                                  "| a      | 1.6600 |"]
