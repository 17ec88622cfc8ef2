"""`rlvr demo`: the whole story on the bundled real model, on a CPU, in one command.

    rlvr demo            # 2 seeds x (real, random, format-only) arms; see README for the measured time
    rlvr demo --quick    # one seed, fewer steps and tasks: a smoke test, not a conclusion

On generated single-digit additions with SmolLM2-135M-Instruct:

1. tasks: a train split, a held-out split (problems never seen in training) and a harder,
   shifted set (two-digit additions) — generated, so nothing is downloaded;
2. base evaluation on the train split with the training reward: the per-prompt rates curate
   the prompts that can teach (groups with unequal rewards) and give the base rate p;
3. GRPO on the curated prompts, with held-out pass@k measured before and after;
4. the same run with two controls: a random reward at p = 0.5 (so that it really trains) and
   the format part of the reward alone; every arm with each seed;
5. compare, on the strict and the format-neutral reading (search compression vs capability
   gain, per task set), and the HTML report;
6. the verdict in plain words, decided on the format-neutral reading, with the spread across
   seeds and what each arm actually trained on.

Every stage writes what a user would write by hand: DIR/tasks/*.jsonl, DIR/grpo.yaml (rerun it
with `rlvr train DIR/grpo.yaml`), DIR/real, DIR/random, DIR/format and DIR/ARM-seedS (run
directories), DIR/compare.json, DIR/spurious.json, DIR/report.html and DIR/demo.json (numbers
and stage timings).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from rlvr._errors import ConfigError

# The training reward: correctness, plus a small format term gated by it, so that a wrong
# number in the right form (0.2) never outscores a right one (1.0). The base model writes a
# bare number only ~5 % of the time; without the format term almost every group is all-zero.
REWARD = {"name": "compose", "parts": [
    {"name": "format", "verifier": {"name": "format", "answer": "bare", "pattern": "-?[0-9]+"}, "weight": 0.2},
    {"name": "correct", "verifier": {"name": "math", "answer": "bare"}, "weight": 0.8, "gate": True},
]}


@dataclass(frozen=True)
class Plan:
    """The sizes of one demo; `--quick` shrinks them."""

    steps: int = 8
    train_tasks: int = 64
    prompts_per_step: int = 8
    group_size: int = 8
    eval_k: int = 8
    harder_tasks: int = 24  # 0 = no shifted set
    lr: float = 3e-5
    max_new_tokens: int = 32
    seeds: int = 2  # every arm is trained once per seed; one seed is an anecdote
    random_p: float = 0.5  # the random control's rate: p = 0.5 makes most groups informative
    max_seeds: int | None = None  # `--seeds auto`: seeds are added until the decision, up to this many
    delta: float | None = None  # the smallest held-out pass@1 gain that matters (None: decide.DELTA)


FULL = Plan()
QUICK = Plan(steps=5, train_tasks=32, prompts_per_step=6, eval_k=4, harder_tasks=0, lr=4e-5, seeds=1)


def prepare(root: Path) -> None:
    """An empty output directory; an earlier demo there is replaced, anything else is refused."""
    if root.exists() and any(root.iterdir()):
        if not (root / "demo.json").exists() and not (root / "grpo.yaml").exists():
            raise ConfigError(f"{root} is not empty and holds no earlier demo; choose another --output-dir.")
        print(f"replacing the earlier demo in {root}")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)


def run_demo(model: str, root: Path, plan: Plan, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Run every stage into `root` and return the demo record (also written to root/demo.json)."""
    from rlvr.evaluate.gains import compare_sets, format_comparison_sets
    from rlvr.evaluate.runner import write_eval
    from rlvr.train.config import load_config
    from rlvr.workflows.spurious import barely_trained, format_spurious, run_spurious

    start, timings = time.perf_counter(), {}

    def stage(name: str, number: int, title: str) -> float:
        print(f"\n[{number}/6] {title}", flush=True)
        return time.perf_counter()

    t = stage("tasks", 1, "tasks: single-digit additions (train, held-out) and two-digit additions (harder)")
    files = _make_tasks(root / "tasks", plan, seed)
    timings["tasks"] = time.perf_counter() - t

    t = stage("base", 2, f"base model on the {plan.train_tasks} training prompts, {plan.group_size} samples each, "
                         "scored with the training reward")
    base_rate, curated, kept, counts = _curate(model, files["train"], root, plan, seed, progress)
    timings["base_eval_and_curation"] = time.perf_counter() - t

    config_path = root / "grpo.yaml"
    config_path.write_text(_config_yaml(model, curated, files, plan, seed, root))
    config = load_config(config_path)
    seeds = f"up to {plan.max_seeds} seeds (auto)" if plan.max_seeds else f"{plan.seeds} seed(s) each"
    t = stage("grpo", 3, f"GRPO, {plan.steps} steps of {plan.prompts_per_step} prompts x {plan.group_size} "
                         f"samples; then 4: the same with a random reward (p = {plan.random_p}) and with the format "
                         f"reward alone (controls); {seeds}")
    spurious = run_spurious(config, root, controls=("random", "format"), random_p=plan.random_p, progress=progress,
                            seeds=tuple(seed + i for i in range(1 if plan.max_seeds else plan.seeds)),
                            max_seeds=plan.max_seeds, **({} if plan.delta is None else {"delta": plan.delta}))
    timings["grpo_and_controls"] = time.perf_counter() - t

    t = stage("compare", 5, "compare base and trained on each held-out set (first seed), strict and format-neutral")
    base = json.loads((root / "real" / "eval" / "base.json").read_text())
    final = json.loads((root / "real" / "eval" / "final.json").read_text())
    comparison = compare_sets(base, final, seed=seed, **({} if plan.delta is None else {"delta": plan.delta}))
    write_eval(comparison, root / "compare.json")
    if spurious["arms"][0].get("barely_trained"):  # no verdict words beside an arm that barely trained
        print(f"{barely_trained(spurious['arms'][0])}\nThe numbers are in {root / 'compare.json'}.")
    else:
        print(format_comparison_sets(comparison))
    print()
    print(format_spurious(spurious))
    timings["compare"] = time.perf_counter() - t

    t = stage("report", 6, "report")
    report = _report(root)
    timings["report"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - start

    record = {"model": model, "plan": plan.__dict__, "base_rate": base_rate, "curation": counts,
              "curated_tasks": kept, "comparison": comparison, "spurious": spurious,
              "report": str(report) if report else None, "timings_s": timings}
    write_eval(record, root / "demo.json")
    print("\n" + verdict_in_words(record, root))
    return record


def _make_tasks(folder: Path, plan: Plan, seed: int) -> dict[str, Path]:
    from rlvr.tasks import make_tasks, write_tasks

    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "train": make_tasks("arithmetic", n=plan.train_tasks, seed=seed, split="train", op="add", digits=1),
        # test + val: every single-digit problem the train split does not hold
        "heldout": make_tasks("arithmetic", n=11, seed=seed, split="test", op="add", digits=1)
        + make_tasks("arithmetic", n=18, seed=seed, split="val", op="add", digits=1),
    }
    if plan.harder_tasks:
        made["harder"] = make_tasks("arithmetic", n=plan.harder_tasks, seed=seed, split="test", op="add", digits=2)
    files = {}
    for name, tasks in made.items():
        files[name] = folder / f"{name}.jsonl"
        write_tasks(tasks, files[name])
        print(f"  {files[name]}: {len(tasks)} tasks, e.g. {tasks[0].prompt!r}")
    return files


