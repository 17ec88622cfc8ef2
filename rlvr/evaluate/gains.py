"""What did training buy? Search compression versus capability gain, from two eval files.

pass@1 measures how often the model's first try is right; pass@k (large k) measures what
the model can find at all. Training that raises pass@1 toward the base model's pass@k has
*compressed search* (the model finds faster what it could already find); training that
raises pass@k itself has expanded *capability*. The interpretation table:

    pass@1 up, pass@k up    capability gain plus compression
    pass@1 up, pass@k flat  pure search compression
    pass@1 up, pass@k down  mode collapse (a red flag: the model lost answers it used to find)

"Up", "flat" and "down" are decided by 95 % intervals from a paired bootstrap over tasks
(the same resampled tasks for both models), so noise is not read as a change.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import numpy as np

from rlvr._errors import DataError
from rlvr.evaluate.passk import pass_at_k

VERDICTS = {
    "capability_gain": "real capability gain plus compression: pass@1 and pass@k both rose",
    "search_compression": "pure search compression: pass@1 rose while pass@k stayed flat",
    "mode_collapse": "mode collapse (red flag): pass@1 rose but pass@k fell",
    "regression": "regression: pass@1 fell",
    "no_change": "no significant change in pass@1",
}


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _last_number_matches(text: str, reference: Any) -> bool:
    """A lenient reading (the last number in the text), used only to attribute gains, never as a reward."""
    try:
        expected = Fraction(str(reference).replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return False
    numbers = _NUMBER.findall(text)
    return bool(numbers) and Fraction(numbers[-1].replace(",", "")) == expected


def format_blocked_pass_at_1(record: dict[str, Any]) -> float | None:
    """pass@1 the model would have had if its unreadable answers had been read leniently.

    Counts samples that failed for format reasons (no_answer, parse_error, ...) but whose last
    number equals a numeric reference. None when the record has no numeric references.
    """
    references = {t["id"]: t.get("reference") for t in record["tasks"]}
    numeric = {i for i, r in references.items() if r is not None and _last_number_matches(str(r), r)}
    if not numeric or "samples" not in record:
        return None
    from rlvr.verifiers.base import FORMAT_REASONS

    per_task: dict[str, list[float]] = {i: [] for i in numeric}
    for s in record["samples"]:
        if s["task_id"] in per_task:
            rescued = s["reason"] in FORMAT_REASONS and _last_number_matches(s["text"], references[s["task_id"]])
            per_task[s["task_id"]].append(float(s["passed"] or rescued))
    return float(np.mean([np.mean(v) for v in per_task.values() if v]))


def _per_task(record: dict[str, Any], ids: list[str], k_max: int) -> np.ndarray:
    """(tasks, k_max) array: pass@k of each task for k = 1..k_max."""
    by_id = {t["id"]: t for t in record["tasks"]}
    return np.array([[pass_at_k(by_id[i]["n"], by_id[i]["passed"], k) for k in range(1, k_max + 1)] for i in ids])


def _interval(samples: np.ndarray) -> list[float]:
    low, high = np.quantile(samples, [0.025, 0.975])
    return [float(low), float(high)]


def _direction(interval: list[float]) -> str:
    return "up" if interval[0] > 0 else "down" if interval[1] < 0 else "flat"


def compare(base: dict[str, Any], trained: dict[str, Any], *, resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The comparison record: pass@k curves, gains with paired-bootstrap intervals, verdict, transitions."""
    base_ids = {t["id"] for t in base["tasks"]}
    ids = [t["id"] for t in trained["tasks"] if t["id"] in base_ids]
    if not ids:
        raise DataError("the two eval files share no task; compare evaluations of the same task file.")
    k_max = min(min(t["n"] for t in base["tasks"]), min(t["n"] for t in trained["tasks"]))
    b, t = _per_task(base, ids, k_max), _per_task(trained, ids, k_max)  # (tasks, K)

    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(ids), size=(resamples, len(ids)))  # the same tasks for both models
    b_boot, t_boot = b[draws].mean(axis=1), t[draws].mean(axis=1)  # (resamples, K)
    delta_1, delta_k = t_boot[:, 0] - b_boot[:, 0], t_boot[:, -1] - b_boot[:, -1]

    gain_1 = float(t[:, 0].mean() - b[:, 0].mean())
    gain_k = float(t[:, -1].mean() - b[:, -1].mean())
    gap = float(b[:, -1].mean() - b[:, 0].mean())
    d1, dk = _interval(delta_1), _interval(delta_k)
    direction_1, direction_k = _direction(d1), _direction(dk)
    if direction_1 == "up":
        verdict = {"up": "capability_gain", "flat": "search_compression", "down": "mode_collapse"}[direction_k]
    else:
        verdict = "regression" if direction_1 == "down" else "no_change"

    solved_b, solved_t = b[:, -1] > 0, t[:, -1] > 0  # solved by at least one of k samples
    transitions = {
        "neither": int((~solved_b & ~solved_t).sum()),
        "base_only": int((solved_b & ~solved_t).sum()),
        "trained_only": int((~solved_b & solved_t).sum()),
        "both": int((solved_b & solved_t).sum()),
    }
    lenient = format_blocked_pass_at_1(base)
    format_share = None
    if lenient is not None and gain_1 > 0:
        # The part of the pass@1 gain the base model already had, hidden behind unreadable answers.
        format_share = min(1.0, max(0.0, (lenient - float(b[:, 0].mean())) / gain_1))
    return {
        "tasks": len(ids),
        "k": k_max,
        "curve": {"base": b.mean(axis=0).tolist(), "trained": t.mean(axis=0).tolist()},
        "base": {"pass@1": float(b[:, 0].mean()), "pass@1_ci": _interval(b_boot[:, 0]),
                 f"pass@{k_max}": float(b[:, -1].mean()), f"pass@{k_max}_ci": _interval(b_boot[:, -1])},
        "trained": {"pass@1": float(t[:, 0].mean()), "pass@1_ci": _interval(t_boot[:, 0]),
                    f"pass@{k_max}": float(t[:, -1].mean()), f"pass@{k_max}_ci": _interval(t_boot[:, -1])},
        "compression_gain": gain_1,
        "compression_gain_ci": d1,
        "capability_gain": gain_k,
        "capability_gain_ci": dk,
        "initial_gap": gap,
        # The share of the base model's headroom (pass@k - pass@1) that training turned into pass@1.
        "compression_ratio": gain_1 / gap if gap > 1e-12 else None,
        "base_lenient_pass@1": lenient,
        "format_share": format_share,
        "verdict": verdict,
        "verdict_words": VERDICTS[verdict],
        "transitions": transitions,
        "trained_only_ids": [i for i, yes in zip(ids, ~solved_b & solved_t) if yes],
        "base_only_ids": [i for i, yes in zip(ids, solved_b & ~solved_t) if yes],
    }


