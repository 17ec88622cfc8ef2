"""The reasoning boundary at large k: did training teach new solutions, or sharpen old ones?

    rlvr boundary base.json trained.json --json boundary.json

Reads two eval files of the same tasks (`rlvr eval --k 256`, any older file too) and reports, per
task set and per reading (strict and format-neutral, see `gains.compare`):

- pass@k at k = 1, 2, 4, ..., K for both models, with paired-bootstrap intervals (the tasks are
  resampled, the same resample for both models);
- the crossover: the smallest k at which the base model's pass@k is at least the trained model's,
  when the trained model is ahead at k = 1 (Yue et al., 2504.13837, find it between k = 8 and 16
  for Qwen2.5-7B on MATH500), with a bootstrap interval; or "no crossover up to K";
- the solvability table at K: solved (at least one of K samples right) by both, by the base only,
  by the trained model only, by neither, with the ids of the two middle cells;
- support metrics after Wu et al. (2507.14843), with P = solved by both at K, E = by the trained
  model only (expansion), S = by the base only (shrinkage):

      SRR  = P / (P + S)               support retention: the base's solvable problems kept
      NDR  = E / (P + E)               net discovery: the trained model's solvable problems that are new
      NSCR = (E - S) / (P + S)         net support change, relative to the base's support
      SDS  = 2 SRR NDR / (SRR + NDR)   support dynamics: the harmonic mean of retention and discovery

  (a ratio whose denominator is 0 is None);
- CoT-pass@k where the answers are arithmetic (`math` or `reasoning_gym` tasks with saved samples):
  a sample counts only when its answer is right (read neutrally) and every equation it writes
  holds (`cot.check_steps`); Wen et al. (2506.14245) find the RL model ahead at every k on it;
- a chance baseline: each model's samples scored against the reference of another task of the
  same set (a seeded derangement), which needs no generation. Where answers come from a small space
  (single-digit sums have 19 possible answers) pass@256 is reached by guessing; `above_chance` is
  pass@k minus the chance pass@k at each k.
"""

from __future__ import annotations

import random
from typing import Any, Sequence

import numpy as np

from rlvr._errors import DataError
from rlvr.evaluate.cot import cot_counts
from rlvr.evaluate.gains import (
    READINGS,
    bootstrap_means,
    crossover,
    neutral_counts,
    per_task_curves,
    percentile_interval,
    support_metrics,
    task_verifier,
)
from rlvr.evaluate.passk import powers_of_two

__all__ = ["base_likelihood", "boundary", "completion_logprob", "crossover", "format_boundary", "format_likelihood",
           "solvability", "support_metrics"]


def solvability(base_solved: Sequence[bool], trained_solved: Sequence[bool], ids: Sequence[str]) -> dict[str, Any]:
    """The 2 x 2 table of problems solved at K by each model, with the ids of the two middle cells."""
    b, t = np.asarray(base_solved, dtype=bool), np.asarray(trained_solved, dtype=bool)
    return {
        "both": int((b & t).sum()), "base_only": int((b & ~t).sum()),
        "trained_only": int((~b & t).sum()), "neither": int((~b & ~t).sum()),
        "base_only_ids": [i for i, yes in zip(ids, b & ~t) if yes],
        "trained_only_ids": [i for i, yes in zip(ids, ~b & t) if yes],
    }


def _reading(b: np.ndarray, t: np.ndarray, ids: list[str], draws: np.ndarray) -> dict[str, Any]:
    k_max = b.shape[1]
    ks = powers_of_two(k_max)
    b_boot, t_boot = bootstrap_means(b, draws), bootstrap_means(t, draws)  # (resamples, K)
    b_mean, t_mean = b.mean(axis=0), t.mean(axis=0)  # (K,)
    point = crossover(b_mean.tolist(), t_mean.tolist())
    # The crossover of every resample; "none up to K" counts as K + 1 for the percentiles.
    boot = np.array([crossover(bb.tolist(), tt.tolist()) or k_max + 1 for bb, tt in zip(b_boot, t_boot)])
    table = solvability(b[:, -1] > 0, t[:, -1] > 0, ids)
    return {
        "k": ks,
        "base": [float(b_mean[k - 1]) for k in ks],
        "base_ci": [percentile_interval(b_boot[:, k - 1]) for k in ks],
        "trained": [float(t_mean[k - 1]) for k in ks],
        "trained_ci": [percentile_interval(t_boot[:, k - 1]) for k in ks],
        "delta_ci": [percentile_interval(t_boot[:, k - 1] - b_boot[:, k - 1]) for k in ks],
        "crossover": point,
        "crossover_ci": [int(v) for v in np.quantile(boot, [0.025, 0.975], method="nearest")],
        "crossover_none_frac": float((boot > k_max).mean()),
        "solvability": table,
        "support": support_metrics(table["both"], table["base_only"], table["trained_only"]),
    }


