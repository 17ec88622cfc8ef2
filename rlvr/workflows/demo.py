"""`rlvr demo`: the whole story on the bundled real model, on a CPU, in one command.

    rlvr demo            # 3 seeds x (real, random, format-only) arms; see README for the measured time
    rlvr demo --quick    # one seed, fewer steps and tasks: a smoke test, not a conclusion

On generated single-digit additions with SmolLM2-135M-Instruct:

1. tasks: a train split and a held-out split (problems never seen in training), and with
   `Plan.harder_tasks` a harder, shifted set (two-digit additions); generated, nothing downloaded;
2. base evaluation on the train split with the training reward: the per-prompt rates curate
   the prompts that can teach (groups with unequal rewards) and give the base rate p. When too
   few prompts give a signal, the same with worked examples before each prompt (a few-shot
   prompt, measured as its own choice); when neither does, the demo says that this model cannot
   be trained on this task as set, and trains nothing;
3. GRPO on the curated prompts, with held-out pass@k measured before and after;
4. the same run with two controls: a random reward at p = 0.5 (so that it really trains) and
   the format part of the reward alone; every arm with each seed;
5. compare base and trained over every seed and the held-out problems, on the strict and the
   format-neutral reading, and the HTML report;
6. the closing lines: every claim a decision over seeds and problems (gain, loss, no gain beyond
   delta, inconclusive) with its interval; format (strict pass@1), accuracy (format-neutral
   pass@1, the capability verdict) and search (format-neutral pass@k); what each arm trained
   on; and what a decision would take where there is none.

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
    """The sizes of one demo; `--quick` shrinks them.

    Chosen from the power analysis of earlier demos (2 seeds x 8 steps of 8 x 8 rows, 32 tokens: 28.6
    min on a 2-core CPU, nothing decided): at two seeds the seed means rest on one degree of freedom
    (t = 12.7), so no claim was decisive; at three (t = 4.3) the large effects are. Three seeds of
    three arms fit the 20-minute budget only with smaller steps (6 prompts x 6 samples, 6 steps, a
    higher rate) and shorter answers (16 tokens: a bare number takes 1 to 3). The held-out set is every
    single-digit problem the training split does not hold (29; eval is cheap but there are no more),
    and K = 8 keeps pass@8 beside pass@1 (samples carried 13 % of the variance: more K buys little).
    The shifted two-digit set is off by default (its base pass@1 was 0.03: nothing to decide)."""

    steps: int = 6
    train_tasks: int = 64
    prompts_per_step: int = 6
    group_size: int = 6
    eval_k: int = 8
    harder_tasks: int = 0  # 0 = no shifted set
    lr: float = 4e-5
    max_new_tokens: int = 16
    seeds: int = 3  # every arm is trained once per seed; one seed is an anecdote, two decide almost nothing
    random_p: float = 0.5  # the random control's rate: p = 0.5 makes most groups informative
    max_seeds: int | None = None  # `--seeds auto`: seeds are added until the decision, up to this many
    delta: float | None = None  # the smallest held-out pass@1 gain that matters (None: decide.DELTA)
    few_shot: int = 3  # worked examples put before each prompt when the plain prompt gives GRPO no signal


# Rows decoded together: a step's 36 rows in one batch, not 32 and then 4 (each decoding step reads every weight
# whatever the rows; 0.91x the wall time of 32 for the same training run); the held-out set's 232 in one, not four
# (6.1 s against 9.4 for the base model's evaluation in float32).
BATCH_ROWS = 256

FULL = Plan()
QUICK = Plan(steps=4, train_tasks=32, eval_k=4, lr=5e-5, seeds=1)


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
    from rlvr.evaluate.gains import compare_seeds, compare_sets, format_compare_seeds
    from rlvr.evaluate.runner import write_eval
    from rlvr.train.config import load_config
    from rlvr.workflows.spurious import format_spurious, run_spurious

    start, timings = time.perf_counter(), {}

    def stage(name: str, number: int, title: str) -> float:
        print(f"\n[{number}/6] {title}", flush=True)
        return time.perf_counter()

    t = stage("tasks", 1, "tasks: single-digit additions (train, held-out)"
                          + (" and two-digit additions (harder)" if plan.harder_tasks else ""))
    files = _make_tasks(root / "tasks", plan, seed)
    timings["tasks"] = time.perf_counter() - t

    t = stage("base", 2, f"base model on the {plan.train_tasks} training prompts, {plan.group_size} samples each, "
                         "scored with the training reward")
    base_rate, curated, kept, counts, prompt = _curate(model, files, root, plan, seed, progress)
    timings["base_eval_and_curation"] = time.perf_counter() - t
    record: dict[str, Any] = {"model": model, "plan": plan.__dict__, "base_rate": base_rate, "curation": counts,
                              "curated_tasks": kept, "prompt": prompt}
    if curated is None:  # no prompt, plain or few-shot, gives GRPO a signal: say so and train nothing
        timings["total"] = time.perf_counter() - start
        record.update(comparison=None, spurious=None, report=None, timings_s=timings)
        write_eval(record, root / "demo.json")
        print("\n" + cannot_train(record, root))
        return record

    config_path = root / "grpo.yaml"
    config_path.write_text(_config_yaml(model, curated, files, plan, seed, root))
    config = load_config(config_path)
    seeds = f"up to {plan.max_seeds} seeds (auto)" if plan.max_seeds else f"{plan.seeds} seed(s) each"
    t = stage("grpo", 3, f"GRPO, {plan.steps} steps of {plan.prompts_per_step} prompts x {plan.group_size} "
                         f"samples; then 4: the same with a random reward (p = {plan.random_p}) and with the format "
                         f"reward alone (controls); {seeds}")
    delta = {} if plan.delta is None else {"delta": plan.delta}
    spurious = run_spurious(config, root, controls=("random", "format"), random_p=plan.random_p, progress=progress,
                            seeds=tuple(seed + i for i in range(1 if plan.max_seeds else plan.seeds)),
                            max_seeds=plan.max_seeds, **delta)
    timings["grpo_and_controls"] = time.perf_counter() - t

    t = stage("compare", 5, "compare base and trained on the held-out problems, every seed of the real arm, strict "
                            "and format-neutral")
    pairs = [_eval_pair(Path(row["run_dir"])) for row in spurious["arms"][0]["seeds"]]
    comparison = compare_sets(*pairs[0], seed=seed, **delta)  # the first seed's numbers, for illustration
    across = compare_seeds(pairs, seed=seed, **delta)
    write_eval(across, root / "compare.json")
    if spurious["arms"][0].get("barely_trained"):  # no decision words beside an arm that barely trained
        print(f"the real arm barely trained; the numbers are in {root / 'compare.json'}.")
    else:
        print(format_compare_seeds(across, plan=False))
    print()
    print(format_spurious(spurious))
    timings["compare"] = time.perf_counter() - t

    t = stage("report", 6, "report")
    report = _report(root)
    timings["report"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - start

    record.update(comparison=comparison, across_seeds=across, spurious=spurious,
                  report=str(report) if report else None, timings_s=timings)
    write_eval(record, root / "demo.json")
    print("\n" + verdict_in_words(record, root))
    return record


def _eval_pair(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from rlvr.rundir import RunDir

    runs = RunDir(run_dir)
    return json.loads(runs.base_eval.read_text()), json.loads(runs.final_eval.read_text())


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


def few_shot(tasks: list[Any], examples: list[Any]) -> list[Any]:
    """Each task's prompt after the worked examples (their prompts and reference answers, in the answer
    format the reward asks for), ending in a newline where the answer line starts: a prompt a base model
    that never writes the format may answer in (string prompts only; a chat prompt is left as it is)."""
    shown = "".join(f"{e.prompt}\n{e.reference}\n\n" for e in examples)
    return [replace(t, prompt=shown + t.prompt + "\n") if isinstance(t.prompt, str) else t for t in tasks]


def _curate(model: str, files: dict[str, Path], root: Path, plan: Plan, seed: int, progress: bool
            ) -> tuple[float, Path | None, int, dict[str, int], dict[str, Any]]:
    """Base eval on the train prompts with the training reward -> base rate p and curated prompts.

    When fewer than a step's prompts give a signal (the base model never writes the format: Gemma 3's
    base), the same is measured with `plan.few_shot` worked examples (from the training split) before
    every prompt; if that gives the signal, training and every held-out set use that prompt. If neither
    does, the curated path is None: this model cannot be trained on this task as set."""
    from rlvr.evaluate.runner import EvalSettings, evaluate, format_summary, write_eval
    from rlvr.models import EngineSpec, SamplingParams, open_engine
    from rlvr.tasks import load_tasks, write_tasks
    from rlvr.workflows.curation import curate, pass_rates

    print(f"  loading {model} ...", flush=True)
    _, engine = open_engine(EngineSpec(model=model, dtype="float32", batch_size=BATCH_ROWS))
    settings = EvalSettings(SamplingParams(n=plan.group_size, max_new_tokens=plan.max_new_tokens, seed=seed))
    train_tasks = load_tasks(files["train"])
    tried: dict[str, Any] = {}
    for choice in ("plain", f"{plan.few_shot}-shot") if plan.few_shot else ("plain",):
        tasks = train_tasks
        if choice != "plain":
            examples, tasks = train_tasks[:plan.few_shot], few_shot(train_tasks[plan.few_shot:],
                                                                   train_tasks[:plan.few_shot])
            print(f"  fewer than {plan.prompts_per_step} prompts give a signal; measuring the base model again with "
                  f"{plan.few_shot} worked examples before each prompt", flush=True)
        record = evaluate(engine, [replace(t, verifier=REWARD) for t in tasks], settings, model_name=model,
                          tasks_source=str(files["train"]), progress=progress)
        write_eval(record, root / ("base_train.json" if choice == "plain" else "base_train_few_shot.json"))
        print(format_summary(record))
        # Keep prompts whose groups had unequal rewards under the base model (some format credit or a
        # right answer, not all of them): all-zero groups give no gradient. By mean reward, since
        # almost no prompt is *solved* by the base model, which rules out the usual 0.3-0.7 pass band.
        kept, counts = curate(tasks, pass_rates(record, by="reward"), 0.01, 0.9)
        rate = record["summary"]["mean_reward"]
        tried[choice] = {"base_rate": rate, "kept": len(kept), "of": len(tasks)}
        print(f"  curation by mean training reward, kept [0.01, 0.9]: {len(kept)} of {len(tasks)} prompts "
              f"({', '.join(f'{band} {n}' for band, n in counts.items())})")
        if len(kept) >= plan.prompts_per_step:
            break
    else:
        return rate, None, len(kept), counts, {"chosen": None, "tried": tried}
    if choice != "plain":  # every held-out set is asked the same way; the examples come from the train split
        for name, path in files.items():
            if name != "train":
                write_tasks(few_shot(load_tasks(path), examples), path)
        print(f"  training and held-out prompts now start with {plan.few_shot} worked examples (the {choice} "
              f"prompt); the base model earned the reward on {len(kept)} of {len(tasks)} prompts with it")
    curated = root / "tasks" / "train_curated.jsonl"
    write_tasks(kept, curated)
    return rate, curated, len(kept), counts, {"chosen": choice, "tried": tried}


def cannot_train(record: dict[str, Any], root: Path) -> str:
    """The closing lines when no prompt gave GRPO a signal: what was tried, and no verdict."""
    tried = record["prompt"]["tried"]
    said = "; ".join(f"{choice} prompt: base reward {t['base_rate']:.3f}, {t['kept']} of {t['of']} prompts with "
                     "unequal rewards" for choice, t in tried.items())
    return (f"== {record['model']} cannot be trained on this task as set ==\n"
            f"  {said}.\n  GRPO learns only from groups whose rewards differ; with fewer than "
            f"{record['plan']['prompts_per_step']} such prompts it would train on almost nothing, so nothing was "
            "trained and there is no verdict. Give the model a prompt it can answer in, a format it writes, or a "
            f"short SFT first (`rlvr distill`).\n  everything is in {root}/ ; wall time "
            f"{record['timings_s']['total'] / 60:.1f} min")


def _config_yaml(model: str, curated: Path, files: dict[str, Path], plan: Plan, seed: int, root: Path) -> str:
    config = {
        "model": model,
        "sampling": {"temperature": 1.0, "max_new_tokens": plan.max_new_tokens, "batch_size": BATCH_ROWS},
        "algo": {"group_size": plan.group_size, "beta": 0.0, "clip_high": 0.28},
        "optim": {"lr": plan.lr, "warmup_steps": 2, "micro_batch": 16},
        "data": {"train": str(curated), "eval": [str(p) for n, p in files.items() if n != "train"],
                 "eval_k": plan.eval_k, "prompts_per_step": plan.prompts_per_step, "reward": REWARD},
        "run": {"output_dir": str(root / "real"), "steps": plan.steps, "checkpoint_every": plan.steps,
                "keep_checkpoints": 1, "checkpoint_optimizer": False, "seed": seed},
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


def _short(analysis: dict[str, Any]) -> str:
    """"inconclusive, +0.037 [-0.046, +0.119]": a decision beside its numbers."""
    low, high = analysis["interval"]
    return f"{analysis['gain']:+.3f} [{low:+.3f}, {high:+.3f}] {analysis['decision'].replace('_', ' ')}"


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
    """The closing paragraph: what training bought, in plain words. Every claim is a decision over seeds and
    held-out problems (gain, loss, no gain beyond delta, inconclusive); one seed's numbers are shown only as
    an illustration, with no verdict word; capability is decided on the format-neutral reading."""
    sets = record["comparison"]["sets"]
    spurious = record["spurious"]
    seeds = spurious.get("seeds", [0])
    real = spurious["arms"][0]
    barely = bool(real.get("barely_trained"))  # no verdict word beside what barely trained
    k = spurious["k"]
    problems = real["neutral"]["gain_pass@1"].get("analysis", {}).get("problems")
    lines = [f"== what {record['plan']['steps']} GRPO steps bought {record['model']} "
             f"({len(seeds)} seed{'s' if len(seeds) > 1 else ''}"
             + (f" x {problems} held-out problems" if problems else "") + ") ==",
             "  strict: the task's verifier (a bare number); neutral: the answer read in any format (attribution only)"]
    prompt = record.get("prompt") or {}
    if prompt.get("chosen", "plain") != "plain":
        tried = prompt["tried"]
        lines.append(f"  prompt: {prompt['chosen']} (the plain prompt gave {tried['plain']['kept']} of "
                     f"{tried['plain']['of']} prompts a signal, the {prompt['chosen']} prompt "
                     f"{tried[prompt['chosen']]['kept']}); base and trained are asked the same way")
    lines.append(f"  seed {seeds[0]} alone (an illustration: one seed decides nothing):")
    for set_name, c in sets.items():
        at_k, n = f"pass@{c['k']}", c["neutral"]
        lines.append(f"    {set_name:<8} ({c['tasks']} tasks)  strict pass@1 {c['base']['pass@1']:.3f} -> "
                     f"{c['trained']['pass@1']:.3f}, {at_k} {c['base'][at_k]:.3f} -> {c['trained'][at_k]:.3f} | "
                     f"neutral pass@1 {n['base']['pass@1']:.3f} -> {n['trained']['pass@1']:.3f}, {at_k} "
                     f"{n['base'][at_k]:.3f} -> {n['trained'][at_k]:.3f}")
    headline = next(iter(sets.values()))
    f = headline["format"]
    lines.append(f"    its strict pass@1 change {f['strict_gain']:+.3f} = format {f['format']:+.3f} (answers the base "
                 f"had right but not as a bare number) + accuracy {f['accuracy']:+.3f} (format-neutral pass@1 change) - "
                 f"{f['unread_after']:.3f} still unreadable after training")
    if record["base_rate"] == 0:
        lines.append("  the base model never earned any reward on the training prompts (p = 0): every group had "
                     "equal rewards, so GRPO had no signal to learn from (see the health warnings in the report).")
    lines.append(f"  held-out gain per arm: mean [95 % interval over seeds and problems] decision at delta "
                 f"{spurious.get('delta', 0.05):.2f}; what it trained on:")
    for arm in spurious["arms"]:
        parts = []
        for reading, metric in (("strict", "pass@1"), ("neutral", "pass@1"), ("neutral", "pass@k")):
            g = arm[reading][f"gain_{metric}"]
            shown = metric if metric == "pass@1" else f"pass@{k}"
            if arm.get("barely_trained") or "analysis" not in g:
                spread = f" [{g['interval'][0]:+.3f}, {g['interval'][1]:+.3f}]" if g.get("interval") else ""
                parts.append(f"{reading} {shown} {g['mean']:+.3f}{spread}")
            else:
                parts.append(f"{reading} {shown} {_short(g['analysis'])}")
        weak = ", TOO WEAK TO CONCLUDE" if arm.get("too_weak") else ""
        weak += ", BARELY TRAINED: NO VERDICT" if arm.get("barely_trained") else ""
        lines.append(f"    {arm['name']:<7}{'; '.join(parts)}; trained {arm['rows_trained']} rows, informative "
                     f"groups {arm['informative_frac']:.2f}{weak}")
    if not barely:
        lines += [f"  decisions over seeds and problems, at delta {spurious.get('delta', 0.05):.2f}:"]
        lines += [f"    {line}" for line in _decided(spurious)]
    lines.append(f"  conclusion: {spurious['conclusion']}")
    for warning in spurious["warnings"]:
        lines.append(f"  warning: {warning}.")
    lines += _plan_lines(spurious, barely)
    if record["report"]:
        lines.append(f"  report: {record['report']} (open it in a browser; it works offline)")
    lines.append(f"  everything is in {root}/ ; wall time {record['timings_s']['total'] / 60:.1f} min")
    return "\n".join(lines)


def _decided(spurious: dict[str, Any]) -> list[str]:
    """The three questions, each a decision sentence over seeds and problems: did the answer's format move
    (strict pass@1, the real arm and the format-only control), did accuracy (format-neutral pass@1), did
    search (format-neutral pass@k)."""
    from rlvr.evaluate.decide import decision_sentence

    real, k = spurious["arms"][0], spurious["k"]
    more = "the last lines say what a decision would take"
    out = []
    strict = real["strict"]["gain_pass@1"]
    if "analysis" in strict:
        out.append("format: " + decision_sentence("the real arm", strict["analysis"], "strict", more=more))
    for arm in spurious["arms"][1:]:
        g = arm["strict"]["gain_pass@1"]
        if arm["name"] == "format" and "analysis" in g and not arm.get("barely_trained"):
            out.append("format: " + decision_sentence("the format-only control", g["analysis"], "strict",
                                                      more=more))
    out.append("accuracy: " + decision_sentence("the real arm", real["neutral"]["gain_pass@1"]["analysis"],
                                                more=more))
    search = real["neutral"]["gain_pass@k"]
    if "analysis" in search:
        out.append("search: " + decision_sentence("the real arm", search["analysis"], measure=f"held-out pass@{k}",
                                                  more=more))
    return out
