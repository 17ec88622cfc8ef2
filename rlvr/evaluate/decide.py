"""Did training raise pass@1? One interval over seeds and problems, a three-way decision, and power.

A claim about what training bought is a claim about problems the model was not shown and about
training runs not made: both the held-out problems and the training seeds are samples. The gain
of seed s on problem i is d[s, i] = trained pass rate - base pass rate (paired: the same problem
for both models). The estimand is the mean of d over problems and seeds, read as a two-way
random-effects (crossed) model,

    d[s, i] = gain + a[s] + b[i] + e[s, i]         a: seed, b: problem, e: seed x problem + samples

    Var(mean d) = var_seed / S + var_problem / P + (var_seed_x_problem + var_samples) / (S P)

where var_samples is the binomial variance of a cell's two pass rates at the run's K samples per
problem (p (1 - p) / (K - 1) for base plus trained, averaged over cells).

The components come from the mean squares of the S x P table (method of moments, ANOVA):
var_seed = (MS_seed - MS_cell) / P, var_problem = (MS_problem - MS_cell) / S, each clipped at 0,
and MS_cell split into the binomial part (never less than it) and the rest. A base evaluation shared
by every seed carries the same sampling noise into each seed: it counts as problem variance, which
more seeds do not shrink. With one seed the seed part cannot be measured: the interval then spans
problems (and samples) only, and says so.

The interval. Var(mean d) splits into what the seed means carry (var_seed / S plus the cell and
sample parts) and what the problems add (var_problem / P). The first is measured directly by the
spread of the seed means (MS_seed / (S P), the per-seed t-interval's variance, not clipped); the
second by (MS_problem - MS_cell) / (S P). The half-width adds the two in quadrature, each at its own
Student t quantile: t(S - 1) for the seed means, t(P - 1) for the problems. At two seeds the seed
means rest on one degree of freedom: pooling them with the problems' many (Satterthwaite)
under-covers when seeds differ (0.84 at a nominal 0.95), and replacing a small observed spread by
its expectation (max(MS_seed, MS_cell)) over-covers (1.00, twice the width); the observed spread at
t(S - 1) holds 0.95 to 0.98 in every simulated mix (tests/evaluate/test_decide.py measures the three).
With one seed the interval spans problems (and samples) only.
A crossed bootstrap (seeds and, within the drawn seeds, the same drawn problems for base and
trained, as rliable resamples runs and tasks) gives the probability of improvement's interval;
its percentile interval for the gain is kept as `bootstrap_interval`. On its own it would decide too
often (two or three resampled seeds give a normal tail and (S - 1) / S of the seed variance), so it only
bounds the interval from inside: the interval is never narrower than it. That matters where pass counts
are whole numbers of few samples: in a demo on another host each of 3 seeds lost exactly one strict success
of 232 (gain -1/232 in every seed), the seed means did not spread at all, the problem part clipped to 0,
and the t-interval was the point [-0.004, -0.004], a "loss"; the bootstrap's [-0.014, +0.006] is what those
counts can tell. Elsewhere the t-interval holds the bootstrap's and nothing changes (the coverage tests).
The K samples are not resampled again: the observed pass rates already carry their binomial noise into
every resample, and resampling them would count it twice.

Three-way decisions at a smallest effect that matters, `delta` (default 0.05 of pass@1), on the
95 % interval [low, high], in this order:

    gain                   low > 0           (also when high < delta: a gain, smaller than delta)
    loss                   high < 0
    no_gain_beyond_delta   high < delta      (an equivalence statement: any gain is under delta)
    inconclusive           otherwise

so that each claim is wrong at most 2.5 % of the time (one tail of a 95 % interval).

Power. With the run's own components, the minimum detectable effect at S seeds and P problems
(power 1 - beta) is the true gain whose interval clears 0 with probability 1 - beta:

    MDE(S, P) = H(S, P) + z_{1 - beta} * sqrt(SE(S, P)^2 + Var H)        (at the run's K)

H the expected half-width, Var H its run-to-run variance (delta method); at many degrees of
freedom this is the familiar (z_{1 - alpha/2} + z_{1 - beta}) * SE. The seeds needed
for `delta` are the fewest S with MDE(S, P) <= delta, the problems needed likewise holding S;
None when no number suffices (the other level's variance alone is too large).

Looking more than once (`--seeds auto`): each look uses the interval at level alpha / L, L the
number of looks planned (Bonferroni), so the chance that any look makes a wrong claim stays
under alpha whatever the stopping point.

The API (for compare, spurious, the demo and the report): `analyse_gain(base, trained, n_base,
n_trained, delta=...)` -> a record with `gain`, `interval`, `decision`, `delta`, `alpha`,
`per_seed_gain`, `method`, `spans_seeds`, `seeds`, `problems`, `samples`, `se`, `components`
(seed, problem, seed_x_problem, samples; seed and seed_x_problem None at one seed), `variance_shares`,
`bootstrap_interval`, `prob_improvement` and its `prob_improvement_interval`, `mde`, `power`,
`seeds_needed`, `problems_needed`, `samples_needed`, `seeds_and_problems` (when neither level alone
reaches delta, the fewest of 4, 6, 8, ... 64 seeds and the problems they need); `analyse_rate_gain(base_rates, trained_rates, K)`
the same for per-problem rates that are not counts (each problem's pass@k); `decide(interval, delta)`; `decision_sentence(subject, record)`,
the one sentence about a gain; `plan_text(record)`; `sequential_seeds(next_seed, max_seeds=...)`.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist
from typing import Any, Callable, Literal

import numpy as np

Decision = Literal["gain", "loss", "no_gain_beyond_delta", "inconclusive"]
DECISIONS: tuple[Decision, ...] = ("gain", "loss", "no_gain_beyond_delta", "inconclusive")
DELTA = 0.05  # the smallest pass@1 gain that matters, by default
ALPHA = 0.05
POWER = 0.8

__all__ = ["ALPHA", "DECISIONS", "DELTA", "POWER", "analyse_gain", "analyse_rate_gain", "decide", "decision_sentence", "plan_text",
           "sequential_seeds"]


@lru_cache(maxsize=4096)
def t_quantile(q: float, df: float) -> float:
    """The q-quantile (q > 0.5) of Student's t at `df` (fractional allowed) degrees of freedom.

    Numerically, from the density, so that no scipy is needed; the normal quantile above 1,000 df.

    >>> round(t_quantile(0.975, 1), 2), round(t_quantile(0.975, 4), 3), round(t_quantile(0.975, 1e6), 3)
    (12.71, 2.776, 1.96)
    """
    z = NormalDist().inv_cdf(q)
    if df > 1000:
        return z
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def upper_mass(x: float) -> float:  # P(0 < T < x), Simpson's rule on 2,001 points
        grid = np.linspace(0.0, x, 2001)
        f = np.exp(log_c - (df + 1) / 2 * np.log1p(grid ** 2 / df))
        return float((f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum()) * (x / 2000) / 3)

    low, high = z, z
    while upper_mass(high) < q - 0.5:
        high *= 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if upper_mass(mid) < q - 0.5 else (low, mid)
    return (low + high) / 2


def decide(interval: tuple[float, float] | list[float], delta: float = DELTA) -> Decision:
    """The three-way decision on an interval of a gain (precedence in the module docstring).

    >>> decide([0.01, 0.04]), decide([-0.08, -0.01]), decide([-0.02, 0.04]), decide([-0.05, 0.12])
    ('gain', 'loss', 'no_gain_beyond_delta', 'inconclusive')
    """
    low, high = interval
    if low > 0:
        return "gain"
    if high < 0:
        return "loss"
    if high < delta:
        return "no_gain_beyond_delta"
    return "inconclusive"


def variance_components(d: np.ndarray, cell_var: np.ndarray | None) -> dict[str, Any]:
    """Seed, problem, seed x problem and sample variances of a (seeds, problems) table of gains,
    by the method of moments from the mean squares of the table (ANOVA).

    The sample part is the binomial one, never less: a table whose cells agree by chance (or by
    construction) still carries each cell's sampling noise, so the cell's variance is at least it."""
    s, p = d.shape
    samples = float(np.mean(cell_var)) if cell_var is not None else 0.0
    col = d.mean(axis=0)
    ms_problem = s * float(np.sum((col - col.mean()) ** 2)) / max(p - 1, 1)
    if s == 1:  # the seed part cannot be told apart: everything is problem-to-problem (and samples)
        return {"seed": None, "problem": max(0.0, ms_problem - samples), "seed_x_problem": None, "samples": samples}
    row = d.mean(axis=1)
    resid = d - row[:, None] - col[None, :] + d.mean()
    ms_seed = p * float(np.sum((row - row.mean()) ** 2)) / (s - 1)
    ms_cell = float(np.sum(resid ** 2)) / max((s - 1) * (p - 1), 1)
    return {"seed": max(0.0, (ms_seed - ms_cell) / p), "problem": max(0.0, (ms_problem - ms_cell) / s),
            "seed_x_problem": max(0.0, ms_cell - samples), "samples": samples}


def _parts(components: dict[str, Any], seeds: int, problems: int) -> tuple[float, float]:
    """Var(mean gain) at `seeds` x `problems` in two parts: what varies from seed to seed (seed, seed x
    problem and sample variance, all of which the seed means carry) and what the problems add.

    With one seed everything is problem-to-problem."""
    seed, cell = components["seed"] or 0.0, components["seed_x_problem"] or 0.0
    within = (cell + components["samples"]) / (seeds * problems)
    if seeds == 1:
        return 0.0, components["problem"] / problems + within
    return seed / seeds + within, components["problem"] / problems


def standard_error(components: dict[str, Any], seeds: int, problems: int) -> float:
    """SE of the mean gain at `seeds` x `problems` (the formula in the module docstring)."""
    return math.sqrt(max(sum(_parts(components, seeds, problems)), 0.0))


def half_width(components: dict[str, Any], seeds: int, problems: int, alpha: float = ALPHA) -> float:
    """The expected half-width at `seeds` x `problems` (for planning): the seed part (its expectation,
    var_seed / S + the cell and sample parts / (S P)) at t(S - 1), the problem part at t(P - 1), in
    quadrature; `observed_half_width` is the one an interval uses."""
    over_seeds, over_problems = _parts(components, seeds, problems)
    t_seeds = t_quantile(1 - alpha / 2, seeds - 1) if seeds > 1 else 0.0
    t_problems = t_quantile(1 - alpha / 2, max(problems - 1, 1))
    return math.sqrt(t_seeds ** 2 * over_seeds + t_problems ** 2 * over_problems)


def observed_half_width(d: np.ndarray, components: dict[str, Any], alpha: float = ALPHA) -> tuple[float, float]:
    """(SE, half-width) of the mean of a (seeds, problems) table of gains: the seed means' own spread
    (MS_seed / (S P), as observed) at t(S - 1), the problems' part at t(P - 1), in quadrature.

    With one seed everything is problem-to-problem, at t(P - 1)."""
    s, p = d.shape
    t_problems = t_quantile(1 - alpha / 2, max(p - 1, 1))
    if s == 1:
        over_problems = sum(_parts(components, 1, p))
        return math.sqrt(over_problems), t_problems * math.sqrt(over_problems)
    over_seeds = float(np.var(d.mean(axis=1), ddof=1)) / s
    over_problems = components["problem"] / p
    half = math.sqrt(t_quantile(1 - alpha / 2, s - 1) ** 2 * over_seeds + t_problems ** 2 * over_problems)
    return math.sqrt(over_seeds + over_problems), half


def _crossed_draws(rng: np.random.Generator, resamples: int, seeds: int, problems: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """How often each seed and each problem is drawn in each resample: (resamples, S), (resamples, P)."""
    ws = np.zeros((resamples, seeds))
    wp = np.zeros((resamples, problems))
    rows = np.arange(resamples)[:, None]
    np.add.at(ws, (rows, rng.integers(0, seeds, size=(resamples, seeds))), 1.0)
    np.add.at(wp, (rows, rng.integers(0, problems, size=(resamples, problems))), 1.0)
    return ws, wp


def _improvement_table(base: np.ndarray, trained: np.ndarray) -> np.ndarray:
    """(S, S, P): 1 where trained seed s beats base seed s' on problem i, 0.5 for a tie (rliable)."""
    diff = trained[:, None, :] - base[None, :, :]
    return (diff > 0) + 0.5 * (diff == 0)