def _curate(model: str, train_file: Path, root: Path, plan: Plan, seed: int, progress: bool
            ) -> tuple[float, Path, int, dict[str, int]]:
    """Base eval on the train prompts with the training reward -> base rate p and curated prompts."""
    from rlvr.evaluate.runner import EvalSettings, evaluate, format_summary, write_eval
    from rlvr.models import HFEngine, SamplingParams, load_policy
    from rlvr.tasks import load_tasks, write_tasks
    from rlvr.workflows.curation import curate, pass_rates

    print(f"  loading {model} ...", flush=True)
    policy = load_policy(model, dtype="float32")
    tasks = [replace(t, verifier=REWARD) for t in load_tasks(train_file)]
    settings = EvalSettings(SamplingParams(n=plan.group_size, max_new_tokens=plan.max_new_tokens, seed=seed))
    record = evaluate(HFEngine(policy, batch_size=32), tasks, settings, model_name=model,
                      tasks_source=str(train_file), progress=progress)
    write_eval(record, root / "base_train.json")
    print(format_summary(record))
    base_rate = record["summary"]["mean_reward"]
    # Keep prompts whose groups had unequal rewards under the base model (some format credit or a
    # right answer, not all of them): all-zero groups give no gradient. By mean reward, since
    # almost no prompt is *solved* by the base model, which rules out the usual 0.3-0.7 pass band.
    kept, counts = curate(load_tasks(train_file), pass_rates(record, by="reward"), 0.01, 0.9)
    print(f"  curation by mean training reward, kept [0.01, 0.9]: {len(kept)} of {len(tasks)} prompts "
          f"({', '.join(f'{band} {n}' for band, n in counts.items())})")
    if len(kept) < plan.prompts_per_step:
        print(f"  fewer than {plan.prompts_per_step} prompts give a signal; training on all of them instead")
        kept = load_tasks(train_file)
    curated = root / "tasks" / "train_curated.jsonl"
    write_tasks(kept, curated)
    return base_rate, curated, len(kept), counts


