"""What did training buy? Search compression versus capability gain, from two eval files.

pass@1 measures how often the model's first try is right; pass@k (large k) measures what
the model can find at all. Training that raises pass@1 toward the base model's pass@k has
*compressed search* (the model finds faster what it could already find); training that
raises pass@k itself has expanded *capability*. The interpretation table:

    pass@1 up, pass@k up    capability gain plus compression
    pass@1 up, pass@k flat  mostly search compression
    pass@1 up, pass@k down  mode collapse (a red flag: the model lost answers it used to find)

"Up", "flat" and "down" are decided by 95 % intervals from a paired bootstrap over tasks
(the same resampled tasks for both models), so noise is not read as a change.

Two readings of the same samples. *Strict* is the task's own verifier. *Neutral* asks whether
the answer is right whatever its format (`Verifier.neutral`: a box, a tag, a bare answer, else
the last number). A model that only learns to write its answer in the verifier's format gains
strictly and not neutrally, so the table is read on the neutral reading, and a strict gain the
neutral reading does not share gets its own name:

    strict pass@1 up,   neutral flat   format only
    strict pass@1 up,   neutral down   format gain with accuracy loss
    strict pass@1 down, neutral flat   format loss
    otherwise                          the table above, on the neutral reading
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from rlvr._errors import DataError
from rlvr.evaluate.decide import DELTA, analyse_gain, analyse_rate_gain, decision_sentence
from rlvr.evaluate.passk import pass_at_k, per_task_pass_at_k

READINGS = ("strict", "neutral")

VERDICTS = {
    "capability_gain": "real capability gain plus compression: pass@1 and pass@k both rose, read format-neutrally",
    "search_compression": "mostly search compression: pass@1 rose while pass@k stayed flat, read format-neutrally",
    "mode_collapse": "mode collapse (red flag): pass@1 rose but pass@k fell, read format-neutrally",
    "regression": "regression: pass@1 fell, read format-neutrally",
    "no_change": "pass@1 neither rose nor fell beyond its interval, read format-neutrally",
    "format_only": "format only: strict pass@1 rose, but read format-neutrally it did not rise beyond its interval; "
                   "the model learned to write the answer in the verifier's format",
    "format_gain_accuracy_loss": "format gain with accuracy loss: strict pass@1 rose, but read format-neutrally "
                                 "the model answers worse than before",
    "format_loss": "format loss: strict pass@1 fell while format-neutral pass@1 stayed flat; fewer answers are in "
                   "the verifier's format",
}


def _strict_counts(record: dict[str, Any]) -> dict[str, int]:
    return {t["id"]: t["passed"] for t in record["tasks"]}


def neutral_counts(record: dict[str, Any]) -> tuple[dict[str, int], str]:
    """(per-task neutral pass counts, where they come from: "saved", "recomputed" or "same as strict").

    rlvr eval saves `passed_neutral` per task. For an older file the saved samples are read again
    with the neutral reading of each task's verifier: the saved spec, else `math` for a numeric
    reference and `reasoning_gym` for a reasoning-gym entry; other references (code, SQL, ...) have
    no separable format and read as strictly. A file without samples reads as strictly too, and so does
    a task whose verifier is a plugin not allowed in this process: comparing files imports no code.
    """
    tasks = record["tasks"]
    if all("passed_neutral" in t for t in tasks):
        return {t["id"]: t["passed_neutral"] for t in tasks}, "saved"
    strict = _strict_counts(record)
    specs = _unless_plugins({t["id"]: task_verifier(t) for t in tasks})
    samples = record.get("samples")
    if not isinstance(samples, list) or not any(specs.values()):
        return strict, "same as strict"
    from rlvr.tasks.judge import judge_neutral
    from rlvr.verifiers import Verdict

    ids = [i for i, spec in specs.items() if spec]
    texts: dict[str, list[str]] = {i: [] for i in ids}
    verdicts: dict[str, list[Verdict]] = {i: [] for i in ids}
    for sample in samples:
        if sample.get("task_id") in texts:
            texts[sample["task_id"]].append(str(sample.get("text", "")))
            verdicts[sample["task_id"]].append(Verdict(1.0 if sample.get("passed") else 0.0, "saved"))
    references = {t["id"]: t.get("reference") for t in tasks}
    neutral = judge_neutral([specs[i] for i in ids], [references[i] for i in ids], [texts[i] for i in ids],
                            [verdicts[i] for i in ids])
    return {**strict, **{i: sum(row) for i, row in zip(ids, neutral)}}, "recomputed"


def _unless_plugins(specs: dict[str, Any]) -> dict[str, Any]:
    """`specs`, with None for each that names a "module:function" plugin not allowed in this process (the
    check refuses before importing anything); any other fault surfaces where the verifier is built."""
    import json

    from rlvr.verifiers import get_verifier
    from rlvr.verifiers._plugins import PluginNotAllowed

    refused: dict[str, bool] = {}
    for spec in specs.values():
        key = json.dumps(spec, sort_keys=True, default=str)
        if spec and key not in refused:
            try:
                get_verifier(spec)
                refused[key] = False
            except PluginNotAllowed:
                refused[key] = True
            except (ValueError, TypeError, RuntimeError):
                refused[key] = False
    return {i: None if refused.get(json.dumps(s, sort_keys=True, default=str)) else s for i, s in specs.items()}


def task_verifier(task: dict[str, Any]) -> Any:
    """The verifier spec of an eval file's task record: saved by `rlvr eval`, or for an older file the one
    its reference most likely had (see `_inferred_verifier`); None when it cannot be told."""
    return task.get("verifier") or _inferred_verifier(task.get("reference"))


def _inferred_verifier(reference: Any) -> dict[str, str] | None:
    """The verifier an old eval file most likely used, from its reference alone."""
    if isinstance(reference, dict) and "dataset" in reference and "entry" in reference:
        return {"name": "reasoning_gym"}
    if isinstance(reference, (int, float, str)) and not isinstance(reference, bool):
        try:
            Fraction(str(reference).replace(",", "").strip())
        except (ValueError, ZeroDivisionError):
            return None
        return {"name": "math"}
    return None


def per_task_curves(n: dict[str, int], passed: dict[str, int], ids: list[str], k_max: int) -> np.ndarray:
    """(tasks, k_max) array: pass@k of each task for k = 1..k_max."""
    return np.array([[pass_at_k(n[i], passed[i], k) for k in range(1, k_max + 1)] for i in ids])


def percentile_interval(samples: np.ndarray) -> list[float]:
    low, high = np.quantile(samples, [0.025, 0.975])
    return [float(low), float(high)]


def _direction(interval: list[float]) -> str:
    return "up" if interval[0] > 0 else "down" if interval[1] < 0 else "flat"


def bootstrap_means(values: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Means of `values` (tasks, K) over each resample of tasks in `draws` (resamples, tasks): (resamples, K).

    As counts times values, so memory is resamples x (tasks + K), not resamples x tasks x K (at K = 256 and
    2,000 resamples the latter is 4 MB per task)."""
    counts = np.zeros(draws.shape, dtype=np.float64)
    np.add.at(counts, (np.arange(draws.shape[0])[:, None], draws), 1.0)
    return counts @ values / draws.shape[1]