def analyse_gain(base: np.ndarray, trained: np.ndarray, n_base: np.ndarray | float, n_trained: np.ndarray | float,
                 *, delta: float = DELTA, alpha: float = ALPHA, power: float = POWER, resamples: int = 2000,
                 seed: int = 0) -> dict[str, Any]:
    """The gain in pass@1 over seeds and problems: interval, decision, components, power, P(improvement).

    base, trained: pass counts, shape (seeds, problems), the same problems in the same order in every
    row (a base evaluation shared by all seeds is the same row repeated); n_base, n_trained: samples per
    problem (scalars or the same shape). The record's keys are described in the module docstring.
    """
    base, trained = np.atleast_2d(np.asarray(base, float)), np.atleast_2d(np.asarray(trained, float))
    n_b = np.broadcast_to(np.asarray(n_base, float), base.shape)
    n_t = np.broadcast_to(np.asarray(n_trained, float), trained.shape)
    rate_b, rate_t = base / n_b, trained / n_t
    d = rate_t - rate_b  # (S, P)
    s, p = d.shape
    # Unbiased binomial variance of each cell's difference of two pass rates (0 at K = 1: not estimable).
    cell_var = (rate_b * (1 - rate_b) / np.maximum(n_b - 1, 1) * (n_b > 1)
                + rate_t * (1 - rate_t) / np.maximum(n_t - 1, 1) * (n_t > 1))
    return _analyse(rate_b, rate_t, cell_var, float(np.mean(n_t)), delta=delta, alpha=alpha, power=power,
                    resamples=resamples, seed=seed)