def _config_yaml(model: str, curated: Path, files: dict[str, Path], plan: Plan, seed: int, root: Path) -> str:
    config = {
        "model": model,
        "sampling": {"temperature": 1.0, "max_new_tokens": plan.max_new_tokens, "batch_size": 32},
        "algo": {"group_size": plan.group_size, "beta": 0.0, "clip_high": 0.28},
        "optim": {"lr": plan.lr, "warmup_steps": 2, "micro_batch": 16},
        "data": {"train": str(curated), "eval": [str(p) for n, p in files.items() if n != "train"],
                 "eval_k": plan.eval_k, "prompts_per_step": plan.prompts_per_step, "reward": REWARD},
        "run": {"output_dir": str(root / "real"), "steps": plan.steps, "checkpoint_every": plan.steps,
                "keep_checkpoints": 1, "seed": seed},
    }
    header = (f"# Written by `rlvr demo`; rerun with: rlvr train {root / 'grpo.yaml'} "
              f"run.output_dir={root / 'rerun'}\n")
    return header + yaml.safe_dump(config, sort_keys=False)


def _report(root: Path) -> Path | None:
    try:
        from rlvr.report import write_report
    except ImportError:  # the report package is optional in a partial install
        print("  (the report module is not available; skipping the HTML report)")
        return None
    path = write_report(root / "real", root / "report.html")
    print(f"  wrote {path}")
    return path


def _set_verdict(comparison: dict[str, Any]) -> str:
    """A task set's verdict word and, beside it, the decision on its format-neutral pass@1 (one seed)."""
    verdict = comparison["verdict"].replace("_", " ") if comparison["verdict"] != "no_change" else "flat"
    decision = comparison["neutral"].get("decision")
    return verdict if decision is None else f"{verdict} (neutral pass@1: {decision.replace('_', ' ')})"


def _short(analysis: dict[str, Any]) -> str:
    """"inconclusive, +0.037 [-0.046, +0.119]": a decision beside its numbers."""
    low, high = analysis["interval"]
    return f"{analysis['decision'].replace('_', ' ')}, {analysis['gain']:+.3f} [{low:+.3f}, {high:+.3f}]"


def _plan_lines(spurious: dict[str, Any], barely: bool) -> list[str]:
    """The last lines: how the seeds were chosen (`--seeds auto`) and what a decision at delta needs."""
    from rlvr.evaluate.decide import plan_text

    lines = []
    sequential = spurious.get("sequential")
    if sequential:
        lines.append(f"  seeds auto: {sequential['seeds_used']} of at most {sequential['max_seeds']} seeds, "
                     + ("stopped at a decision" if sequential["stopped"] else "no decision by the last seed")
                     + f" ({sequential['method']}).")
    analysis = spurious["arms"][0]["neutral"]["gain_pass@1"].get("analysis", {})
    if barely or "variance_shares" not in analysis:
        return lines
    lines.append(f"  to decide at delta {analysis['delta']:.2f} (the real arm, format-neutral pass@1):")
    return lines + ["    " + line for line in plan_text(analysis).splitlines()]