def crossover(base_curve: Sequence[float], trained_curve: Sequence[float]) -> int | None:
    """The smallest k (1-based) where base pass@k >= trained pass@k, if the trained model leads at k = 1.

    >>> crossover([0.2, 0.5, 0.9], [0.6, 0.7, 0.8])
    3
    >>> crossover([0.2, 0.3], [0.6, 0.7]) is None   # no crossover up to K
    True
    """
    if trained_curve[0] <= base_curve[0]:
        return 1  # level or behind from the start: the base is never overtaken
    for k, (b, t) in enumerate(zip(base_curve, trained_curve), 1):
        if b >= t - 1e-12:
            return k
    return None


def support_metrics(both: int, base_only: int, trained_only: int) -> dict[str, float | None]:
    """SRR, NDR, NSCR and SDS from the solvability table (formulas in the module docstring).

    >>> support_metrics(both=6, base_only=2, trained_only=1)
    {'SRR': 0.75, 'NDR': 0.14285714285714285, 'NSCR': -0.125, 'SDS': 0.24}
    """
    p, s, e = both, base_only, trained_only
    srr = p / (p + s) if p + s else None
    ndr = e / (p + e) if p + e else None
    nscr = (e - s) / (p + s) if p + s else None
    sds = None
    if srr is not None and ndr is not None:
        sds = 2 * srr * ndr / (srr + ndr) if srr + ndr > 0 else 0.0
    return {"SRR": srr, "NDR": ndr, "NSCR": nscr, "SDS": sds}