def boundary(base: dict[str, Any], trained: dict[str, Any], *, resamples: int = 2000, seed: int = 0,
             chance: bool = True) -> dict[str, Any]:
    """The boundary record of two eval records of one task set (see the module docstring)."""
    base_ids = {t["id"] for t in base["tasks"]}
    ids = [t["id"] for t in trained["tasks"] if t["id"] in base_ids]
    if not ids:
        raise DataError("the two eval files share no task; compare evaluations of the same task file.")
    n_b, n_t = ({t["id"]: t["n"] for t in r["tasks"]} for r in (base, trained))
    k_max = min(min(n_b[i] for i in ids), min(n_t[i] for i in ids))
    draws = np.random.default_rng(seed).integers(0, len(ids), size=(resamples, len(ids)))
    strict = [{t["id"]: t["passed"] for t in r["tasks"]} for r in (base, trained)]
    counts = {"strict": strict, "neutral": (neutral_counts(base)[0], neutral_counts(trained)[0])}
    if _checkable_reasoning(base) and _checkable_reasoning(trained):  # CoT-pass@k: right answer and true steps
        counts["cot"] = (cot_counts(base), cot_counts(trained))
    out: dict[str, Any] = {"tasks": len(ids), "k": k_max, "readings": {}}
    for reading, (cb, ct) in counts.items():
        b, t = per_task_curves(n_b, cb, ids, k_max), per_task_curves(n_t, ct, ids, k_max)  # (tasks, K)
        out["readings"][reading] = _reading(b, t, ids, draws)
    if chance:
        for name, record, n in (("base", base, n_b), ("trained", trained, n_t)):
            levels = chance_counts(record, ids, seed=seed)
            if levels is None:
                continue
            for reading in READINGS:
                r = out["readings"][reading]
                curve = per_task_curves(n, levels[reading], ids, k_max).mean(axis=0)
                r[f"{name}_chance"] = [float(curve[k - 1]) for k in r["k"]]
                r[f"{name}_above_chance"] = [v - c for v, c in zip(r[name], r[f"{name}_chance"])]
    return out


def _checkable_reasoning(record: dict[str, Any]) -> bool:
    """Samples saved, and answers judged by `math` or `reasoning_gym`: arithmetic-style reasoning to check."""
    if not isinstance(record.get("samples"), list):
        return False
    specs = [task_verifier(t) for t in record["tasks"]]
    names = [s if isinstance(s, str) else (s or {}).get("name") for s in specs]
    return bool(names) and all(n in ("math", "reasoning_gym") for n in names)


def chance_counts(record: dict[str, Any], ids: list[str], *, seed: int = 0) -> dict[str, dict[str, int]] | None:
    """Per-task pass counts of the record's samples scored against another task's reference (a
    seeded derangement of `ids`), on both readings; None when the record has no samples or the
    tasks' verifiers are unknown."""
    from rlvr.tasks.judge import judge, judge_neutral

    samples = record.get("samples")
    tasks = {t["id"]: t for t in record["tasks"]}
    if not isinstance(samples, list) or len(ids) < 2:
        return None
    specs = {i: task_verifier(tasks[i]) for i in ids}
    if not all(specs.values()):
        return None
    order = list(ids)
    random.Random(seed).shuffle(order)
    other = {order[j]: order[(j + 1) % len(order)] for j in range(len(order))}  # a derangement: nobody keeps theirs
    texts: dict[str, list[str]] = {i: [] for i in ids}
    for sample in samples:
        if sample.get("task_id") in texts:
            texts[sample["task_id"]].append(str(sample.get("text", "")))
    groups = [texts[i] for i in ids]
    spec_list, references = [specs[i] for i in ids], [tasks[other[i]].get("reference") for i in ids]
    strict = judge(spec_list, references, groups)
    neutral = judge_neutral(spec_list, references, groups, strict)
    return {"strict": {i: sum(v.passed for v in row) for i, row in zip(ids, strict)},
            "neutral": {i: sum(row) for i, row in zip(ids, neutral)}}


