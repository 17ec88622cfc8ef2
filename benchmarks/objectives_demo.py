"""The trainer's objectives on the demo's configuration: each against GRPO, over seeds and held-out problems.

    python benchmarks/objectives_demo.py [--seeds 3] [--output-dir runs/objectives]
    python benchmarks/objectives_demo.py --analyse runs/objectives     # the table again, from finished runs

Makes the demo's tasks and curated training prompts once per seed (rlvr.workflows.demo: single-digit
additions, the bundled SmolLM2-135M-Instruct, the gated format + correctness reward), then trains the demo's
GRPO config once per (variant, seed), each variant one config override away from GRPO. The base evaluation is
measured once per seed and shared (every variant starts from the same model). `--variants GRPO bf16` runs only
the variants whose names contain a given word (the bf16-sampler rows are not in the default set: a bf16 sampler
draws other samples, so its rows are compared with GRPO under the same sampler only).

Every variant is compared with GRPO on the same seeds and the same held-out problems (paired: GRPO's trained
pass rates play the base's part in `rlvr.evaluate.decide.analyse_gain`): the difference in format-neutral
held-out pass@1 and pass@8, one 95 % interval over seeds and problems, the three-way decision at delta (0.05),
the probability that the variant beats GRPO on a problem (rliable's), and, when undecided, the seeds and problems
a decision would need. Each variant's own gain over the base model is decided the same way. Prints per run the
final entropy, the pass rates (base -> trained), the rows trained and the median seconds per step.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import time
from pathlib import Path

from rlvr._errors import ConfigError
from rlvr._io import replace_own_folder

VARIANTS = {
    "GRPO": (),
    "entropy control: Clip-Cov": ("algo.entropy_control=clip_cov",),
    "entropy control: 80/20 mask": ("algo.top_entropy_fraction=0.2",),
    "GSPO (sequence ratio)": ("algo.ratio_level=sequence",),
    "mismatch correction (TIS)": ("algo.mismatch=tis",),
    "W-REINFORCE": ("algo.advantage=w_reinforce",),
    "pass@k advantage (k = 4)": ("algo.advantage=pass_at_k", "algo.advantage.k=4"),
    # A bf16 sampler (the trainer's update is bf16 on this CPU too, float32 master weights): with and without TIS.
    "bf16 sampling, no correction": ("sampling.precision=bf16", "algo.mismatch=none"),  # bf16 alone now gets TIS
    "bf16 sampling + TIS": ("sampling.precision=bf16", "algo.mismatch=tis"),
}
DEFAULT = [name for name in VARIANTS if "bf16" not in name]
SET = "heldout"


def _folder(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9@=.-]+", "_", name.split(" (")[0]).strip("_")


def run(args: argparse.Namespace) -> None:
    from rlvr.train.config import load_config
    from rlvr.train.trainer import train
    from rlvr.workflows.demo import FULL, _config_yaml, _curate, _make_tasks

    root = replace_own_folder(args.output_dir, lambda name: name == "variants.json" or name.startswith("seed"),
                              "--output-dir")
    chosen = [n for n in VARIANTS if (any(v.lower() in n.lower() for v in args.variants) if args.variants
                                      else n in DEFAULT)]
    (root / "variants.json").write_text(json.dumps(chosen))
    for seed in range(args.seeds):
        folder = root / f"seed{seed}"
        folder.mkdir()
        files = _make_tasks(folder / "tasks", FULL, seed)
        _, curated, _, _, _ = _curate(args.model, files, folder, FULL, seed, progress=False)
        config_path = folder / "grpo.yaml"
        config_path.write_text(_config_yaml(args.model, curated, files, FULL, seed, folder))
        shared_bases: dict[tuple[str, ...], Path] = {}  # by sampling overrides: a bf16 sampler measures its own base
        for name in chosen:
            overrides = VARIANTS[name]
            sampling = tuple(o for o in overrides if o.startswith("sampling."))
            shared_base = shared_bases.get(sampling)
            run_dir = folder / _folder(name)
            config = load_config(config_path, [f"run.output_dir={run_dir}", f"run.steps={FULL.steps}",
                                               f"run.checkpoint_every={FULL.steps}", *overrides])
            if shared_base is not None:  # the same base model and sampler settings: measured once per seed
                (run_dir / "eval").mkdir(parents=True)
                shutil.copyfile(shared_base, run_dir / "eval" / "base.json")
            print(f"\n== seed {seed}: {name} {' '.join(overrides)}", flush=True)
            start = time.perf_counter()
            train(config, progress=False)
            (run_dir / "wall_s").write_text(f"{time.perf_counter() - start:.1f}\n")
            shared_bases.setdefault(sampling, run_dir / "eval" / "base.json")


def _load(root: Path) -> tuple[list[str], list[int]]:
    chosen = json.loads((root / "variants.json").read_text())
    seeds = sorted(int(p.name[4:]) for p in root.glob("seed*") if (p / _folder(chosen[0]) / "eval" / "final.json")
                   .exists())
    return chosen, seeds


def _eval(run_dir: Path, name: str) -> dict:
    return json.loads((run_dir / "eval" / f"{name}.json").read_text())


def rows(root: Path) -> list[dict]:
    """One row per finished (variant, seed): entropy, pass rates base -> trained, rows trained, s/step."""
    from rlvr.evaluate.gains import compare_sets

    chosen, seeds = _load(root)
    out = []
    for seed in seeds:
        for name in chosen:
            run_dir = root / f"seed{seed}" / _folder(name)
            if not (run_dir / "eval" / "final.json").exists():
                continue
            metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
            c = compare_sets(_eval(run_dir, "base"), _eval(run_dir, "final"), resamples=10)["sets"][SET]
            k = c["k"]
            out.append({"variant": name, "seed": seed, "entropy": (metrics[0]["entropy"], metrics[-1]["entropy"]),
                        "neutral@1": (c["neutral"]["base"]["pass@1"], c["neutral"]["trained"]["pass@1"]),
                        "neutral@k": (c["neutral"]["base"][f"pass@{k}"], c["neutral"]["trained"][f"pass@{k}"]),
                        "strict@1": (c["base"]["pass@1"], c["trained"]["pass@1"]), "k": k,
                        "rows": sum(m.get("rows/trained", 0) for m in metrics),
                        "step_s": statistics.median(m["time/step_s"] for m in metrics),
                        "wall_s": float((run_dir / "wall_s").read_text()) if (run_dir / "wall_s").exists() else None})
    return out


def against(root: Path, delta: float = 0.05) -> list[dict]:
    """Per variant: its gain over the base model and its difference from GRPO, each over seeds and problems."""
    from rlvr.evaluate.gains import gain_over_seeds, pass_counts

    chosen, seeds = _load(root)
    reference = "GRPO" if "GRPO" in chosen else chosen[0]
    out = []
    for name in chosen:
        dirs = [root / f"seed{s}" / _folder(name) for s in seeds]
        if not all((d / "eval" / "final.json").exists() for d in dirs):
            continue
        grpo = [root / f"seed{s}" / _folder(reference) / "eval" / "final.json" for s in seeds]
        own = [pass_counts(_eval(d, "base"), _eval(d, "final"))[SET] for d in dirs]
        vs = [pass_counts(json.loads(g.read_text()), _eval(d, "final"))[SET] for g, d in zip(grpo, dirs)]
        k = min(min(c["n_trained"]) for c in own)
        result = {"variant": name, "seeds": len(seeds), "reference": reference}
        for label, counts in (("gain", own), ("vs_grpo", vs)):
            if label == "vs_grpo" and name == reference:
                continue
            result[label] = {"pass@1": gain_over_seeds(counts, "neutral", delta=delta),
                             f"pass@{k}": gain_over_seeds(counts, "neutral", delta=delta, k=k),
                             "strict pass@1": gain_over_seeds(counts, "strict", delta=delta)}
        out.append(result)
    return out


def table(root: Path, delta: float = 0.05) -> str:
    from rlvr.evaluate.decide import interval_text as _d
    from rlvr.evaluate.decide import plan_text

    per_run = rows(root)
    lines = [f"{'variant':<30} {'seed':>4} {'entropy':>11} {'neutral p@1':>13} {'neutral p@k':>13} "
             f"{'strict p@1':>13} {'rows':>5} {'s/step':>6}"]
    for r in per_run:
        def change(key: str) -> str:
            return f"{r[key][0]:.3f}->{r[key][1]:.3f}"
        lines.append(f"{r['variant']:<30} {r['seed']:>4} {r['entropy'][0]:>5.2f}->{r['entropy'][1]:<4.2f} "
                     f"{change('neutral@1'):>13} {change('neutral@k'):>13} {change('strict@1'):>13} {r['rows']:>5} "
                     f"{r['step_s']:>6.1f}")
    decided = against(root, delta)
    if not decided:
        return "\n".join(lines)
    k = per_run[0]["k"]
    lines += ["", f"over {decided[0]['seeds']} seeds x the held-out problems: mean [95 % interval] decision at delta "
                  f"{delta:.2f}; P = P(variant beats {decided[0]['reference']} on a problem) [95 %]"]
    trained = {}
    for r in per_run:
        trained.setdefault(r["variant"], []).append(r["rows"])
    for r in decided:
        gain = r["gain"]
        rows_seen = trained.get(r["variant"], [])
        idle = [str(seed) for seed, n in enumerate(rows_seen) if n == 0]
        lines.append(f"{r['variant']:<30} gain over base: neutral p@1 {_d(gain['pass@1'])}; p@{k} "
                     f"{_d(gain[f'pass@{k}'])}; strict p@1 {_d(gain['strict pass@1'])}; rows trained per seed "
                     f"{', '.join(map(str, rows_seen))}"
                     + (f" (seed {', '.join(idle)} trained nothing: its row counts the recipe's failure to train)"
                        if idle else ""))
        if "vs_grpo" in r:
            vs = r["vs_grpo"]
            p, (low, high) = vs["pass@1"]["prob_improvement"], vs["pass@1"]["prob_improvement_interval"]
            lines.append(f"{'':<30} minus {r['reference']}: neutral p@1 {_d(vs['pass@1'])}; p@{k} {_d(vs[f'pass@{k}'])}; "
                         f"P {p:.2f} [{low:.2f}, {high:.2f}]")
    undecided = [r for r in decided if "vs_grpo" in r and r["vs_grpo"]["pass@1"]["decision"] == "inconclusive"]
    if undecided:
        worst = max(undecided, key=lambda r: r["vs_grpo"]["pass@1"]["mde"])
        lines += ["", f"to rank {worst['variant']} against GRPO at delta {delta:.2f} (neutral pass@1, the widest "
                      "interval):"] + ["  " + line for line in plan_text(worst["vs_grpo"]["pass@1"]).splitlines()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--output-dir", default="runs/objectives")
    parser.add_argument("--analyse", metavar="DIR", help="print the table of finished runs in DIR; train nothing")
    parser.add_argument("--delta", type=float, default=0.05)
    parser.add_argument("--variants", nargs="*", default=[],
                        help="run only the variants whose names contain one of these (case-insensitive)")
    args = parser.parse_args()
    if args.analyse:
        print(table(Path(args.analyse), args.delta))
        return
    from rlvr.cli._common import quiet_transformers

    quiet_transformers()
    start = time.perf_counter()
    try:
        run(args)
    except ConfigError as exc:  # a bad --output-dir: one sentence, exit 2, nothing deleted
        parser.error(str(exc))
    print(table(Path(args.output_dir), args.delta))
    print(f"\nwall time {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
