"""The reasoning-boundary question on CPU: does GRPO teach SmolLM2-135M-Instruct new answers, or sharpen old ones?

    python benchmarks/boundary_smollm2.py [--k 256] [--steps 8] [--output-dir runs/boundary]

Task: single-digit additions. Read format-neutrally the base model already has headroom there
(in `rlvr demo` its held-out pass@1 is about 0.24 and pass@8 about 0.86, while strictly, as a bare
number, it is almost 0), so pass@k can move both ways. Steps:

1. tasks: 64 train problems; the held-out set is every single-digit problem the train split
   does not hold (test + val, 29 problems);
2. GRPO as in `rlvr demo` (the gated format + correctness reward, 8 steps of 8 prompts x 8
   samples, 32 new tokens), one seed;
3. `rlvr eval` of the base and the trained model on the held-out set at K samples per problem;
4. `rlvr boundary` on the two files: pass@k curves with paired-bootstrap intervals, the crossover,
   solvability at K, support metrics, the chance level and CoT-pass@k, then the base likelihood of
   each model's correct completions.

Prints each stage's wall time and the cost of sampling per 1,000 samples. Whatever shape appears
is the result; one seed and 29 problems are a small sample, and the intervals say how small.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="runs/boundary")
    args = parser.parse_args()

    from rlvr.cli._common import quiet_transformers
    from rlvr.evaluate import EvalSettings, evaluate, write_eval
    from rlvr.evaluate.boundary import base_likelihood, boundary, format_boundary, format_likelihood
    from rlvr.models import HFEngine, SamplingParams, load_policy
    from rlvr.tasks import make_tasks, write_tasks
    from rlvr.train import final_model, train
    from rlvr.train.config import load_config
    from rlvr.workflows.demo import REWARD

    quiet_transformers()
    root = Path(args.output_dir)
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"{root} is not empty; give another --output-dir.")
    root.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()

    train_tasks = make_tasks("arithmetic", n=64, seed=args.seed, split="train", op="add", digits=1)
    heldout = (make_tasks("arithmetic", n=11, seed=args.seed, split="test", op="add", digits=1)
               + make_tasks("arithmetic", n=18, seed=args.seed, split="val", op="add", digits=1))
    write_tasks(train_tasks, root / "train.jsonl")
    write_tasks(heldout, root / "heldout.jsonl")

    t = time.perf_counter()
    config = load_config(None, [
        f"model={args.model}", "sampling.temperature=1.0", "sampling.max_new_tokens=32", "sampling.batch_size=32",
        "algo.group_size=8", "algo.beta=0.0", "algo.clip_high=0.28", "optim.lr=3e-5", "optim.warmup_steps=2",
        "optim.micro_batch=16", f"data.train={root / 'train.jsonl'}", "data.prompts_per_step=8",
        f"data.reward={json.dumps(REWARD)}", f"run.output_dir={root / 'grpo'}", f"run.steps={args.steps}",
        f"run.checkpoint_every={args.steps}", "run.keep_checkpoints=1", f"run.seed={args.seed}",
    ])
    train(config)
    timings["train"] = time.perf_counter() - t

    settings = EvalSettings(SamplingParams(n=args.k, max_new_tokens=32, seed=args.seed))
    records, policies = {}, {}
    for name, model in (("base", args.model), ("trained", str(final_model(root / "grpo")))):
        t = time.perf_counter()
        policies[name] = load_policy(model)
        records[name] = evaluate(HFEngine(policies[name]), heldout, settings, model_name=f"{name}: {model}",
                                 tasks_source=str(root / "heldout.jsonl"))
        write_eval(records[name], root / f"{name}.json")
        timings[f"eval_{name}"] = time.perf_counter() - t
        samples = len(heldout) * args.k
        print(f"{name}: {samples} samples in {timings[f'eval_{name}']:.0f} s "
              f"({1000 * records[name]['summary']['generate_s'] / samples:.0f} s of generation per 1,000 samples)",
              flush=True)

    t = time.perf_counter()
    result = boundary(records["base"], records["trained"])
    timings["boundary"] = time.perf_counter() - t
    t = time.perf_counter()
    prompts = {task.id: task.prompt for task in heldout}
    result["base_likelihood"] = base_likelihood(policies["base"], prompts, records["base"], records["trained"])
    timings["base_likelihood"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - start
    (root / "boundary.json").write_text(json.dumps({**result, "timings_s": timings}, indent=1))

    print()
    print(format_boundary({"sets": {"heldout": result}}))
    print()
    print(format_likelihood(result["base_likelihood"]))
    print()
    print("wall time: " + ", ".join(f"{name} {seconds / 60:.1f} min" for name, seconds in timings.items()))


if __name__ == "__main__":
    main()