def boundary_sets(base: dict[str, Any], trained: dict[str, Any], **options: Any) -> dict[str, Any]:
    """`boundary` on every task set the two eval files share (single or multi-set files)."""
    from rlvr.evaluate.runner import eval_sets

    base_sets, trained_sets = eval_sets(base), eval_sets(trained)
    if len(base_sets) == 1 and len(trained_sets) == 1:
        base_sets = {next(iter(trained_sets)): next(iter(base_sets.values()))}
    names = [n for n in trained_sets if n in base_sets]
    if not names:
        raise DataError(f"the eval files share no task set (base: {', '.join(base_sets)}; "
                        f"trained: {', '.join(trained_sets)}).")
    return {"rlvr_boundary": 1, "sets": {n: boundary(base_sets[n], trained_sets[n], **options) for n in names}}


_READING_WORDS = {"strict": "the tasks' own verifiers", "neutral": "the answer read in any format",
                  "cot": "CoT-pass@k: right when read neutrally and every arithmetic step true"}


def _k_text(k: int | None, k_max: int) -> str:
    return f"none up to {k_max}" if k is None or k > k_max else str(k)


def format_boundary(result: dict[str, Any]) -> str:
    """The tables `rlvr boundary` prints."""
    lines: list[str] = []
    for name, r in result["sets"].items():
        k = r["k"]
        lines.append(f"== task set {name}: {r['tasks']} tasks, k up to {k} "
                     "(95 % intervals: paired bootstrap over tasks) ==")
        for reading, x in r["readings"].items():
            lines += ["", f"{reading} reading ({_READING_WORDS[reading]})"]
            chance = "base_chance" in x
            lines.append(f"  {'k':>5}{'base':>8}{'trained':>9}   delta [95 % interval]"
                         + ("   chance base/trained" if chance else ""))
            for j, kk in enumerate(x["k"]):
                low, high = x["delta_ci"][j]
                row = (f"  {kk:>5}{x['base'][j]:>8.3f}{x['trained'][j]:>9.3f}   "
                       f"{x['trained'][j] - x['base'][j]:+.3f} [{low:+.3f}, {high:+.3f}]")
                if chance:
                    trained_chance = x.get("trained_chance", [float("nan")] * len(x["k"]))[j]
                    row += f"   {x['base_chance'][j]:.3f}/{trained_chance:.3f}"
                lines.append(row)
            c, (c_low, c_high) = x["crossover"], x["crossover_ci"]
            if c == 1:
                lines.append("  crossover: none; the trained model is not ahead at k = 1")
            else:
                lines.append(f"  crossover (smallest k with base pass@k >= trained): {_k_text(c, k)}; 95 % interval "
                             f"[{_k_text(c_low, k)}, {_k_text(c_high, k)}] ({x['crossover_none_frac']:.0%} of "
                             f"resamples have none up to {k})")
            s = x["solvability"]
            lines.append(f"  solvable at k = {k}: both {s['both']}, base only {s['base_only']}, trained only "
                         f"{s['trained_only']}, neither {s['neither']}")
            for cell in ("base_only", "trained_only"):
                if s[f"{cell}_ids"]:
                    shown_ids = ", ".join(s[f"{cell}_ids"][:12]) + (" ..." if len(s[f"{cell}_ids"]) > 12 else "")
                    lines.append(f"    {cell.replace('_', ' ')}: {shown_ids}")
            lines.append("  support (Wu et al.): " + ", ".join(
                f"{key} {'n/a' if value is None else f'{value:.3f}'}" for key, value in x["support"].items()))
            if chance:
                above = x["base_above_chance"][-1], x.get("trained_above_chance", [float("nan")])[-1]
                lines.append(f"  above chance at k = {k}: base {above[0]:+.3f}, trained {above[1]:+.3f} "
                             "(chance: each sample scored against another task's reference)")
        lines.append("")
    return "\n".join(lines).rstrip()