def _reading(b: np.ndarray, t: np.ndarray, ids: list[str], draws: np.ndarray) -> dict[str, Any]:
    """Curves, gains with paired-bootstrap intervals, the table's verdict and transitions of one reading."""
    k_max = b.shape[1]
    b_boot, t_boot = bootstrap_means(b, draws), bootstrap_means(t, draws)  # (resamples, K): the same tasks for both
    d1, dk = percentile_interval(t_boot[:, 0] - b_boot[:, 0]), percentile_interval(t_boot[:, -1] - b_boot[:, -1])
    gain_1 = float(t[:, 0].mean() - b[:, 0].mean())
    gap = float(b[:, -1].mean() - b[:, 0].mean())
    direction_1, direction_k = _direction(d1), _direction(dk)
    if direction_1 == "up":
        verdict = {"up": "capability_gain", "flat": "search_compression", "down": "mode_collapse"}[direction_k]
    else:
        verdict = "regression" if direction_1 == "down" else "no_change"
    solved_b, solved_t = b[:, -1] > 0, t[:, -1] > 0  # solved by at least one of k samples
    return {
        "curve": {"base": b.mean(axis=0).tolist(), "trained": t.mean(axis=0).tolist()},
        "base": {"pass@1": float(b[:, 0].mean()), "pass@1_ci": percentile_interval(b_boot[:, 0]),
                 f"pass@{k_max}": float(b[:, -1].mean()), f"pass@{k_max}_ci": percentile_interval(b_boot[:, -1])},
        "trained": {"pass@1": float(t[:, 0].mean()), "pass@1_ci": percentile_interval(t_boot[:, 0]),
                    f"pass@{k_max}": float(t[:, -1].mean()), f"pass@{k_max}_ci": percentile_interval(t_boot[:, -1])},
        "compression_gain": gain_1,
        "compression_gain_ci": d1,
        "capability_gain": float(t[:, -1].mean() - b[:, -1].mean()),
        "capability_gain_ci": dk,
        "initial_gap": gap,
        # The share of the base model's headroom (pass@k - pass@1) that training turned into pass@1.
        "compression_ratio": gain_1 / gap if gap > 1e-12 else None,
        "verdict": verdict,
        "transitions": {
            "neither": int((~solved_b & ~solved_t).sum()),
            "base_only": int((solved_b & ~solved_t).sum()),
            "trained_only": int((~solved_b & solved_t).sum()),
            "both": int((solved_b & solved_t).sum()),
        },
        "trained_only_ids": [i for i, yes in zip(ids, ~solved_b & solved_t) if yes],
        "base_only_ids": [i for i, yes in zip(ids, solved_b & ~solved_t) if yes],
        # Where the base catches up (`rlvr boundary` adds intervals), and the support at k (Wu et al.).
        "crossover": crossover(b.mean(axis=0).tolist(), t.mean(axis=0).tolist()),
        "support": support_metrics(int((solved_b & solved_t).sum()), int((solved_b & ~solved_t).sum()),
                                   int((~solved_b & solved_t).sum())),
    }


def _verdict(strict: dict[str, Any], neutral: dict[str, Any]) -> str:
    """Decided on both readings; where they disagree the neutral one speaks for capability."""
    s1, n1 = _direction(strict["compression_gain_ci"]), _direction(neutral["compression_gain_ci"])
    if s1 == "up" and n1 == "flat":
        return "format_only"
    if s1 == "up" and n1 == "down":
        return "format_gain_accuracy_loss"
    if s1 == "down" and n1 == "flat":
        return "format_loss"
    return neutral["verdict"]


