"""Spurious-reward controls: would training with a meaningless reward have "improved" the model too?

    rlvr spurious examples/grpo_arithmetic.yaml --format --seeds 2

Runs the same training config several times, changing only the reward:

    real     the config's reward (the verifier under test)
    random   1.0 with probability p, whatever the answer; p = 0.5 by default (`--random-p`), as
             Shao et al. (2506.10947) ran it, so that most groups have unequal rewards and the
             control really trains. `--random-p matched` uses the real reward's mean on the base
             model's rollouts instead: at a low base rate almost every group is all-zero and the
             control trains on next to nothing.
    format   (optional) the format part of the reward alone: right form, any answer
    majority (optional, `--majority`) the label-free TTRL reward: 1.0 for agreeing with the group's
             majority answer (read leniently), no reference read (`data.group_reward: majority`)

Every arm is a normal run directory with the same steps and held-out evaluation, once per seed
(ROOT/ARM for the first seed, ROOT/ARM-seedS for the others; the base evaluation of a seed is
measured once and shared by its arms). For each arm and seed the record keeps the held-out gain
on both readings (strict and format-neutral, see `gains.compare`) and what the arm actually
trained on: rows with a gradient, the share of informative groups, the mean |advantage|.

Rules. A control that trained on fewer than half as many rows as the real arm is "too weak to
conclude": it received too little gradient to say anything, and no sentence then says where
the real gain comes from. A control that raises held-out pass@1 (either reading) by more than
5 points, or by more than half of the real gain, is a warning: the real gain may be a side
effect of training (format drift, shorter answers, clipping bias), not of what the verifier
checks. Gains are means over seeds, with the per-seed values and one 95 % interval over seeds and
held-out problems (`evaluate.decide`); every sentence about a gain is a decision at delta (0.05 of
pass@1 by default): gain, loss, no gain beyond delta, or inconclusive. A control "did not reproduce"
the real gain only when its own interval ends below delta. An arm whose groups were almost never
informative (under 5 %, e.g. a base model that never wrote the format) barely trained: it gets no
verdict, only what it trained on.
The result goes to ROOT/spurious.json and into the real arm's run directory, where
`rlvr report` shows it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rlvr._errors import ConfigError
from rlvr._io import write_json
from rlvr.evaluate.decide import ALPHA, DELTA, decide, decision_sentence, t_quantile
from rlvr.rundir import RunDir

SPURIOUS_FORMAT = 1
WARN_ABSOLUTE = 0.05  # a control gain above 5 points of pass@1 ...
WARN_RELATIVE = 0.5  # ... or above half of the real gain is a warning


WEAK_ROWS = 0.5  # a control that trained on fewer than half the real arm's rows proves nothing
BARELY_INFORMATIVE = 0.05  # an arm with fewer informative groups than this barely trained: no verdict


@dataclass(frozen=True)
class Arm:
    name: str
    reward: str | dict  # verifier spec for data.reward ("" = the tasks' own verifiers)
    description: str
    group_reward: str = ""  # data.group_reward: a reward of the whole group replacing the verifier's


def format_part(reward: str | dict) -> dict | None:
    """The `format` verifier inside a reward spec (a compose part, or the spec itself), if any."""
    if isinstance(reward, dict):
        if reward.get("name") == "format":
            return reward
        for part in reward.get("parts", []) if reward.get("name") == "compose" else []:
            spec = part.get("verifier") if isinstance(part, dict) else None
            if isinstance(spec, dict) and spec.get("name") == "format" or spec == "format":
                return spec if isinstance(spec, dict) else {"name": "format"}
    return None


def arms(config: Any, random_p: float, controls: tuple[str, ...], format_reward: str | dict | None = None,
         p_source: str = "") -> list[Arm]:
    """The real arm and the requested controls, with their reward specs."""
    real = config.data.reward or "the tasks' own verifiers"
    out = [Arm("real", config.data.reward, f"the config's reward: {_describe(real)}", config.data.group_reward)]
    for control in controls:
        if control == "random":
            out.append(Arm("random", {"name": "random", "p": round(random_p, 6), "seed": config.run.seed},
                           f"random: 1.0 with probability p = {random_p:.3f}" + (f" ({p_source})" if p_source else "")))
        elif control == "format":
            spec = format_reward or format_part(config.data.reward)
            if spec is None:
                raise ConfigError("the config's reward has no `format` part to use as the format-only control; "
                                  "give one with --format-reward '{name: format, answer: bare}'.")
            out.append(Arm("format", spec, f"format only: {_describe(spec)}"))
        elif control == "majority":  # the verdicts (pass_rate) stay the real reward's
            out.append(Arm("majority", config.data.reward, "majority vote: 1.0 for the group's most common answer, "
                           "read leniently, no reference", group_reward="majority"))
        else:
            raise ConfigError(f"unknown control '{control}'; the controls are random, format and majority.")
    return out


def _describe(spec: str | dict) -> str:
    return spec if isinstance(spec, str) else json.dumps(spec, separators=(", ", ": "))


def measure_base_rate(config: Any, prompts: int, progress: bool = True) -> tuple[float, int]:
    """Mean real reward over the base model's rollouts of `prompts` training prompts (K each)."""
    from rlvr.evaluate.runner import EvalSettings, evaluate
    from rlvr.models import SamplingParams, open_engine
    from rlvr.tasks import load_tasks
    from rlvr.train.config import sampler_spec

    tasks = load_tasks(config.data.train)
    if config.data.reward:
        tasks = [replace(t, verifier=config.data.reward) for t in tasks]
    tasks = tasks[:prompts]
    s = config.sampling
    settings = EvalSettings(SamplingParams.from_decoding(s, n=config.algo.group_size, seed=config.run.seed))
    _, engine = open_engine(sampler_spec(config))  # the sampler the training samples with: sampling.engine
    record = evaluate(engine, tasks, settings, model_name=config.model, tasks_source=config.data.train,
                      progress=progress)
    return record["summary"]["mean_reward"], len(tasks) * config.algo.group_size


