"""pass@k: the unbiased estimator of Chen et al. (2021) and bootstrap confidence intervals.

With n samples of which c passed, the probability that at least one of k samples
drawn without replacement passes is

    pass@k = 1 - C(n - c, k) / C(n, k)

computed from exact integer binomials (Python's integers do not overflow; their quotient is rounded
once). The same closed form is the mean group reward of pass@k training's advantages
(rlvr.train.objectives.formulas.pass_at_k_closed_form calls this). A benchmark's pass@k is the
mean over tasks; its interval comes from resampling tasks (the unit that varies).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k for one task with `c` of `n` samples correct.

    >>> pass_at_k(8, 4, 1)
    0.5
    >>> round(pass_at_k(8, 1, 4), 3)
    0.5
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)  # C(n - c, k) = 0 when n - c < k: 1.0


def powers_of_two(k_max: int) -> list[int]:
    """1, 2, 4, ... up to k_max, with k_max itself always included."""
    ks, k = [], 1
    while k < k_max:
        ks.append(k)
        k *= 2
    ks.append(k_max)
    return ks


def per_task_pass_at_k(n: Sequence[int], c: Sequence[int], k: int) -> np.ndarray:
    """pass@k of each task, shape (tasks,)."""
    return np.array([pass_at_k(ni, ci, k) for ni, ci in zip(n, c)], dtype=float)


def bootstrap_ci(
    values: Sequence[float], *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of the mean of `values` (one per task), resampling tasks."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)  # (resamples,)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def summarise(
    n: Sequence[int], c: Sequence[int], ks: Sequence[int], *, resamples: int = 2000, seed: int = 0
) -> dict[str, dict[str, float | list[float]]]:
    """{"pass@k": {"value": mean, "ci": [low, high]}} for each k."""
    out: dict[str, dict[str, float | list[float]]] = {}
    for k in ks:
        per_task = per_task_pass_at_k(n, c, k)
        low, high = bootstrap_ci(per_task, resamples=resamples, seed=seed)
        out[f"pass@{k}"] = {"value": float(per_task.mean()), "ci": [low, high]}
    return out