def analyse_rate_gain(base: np.ndarray, trained: np.ndarray, samples: float, *, delta: float = DELTA,
                      alpha: float = ALPHA, power: float = POWER, resamples: int = 2000, seed: int = 0
                      ) -> dict[str, Any]:
    """`analyse_gain` for per-problem rates that are not a binomial count over K, such as each problem's
    unbiased pass@k: shape (seeds, problems), values in [0, 1]. Their sampling noise has no closed form,
    so it stays inside the seed x problem part (`components["samples"]` is 0) and the plan names no
    samples count; `samples` (K) is recorded only."""
    base, trained = np.atleast_2d(np.asarray(base, float)), np.atleast_2d(np.asarray(trained, float))
    return _analyse(base, trained, None, float(samples), delta=delta, alpha=alpha, power=power, resamples=resamples,
                    seed=seed)


def _analyse(rate_b: np.ndarray, rate_t: np.ndarray, cell_var: np.ndarray | None, k: float, *, delta: float,
             alpha: float, power: float, resamples: int, seed: int) -> dict[str, Any]:
    d = rate_t - rate_b  # (S, P)
    s, p = d.shape
    components = variance_components(d, cell_var)
    se, half = observed_half_width(d, components, alpha)
    gain = float(d.mean())
    rng = np.random.default_rng(seed)
    ws, wp = _crossed_draws(rng, resamples, s, p)
    boot = ((ws @ d) * wp).sum(axis=1) / (s * p)  # (resamples,): the crossed bootstrap's gains
    low, high = (float(v) for v in np.quantile(boot, [alpha / 2, 1 - alpha / 2]))
    # Never narrower than the bootstrap's: seed means tied by whole-number counts must not read as certainty.
    interval = [max(-1.0, min(gain - half, low)), min(1.0, max(gain + half, high))]
    table = _improvement_table(rate_b, rate_t)  # (S, S, P)
    by_pair = (table.reshape(s * s, p) @ wp.T).T.reshape(-1, s, s)  # (resamples, S, S): summed over drawn problems
    poi = np.einsum("rs,rst,rt->r", ws, by_pair, ws) / (s * s * p)
    plan = plan_sizes(components, s, p, delta=delta, alpha=alpha, power=power,
                      samples=k if cell_var is not None else None)
    return {
        "gain": gain, "interval": interval, "delta": delta, "alpha": alpha,
        "per_seed_gain": [float(v) for v in d.mean(axis=1)],
        "decision": decide(interval, delta),
        "method": ("seeds x problems random effects; the seed means' spread at t(S - 1), the problems' part at "
                   "t(P - 1), never narrower than the crossed bootstrap" if s > 1
                   else "problems only (one seed: the interval does not span seeds), t, never narrower than the "
                   "bootstrap"),
        "spans_seeds": s > 1, "seeds": s, "problems": p, "samples": k,
        "se": se,
        "components": {key: components[key] for key in ("seed", "problem", "seed_x_problem", "samples")},
        "variance_shares": variance_shares(components, s, p),
        "bootstrap_interval": [low, high],
        "prob_improvement": float(table.mean()),
        "prob_improvement_interval": [float(v) for v in np.quantile(poi, [alpha / 2, 1 - alpha / 2])],
        **plan,
    }


