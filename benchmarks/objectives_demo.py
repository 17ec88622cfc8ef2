"""Issue 17's objectives on the demo's configuration: GRPO as today vs each alternative, several seeds each.

    python benchmarks/objectives_demo.py [--seeds 2] [--steps 8] [--output-dir runs/objectives]

Makes the demo's tasks and curated training prompts once (rlvr.workflows.demo: single-digit additions,
the bundled SmolLM2-135M-Instruct, the gated format + correctness reward), then trains the demo's GRPO
config once per (variant, seed), each variant one config override away from today's GRPO. The base
evaluation is measured once per seed and sampler precision, and shared (every variant starts from the
same model). `--variants GRPO bf16` runs only the variants whose names contain a given word. Prints per
variant and seed: the final entropy (Monte Carlo entropy of the sampled tokens at the last step), the
held-out and harder-set pass@1 and pass@8 on the format-neutral reading (base -> trained), the strict
held-out pass@1, the rows trained and the median seconds per step; then the mean across seeds.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import time
from pathlib import Path

VARIANTS = {
    "GRPO (today)": (),
    "entropy control: Clip-Cov": ("algo.entropy_control=clip_cov",),
    "entropy control: 80/20 mask": ("algo.top_entropy_fraction=0.2",),
    "GSPO (sequence ratio)": ("algo.ratio_level=sequence",),
    "mismatch correction (TIS)": ("algo.mismatch=tis",),
    "W-REINFORCE": ("algo.advantage=w_reinforce",),
    "pass@k advantage (k = 4)": ("algo.advantage=pass_at_k", "algo.pass_k=4"),
    # A bf16 sampler (the trainer's update is bf16 on this CPU too, float32 master weights): with and without TIS.
    "bf16 sampling, no correction": ("sampling.precision=bf16",),
    "bf16 sampling + TIS": ("sampling.precision=bf16", "algo.mismatch=tis"),
}


def _summary(record: dict, name: str) -> dict:
    return record["sets"][name]["summary"]


def run(args: argparse.Namespace) -> list[dict]:
    from rlvr.train.config import load_config
    from rlvr.train.trainer import train
    from rlvr.workflows.demo import FULL, _config_yaml, _curate, _make_tasks

    root = Path(args.output_dir)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    results = []
    for seed in range(args.seeds):
        folder = root / f"seed{seed}"
        folder.mkdir()
        files = _make_tasks(folder / "tasks", FULL, seed)
        _, curated, _, _ = _curate(args.model, files["train"], folder, FULL, seed, progress=False)
        config_path = folder / "grpo.yaml"
        config_path.write_text(_config_yaml(args.model, curated, files, FULL, seed, folder))
        shared_bases: dict[tuple[str, ...], Path] = {}  # by sampling overrides: a bf16 sampler measures its own base
        for name, overrides in VARIANTS.items():
            if args.variants and not any(v.lower() in name.lower() for v in args.variants):
                continue
            sampling = tuple(o for o in overrides if o.startswith("sampling."))
            shared_base = shared_bases.get(sampling)
            run_dir = folder / re.sub(r"[^A-Za-z0-9@=.-]+", "_", name.split(" (")[0]).strip("_")
            config = load_config(config_path, [f"run.output_dir={run_dir}", f"run.steps={args.steps}",
                                               f"run.checkpoint_every={args.steps}", *overrides])
            if shared_base is not None:  # the same base model and sampler settings: measured once per seed
                (run_dir / "eval").mkdir(parents=True)
                shutil.copyfile(shared_base, run_dir / "eval" / "base.json")
            print(f"\n== seed {seed}: {name} {' '.join(overrides)}", flush=True)
            start = time.perf_counter()
            train(config, progress=False)
            seconds = time.perf_counter() - start
            shared_bases.setdefault(sampling, run_dir / "eval" / "base.json")
            metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
            base = json.loads((run_dir / "eval" / "base.json").read_text())
            final = json.loads((run_dir / "eval" / "final.json").read_text())
            row = {"variant": name, "seed": seed, "wall_s": seconds,
                   "entropy_first": metrics[0]["entropy"], "entropy_last": metrics[-1]["entropy"],
                   "step_s": statistics.median(m["time/step_s"] for m in metrics),
                   "rows": sum(m.get("rows/trained", 0) for m in metrics)}
            for set_name in ("heldout", "harder"):
                for reading, pick in (("neutral", lambda s: s["neutral"]), ("strict", lambda s: s)):
                    for k in (1, 8):
                        row[f"{set_name}/{reading}/pass@{k}"] = (pick(_summary(base, set_name))[f"pass@{k}"]["value"],
                                                                pick(_summary(final, set_name))[f"pass@{k}"]["value"])
            results.append(row)
            print(json.dumps(row), flush=True)
    (root / "results.json").write_text(json.dumps(results, indent=1))
    return results


def table(results: list[dict]) -> str:
    def change(row: dict, key: str) -> str:
        before, after = row[key]
        return f"{before:.3f}->{after:.3f}"

    lines = [f"{'variant':<30} {'seed':>4} {'entropy':>11} {'held-out neutral p@1':>21} {'p@8':>13} "
             f"{'harder neutral p@1':>19} {'p@8':>13} {'strict p@1':>13} {'rows':>5} {'s/step':>6}"]
    for r in results:
        lines.append(f"{r['variant']:<30} {r['seed']:>4} {r['entropy_first']:>5.2f}->{r['entropy_last']:<4.2f} "
                     f"{change(r, 'heldout/neutral/pass@1'):>21} {change(r, 'heldout/neutral/pass@8'):>13} "
                     f"{change(r, 'harder/neutral/pass@1'):>19} {change(r, 'harder/neutral/pass@8'):>13} "
                     f"{change(r, 'heldout/strict/pass@1'):>13} {r['rows']:>5} {r['step_s']:>6.1f}")
    lines.append("\nmean across seeds (trained values; a seed's variants share a base, a bf16 sampler its own):")
    for name in VARIANTS:
        rows = [r for r in results if r["variant"] == name]
        if not rows:
            continue

        def mean(key: str, rows: list[dict] = rows) -> float:
            return statistics.mean(r[key][1] if isinstance(r[key], (list, tuple)) else r[key] for r in rows)

        lines.append(f"{name:<30} entropy {mean('entropy_last'):.2f}  held-out neutral p@1 "
                     f"{mean('heldout/neutral/pass@1'):.3f} p@8 {mean('heldout/neutral/pass@8'):.3f}  harder p@1 "
                     f"{mean('harder/neutral/pass@1'):.3f} p@8 {mean('harder/neutral/pass@8'):.3f}  s/step "
                     f"{mean('step_s'):.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--output-dir", default="runs/objectives")
    parser.add_argument("--variants", nargs="*", default=[],
                        help="run only the variants whose names contain one of these (case-insensitive)")
    args = parser.parse_args()
    from rlvr.cli._common import quiet_transformers

    quiet_transformers()
    print(table(run(args)))


if __name__ == "__main__":
    main()
