"""pass@k against brute-force enumeration, and the bootstrap interval's basic behaviour."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlvr.evaluate.passk import bootstrap_ci, pass_at_k, per_task_pass_at_k, powers_of_two, summarise


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    """Share of all size-k subsets of n samples (the first c correct) holding a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@st.composite
def cases(draw):
    n = draw(st.integers(1, 12))
    c = draw(st.integers(0, n))
    k = draw(st.integers(1, n))
    return n, c, k


@settings(max_examples=300, deadline=None)
@given(cases())
def test_estimator_equals_enumeration_over_subsets(case):
    n, c, k = case
    assert pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k), abs=1e-12)


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [(8, 0, 1, 0.0), (8, 8, 1, 1.0), (8, 4, 1, 0.5), (8, 1, 8, 1.0), (8, 7, 2, 1.0), (200, 1, 1, 0.005)],
)
def test_known_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_large_n_does_not_overflow():
    assert 0.0 < pass_at_k(10_000, 3, 100) < 1.0


@pytest.mark.parametrize(("n", "c", "k"), [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_rejects_impossible_inputs(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_powers_of_two_include_k_max():
    assert powers_of_two(8) == [1, 2, 4, 8]
    assert powers_of_two(10) == [1, 2, 4, 8, 10]
    assert powers_of_two(1) == [1]


def test_pass_at_1_is_the_mean_over_samples():
    n, c = [8, 8, 8], [0, 2, 8]
    assert per_task_pass_at_k(n, c, 1).mean() == pytest.approx(10 / 24)


def test_bootstrap_interval_contains_the_mean_and_narrows_with_more_tasks():
    rng = np.random.default_rng(1)
    few = rng.random(20) < 0.3
    many = rng.random(2000) < 0.3
    lo_few, hi_few = bootstrap_ci(few.astype(float))
    lo_many, hi_many = bootstrap_ci(many.astype(float))
    assert lo_few <= few.mean() <= hi_few
    assert lo_many <= many.mean() <= hi_many
    assert hi_many - lo_many < (hi_few - lo_few) / 3


def test_bootstrap_covers_the_true_rate_in_simulation():
    # 95 % intervals over 200 simulated benchmarks of 100 tasks should cover p about 95 % of the time.
    rng = np.random.default_rng(7)
    p, covered = 0.3, 0
    for trial in range(200):
        values = (rng.random(100) < p).astype(float)
        lo, hi = bootstrap_ci(values, resamples=500, seed=trial)
        covered += lo <= p <= hi
    assert 0.88 <= covered / 200 <= 0.99


def test_summarise_gives_value_and_interval_per_k():
    out = summarise([8, 8], [4, 0], [1, 8], resamples=200)
    assert set(out) == {"pass@1", "pass@8"}
    assert out["pass@1"]["value"] == pytest.approx(0.25)
    assert out["pass@8"]["value"] == pytest.approx(0.5)
    low, high = out["pass@8"]["ci"]
    assert low <= 0.5 <= high