def format_comparison(result: dict[str, Any]) -> str:
    k = result["k"]

    def row(name: str, key: str) -> str:
        b, t = result["base"], result["trained"]
        return (f"{name:<10}{b[key]:>8.3f} [{b[key + '_ci'][0]:.3f}, {b[key + '_ci'][1]:.3f}]"
                f"{t[key]:>9.3f} [{t[key + '_ci'][0]:.3f}, {t[key + '_ci'][1]:.3f}]")

    ratio = result["compression_ratio"]
    tr = result["transitions"]
    return "\n".join([
        f"{result['tasks']} tasks, k up to {k} (95 % intervals: paired bootstrap over tasks)",
        "",
        f"{'':<10}{'base':>24}{'trained':>25}",
        row("pass@1", "pass@1"),
        row(f"pass@{k}", f"pass@{k}"),
        "",
        f"compression gain (delta pass@1)   {result['compression_gain']:+.3f} "
        f"[{result['compression_gain_ci'][0]:+.3f}, {result['compression_gain_ci'][1]:+.3f}]",
        f"capability gain  (delta pass@{k})   {result['capability_gain']:+.3f} "
        f"[{result['capability_gain_ci'][0]:+.3f}, {result['capability_gain_ci'][1]:+.3f}]",
        f"initial gap (base pass@{k} - pass@1) {result['initial_gap']:.3f}; compression ratio "
        + ("undefined (no gap)" if ratio is None else f"{ratio:.2f}"),
        f"tasks solved (pass@{k} > 0): neither {tr['neither']}, base only {tr['base_only']}, "
        f"trained only {tr['trained_only']}, both {tr['both']}",
        *([] if result["format_share"] is None else [
            f"format compliance: read leniently, the base already had pass@1 {result['base_lenient_pass@1']:.3f}; "
            f"{result['format_share']:.0%} of the pass@1 gain is the model learning to write readable answers"]),
        "",
        f"verdict: {result['verdict_words']}",
    ])


def compare_sets(base: dict[str, Any], trained: dict[str, Any], *, resamples: int = 2000,
                 seed: int = 0) -> dict[str, Any]:
    """`compare` on every task set the two eval files share, plus the in- vs out-of-distribution check.

    Either file may be a single eval record or a multi-set file (`rlvr eval --tasks a b`). A gain
    on one set with a loss on another is the signature of entropy collapse: the model narrowed
    onto what it was trained on.
    """
    from rlvr.evaluate.runner import eval_sets

    base_sets, trained_sets = eval_sets(base), eval_sets(trained)
    if len(base_sets) == 1 and len(trained_sets) == 1:  # one set each: compare them whatever their names
        base_sets = {next(iter(trained_sets)): next(iter(base_sets.values()))}
    names = [n for n in trained_sets if n in base_sets]
    if not names:
        raise DataError(f"the eval files share no task set (base: {', '.join(base_sets)}; "
                        f"trained: {', '.join(trained_sets)}).")
    results = {n: compare(base_sets[n], trained_sets[n], resamples=resamples, seed=seed) for n in names}
    gains = [n for n, r in results.items() if r["compression_gain_ci"][0] > 0]
    losses = [n for n, r in results.items()
              if r["compression_gain_ci"][1] < 0 or r["capability_gain_ci"][1] < 0]
    warning = None
    if gains and losses:
        warning = (f"pass rose on {', '.join(gains)} but fell on {', '.join(losses)}: an in-distribution gain "
                   "with an out-of-distribution loss is the signature of entropy collapse")
    return {"sets": results, "warning": warning}


def format_comparison_sets(result: dict[str, Any]) -> str:
    """Each set's comparison, then one side-by-side table."""
    sets = result["sets"]
    if len(sets) == 1:
        return format_comparison(next(iter(sets.values())))
    parts = []
    for name, r in sets.items():
        parts += [f"== task set {name} ==", format_comparison(r), ""]
    width = max(len(n) for n in sets) + 2
    parts += [
        "== side by side ==",
        f"{'set':<{width}}{'tasks':>6}{'base p@1':>10}{'trained p@1':>13}{'d p@1':>8}{'d p@k':>8}  verdict",
    ]
    for name, r in sets.items():
        parts.append(f"{name:<{width}}{r['tasks']:>6}{r['base']['pass@1']:>10.3f}{r['trained']['pass@1']:>13.3f}"
                     f"{r['compression_gain']:>+8.3f}{r['capability_gain']:>+8.3f}  {r['verdict'].replace('_', ' ')}")
    if result["warning"]:
        parts += ["", f"warning: {result['warning']}"]
    return "\n".join(parts)