# ---------------------------------------------------------------------------------------------
# Base likelihood of trained solutions: new paths, or old ones reweighted?


def base_likelihood(policy: Any, prompts: dict[str, Any], base: dict[str, Any], trained: dict[str, Any], *,
                    reading: str = "neutral") -> dict[str, Any]:
    """How likely the base model finds each model's correct completions: teacher-forced mean
    log-probability per completion token under `policy` (the base model, temperature 1).

    If RL found new paths, the trained model's solutions sit below the base's own in base likelihood;
    if it only reweighted old ones, they sit inside the range of the base's own solutions.
    `inside_share` is the share of trained solutions within [min, max] of the base's own.
    prompts: task id -> prompt (the eval file's, or the task file's). reading: which samples count as
    correct ("neutral", or "strict" for files written before the neutral reading).
    """
    per_model = {}
    for name, record in (("base", base), ("trained", trained)):
        values = []
        for sample in record.get("samples") or []:
            right = sample.get("neutral", sample.get("passed")) if reading == "neutral" else sample.get("passed")
            if right and sample.get("task_id") in prompts:
                values.append(completion_logprob(policy, prompts[sample["task_id"]], str(sample.get("text", "")),
                                                 stopped=sample.get("finish_reason") == "stop"))
        per_model[name] = values
    b, t = per_model["base"], per_model["trained"]
    inside = None
    if b and t:
        low, high = min(b), max(b)
        inside = float(np.mean([low <= v <= high for v in t]))

    def summary(values: list[float]) -> dict[str, Any]:
        if not values:
            return {"n": 0}
        q = np.quantile(values, [0.05, 0.5, 0.95])
        return {"n": len(values), "mean": float(np.mean(values)), "p05": float(q[0]), "median": float(q[1]),
                "p95": float(q[2]), "min": float(min(values)), "max": float(max(values))}

    return {"reading": reading, "base": summary(b), "trained": summary(t), "inside_share": inside}


def completion_logprob(policy: Any, prompt: Any, text: str, *, stopped: bool = False) -> float:
    """Mean log p(completion token | prefix) under `policy`, teacher-forced; the prompt is encoded as
    the sampler encodes it, the completion re-tokenised from its text (plus EOS when it stopped)."""
    import torch

    from rlvr.models.logprobs import sequence_logprobs

    prompt_ids = policy.encode(prompt)
    completion = policy.tokenizer(text, add_special_tokens=False)["input_ids"]
    if stopped and policy.eos_token_ids:
        completion = [*completion, min(policy.eos_token_ids)]
    if not completion:
        return 0.0
    logp = sequence_logprobs(policy.model, [prompt_ids], [completion], 1.0, device=policy.device)[0]  # (T,)
    return float(torch.tensor(logp, dtype=torch.float32).mean())


def format_likelihood(result: dict[str, Any]) -> str:
    b, t = result["base"], result["trained"]

    def row(name: str, x: dict[str, Any]) -> str:
        if not x["n"]:
            return f"  {name:<8} no correct completions"
        return (f"  {name:<8} {x['n']:>6} correct, mean log p per token {x['mean']:.3f} "
                f"(5 % {x['p05']:.3f}, median {x['median']:.3f}, 95 % {x['p95']:.3f}; range {x['min']:.3f} "
                f"to {x['max']:.3f})")

    lines = [f"base likelihood of correct completions ({result['reading']} reading), under the base model:",
             row("base", b), row("trained", t)]
    if result["inside_share"] is not None:
        lines.append(f"  {result['inside_share']:.0%} of the trained model's solutions lie inside the range of the "
                     "base's own: " + ("mostly old paths, reweighted" if result["inside_share"] >= 0.9 else
                                       "some solutions the base would hardly sample: candidates for new paths"))
    return "\n".join(lines)