def variance_shares(components: dict[str, Any], seeds: int, problems: int) -> dict[str, float | None]:
    """Each level's share of Var(mean gain) at this run's size: where more data would help most."""
    parts = {"seed": None if components["seed"] is None else components["seed"] / seeds,
             "problem": components["problem"] / problems,
             "seed_x_problem": None if components["seed_x_problem"] is None
             else components["seed_x_problem"] / (seeds * problems),
             "samples": components["samples"] / (seeds * problems)}
    total = sum(v for v in parts.values() if v is not None)
    return {key: (None if v is None else (v / total if total > 0 else 0.0)) for key, v in parts.items()}


def minimum_detectable_effect(components: dict[str, Any], seeds: int, problems: int, *, alpha: float = ALPHA,
                              power: float = POWER) -> float:
    """The true gain whose interval clears 0 with probability `power` (see `detection_probability`)."""
    h, sd = _low_end_spread(components, seeds, problems, alpha)
    return h + NormalDist().inv_cdf(power) * sd


def detection_probability(components: dict[str, Any], seeds: int, problems: int, effect: float, *,
                          alpha: float = ALPHA) -> float:
    """The predicted chance that the interval's low end is above 0 when the true gain is `effect`."""
    h, sd = _low_end_spread(components, seeds, problems, alpha)
    return NormalDist().cdf((effect - h) / sd) if sd > 0 else float(effect > h)


