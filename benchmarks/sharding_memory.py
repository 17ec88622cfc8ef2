"""Memory per rank and time per step of each accelerate recipe, against ddp.yaml, in the same run.

    python benchmarks/sharding_memory.py [--model smollm2-135m-instruct] [--steps 2] [--processes 2]

For each recipe in examples/accelerate/ (ddp, fsdp, deepspeed_zero2, deepspeed_zero3, the
last two when DeepSpeed is installed) it launches `--processes` processes in float32
(`--mixed_precision no`) that train `--steps` GRPO steps on single-digit addition with a KL
reference (algo.beta > 0) and a coin-flip reward (the `random` verifier, p = 0.5: every group
has rewards to compare, so every step trains; what is learnt does not matter here). Then,
with the trainer still alive, each process counts the bytes of every live tensor storage
(parameters, gradients, optimizer state, the reference, anything else; each storage once).
That is the state a rank keeps between steps; the peak during sampling is higher for the
sharded recipes, which gather the full weights to decode.

Prints, per recipe: live tensor GiB on each rank, the ratio to ddp.yaml, and the median
step time and its ratio to ddp.yaml. On a CPU the processes share the same cores, so the
time ratio shows the cost of the collectives, not what a GPU cluster would see.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ["ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3"]


def live_tensor_bytes() -> int:
    """Bytes of every tensor storage alive in this process, each storage counted once."""
    import torch

    gc.collect()
    seen: dict[int, int] = {}
    for obj in gc.get_objects():
        try:
            if not isinstance(obj, torch.Tensor):
                continue
            tensor = obj._local_tensor if hasattr(obj, "_local_tensor") else obj  # a DTensor's own shard
            storage = tensor.untyped_storage()
            seen[storage.data_ptr()] = max(seen.get(storage.data_ptr(), 0), storage.nbytes())
        except Exception:  # noqa: BLE001 - objects that only look like tensors (meta, freed)
            continue
    return sum(seen.values())


def worker(config_file: str, out: str) -> None:
    from rlvr.train.config import load_config
    from rlvr.train.trainer import Trainer

    trainer = Trainer(load_config(config_file), progress=False)
    trainer.train()
    size = live_tensor_bytes()
    sizes = trainer.dist.gather([size])
    if trainer.dist.is_main:
        metrics = [json.loads(line) for line in (trainer.run_dir / "metrics.jsonl").read_text().splitlines()]
        if not all(m["rows/trained"] > 0 for m in metrics):
            raise SystemExit("a step trained no rows: the optimizer state was never built, so nothing to compare")
        Path(out).write_text(json.dumps({"bytes": sizes, "step_s": [m["time/step_s"] for m in metrics]}))
    trainer.dist.barrier()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--recipes", nargs="+", default=RECIPES, choices=RECIPES,
                        help="which to run (ddp always runs: it is the reference)")
    parser.add_argument("--worker", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    recipes = [r for r in RECIPES if (r == "ddp" or r in args.recipes)
               and (not r.startswith("deepspeed") or importlib.util.find_spec("deepspeed"))]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        train = tmp_path / "train.jsonl"
        subprocess.run([sys.executable, "-m", "rlvr.cli", "tasks", "make", "arithmetic", "op=add", "digits=1",
                        "--n", "32", "--split", "train", "-o", str(train)], check=True, capture_output=True)
        for recipe in recipes:
            config = {
                "model": args.model,
                "sampling": {"max_new_tokens": 16, "batch_size": 16},
                "algo": {"group_size": 4, "beta": 0.04},
                "optim": {"lr": 1e-5, "micro_batch": 4},
                "data": {"train": str(train), "prompts_per_step": 2 * args.processes,
                         "reward": {"name": "random", "p": 0.5}},
                "run": {"steps": args.steps, "checkpoint_every": 10**6, "seed": 0,
                        "output_dir": str(tmp_path / recipe)},
            }
            config_file, out = tmp_path / f"{recipe}.yaml", tmp_path / f"{recipe}.json"
            config_file.write_text(json.dumps(config))  # JSON is YAML
            recipe_file = ROOT / "examples" / "accelerate" / f"{recipe}.yaml"
            command = ["accelerate", "launch", "--config_file", str(recipe_file), "--num_processes",
                       str(args.processes), "--mixed_precision", "no", __file__, "--worker", str(config_file), str(out)]
            print(f"{recipe}: {args.steps} steps on {args.processes} processes ...", flush=True)
            proc = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"{recipe} failed:\n{proc.stderr[-3000:]}")
            results[recipe] = json.loads(out.read_text())
    base = results["ddp"]
    base_gib, base_s = max(base["bytes"]) / 2**30, statistics.median(base["step_s"])
    print(f"\n{args.model}, float32, {args.processes} processes, beta > 0 (a KL reference)")
    print(f"{'recipe':<17} {'live GiB per rank':<22} {'vs ddp':>7} {'step s':>8} {'vs ddp':>7}")
    for recipe, result in results.items():
        gib = [b / 2**30 for b in result["bytes"]]
        step_s = statistics.median(result["step_s"])
        print(f"{recipe:<17} {' / '.join(f'{g:.2f}' for g in gib):<22} {max(gib) / base_gib:>7.2f} "
              f"{step_s:>8.1f} {step_s / base_s:>7.2f}")


if __name__ == "__main__":
    main()