def compare(base: dict[str, Any], trained: dict[str, Any], *, resamples: int = 2000, seed: int = 0,
            delta: float = DELTA) -> dict[str, Any]:
    """The comparison record, on two readings of the same samples.

    Top-level numbers are the strict reading (the tasks' own verifiers, as before); `neutral`
    holds the same analysis of the format-neutral reading. `verdict` is decided on both: the
    neutral reading decides about capability, and a strict gain the neutral reading does not
    share is named a format effect. `format` splits the strict pass@1 gain into the format part
    (samples the base had right but unreadable), the accuracy part (the rise of neutral pass@1)
    and what is still unreadable after training: strict gain = format + accuracy - unread_after.
    Each reading's `gain_analysis` is the three-way decision on its pass@1 gain at `delta` (one seed:
    over problems and samples, see `decide.analyse_gain`), with `decision` beside it.
    """
    base_ids = {t["id"] for t in base["tasks"]}
    ids = [t["id"] for t in trained["tasks"] if t["id"] in base_ids]
    if not ids:
        raise DataError("the two eval files share no task; compare evaluations of the same task file.")
    n_base, n_trained = ({t["id"]: t["n"] for t in r["tasks"]} for r in (base, trained))
    k_max = min(min(n_base.values()), min(n_trained.values()))
    draws = np.random.default_rng(seed).integers(0, len(ids), size=(resamples, len(ids)))  # paired over tasks
    (neutral_b, source_b), (neutral_t, source_t) = neutral_counts(base), neutral_counts(trained)
    counts = {"strict": (_strict_counts(base), _strict_counts(trained)), "neutral": (neutral_b, neutral_t)}
    strict, neutral = (_reading(per_task_curves(n_base, counts[r][0], ids, k_max),
                                per_task_curves(n_trained, counts[r][1], ids, k_max), ids, draws) for r in READINGS)
    for reading, r in zip(READINGS, (strict, neutral)):
        (b_pass, b_n), (t_pass, t_n) = (pass_table([counts[reading][j]], [n], ids)
                                        for j, n in ((0, n_base), (1, n_trained)))
        r["gain_analysis"] = analyse_gain(b_pass, t_pass, b_n, t_n, delta=delta, resamples=resamples, seed=seed)
        r["decision"] = r["gain_analysis"]["decision"]
    verdict = _verdict(strict, neutral)
    sb, st = strict["base"]["pass@1"], strict["trained"]["pass@1"]
    nb, nt = neutral["base"]["pass@1"], neutral["trained"]["pass@1"]
    hidden = max(0.0, nb - sb)
    return {
        "tasks": len(ids),
        "k": k_max,
        **strict,
        "strict_verdict": strict["verdict"],
        "neutral": neutral,
        "neutral_source": {"base": source_b, "trained": source_t},
        "verdict": verdict,
        "verdict_words": VERDICTS[verdict],
        "format": {"format": hidden, "accuracy": nt - nb, "unread_after": max(0.0, nt - st), "strict_gain": st - sb},
        # Kept for older readers: the base's neutral pass@1 and the format part's share of the strict gain.
        "base_lenient_pass@1": nb,
        "format_share": min(1.0, hidden / (st - sb)) if st - sb > 0 and hidden > 0 else None,
    }