def _low_end_spread(components: dict[str, Any], seeds: int, problems: int, alpha: float) -> tuple[float, float]:
    """(expected half-width H, run-to-run SD of the low end gain - H).

    Both the gain and the half-width vary from run to run: SD = sqrt(SE^2 + Var H), Var H by the
    delta method from the mean squares' chi-square spreads (Var MS = 2 E[MS]^2 / df)."""
    se, h = standard_error(components, seeds, problems), half_width(components, seeds, problems, alpha)
    s, p = seeds, problems
    cell = (components["seed_x_problem"] or 0.0) + components["samples"]
    t_p = t_quantile(1 - alpha / 2, max(p - 1, 1))
    if s == 1:  # H^2 = t_P^2 MS_P / P
        var_h2 = t_p ** 4 * 2 * (components["problem"] + cell) ** 2 / max(p - 1, 1) / p ** 2
    else:  # H^2 = t_S^2 MS_seed / (S P) + t_P^2 (MS_problem - MS_cell) / (S P)
        ms_seed, ms_problem = p * (components["seed"] or 0.0) + cell, s * components["problem"] + cell
        t_s = t_quantile(1 - alpha / 2, s - 1)
        var_h2 = (t_s ** 4 * 2 * ms_seed ** 2 / (s - 1) + t_p ** 4 * (
            2 * ms_problem ** 2 / max(p - 1, 1) + 2 * cell ** 2 / max((s - 1) * (p - 1), 1))) / (s * p) ** 2
    var_h = var_h2 / (4 * h * h) if h > 0 else 0.0
    return h, math.sqrt(se * se + var_h)


