"""PPO (K = 1 and K = 4) against GRPO on the demo's configuration, at one generated-token budget, over seeds.

    python benchmarks/ppo_vs_grpo.py [--seeds 3] [--output-dir runs/ppo_vs_grpo]
    python benchmarks/ppo_vs_grpo.py --analyse runs/ppo_vs_grpo      # the table again, from finished runs
    python benchmarks/ppo_vs_grpo.py --quick --model PATH            # a smoke run: 2 steps, 1 seed, tiny tasks

Per seed it makes the demo's tasks and curated training prompts (rlvr.workflows.demo: single-digit additions,
the bundled SmolLM2-135M-Instruct, the gated format + correctness reward) and trains three arms from the demo's
GRPO config. Every arm samples the same number of rollouts per step (GRPO: the demo's P prompts x K; PPO K = 4:
P x K / 4 prompts; PPO K = 1: P x K prompts) for the same steps, so the generated-token budget is the same up to the
policies' lengths; the table prints the tokens each arm actually generated. Each arm runs in its own process,
so its peak resident memory (host RAM, from wait4) is its own. GPU memory is not measured: the trainer logs no
peak-allocated metric yet, so on a GPU read it with nvidia-smi beside the run.

The table: held-out pass@1 and pass@k, format-neutral (the gain the demo reports) and strict, base -> trained,
per arm and seed; the median step time; the peak host memory; then each arm's gain over the base model and each PPO
arm minus GRPO over seeds and problems (rlvr.evaluate.gains, the decision at delta 0.05, and when undecided
the seeds and problems a decision would need).
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

# (name, config overrides given the GRPO config's prompts per step P and group size K: the same rollouts a step)
ARMS = {
    "GRPO": lambda p, k: (),
    "PPO (K = 4)": lambda p, k: ("algo.name=ppo", "algo.group_size=4", f"data.prompts_per_step={p * k // 4}"),
    "PPO (K = 1)": lambda p, k: ("algo.name=ppo", "algo.group_size=1", f"data.prompts_per_step={p * k}"),
}
SET = "heldout"


def _folder(name: str) -> str:
    return name.replace(" (K = ", "_K").rstrip(")")


def run(args: argparse.Namespace) -> None:
    import yaml

    from rlvr.workflows.demo import FULL, QUICK, _config_yaml, _curate, _make_tasks

    plan = QUICK if args.quick else FULL
    root = replace_own_folder(args.output_dir, lambda name: name.startswith("seed"), "--output-dir")
    for seed in range(1 if args.quick else args.seeds):
        folder = root / f"seed{seed}"
        folder.mkdir()
        files = _make_tasks(folder / "tasks", plan, seed)
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
        for name, overrides in ARMS.items():
            run_dir = folder / _folder(name)
            if base is not None:  # the same base model and sampler: measured once per seed
                (run_dir / "eval").mkdir(parents=True)
                shutil.copyfile(base, run_dir / "eval" / "base.json")
            command = [sys.executable, "-m", "rlvr.cli", "train", str(config_path), f"run.output_dir={run_dir}",
                       f"run.steps={steps}", f"run.checkpoint_every={steps}", *overrides(prompts, k)]
            print(f"\n== seed {seed}: {name}: {' '.join(command[4:])}", flush=True)
            process = subprocess.Popen(command, env=os.environ.copy())
            _, status, usage = os.wait4(process.pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit(f"{name} failed at seed {seed}; its run directory is {run_dir}")
            (run_dir / "peak_rss_mb").write_text(f"{usage.ru_maxrss / 1024:.0f}\n")  # Linux: kilobytes
            base = base or run_dir / "eval" / "base.json"


def _eval(run_dir: Path, name: str) -> dict:
    return json.loads((run_dir / "eval" / f"{name}.json").read_text())


def _seeds(root: Path) -> list[int]:
    return sorted(int(p.name[4:]) for p in root.glob("seed*")
                  if all((p / _folder(n) / "eval" / "final.json").exists() for n in ARMS))


def rows(root: Path) -> list[dict]:
    """One row per (arm, seed): pass rates base -> trained, generated tokens, median step time, peak memory."""
    import yaml

    from rlvr.evaluate.gains import compare_sets

    out = []
    for seed in _seeds(root):
        for name in ARMS:
            run_dir = root / f"seed{seed}" / _folder(name)
            metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
            config = yaml.safe_load((run_dir / "config.yaml").read_text())
            rollouts = config["data"]["prompts_per_step"] * config["algo"]["group_size"]
            c = compare_sets(_eval(run_dir, "base"), _eval(run_dir, "final"), resamples=10)["sets"][SET]
            k = c["k"]
            out.append({"arm": name, "seed": seed, "k": k,
                        "neutral@1": (c["neutral"]["base"]["pass@1"], c["neutral"]["trained"]["pass@1"]),
                        "neutral@k": (c["neutral"]["base"][f"pass@{k}"], c["neutral"]["trained"][f"pass@{k}"]),
                        "strict@1": (c["base"]["pass@1"], c["trained"]["pass@1"]),
                        "tokens": sum(m["len/mean"] * rollouts for m in metrics),
                        "step_s": statistics.median(m["time/step_s"] for m in metrics),
                        "rss_mb": float((run_dir / "peak_rss_mb").read_text())})
    return out


def against(root: Path, delta: float = 0.05) -> list[dict]:
    """Per arm: its gain over the base model, and for PPO its difference from GRPO, over seeds and problems."""
    from rlvr.evaluate.gains import gain_over_seeds, pass_counts

    seeds = _seeds(root)
    reference = next(iter(ARMS))
    out = []
    for name in ARMS:
        dirs = [root / f"seed{s}" / _folder(name) for s in seeds]
        grpo = [root / f"seed{s}" / _folder(reference) / "eval" / "final.json" for s in seeds]
        own = [pass_counts(_eval(d, "base"), _eval(d, "final"))[SET] for d in dirs]
        vs = [pass_counts(json.loads(g.read_text()), _eval(d, "final"))[SET] for g, d in zip(grpo, dirs)]
        k = min(min(c["n_trained"]) for c in own)
        result = {"arm": name, "seeds": len(seeds), "k": k}
        for label, counts in (("gain", own), ("vs_grpo", vs)):
            if label == "vs_grpo" and name == reference:
                continue
            result[label] = {"pass@1": gain_over_seeds(counts, "neutral", delta=delta),
                             f"pass@{k}": gain_over_seeds(counts, "neutral", delta=delta, k=k)}
        out.append(result)
    return out


def table(root: Path, delta: float = 0.05) -> str:
    from rlvr.evaluate.decide import interval_text as _d
    from rlvr.evaluate.decide import plan_text

    per_run = rows(root)
    if not per_run:
        return f"no finished seed under {root}"
    lines = [f"{'arm':<14} {'seed':>4} {'neutral p@1':>13} {'neutral p@k':>13} {'strict p@1':>13} "
             f"{'gen tokens':>10} {'s/step':>6} {'peak RSS MB':>11}"]
    for r in per_run:
        def change(key: str) -> str:
            return f"{r[key][0]:.3f}->{r[key][1]:.3f}"
        lines.append(f"{r['arm']:<14} {r['seed']:>4} {change('neutral@1'):>13} {change('neutral@k'):>13} "
                     f"{change('strict@1'):>13} {r['tokens']:>10.0f} {r['step_s']:>6.1f} {r['rss_mb']:>11.0f}")
    decided = against(root, delta)
    k = decided[0]["k"]
    lines += ["", f"over {decided[0]['seeds']} seeds x the held-out problems, format-neutral: mean [95 % interval] "
                  f"decision at delta {delta:.2f}"]
    for r in decided:
        gain = r["gain"]
        lines.append(f"{r['arm']:<14} gain over base: p@1 {_d(gain['pass@1'])}; p@{k} {_d(gain[f'pass@{k}'])}")
        if "vs_grpo" in r:
            lines.append(f"{'':<14} minus GRPO:     p@1 {_d(r['vs_grpo']['pass@1'])}; "
                         f"p@{k} {_d(r['vs_grpo'][f'pass@{k}'])}")
    undecided = [r for r in decided if "vs_grpo" in r and r["vs_grpo"]["pass@1"]["decision"] == "inconclusive"]
    if undecided:
        worst = max(undecided, key=lambda r: r["vs_grpo"]["pass@1"]["mde"])
        lines += ["", f"to rank {worst['arm']} against GRPO at delta {delta:.2f} (neutral pass@1):"] + \
                 ["  " + line for line in plan_text(worst["vs_grpo"]["pass@1"]).splitlines()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--output-dir", default="runs/ppo_vs_grpo")
    parser.add_argument("--quick", action="store_true", help="the demo's quick plan, 2 steps, one seed")
    parser.add_argument("--analyse", metavar="DIR", help="print the table of finished runs under DIR")
    parser.add_argument("--delta", type=float, default=0.05)
    args = parser.parse_args()
    if not args.analyse:
        try:
            run(args)
        except ConfigError as exc:  # a bad --output-dir: one sentence, exit 2, nothing deleted
            parser.error(str(exc))
    print(table(Path(args.analyse or args.output_dir), args.delta))


if __name__ == "__main__":
    main()