def verdict_in_words(record: dict[str, Any], root: Path) -> str:
    """The closing paragraph: what training bought, in plain words, decided on the format-neutral reading."""
    sets = record["comparison"]["sets"]
    name, headline = next(iter(sets.items()))
    spurious = record["spurious"]
    seeds = spurious.get("seeds", [0])
    k = headline["k"]
    barely = bool(spurious["arms"][0].get("barely_trained"))  # no verdict word beside what barely trained
    lines = [f"== what {record['plan']['steps']} GRPO steps bought {record['model']} "
             f"({len(seeds)} seed{'s' if len(seeds) > 1 else ''}) ==",
             "  strict: the task's verifier (a bare number); neutral: the answer read in any format (attribution only)"]
    for set_name, c in sets.items():
        at_k, n = f"pass@{c['k']}", c["neutral"]
        lines.append(f"  {set_name:<8} ({c['tasks']} tasks, seed {seeds[0]})  strict pass@1 "
                     f"{c['base']['pass@1']:.3f} -> {c['trained']['pass@1']:.3f}, {at_k} {c['base'][at_k]:.3f} -> "
                     f"{c['trained'][at_k]:.3f} | "
                     f"neutral pass@1 {n['base']['pass@1']:.3f} -> {n['trained']['pass@1']:.3f}, {at_k} "
                     f"{n['base'][at_k]:.3f} -> {n['trained'][at_k]:.3f}"
                     + ("" if barely else f"   {_set_verdict(c)}"))
    neutral = headline["neutral"]
    if not barely:
        one = neutral.get("gain_analysis")
        lines.append(f"  verdict on {name} (seed {seeds[0]}): {headline['verdict_words']}."
                     + ("" if one is None else f" Its format-neutral pass@1 on this seed: {_short(one)}."))
    per_seed = [(row["seed"], row["verdict"]) for row in spurious["arms"][0].get("seeds", [])]
    if len(per_seed) > 1 and not barely:
        lines.append("  verdict per seed: " + ", ".join(f"seed {s} {v.replace('_', ' ')}" for s, v in per_seed)
                     + ("" if len({v for _, v in per_seed}) == 1 else " (the seeds disagree: no single verdict)"))
    f = headline["format"]
    lines.append(f"  strict pass@1 gain {f['strict_gain']:+.3f} = format {f['format']:+.3f} (answers the base had "
                 f"right but not as a bare number) + accuracy {f['accuracy']:+.3f} (format-neutral pass@1 change) - "
                 f"{f['unread_after']:.3f} still unreadable after training.")
    ratio = neutral["compression_ratio"]
    lines.append("  compression ratio, read neutrally (pass@1 gain / base headroom pass@k - pass@1): "
                 + ("undefined, the base model had no headroom (pass@1 = pass@k)" if ratio is None else f"{ratio:.2f}"
                    + (" (above 1: trained pass@1 beats what the base found in k tries)" if ratio > 1 else "")))
    new = neutral["trained_only_ids"]
    if new or headline["trained_only_ids"]:
        lines.append(f"  held-out problems solved (in {k} tries) only after training: {len(new)} read neutrally, "
                     f"{len(headline['trained_only_ids'])} read strictly.")
    if record["comparison"]["warning"]:
        lines.append(f"  warning: {record['comparison']['warning']}.")
    if record["base_rate"] == 0:
        lines.append("  the base model never earned any reward on the training prompts (p = 0): every group had "
                     "equal rewards, so GRPO had no signal to learn from (see the health warnings in the report).")
    lines.append("  held-out pass@1 gain per arm: mean [95 % interval over seeds and problems], decision (each seed's "
                 "mean), and what it trained on:")
    for arm in spurious["arms"]:
        parts = []
        for reading in ("strict", "neutral"):
            g = arm[reading]["gain_pass@1"]
            spread = (f" [{g['interval'][0]:+.3f}, {g['interval'][1]:+.3f}]" if g["interval"] else "")
            said = "" if arm.get("barely_trained") or "decision" not in g else f", {g['decision'].replace('_', ' ')}"
            parts.append(f"{reading} {g['mean']:+.3f}{spread}{said} ({', '.join(f'{v:+.3f}' for v in g['seeds'])})")
        weak = ", TOO WEAK TO CONCLUDE" if arm.get("too_weak") else ""
        weak += ", BARELY TRAINED: NO VERDICT" if arm.get("barely_trained") else ""
        lines.append(f"    {arm['name']:<7}{'; '.join(parts)}; trained {arm['rows_trained']} rows, informative "
                     f"groups {arm['informative_frac']:.2f}{weak}")
    lines.append(f"  conclusion: {spurious['conclusion']}")
    for warning in spurious["warnings"]:
        lines.append(f"  warning: {warning}.")
    lines += _plan_lines(spurious, barely)
    if record["report"]:
        lines.append(f"  report: {record['report']} (open it in a browser; it works offline)")
    lines.append(f"  everything is in {root}/ ; wall time {record['timings_s']['total'] / 60:.1f} min")
    return "\n".join(lines)