def plan_sizes(components: dict[str, Any], seeds: int, problems: int, *, delta: float = DELTA,
               alpha: float = ALPHA, power: float = POWER, most: int = 10_000, samples: float | None = None
               ) -> dict[str, Any]:
    """The MDE at this size, and the seeds (problems held), problems (seeds held) and, given the run's
    `samples` per problem K, the samples per problem (seeds and problems held) that detect `delta`.

    None when no size up to `most` reaches delta: the other levels' variance alone is too large. The
    sample part scales as K / K': the binomial variance of a pass rate over K' samples."""
    def mde_at(s: int, p: int, c: dict[str, Any] = components) -> float:
        return minimum_detectable_effect(c, s, p, alpha=alpha, power=power)

    def fewest(mde_of: Callable[[int], float], start: int) -> int | None:
        if mde_of(most) > delta:
            return None
        low, high = start, most  # the MDE falls as the size grows: bisect for the first size that reaches delta
        if mde_of(low) <= delta:
            return low
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (low, mid) if mde_of(mid) <= delta else (mid, high)
        return high

    seeds_needed = None if components["seed"] is None else fewest(lambda n: mde_at(n, problems), 2)
    samples_needed = None
    if samples:
        def at_samples(n: int) -> float:
            return mde_at(seeds, problems, {**components, "samples": components["samples"] * samples / n})

        samples_needed = fewest(at_samples, 1)
    problems_needed = fewest(lambda n: mde_at(seeds, n), 2)
    together = None  # neither level alone suffices: the fewest seeds (from a few) whose problems needed exist
    if components["seed"] is not None and seeds_needed is None and problems_needed is None:
        for s in (4, 6, 8, 12, 16, 24, 32, 48, 64):
            if s > seeds and (p := fewest(lambda n, s=s: mde_at(s, n), problems)) is not None:
                together = [s, p]
                break
    return {"mde": mde_at(seeds, problems), "power": power, "seeds_needed": seeds_needed,
            "problems_needed": problems_needed, "samples_needed": samples_needed, "seeds_and_problems": together}


def decision_sentence(subject: str, analysis: dict[str, Any], reading: str = "format-neutral",
                      measure: str = "held-out pass@1", more: str = "see `rlvr plan`") -> str:
    """The one sentence rlvr prints about a gain: its decision, interval, seeds, problems and delta.

    subject names what moved, e.g. "the real arm" or "training"; no other sentence may claim a gain,
    a loss or the absence of one."""
    low, high = analysis["interval"]
    delta, decision = analysis["delta"], analysis["decision"]
    seeds = f"{analysis['seeds']} seed{'s' if analysis['seeds'] != 1 else ''}"
    problems = ("the problems held fixed" if analysis["problems"] is None  # a record from before per-task counts
                else f"{analysis['problems']} problems")
    basis = (f"{analysis['gain']:+.3f}, interval [{low:+.3f}, {high:+.3f}] over {seeds} and {problems}"
             + ("" if analysis["spans_seeds"] else ", not spanning seeds"))
    what = f"{reading} {measure}"
    if decision == "gain":
        size = f", though possibly by less than {delta:.2f}" if low < delta else ""
        return f"gain: {subject} raised {what} ({basis}){size}."
    if decision == "loss":
        return f"loss: {subject} lowered {what} ({basis})."
    if decision == "no_gain_beyond_delta":
        return f"no gain beyond {delta:.2f}: any gain {subject} made in {what} is below {delta:.2f} ({basis})."
    return (f"inconclusive: the interval of {subject}'s change in {what} admits both no gain and a gain above "
            f"{delta:.2f} ({basis}); more data is needed, {more}.")


def interval_text(analysis: dict[str, Any]) -> str:
    """One analysis as a table cell: mean [95 % interval] decision, e.g. "+0.781 [+0.186, +1.000] gain"."""
    low, high = analysis["interval"]
    return f"{analysis['gain']:+.3f} [{low:+.3f}, {high:+.3f}] {analysis['decision'].replace('_', ' ')}"