def run_spurious(config: Any, root: str | Path, *, controls: tuple[str, ...] = ("random",),
                 format_reward: str | dict | None = None, random_p: float | None = 0.5,
                 base_rate: float | None = None, rate_source: str = "given", rate_prompts: int = 16,
                 seeds: tuple[int, ...] | None = None, progress: bool = True, max_seeds: int | None = None,
                 delta: float = DELTA) -> dict[str, Any]:
    """Train every arm for every seed (reusing finished runs) and return the spurious.json record.

    random_p: the random arm's p; None matches it to the base rate (`base_rate`, or measured on
    `rate_prompts` training prompts). rate_source: how a given base rate was obtained, for the record.
    seeds: run.seed of each repetition (default: the config's seed alone).
    max_seeds (`--seeds auto`): train the real arm on seeds[0], seeds[0] + 1, ... until its format-neutral
    decision at `delta` is reached or max_seeds are spent (`decide.sequential_seeds`: Bonferroni over the
    planned looks, so every interval in the record is at level 0.05 / looks), then the controls on as many.
    """
    from rlvr.train.trainer import train

    if not config.data.eval_files:
        raise ConfigError("rlvr spurious needs held-out tasks to measure gains on; set data.eval.")
    seeds = tuple(seeds or (config.run.seed,))
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"the seeds must differ, got {list(seeds)}.")
    root = Path(root)
    source, rollouts = rate_source, 0
    if random_p is None and base_rate is None:
        base_rate, rollouts = measure_base_rate(config, rate_prompts, progress)
        source = "measured"
    for name, value in (("the base rate", base_rate), ("--random-p", random_p)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} must be in [0, 1], got {value}.")
    p = base_rate if random_p is None else random_p
    p_source = "the real reward's base rate" if random_p is None else "fixed, not matched to the base rate"
    plan = arms(config, p, controls, format_reward, p_source)  # bad controls fail before any training

    def train_seed(arm: Arm, i: int, seed: int, several: bool) -> dict[str, Any]:
        run_dir = root / (arm.name if i == 0 else f"{arm.name}-seed{seed}")
        runs = RunDir(run_dir)
        reward = {**arm.reward, "seed": seed} if arm.name == "random" else arm.reward  # a fresh coin per seed
        arm_config = replace(config, data=replace(config.data, reward=reward, group_reward=arm.group_reward),
                             run=replace(config.run, output_dir=str(run_dir), seed=seed))
        label = f"{arm.name}, seed {seed}" if several else arm.name
        if _finished(run_dir, arm_config):
            print(f"[{label}] reusing the finished run in {run_dir}", flush=True)
        else:
            print(f"[{label}] training with {arm.description}", flush=True)
            shared_base = RunDir(root / (plan[0].name if i == 0 else f"{plan[0].name}-seed{seed}")).base_eval
            if arm is not plan[0] and shared_base.exists() and not runs.metrics.exists():
                runs.eval_dir.mkdir(parents=True, exist_ok=True)  # same model, seed, tasks: same base eval
                shutil.copyfile(shared_base, runs.base_eval)
            train(arm_config, progress=progress)
        return run_result(seed, run_dir)

    real_runs, sequential, alpha = None, None, ALPHA
    if max_seeds:
        real_runs, sequential = _real_arm_until_decided(lambda i: train_seed(plan[0], i, seeds[0] + i, True),
                                                        max_seeds, delta)
        seeds, alpha = tuple(seeds[0] + i for i in range(len(real_runs))), ALPHA / sequential["looks"]
    results = []
    for arm in plan:
        runs = real_runs if real_runs and arm is plan[0] else \
            [train_seed(arm, i, seed, len(seeds) > 1) for i, seed in enumerate(seeds)]
        results.append({"name": arm.name, "reward": arm.description, "runs": runs})
    record = summarise_arms(results, base_rate, source, rollouts, config.data.eval_k, random_p=p, delta=delta,
                            alpha=alpha)
    if sequential:
        record["sequential"] = sequential
    write_json(record, root / RunDir.SPURIOUS)
    write_json(record, RunDir(root / plan[0].name).spurious)  # where `rlvr report` looks for it
    return record