def pass_table(passed: list[dict[str, int]], n: list[dict[str, int]], ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(pass counts, samples), each (seeds, problems): one row per seed's per-task dicts, columns in `ids` order."""
    return (np.array([[row[i] for i in ids] for row in passed], dtype=float),
            np.array([[row[i] for i in ids] for row in n], dtype=float))


def _crossover_text(k: int | None, k_max: int) -> str:
    if k == 1:
        return "none (the trained model is not ahead at k = 1)"
    return f"none up to k = {k_max}" if k is None else f"at k = {k} (the base catches up)"


def format_comparison(result: dict[str, Any]) -> str:
    k = result["k"]
    readings = {"strict": result, "neutral": result.get("neutral", result)}

    def row(name: str, key: str) -> list[str]:
        out = []
        for label, r in readings.items():
            b, t = r["base"], r["trained"]
            out.append(f"{name:<10}{label:<9}{b[key]:>7.3f} [{b[key + '_ci'][0]:.3f}, {b[key + '_ci'][1]:.3f}]"
                       f"{t[key]:>8.3f} [{t[key + '_ci'][0]:.3f}, {t[key + '_ci'][1]:.3f}]")
        return out

    def gains(label: str, r: dict[str, Any]) -> list[str]:
        ratio, tr = r["compression_ratio"], r["transitions"]
        return [
            f"{label}: delta pass@1 {r['compression_gain']:+.3f} "
            f"[{r['compression_gain_ci'][0]:+.3f}, {r['compression_gain_ci'][1]:+.3f}]; "
            f"delta pass@{k} {r['capability_gain']:+.3f} "
            f"[{r['capability_gain_ci'][0]:+.3f}, {r['capability_gain_ci'][1]:+.3f}]",
            f"{' ' * len(label)}  initial gap (base pass@{k} - pass@1) {r['initial_gap']:.3f}; compression ratio "
            + ("undefined (no gap)" if ratio is None else f"{ratio:.2f}"),
            f"{' ' * len(label)}  tasks solved (pass@{k} > 0): neither {tr['neither']}, base only {tr['base_only']}, "
            f"trained only {tr['trained_only']}, both {tr['both']}",
            f"{' ' * len(label)}  crossover {_crossover_text(r['crossover'], k)}; support " + ", ".join(
                f"{key} {'n/a' if v is None else f'{v:.2f}'}" for key, v in r["support"].items()),
        ]

    f = result.get("format")
    lines = [
        f"{result['tasks']} tasks, k up to {k} (95 % intervals: paired bootstrap over tasks)",
        "strict: the tasks' own verifiers; neutral: the answer read in any format (attribution only)",
        "",
        f"{'':<19}{'base':>22}{'trained':>23}",
        *row("pass@1", "pass@1"),
        *row(f"pass@{k}", f"pass@{k}"),
        "",
        *gains("strict ", result),
        *gains("neutral", readings["neutral"]),
    ]
    if f is not None and (abs(f["strict_gain"]) > 1e-12 or f["format"] > 1e-12):
        lines += ["", f"strict pass@1 gain {f['strict_gain']:+.3f} = format {f['format']:+.3f} (right but unreadable "
                      f"before training) + accuracy {f['accuracy']:+.3f} (neutral pass@1 change) - still unreadable "
                      f"after {f['unread_after']:.3f}"]
        if result.get("format_share") is not None:
            lines.append(f"{result['format_share']:.0%} of the pass@1 gain is the model learning to write readable "
                         "answers (read format-neutrally, the base already had pass@1 "
                         f"{result['base_lenient_pass@1']:.3f})")
    lines += ["", f"verdict: {result['verdict_words']}"]
    lines += decision_lines(readings)
    return "\n".join(lines)


def decision_lines(readings: dict[str, dict[str, Any]], subject: str = "training") -> list[str]:
    """The three-way decision on each reading's pass@1 gain, one sentence each (see `decide`)."""
    return [f"decision ({label}): {decision_sentence(subject, r['gain_analysis'], name, 'pass@1')}"
            for (label, r), name in zip(readings.items(), ("strict", "format-neutral")) if "gain_analysis" in r]


def compare_sets(base: dict[str, Any], trained: dict[str, Any], *, resamples: int = 2000,
                 seed: int = 0, delta: float = DELTA) -> dict[str, Any]:
    """`compare` on every task set the two eval files share, plus the in- vs out-of-distribution check.

    Either file may be a single eval record or a multi-set file (`rlvr eval --tasks a b`). A gain
    on one set with a loss on another is the signature of entropy collapse: the model narrowed
    onto what it was trained on.
    """
    paired = _paired_sets(base, trained)
    results = {n: compare(b, t, resamples=resamples, seed=seed, delta=delta) for n, (b, t) in paired.items()}
    neutral = {n: r["neutral"] for n, r in results.items()}  # capability is read format-neutrally
    gains = [n for n, r in neutral.items() if r["compression_gain_ci"][0] > 0]
    losses = [n for n, r in neutral.items() if r["compression_gain_ci"][1] < 0 or r["capability_gain_ci"][1] < 0]
    warning = None
    if gains and losses:
        warning = (f"pass rose on {', '.join(gains)} but fell on {', '.join(losses)}: an in-distribution gain "
                   "with an out-of-distribution loss is the signature of entropy collapse")
    return {"sets": results, "warning": warning}


def _paired_sets(base: dict[str, Any], trained: dict[str, Any]) -> dict[str, tuple[dict, dict]]:
    """{set name: (base record, trained record)} for every task set the two files share."""
    from rlvr.evaluate.runner import eval_sets

    base_sets, trained_sets = eval_sets(base), eval_sets(trained)
    if len(base_sets) == 1 and len(trained_sets) == 1:  # one set each: compare them whatever their names
        base_sets = {next(iter(trained_sets)): next(iter(base_sets.values()))}
    names = [n for n in trained_sets if n in base_sets]
    if not names:
        raise DataError(f"the eval files share no task set (base: {', '.join(base_sets)}; "
                        f"trained: {', '.join(trained_sets)}).")
    return {n: (base_sets[n], trained_sets[n]) for n in names}


def pass_counts(base: dict[str, Any], trained: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per shared task set, what the gain over seeds needs from one seed's pair of eval files: task ids,
    samples, and the strict and neutral pass counts of both models (lists in `ids` order)."""
    out = {}
    for name, (b, t) in _paired_sets(base, trained).items():
        base_ids = {task["id"] for task in b["tasks"]}
        ids = [task["id"] for task in t["tasks"] if task["id"] in base_ids]
        n_b, n_t = ({task["id"]: task["n"] for task in r["tasks"]} for r in (b, t))
        counts = {"strict": (_strict_counts(b), _strict_counts(t)),
                  "neutral": (neutral_counts(b)[0], neutral_counts(t)[0])}
        out[name] = {"ids": ids, "n_base": [n_b[i] for i in ids], "n_trained": [n_t[i] for i in ids],
                     **{reading: {"base": [c[0][i] for i in ids], "trained": [c[1][i] for i in ids]}
                        for reading, c in counts.items()}}
    return out


def gain_over_seeds(counts: list[dict[str, Any]], reading: str, *, delta: float = DELTA, resamples: int = 2000,
                    seed: int = 0, power: float = 0.8, alpha: float = 0.05, k: int = 1) -> dict[str, Any]:
    """`decide.analyse_gain` of one reading's pass@1 over seeds, from each seed's `pass_counts` entry of one
    task set (the tasks every seed holds, in the first seed's order); with k > 1 the same for each problem's
    unbiased pass@k (`decide.analyse_rate_gain`: k may not exceed any problem's samples)."""
    ids = [i for i in counts[0]["ids"] if all(i in c["ids"] for c in counts[1:])]
    if not ids:
        raise DataError("the seeds' held-out evaluations share no task; evaluate every seed on the same task file.")
    rows = []
    for c in counts:
        at = {i: j for j, i in enumerate(c["ids"])}
        rows.append([[c[key][at[i]] for i in ids] for key in ("n_base", "n_trained")]
                    + [[c[reading][key][at[i]] for i in ids] for key in ("base", "trained")])
    n_b, n_t, b, t = (np.array([r[j] for r in rows], dtype=float) for j in range(4))
    if k == 1:
        return analyse_gain(b, t, n_b, n_t, delta=delta, resamples=resamples, seed=seed, power=power, alpha=alpha)
    if k > min(n_b.min(), n_t.min()):
        raise DataError(f"pass@{k} needs at least {k} samples of every problem; the fewest here is "
                        f"{int(min(n_b.min(), n_t.min()))}.")
    rates = [np.array([per_task_pass_at_k(n_row.astype(int), c_row.astype(int), k) for n_row, c_row in zip(n, c)])
             for n, c in ((n_b, b), (n_t, t))]
    return analyse_rate_gain(rates[0], rates[1], float(np.mean(n_t)), delta=delta, resamples=resamples, seed=seed,
                             power=power, alpha=alpha)


def compare_seeds(pairs: list[tuple[dict[str, Any], dict[str, Any]]], *, resamples: int = 2000, seed: int = 0,
                  delta: float = DELTA, power: float = 0.8) -> dict[str, Any]:
    """`compare_sets` on each (base, trained) pair, one pair per training seed, and per shared task set and
    reading the pass@1 gain over seeds and problems: interval, decision at `delta`, variance components,
    MDE and the seeds and problems a decision needs (`decide.analyse_gain`).

    A base evaluation shared by every seed is the same file repeated. Only the tasks that every pair
    holds count; `tasks_left_out` says how many of the first pair's were not.
    """
    per_seed = [compare_sets(b, t, resamples=resamples, seed=seed, delta=delta) for b, t in pairs]
    counts = [pass_counts(b, t) for b, t in pairs]
    names = [n for n in counts[0] if all(n in c for c in counts)]
    if not names:
        raise DataError("the pairs of eval files share no task set; give every seed's pair evaluations of the same "
                        "task files.")
    across = {}
    for name in names:
        analyses = {reading: gain_over_seeds([c[name] for c in counts], reading, delta=delta, resamples=resamples,
                                             seed=seed, power=power) for reading in READINGS}
        across[name] = {"tasks": analyses["strict"]["problems"],
                        "tasks_left_out": len(counts[0][name]["ids"]) - analyses["strict"]["problems"], **analyses}
        k = min(r["sets"][name]["k"] for r in per_seed if name in r["sets"])
        if k > 1:  # the search side, drawn beside pass@1: the same interval over each problem's pass@k
            across[name]["pass@k"] = {"k": k, **{
                reading: gain_over_seeds([c[name] for c in counts], reading, delta=delta, resamples=resamples,
                                         seed=seed, power=power, k=k) for reading in READINGS}}
    return {"seeds": len(pairs), "delta": delta, "sets": across, "per_seed": per_seed}


def format_compare_seeds(result: dict[str, Any], plan: bool = True) -> str:
    """The gain over seeds and problems per task set: per-seed gains, the decision on each reading, the
    probability of improvement and, with `plan`, where the variance comes from and what a decision needs."""
    from rlvr.evaluate.decide import plan_text

    more = "the plan below says how much" if plan else "see `rlvr plan`"
    lines = [f"{result['seeds']} seed{'s' if result['seeds'] != 1 else ''} (one pair of eval files each); pass@1 gain "
             "over seeds and problems, "
             f"delta {result['delta']:.2f}"]
    for name, s in result["sets"].items():
        left = f", {s['tasks_left_out']} not in every file left out" if s["tasks_left_out"] else ""
        lines += ["", f"== task set {name} ({s['tasks']} tasks{left}) =="]
        for label, reading in (("strict", "strict"), ("neutral", "format-neutral")):
            a = s[label]
            low, high = a["prob_improvement_interval"]
            lines += [f"{label:<8} per seed {', '.join(f'{g:+.3f}' for g in a['per_seed_gain'])}; "
                      f"P(trained > base) {a['prob_improvement']:.2f} [{low:.2f}, {high:.2f}]",
                      f"  decision: {decision_sentence('training', a, reading, 'pass@1', more)}"]
            if "pass@k" in s:
                k = s["pass@k"]["k"]
                lines.append(f"  pass@{k}: "
                             + decision_sentence("training", s["pass@k"][label], reading, f"pass@{k}", more))
        if plan:
            lines += ["  " + line for line in plan_text(s["neutral"]).splitlines()]
    return "\n".join(lines)


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
        f"{'set':<{width}}{'tasks':>6}{'reading':>9}{'base p@1':>10}{'trained p@1':>13}{'d p@1':>8}{'d p@k':>8}"
        "  p@1 decision, verdict",
    ]
    for name, r in sets.items():
        for label, reading in (("strict", r), ("neutral", r["neutral"])):
            parts.append(f"{name if label == 'strict' else '':<{width}}{r['tasks'] if label == 'strict' else '':>6}"
                         f"{label:>9}{reading['base']['pass@1']:>10.3f}{reading['trained']['pass@1']:>13.3f}"
                         f"{reading['compression_gain']:>+8.3f}{reading['capability_gain']:>+8.3f}"
                         + (f"  {reading['decision'].replace('_', ' ')}" if "decision" in reading else "")
                         + (f"; {r['verdict'].replace('_', ' ')}" if label == "strict" else ""))
    if result["warning"]:
        parts += ["", f"warning: {result['warning']}"]
    return "\n".join(parts)
