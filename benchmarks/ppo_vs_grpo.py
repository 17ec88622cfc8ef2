"""PPO (K = 1 and K = 4) and GRPO with a bf16 sampler, against GRPO on the demo's configuration, over seeds.

    python benchmarks/ppo_vs_grpo.py [--seeds 4] [--output-dir runs/ppo_vs_grpo]
    python benchmarks/ppo_vs_grpo.py --analyse runs/ppo_vs_grpo      # the table again, from finished runs
    python benchmarks/ppo_vs_grpo.py --quick --model PATH            # a smoke run: 2 steps, 1 seed, tiny tasks
    python benchmarks/ppo_vs_grpo.py --arms GRPO_bf16 --seeds 40 --more --output-dir DIR   # GRPO and one arm;
                                                                      # --more keeps DIR's finished seeds

Per seed it makes the demo's tasks and curated training prompts (rlvr.workflows.demo: single-digit additions,
the bundled SmolLM2-135M-Instruct, the gated format + correctness reward), adds a shifted set of two-digit
additions (`harder`), and trains four arms from the demo's GRPO config:

- GRPO: the demo's P prompts x K samples a step, sampled in float32 (the reference);
- PPO (K = 4): P x K / 4 prompts x 4 samples, a learned critic;
- PPO (K = 1): P x K prompts x 1 sample;
- GRPO (bf16 sampler): the reference with `sampling.precision=bf16` (a bfloat16 copy of the weights samples;
  the mismatch correction is on by default). Its held-out evaluations are redone in float32 after training
  (`rlvr eval --precision fp32` on its final weights; the base evaluation is the reference's), so every arm's
  final model is measured by the same sampler and the difference is what training with the bf16 sampler did.
  The trainer's own bf16 evaluations stay beside them as base_bf16.json and final_bf16.json.

Every arm samples the same number of rollouts per step for the same steps, so the generated-token budget is the
same up to the policies' lengths; the table prints the tokens each arm actually generated. Each arm runs in its
own process, so its peak resident memory (host RAM, from wait4) is its own. GPU memory is not measured: the
trainer logs no peak-allocated metric yet, so on a GPU read it with nvidia-smi beside the run.

The table: per set, held-out pass@1 and pass@k, format-neutral (the gain the demo reports) and strict, base ->
trained, per arm and seed; the median step time; the peak host memory; the mean reward at each step over seeds;
then each arm's gain over the base model and each arm minus GRPO over seeds and problems (rlvr.evaluate.gains,
the decision at delta 0.05, and when undecided the seeds and problems a decision would need). For the bf16
sampler the question is "did it lose learning?": its difference from GRPO is read as gain, loss, "no loss
beyond delta" (the interval's low end above -delta) or inconclusive, for held-out pass@1 and pass@k and for
the training reward (its mean over the steps, bf16 arm minus GRPO, paired by seed: a t interval over seeds).

`--arms` trains GRPO and the named arms only (by folder name: PPO_K4, PPO_K1, GRPO_bf16), so seeds go where the
question is. `--more` keeps the seeds already finished under --output-dir (same arms) and runs the rest up to
--seeds, so a long comparison can be run in parts; a seed left unfinished is run again from its start.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from rlvr._errors import ConfigError
from rlvr._io import replace_own_folder

REFERENCE = "GRPO"
BF16 = "GRPO (bf16 sampler)"
# (name, config overrides given the GRPO config's prompts per step P and group size K: the same rollouts a step)
ARMS = {
    REFERENCE: lambda p, k: (),
    "PPO (K = 4)": lambda p, k: ("algo.name=ppo", "algo.group_size=4", f"data.prompts_per_step={p * k // 4}"),
    "PPO (K = 1)": lambda p, k: ("algo.name=ppo", "algo.group_size=1", f"data.prompts_per_step={p * k}"),
    BF16: lambda p, k: ("sampling.precision=bf16",),
}
HARDER = 24  # two-digit additions: the shifted set


def _folder(name: str) -> str:
    return name.replace(" (K = ", "_K").replace(" (bf16 sampler)", "_bf16").rstrip(")")


ARMS_FILE = "arms.json"  # the arms a run trains, in --output-dir


def _folder_to_name() -> dict[str, str]:
    return {_folder(name): name for name in ARMS}


def _train(command: list[str], run_dir: Path, name: str, seed: int) -> None:
    print(f"\n== seed {seed}: {name}: {' '.join(command[4:])}", flush=True)
    process = subprocess.Popen(command, env=os.environ.copy())
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{name} failed at seed {seed}; its run directory is {run_dir}")
    (run_dir / "peak_rss_mb").write_text(f"{usage.ru_maxrss / 1024:.0f}\n")  # Linux: kilobytes


def _reevaluate_fp32(run_dir: Path, steps: int, base: Path, config: dict) -> None:
    """The bf16 arm's final weights evaluated as every other arm's: the float32 sampler, the same settings."""
    eval_dir = run_dir / "eval"
    for name in ("base", "final"):
        (eval_dir / f"{name}.json").rename(eval_dir / f"{name}_bf16.json")
    shutil.copyfile(base, eval_dir / "base.json")
    sampling = config["sampling"]
    command = [sys.executable, "-m", "rlvr.cli", "eval", "--model", str(run_dir / "checkpoints" / f"step-{steps}"),
               "--precision", "fp32", "--dtype", "float32", "--tasks", *config["data"]["eval"],
               "--k", str(config["data"]["eval_k"]),
               "--temperature", str(sampling["temperature"]), "--max-new-tokens", str(sampling["max_new_tokens"]),
               "--seed", str(config["run"]["seed"]), "--batch-size", str(sampling["batch_size"]),
               "-o", str(eval_dir / "final.json")]
    print(f"  {' '.join(command[3:])}", flush=True)
    subprocess.run(command, check=True)


def run(args: argparse.Namespace) -> None:
    import yaml

    from rlvr.tasks import make_tasks, write_tasks
    from rlvr.workflows.demo import FULL, QUICK, _config_yaml, _curate, _make_tasks

    plan = QUICK if args.quick else FULL
    arms = [REFERENCE, *args.arms]
    root = Path(args.output_dir)
    finished = set(_seeds(root)) if args.more and root.is_dir() else set()
    if finished and _arms(root) != arms:
        raise ConfigError(f"--more: {root} holds runs of the arms {', '.join(_arms(root))}, not "
                          f"{', '.join(arms)}; give the same --arms or a new --output-dir.")
    if not finished:
        root = replace_own_folder(root, lambda name: name.startswith("seed") or name == ARMS_FILE, "--output-dir")
        (root / ARMS_FILE).write_text(json.dumps(arms) + "\n")
    for seed in range(1 if args.quick else args.seeds):
        folder = root / f"seed{seed}"
        if seed in finished:
            continue
        shutil.rmtree(folder, ignore_errors=True)  # a seed left unfinished: from its start
        folder.mkdir()
        files = _make_tasks(folder / "tasks", plan, seed)  # the held-out set is every problem not trained on
        if not args.quick:  # the shifted set: the same problems for every seed, so seeds and problems cross
            files["harder"] = folder / "tasks" / "harder.jsonl"
            write_tasks(make_tasks("arithmetic", n=HARDER, seed=0, split="test", op="add", digits=2), files["harder"])
        _, curated, _, _, _ = _curate(args.model, files, folder, plan, seed, progress=False)
        if curated is None and not args.quick:
            sys.exit(f"seed {seed}: {args.model} gives no training signal on the demo's prompts (see "
                     f"{folder}); the demo's config cannot be trained as set")
        curated = curated or files["train"]  # --quick on a model that never earns a reward: the plain prompts
        config_path = folder / "grpo.yaml"
        config_path.write_text(_config_yaml(args.model, curated, files, plan, seed, folder))
        config = yaml.safe_load(config_path.read_text())
        prompts, k = config["data"]["prompts_per_step"], config["algo"]["group_size"]
        steps = 2 if args.quick else plan.steps
        base = None
        for name in arms:
            overrides, run_dir = ARMS[name], folder / _folder(name)
            if base is not None and name != BF16:  # the same base model and sampler: measured once per seed
                (run_dir / "eval").mkdir(parents=True)
                shutil.copyfile(base, run_dir / "eval" / "base.json")
            command = [sys.executable, "-m", "rlvr.cli", "train", str(config_path), f"run.output_dir={run_dir}",
                       f"run.steps={steps}", f"run.checkpoint_every={steps}", *overrides(prompts, k)]
            _train(command, run_dir, name, seed)
            if name == BF16:
                _reevaluate_fp32(run_dir, steps, base, config)
            shutil.rmtree(run_dir / "checkpoints")  # 0.5 GB an arm; the evaluations are kept
            base = base or run_dir / "eval" / "base.json"


def _eval(run_dir: Path, name: str) -> dict:
    return json.loads((run_dir / "eval" / f"{name}.json").read_text())


def _arms(root: Path) -> list[str]:
    """The arms trained under `root` (every arm for runs made before --arms existed)."""
    path = root / ARMS_FILE
    return json.loads(path.read_text()) if path.exists() else list(ARMS)


def _finished(run_dir: Path, name: str) -> bool:
    """Whether an arm's run is complete: trained (its peak memory written after the process ended) and finally
    evaluated (the bf16 arm: its float32 evaluation written beside its own, which the trainer's final.json
    became), so a table made while a run goes on reads only finished seeds."""
    done = [run_dir / "peak_rss_mb", run_dir / "eval" / "final.json"]
    return all(p.exists() for p in done + ([run_dir / "eval" / "final_bf16.json"] if name == BF16 else []))


def _seeds(root: Path) -> list[int]:
    arms = _arms(root)
    return sorted(int(p.name[4:]) for p in root.glob("seed*")
                  if p.name[4:].isdigit() and all(_finished(p / _folder(n), n) for n in arms))


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]


def _sets(root: Path) -> dict[str, bool]:
    """The evaluated sets, each with whether every seed evaluated the same problems (only then do seeds and
    problems cross, and a decision over both exists)."""
    from rlvr.evaluate.gains import pass_counts

    ids = [pass_counts(_eval(d, "base"), _eval(d, "final"))
           for d in (root / f"seed{s}" / _folder(REFERENCE) for s in _seeds(root))]
    return {name: all(sorted(c[name]["ids"]) == sorted(ids[0][name]["ids"]) for c in ids) for name in ids[0]}


def rows(root: Path, name_of_set: str) -> list[dict]:
    """One row per (arm, seed): pass rates base -> trained, generated tokens, median step time, peak memory."""
    import yaml

    from rlvr.evaluate.gains import compare_sets

    out = []
    for seed in _seeds(root):
        for name in _arms(root):
            run_dir = root / f"seed{seed}" / _folder(name)
            metrics = _metrics(run_dir)
            config = yaml.safe_load((run_dir / "config.yaml").read_text())
            rollouts = config["data"]["prompts_per_step"] * config["algo"]["group_size"]
            c = compare_sets(_eval(run_dir, "base"), _eval(run_dir, "final"), resamples=10)["sets"][name_of_set]
            k = c["k"]
            out.append({"arm": name, "seed": seed, "k": k,
                        "neutral@1": (c["neutral"]["base"]["pass@1"], c["neutral"]["trained"]["pass@1"]),
                        "neutral@k": (c["neutral"]["base"][f"pass@{k}"], c["neutral"]["trained"][f"pass@{k}"]),
                        "strict@1": (c["base"]["pass@1"], c["trained"]["pass@1"]),
                        "tokens": sum(m["len/mean"] * rollouts for m in metrics),
                        "step_s": statistics.median(m["time/step_s"] for m in metrics),
                        "generate_s": statistics.median(m["time/generate_s"] for m in metrics),
                        "rss_mb": float((run_dir / "peak_rss_mb").read_text())})
    return out


def reward_curves(root: Path) -> dict[str, list[float]]:
    """Per arm, the mean training reward at each step, averaged over seeds."""
    seeds = _seeds(root)
    out = {}
    for name in _arms(root):
        per_seed = [[m["reward/mean"] for m in _metrics(root / f"seed{s}" / _folder(name))] for s in seeds]
        out[name] = [statistics.mean(step) for step in zip(*per_seed)]
    return out


def against(root: Path, name_of_set: str, delta: float = 0.05) -> list[dict]:
    """Per arm: its gain over the base model, and its difference from GRPO, over seeds and problems."""
    from rlvr.evaluate.gains import gain_over_seeds, pass_counts

    seeds = _seeds(root)
    out = []
    for name in _arms(root):
        dirs = [root / f"seed{s}" / _folder(name) for s in seeds]
        grpo = [_eval(root / f"seed{s}" / _folder(REFERENCE), "final") for s in seeds]
        own = [pass_counts(_eval(d, "base"), _eval(d, "final"))[name_of_set] for d in dirs]
        vs = [pass_counts(g, _eval(d, "final"))[name_of_set] for g, d in zip(grpo, dirs)]
        k = min(min(c["n_trained"]) for c in own)
        result = {"arm": name, "seeds": len(seeds), "k": k}
        for label, counts in (("gain", own), ("vs_grpo", vs)):
            if label == "vs_grpo" and name == REFERENCE:
                continue
            result[label] = {"pass@1": gain_over_seeds(counts, "neutral", delta=delta),
                             f"pass@{k}": gain_over_seeds(counts, "neutral", delta=delta, k=k)}
        out.append(result)
    return out


def loss_text(analysis: dict, delta: float) -> str:
    """A difference read as "did it lose?": gain (low > 0), loss (high < 0), no loss beyond delta
    (low > -delta: any loss is under delta), else inconclusive; each wrong at most 2.5 % of the time."""
    low, high = analysis["interval"]
    word = ("gain" if low > 0 else "loss" if high < 0 else f"no loss beyond {delta:.2f}" if low > -delta
            else "inconclusive")
    return f"{analysis['gain']:+.3f} [{low:+.3f}, {high:+.3f}] {word}"


def table(root: Path, delta: float = 0.05) -> str:
    from rlvr.evaluate.decide import interval_text as _d
    from rlvr.evaluate.decide import plan_text

    seeds = _seeds(root)
    if not seeds:
        return f"no finished seed under {root}"
    lines = []
    for name_of_set, crossed in _sets(root).items():
        per_run = rows(root, name_of_set)
        lines += [f"== {name_of_set}", f"{'arm':<20} {'seed':>4} {'neutral p@1':>13} {'neutral p@k':>13} "
                  f"{'strict p@1':>13} {'gen tokens':>10} {'s/step':>6} {'s/gen':>5} {'peak RSS MB':>11}"]
        for r in per_run:
            def change(key: str, r: dict = r) -> str:
                return f"{r[key][0]:.3f}->{r[key][1]:.3f}"
            lines.append(f"{r['arm']:<20} {r['seed']:>4} {change('neutral@1'):>13} {change('neutral@k'):>13} "
                         f"{change('strict@1'):>13} {r['tokens']:>10.0f} {r['step_s']:>6.1f} "
                         f"{r['generate_s']:>5.1f} {r['rss_mb']:>11.0f}")
        if not crossed:
            lines += ["", f"(the seeds' {name_of_set} sets hold different problems: no decision over seeds and "
                          "problems; runs made before the shifted set was fixed drew it per seed)", ""]
            continue
        decided = against(root, name_of_set, delta)
        k = decided[0]["k"]
        lines += ["", f"over {decided[0]['seeds']} seeds x the {name_of_set} problems, format-neutral: mean "
                      f"[95 % interval] decision at delta {delta:.2f}"]
        for r in decided:
            gain = r["gain"]
            lines.append(f"{r['arm']:<20} gain over base: p@1 {_d(gain['pass@1'])}; p@{k} {_d(gain[f'pass@{k}'])}")
            if "vs_grpo" in r:
                cell = (lambda a: loss_text(a, delta)) if r["arm"] == BF16 else _d  # did bf16 sampling lose?
                mde = r["vs_grpo"]["pass@1"]["mde"]  # the smallest difference these seeds detect at 80 % power
                lines.append(f"{'':<20} minus GRPO:     p@1 {cell(r['vs_grpo']['pass@1'])}; "
                             f"p@{k} {cell(r['vs_grpo'][f'pass@{k}'])}; detectable p@1 difference "
                             + (f"{mde:.2f}" if mde is not None and mde <= 1 else "above 1"))
        undecided = [r for r in decided if "vs_grpo" in r and r["vs_grpo"]["pass@1"]["decision"] == "inconclusive"]
        if undecided:
            worst = max(undecided, key=lambda r: r["vs_grpo"]["pass@1"]["mde"])
            plan = plan_text(worst["vs_grpo"]["pass@1"]).splitlines()
            lines += ["", f"to rank {worst['arm']} against GRPO at delta {delta:.2f} (neutral pass@1, "
                          f"{name_of_set}):"] + ["  " + line for line in plan]
        lines.append("")
    lines.append("training reward by step, mean over seeds:")
    for name, curve in reward_curves(root).items():
        lines.append(f"{name:<20} " + " ".join(f"{r:.3f}" for r in curve))
    if BF16 in _arms(root) and len(seeds) > 1:
        lines.append(f"training reward (mean over the steps), {BF16} minus GRPO over {len(seeds)} seeds: "
                     + loss_text(reward_difference(root), delta))
    return "\n".join(lines)


def reward_difference(root: Path) -> dict:
    """The bf16 arm's mean training reward over the steps minus GRPO's, paired by seed (the same curated prompts):
    the mean and a 95 % t interval over seeds. The rewards are of each arm's own samples: the bf16 arm's are the
    bf16 sampler's."""
    from rlvr.evaluate.decide import t_quantile

    def mean_reward(name: str, seed: int) -> float:
        return statistics.mean(m["reward/mean"] for m in _metrics(root / f"seed{seed}" / _folder(name)))

    d = [mean_reward(BF16, s) - mean_reward(REFERENCE, s) for s in _seeds(root)]
    mean, spread = statistics.mean(d), t_quantile(0.975, len(d) - 1) * statistics.stdev(d) / len(d) ** 0.5
    return {"gain": mean, "interval": [mean - spread, mean + spread]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--output-dir", default="runs/ppo_vs_grpo")
    parser.add_argument("--quick", action="store_true", help="the demo's quick plan, 2 steps, one seed")
    parser.add_argument("--analyse", metavar="DIR", help="print the table of finished runs under DIR")
    parser.add_argument("--delta", type=float, default=0.05)
    parser.add_argument("--arms", type=lambda text: text.split(","), default=None,
                        help="train GRPO and only these arms (comma-separated folder names: "
                             + ", ".join(f for f in _folder_to_name() if f != _folder(REFERENCE)) + ")")
    parser.add_argument("--more", action="store_true", help="keep the finished seeds under --output-dir")
    args = parser.parse_args()
    names = _folder_to_name()
    chosen = args.arms if args.arms is not None else [f for f in names if names[f] != REFERENCE]
    unknown = [a for a in chosen if a not in names or names[a] == REFERENCE]
    if unknown:
        parser.error(f"--arms: {unknown[0]!r} is not an arm; choose from "
                     + ", ".join(f for f in names if names[f] != REFERENCE) + ".")
    args.arms = [names[a] for a in dict.fromkeys(chosen)]
    if not args.analyse:
        try:
            run(args)
        except ConfigError as exc:  # a bad --output-dir: one sentence, exit 2, nothing deleted
            parser.error(str(exc))
    print(table(Path(args.analyse or args.output_dir), args.delta))


if __name__ == "__main__":
    main()