def plan_text(analysis: dict[str, Any]) -> str:
    """Where the variance comes from, the MDE and the seeds/problems a decision at delta needs."""
    shares = analysis["variance_shares"]
    parts = ", ".join(f"{name.replace('_', ' ')} {share:.0%}" for name, share in shares.items() if share is not None)
    delta = analysis["delta"]
    seeds = f"{analysis['seeds']} seed{'s' if analysis['seeds'] != 1 else ''}"
    mde = analysis["mde"]
    lines = [f"variance of the mean gain: {parts} (at {seeds}, {analysis['problems']} problems, "
             f"{analysis['samples']:.0f} samples each)",
             f"minimum detectable effect at {analysis['power']:.0%} power: "
             + (f"{mde:.3f} of pass@1" if mde < 1 else "above 1, so no pass@1 gain is detectable at this size")]
    if not analysis["spans_seeds"]:
        lines.append("one seed: the seed-to-seed variance is unmeasured; run two or more seeds before planning seeds")
    elif analysis["seeds_needed"] is None:
        lines.append(f"no number of seeds at {analysis['problems']} problems detects {delta:.2f}"
                     + (": add problems" if analysis["problems_needed"] is not None else ""))
    else:
        lines.append(f"seeds needed to detect {delta:.2f} at {analysis['problems']} problems: "
                     f"{analysis['seeds_needed']}")
    if analysis["problems_needed"] is None:
        both = analysis["spans_seeds"] and analysis["seeds_needed"] is None  # neither alone: see "both together"
        lines.append(f"no number of problems at {seeds} detects {delta:.2f}" + ("" if both else ": add seeds"))
    else:
        lines.append(f"problems needed to detect {delta:.2f} at {seeds}: {analysis['problems_needed']}")
    if analysis.get("seeds_and_problems"):
        s, p = analysis["seeds_and_problems"]
        lines.append(f"both together: {s} seeds and {p} problems detect {delta:.2f}")
    if "samples_needed" in analysis and analysis["components"].get("samples"):  # absent from older records
        where = f"{seeds} and {analysis['problems']} problems"
        lines.append(f"no number of samples per problem at {where} detects {delta:.2f}" if analysis["samples_needed"]
                     is None else f"samples per problem needed to detect {delta:.2f} at {where}: "
                                  f"{analysis['samples_needed']}")
    return "\n".join(lines)


def sequential_seeds(next_seed: Callable[[int], tuple[np.ndarray, np.ndarray, Any, Any]], *, max_seeds: int,
                     min_seeds: int = 2, delta: float = DELTA, alpha: float = ALPHA, resamples: int = 200,
                     seed: int = 0) -> dict[str, Any]:
    """Add seeds until the decision is reached or `max_seeds` is spent (`--seeds auto`).

    next_seed(i) returns seed i's (base counts, trained counts, n_base, n_trained), each over the same
    problems. A look after every seed from `min_seeds` on; every look's interval is at level
    alpha / looks (Bonferroni over the planned looks), so the claim made at whichever look stops is
    wrong with probability at most alpha. Returns the last look's analysis, with `looks` and `stopped`.
    """
    if not 1 <= min_seeds <= max_seeds:
        raise ValueError(f"need 1 <= min_seeds <= max_seeds, got {min_seeds} and {max_seeds}")
    looks = max_seeds - min_seeds + 1
    rows: list[tuple[Any, ...]] = []
    analysis: dict[str, Any] = {}
    for i in range(max_seeds):
        rows.append(next_seed(i))
        if len(rows) < min_seeds:
            continue
        base, trained, n_b, n_t = (np.stack([np.broadcast_to(np.asarray(r[j], float), np.shape(rows[0][0]))
                                             for r in rows]) for j in range(4))
        analysis = analyse_gain(base, trained, n_b, n_t, delta=delta, alpha=alpha / looks, resamples=resamples,
                                seed=seed)
        if analysis["decision"] != "inconclusive":
            break
    analysis.update(looks=looks, stopped=analysis["decision"] != "inconclusive",
                    sequential=f"Bonferroni: each of {looks} planned looks at level {alpha / looks:.4f}")
    return analysis