def _real_arm_until_decided(train_seed: Any, max_seeds: int, delta: float
                            ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`--seeds auto`: the real arm's runs, one seed at a time until its format-neutral decision on the first
    held-out set (from 2 seeds on, Bonferroni over the looks), and how the looking went."""
    from rlvr.evaluate.decide import sequential_seeds

    runs: list[dict[str, Any]] = []

    def next_seed(i: int) -> tuple[Any, ...]:
        runs.append(train_seed(i))
        counts = next(iter(runs[-1]["counts"].values()))
        return counts["neutral"]["base"], counts["neutral"]["trained"], counts["n_base"], counts["n_trained"]

    result = sequential_seeds(next_seed, max_seeds=max_seeds, delta=delta)
    return runs, {"method": result["sequential"], "looks": result["looks"], "max_seeds": max_seeds,
                  "seeds_used": len(runs), "stopped": result["stopped"]}


def _finished(run_dir: Path, config: Any) -> bool:
    import yaml

    try:
        saved = yaml.safe_load(RunDir(run_dir).config.read_text())
    except (OSError, yaml.YAMLError):
        return False
    return saved == config.to_dict() and RunDir(run_dir).final_eval.exists()


def run_result(seed: int, run_dir: Path) -> dict[str, Any]:
    """One finished run: its held-out comparison per task set, the per-task pass counts (for the interval
    over seeds and problems) and what it actually trained on."""
    from rlvr.evaluate.gains import compare_sets, pass_counts

    runs = RunDir(run_dir)
    base, final = json.loads(runs.base_eval.read_text()), json.loads(runs.final_eval.read_text())
    return {"seed": seed, "run_dir": str(run_dir), "sets": compare_sets(base, final)["sets"],
            "counts": pass_counts(base, final), "trained": training_signal(run_dir)}


def training_signal(run_dir: Path) -> dict[str, float]:
    """How much gradient a run received: rows trained (non-zero advantage), informative groups, mean |advantage|."""
    runs = RunDir(run_dir)
    metrics = runs.read(RunDir.METRICS)
    advantages = [abs(row.get("advantage", 0.0)) for row in runs.read(RunDir.SAMPLES)]
    return {
        "steps": len(metrics),
        "rows": int(sum(m.get("rows/trained", 0) for m in metrics)),
        "informative_frac": float(np.mean([m.get("groups/informative_frac", 0.0) for m in metrics] or [0.0])),
        "mean_abs_advantage": float(np.mean(advantages)) if advantages else 0.0,
    }


def across_seeds(values: list[float]) -> dict[str, Any]:
    """Mean, per-seed values and a 95 % t-interval across seeds (None for one seed: an anecdote),
    clipped to [-1, 1], the range of a pass@k gain (two seeds give a t-interval wider than that)."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return {"mean": mean, "seeds": values, "interval": None}
    df = len(values) - 1
    half = t_quantile(1 - ALPHA / 2, df) * float(np.std(values, ddof=1)) / len(values) ** 0.5
    return {"mean": mean, "seeds": values, "interval": [max(-1.0, mean - half), min(1.0, mean + half)]}


def _seed_row(run: dict[str, Any], headline: str) -> dict[str, Any]:
    c = run["sets"][headline]
    k = c["k"]
    readings = {}
    for name, r in (("strict", c), ("neutral", c.get("neutral", c))):
        readings[name] = {"pass@1": [r["base"]["pass@1"], r["trained"]["pass@1"]],
                          "pass@k": [r["base"][f"pass@{k}"], r["trained"][f"pass@{k}"]],
                          "gain_pass@1": r["compression_gain"], "gain_pass@1_ci": r["compression_gain_ci"],
                          "gain_pass@k": r["capability_gain"], "gain_pass@k_ci": r["capability_gain_ci"]}
    return {"seed": run["seed"], "run_dir": run["run_dir"], "verdict": c["verdict"], **readings,
            **{key: run["trained"][key] for key in ("rows", "informative_frac", "mean_abs_advantage")},
            "sets": {name: {"verdict": s["verdict"], "strict_gain_pass@1": s["compression_gain"],
                            "neutral_gain_pass@1": s.get("neutral", s)["compression_gain"]}
                     for name, s in run["sets"].items()}}


def summarise_arms(results: list[dict[str, Any]], base_rate: float | None, source: str, rollouts: int, k: int,
                   random_p: float | None = None, delta: float = DELTA, alpha: float = ALPHA) -> dict[str, Any]:
    """Each arm's gains on the first held-out set, per seed and across seeds and problems with a decision at
    `delta`, its training signal, the warnings, and a conclusion that the weakest evidence can support."""
    headline = next(iter(results[0]["runs"][0]["sets"]))
    arms_out = []
    for r in results:
        seeds = [_seed_row(run, headline) for run in r["runs"]]
        summary = {reading: {"gain_pass@1": _pass1_gain(r["runs"], seeds, headline, reading, delta, alpha),
                             "gain_pass@k": _passk_gain(r["runs"], seeds, headline, reading, delta, alpha, k)}
                   for reading in ("strict", "neutral")}
        first = seeds[0]
        informative = float(np.mean([s["informative_frac"] for s in seeds]))
        arms_out.append({
            "name": r["name"], "reward": r["reward"], "run_dir": first["run_dir"], "seeds": seeds,
            "rows_trained": int(sum(s["rows"] for s in seeds)),
            "informative_frac": informative,
            "barely_trained": informative < BARELY_INFORMATIVE,
            "mean_abs_advantage": float(np.mean([s["mean_abs_advantage"] for s in seeds])),
            **summary,
            # The strict reading's means, under the names older readers of spurious.json know.
            "pass@1": [float(np.mean([s["strict"]["pass@1"][i] for s in seeds])) for i in (0, 1)],
            "pass@k": [float(np.mean([s["strict"]["pass@k"][i] for s in seeds])) for i in (0, 1)],
            "gain_pass@1": summary["strict"]["gain_pass@1"]["mean"],
            "gain_pass@k": summary["strict"]["gain_pass@k"]["mean"],
            "gain_pass@1_ci": summary["strict"]["gain_pass@1"]["interval"] or first["strict"]["gain_pass@1_ci"],
        })
    real = arms_out[0]
    for arm in arms_out[1:]:
        arm["too_weak"] = arm["rows_trained"] < WEAK_ROWS * real["rows_trained"]
    real["too_weak"] = False
    warnings = {reading: _control_warnings(real, arms_out[1:], reading) for reading in ("neutral", "strict")}
    return {"rlvr_spurious": SPURIOUS_FORMAT, "base_rate": base_rate, "base_rate_source": source,
            "base_rate_rollouts": rollouts, "random_p": random_p, "k": k, "set": headline, "delta": delta,
            "seeds": [s["seed"] for s in real["seeds"]], "arms": arms_out,
            "warnings": warnings["neutral"] + warnings["strict"],
            "conclusion": _conclusion(arms_out, warnings["neutral"], warnings["strict"])}


def _pass1_gain(runs: list[dict[str, Any]], seeds: list[dict[str, Any]], headline: str, reading: str,
                delta: float, alpha: float = ALPHA) -> dict[str, Any]:
    """One reading's pass@1 gain over the seeds: mean, per-seed values, interval, decision and its analysis.

    The interval spans seeds and held-out problems when the runs carry per-task counts (`run_result`); a
    record from before they did falls back to the t-interval across seeds (problems held fixed) or, for
    one seed, that seed's bootstrap over tasks."""
    from rlvr.evaluate.gains import gain_over_seeds

    values = [s[reading]["gain_pass@1"] for s in seeds]
    if all(headline in run.get("counts", {}) for run in runs):
        a = gain_over_seeds([run["counts"][headline] for run in runs], reading, delta=delta, alpha=alpha)
        return {"mean": a["gain"], "seeds": values, "interval": a["interval"], "decision": a["decision"],
                "analysis": a}
    out = across_seeds(values)
    interval = out["interval"] or seeds[0][reading]["gain_pass@1_ci"]
    a = {"gain": out["mean"], "interval": interval, "delta": delta, "decision": decide(interval, delta),
         "seeds": len(values), "problems": None, "spans_seeds": len(values) > 1}
    return {**out, "decision": a["decision"], "analysis": a}


def _passk_gain(runs: list[dict[str, Any]], seeds: list[dict[str, Any]], headline: str, reading: str,
                delta: float, alpha: float, k: int) -> dict[str, Any]:
    """One reading's pass@k gain over the seeds, as `_pass1_gain` (each problem's unbiased pass@k, one
    interval over seeds and problems); a record without per-task counts keeps the t-interval across seeds."""
    from rlvr.evaluate.gains import gain_over_seeds

    values = [s[reading]["gain_pass@k"] for s in seeds]
    out = across_seeds(values)
    if k > 1 and all(headline in run.get("counts", {}) for run in runs):
        a = gain_over_seeds([run["counts"][headline] for run in runs], reading, delta=delta, alpha=alpha, k=k)
        return {**out, "mean": a["gain"], "interval": a["interval"], "decision": a["decision"], "analysis": a}
    return out


def _control_warnings(real: dict[str, Any], controls: list[dict[str, Any]], reading: str) -> list[str]:
    """The controls that moved held-out pass@1 of one reading too much (see the module docstring), each
    with its own decision: a warning is raised on the mean, a caution, and says what the interval allows."""
    out = []
    real_gain = real[reading]["gain_pass@1"]["mean"]
    for arm in controls:
        g = arm[reading]["gain_pass@1"]
        gain, own = g["mean"], _decision_words(g)
        if gain > WARN_ABSOLUTE:
            out.append(f"the {arm['name']} control moved held-out {reading} pass@1 by {gain:+.3f} "
                       f"(more than {WARN_ABSOLUTE:.2f}; {own})")
        elif real_gain > 0 and gain > WARN_RELATIVE * real_gain:
            out.append(f"the {arm['name']} control moved held-out {reading} pass@1 by {gain:+.3f}, more "
                       f"than half of the real run's {real_gain:+.3f} ({own})")
    return out


def _decision_words(gain: dict[str, Any]) -> str:
    """"decision: gain, interval [a, b]": the short form beside a number."""
    low, high = gain["analysis"]["interval"]
    return f"decision: {gain['decision'].replace('_', ' ')}, interval [{low:+.3f}, {high:+.3f}]"


def _conclusion(arms: list[dict[str, Any]], warnings: list[str], strict_warnings: list[str]) -> str:
    """Decided on the format-neutral reading; a control that moved only strict pass@1 (typically the
    format-only arm) says how much of a strict gain the answer's format alone buys."""
    real, controls = arms[0], arms[1:]
    gain = real["neutral"]["gain_pass@1"]
    if real.get("barely_trained"):
        return barely_trained(real)
    one_seed = " One seed is an anecdote, not a conclusion: run --seeds 2 or more." if len(gain["seeds"]) < 2 else ""
    strict = (f" Strict reading: {'; '.join(strict_warnings)}, so a strict gain of that size is the answer's "
              "format, not accuracy." if strict_warnings and not warnings else "")
    return _finding(real, controls, warnings, gain) + strict + one_seed


def barely_trained(arm: dict[str, Any]) -> str:
    """The only thing said of an arm that barely trained: what it trained on, no verdict."""
    return (f"no verdict: the {arm['name']} arm barely trained ({arm['rows_trained']} rows with a gradient, "
            f"informative groups {arm['informative_frac']:.2f}), so its held-out change says nothing about what "
            "the reward teaches; make the base model earn some reward first (curate prompts, a format term).")


def _finding(real: dict[str, Any], controls: list[dict[str, Any]], warnings: list[str], gain: dict[str, Any]) -> str:
    weak = [a for a in controls if a["too_weak"]]
    if warnings:
        return ("a control reward moved held-out format-neutral pass@1 too: part of the real gain may be a side effect "
                "of training (format, length, clipping), not of what the verifier checks.")
    if weak:
        said = "; ".join(f"the {a['name']} control trained on {a['rows_trained']} rows against the real arm's "
                         f"{real['rows_trained']}" for a in weak)
        return f"too weak to conclude: {said}, so its silence proves nothing about where the real gain comes from."
    said = decision_sentence("the real arm", gain["analysis"])
    if gain["decision"] in ("no_gain_beyond_delta", "loss"):
        return f"{said} There is nothing to attribute."
    if gain["decision"] == "inconclusive":
        return f"{said} Nothing can yet be attributed."
    delta = gain["analysis"]["delta"]
    open_controls = [a for a in controls if a["neutral"]["gain_pass@1"]["analysis"]["interval"][1] >= delta]
    if open_controls:
        return (f"{said} The {', '.join(a['name'] for a in open_controls)} control's own interval reaches "
                f"{delta:.2f}, so where the gain comes from is open.")
    below = f"every control's interval ends below {delta:.2f}"
    if len(gain["seeds"]) < 2:
        return (f"{said} On this one seed the controls trained on at least half as many rows and {below}, which "
                "points to the verifier's signal rather than training as such.")
    return (f"{said} The controls trained on at least half as many rows and {below}: the gain comes from the "
            "verifier's signal, not from training as such.")


def format_spurious(record: dict[str, Any]) -> str:
    """The table `rlvr spurious` prints: per arm (and seed), both readings and the training signal."""
    p = record.get("random_p")
    rate = record.get("base_rate")
    head = f"held-out set {record['set']}; seeds {', '.join(map(str, record.get('seeds', [])))}"
    if p is not None:
        head += f"; random arm p = {p:.3f}"
    if rate is not None:
        head += (f"; base rate {rate:.3f} ({record['base_rate_source']}"
                 + (f" over {record['base_rate_rollouts']} rollouts)" if record["base_rate_rollouts"] else ")"))
    lines = [head, "", f"{'arm':<8}{'seed':>6}{'strict pass@1':>22}{'gain':>8}{'neutral pass@1':>22}{'gain':>8}"
                       f"{'rows':>7}{'inform.':>9}{'|adv|':>7}"]
    for arm in record["arms"]:
        for row in arm.get("seeds", []):
            s, n = row["strict"], row["neutral"]
            lines.append(f"{arm['name']:<8}{row['seed']:>6}{s['pass@1'][0]:>13.3f} -> {s['pass@1'][1]:.3f}"
                         f"{s['gain_pass@1']:>+8.3f}{n['pass@1'][0]:>13.3f} -> {n['pass@1'][1]:.3f}"
                         f"{n['gain_pass@1']:>+8.3f}{row['rows']:>7}{row['informative_frac']:>9.2f}"
                         f"{row['mean_abs_advantage']:>7.2f}")
    delta = record.get("delta", DELTA)
    lines += ["", f"across seeds and problems (mean [95 % interval], decision at delta {delta:.2f}):"]
    for arm in record["arms"]:
        parts = []
        for reading in ("strict", "neutral"):
            g = arm[reading]["gain_pass@1"]
            verdict = "" if arm.get("barely_trained") or "decision" not in g else f" {g['decision'].replace('_', ' ')}"
            parts.append(f"{reading} pass@1 gain {g['mean']:+.3f}"
                         + (f" [{g['interval'][0]:+.3f}, {g['interval'][1]:+.3f}]" if g["interval"] else " (one seed)")
                         + verdict)
        weak = "  TOO WEAK TO CONCLUDE" if arm.get("too_weak") else ""
        weak += "  BARELY TRAINED: NO VERDICT" if arm.get("barely_trained") else ""
        lines.append(f"  {arm['name']:<8}{'; '.join(parts)}; trained {arm['rows_trained']} rows{weak}")
    lines.append("")
    lines += [f"warning: {w}" for w in record["warnings"]]
    lines.append(f"conclusion: {record['conclusion']}")
    return "\n".join(lines)
