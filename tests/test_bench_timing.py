"""``benchmarks.conftest.interleaved``, the timing behind ``make bench-check``: sides in turn,
one thread each, the least CPU time, and the conditions recorded."""

from __future__ import annotations

import itertools
import time

import numba
from threadpoolctl import threadpool_info

from benchmarks.conftest import CONDITIONS, interleaved


def test_sides_alternate_and_the_order_reverses_every_other_round():
    order: list[str] = []
    interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, rounds=4,
                label="order", warmup=0)
    # the calibration of each side, then rounds a b, b a, a b, b a (each sample of repeats)
    assert [side for side, _ in itertools.groupby(order)] == list("abababa")


def test_both_sides_run_on_one_thread_and_the_threads_come_back():
    before = numba.get_num_threads()
    seen = []

    def side() -> None:
        blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        seen.append((numba.get_num_threads(), set(blas) or {1}))

    interleaved({"a": side, "b": side}, rounds=2, label="threads", warmup=0)
    assert set(map(str, seen)) == {str((1, {1}))}
    assert numba.get_num_threads() == before


def test_the_minimum_is_cpu_time_and_waiting_does_not_count():
    def busy() -> None:
        end = time.process_time() + 0.003
        while time.process_time() < end:
            pass

    best = interleaved({"sleeps": lambda: time.sleep(0.003), "computes": busy}, rounds=3,
                       label="clock", warmup=0)
    assert best["sleeps"] < 0.001 <= 0.003 <= best["computes"] < 0.03
    conditions = CONDITIONS["clock"]
    assert conditions["numba_threads"] == conditions["blas_threads"] == 1
    assert {"load_1min_before", "load_1min_after"} <= set(conditions)
