"""Seconds per GRPO step: rlvr's trainer vs TRL's GRPOTrainer, same model, prompts and settings.

    python benchmarks/trainer_vs_trl.py [--steps 5] [--prompts 4] [--k 8] [--max-new-tokens 64]

Both train SmolLM2-135M-Instruct (fp32) on the same single-digit addition prompts, with
K completions per prompt, the same completion length, temperature 1.0, top_k 0, beta 0,
learning rate and reward (rlvr's gated format + correctness reward, through the TRL
adapter for TRL). Prints each trainer's seconds per step and mean reward per step, and
the ratio ours / TRL of the median seconds per step (the first step is excluded as warm-up).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

REWARD = {
    "name": "compose",
    "parts": [
        {"name": "format", "verifier": {"name": "format", "answer": "bare", "pattern": "-?[0-9]+"}, "weight": 0.2},
        {"name": "correct", "verifier": {"name": "math", "answer": "bare"}, "weight": 0.8, "gate": True},
    ],
}


def run_ours(tasks_file: Path, out: Path, args: argparse.Namespace) -> tuple[list[float], list[float]]:
    from rlvr.train.config import load_config
    from rlvr.train.trainer import train

    config = load_config(None, [
        f"data.train={tasks_file}", f"data.prompts_per_step={args.prompts}", f"algo.group_size={args.k}",
        f"sampling.max_new_tokens={args.max_new_tokens}", "sampling.batch_size=32", "algo.beta=0",
        f"optim.lr={args.lr}", "optim.micro_batch=32", f"run.steps={args.steps}", f"run.output_dir={out}",
        "run.checkpoint_every=1000", f"data.reward={json.dumps(REWARD)}",  # JSON is YAML
    ])
    train(config, progress=True)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [m["time/step_s"] for m in metrics], [m["reward/mean"] for m in metrics]


def run_trl(tasks, out: Path, args: argparse.Namespace) -> tuple[list[float], list[float]]:
    import trl
    from datasets import Dataset
    from transformers import TrainerCallback

    from rlvr.integrations.trl import reward_func
    from rlvr.models import load_policy

    policy = load_policy("smollm2-135m-instruct", dtype="float32", device="cpu")
    dataset = Dataset.from_dict({
        "prompt": [[{"role": "user", "content": t.prompt}] for t in tasks],
        "solution": [t.reference for t in tasks],
    })
    step_times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_step_end(self, *a, **k):
            step_times.append(time.perf_counter() - self.start)

    config = trl.GRPOConfig(
        output_dir=str(out), per_device_train_batch_size=args.prompts * args.k, num_generations=args.k,
        max_completion_length=args.max_new_tokens, max_steps=args.steps, learning_rate=args.lr, beta=0.0,
        temperature=1.0, top_k=0, report_to=[], logging_steps=1, save_strategy="no", use_cpu=True, bf16=False,
        seed=0, gradient_accumulation_steps=1,
    )
    trainer = trl.GRPOTrainer(model=policy.model, processing_class=policy.tokenizer, args=config,
                              train_dataset=dataset, reward_funcs=[reward_func(REWARD, reference_column="solution")],
                              callbacks=[Clock()])
    trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    return step_times, rewards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-5)
    args = parser.parse_args()

    from transformers.utils import logging as hf_logging

    from rlvr.tasks import make_tasks, write_tasks

    hf_logging.set_verbosity_error()
    tasks = make_tasks("arithmetic", 64, op="add", digits=1, split="train")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        write_tasks(tasks, tmp_path / "train.jsonl")
        ours_s, ours_r = run_ours(tmp_path / "train.jsonl", tmp_path / "ours", args)
        trl_s, trl_r = run_trl(tasks, tmp_path / "trl", args)

    print(f"\n{args.prompts} prompts x {args.k} completions, {args.max_new_tokens} new tokens, {args.steps} steps")
    print(f"{'step':>4} | {'rlvr s':>7} {'reward':>7} | {'TRL s':>7} {'reward':>7}")
    for i in range(args.steps):
        print(f"{i + 1:>4} | {ours_s[i]:>7.1f} {ours_r[i]:>7.3f} | {trl_s[i]:>7.1f} {trl_r[i]:>7.3f}")
    ours_med, trl_med = statistics.median(ours_s[1:] or ours_s), statistics.median(trl_s[1:] or trl_s)
    print(f"median s/step: rlvr {ours_med:.1f}, TRL {trl_med:.1f}; ratio rlvr/TRL = {ours_med / trl_med:.2f} "
          f"(target <= 0.8); mean reward over the run: rlvr {statistics.mean(ours_r):.3f}, "
          f"TRL {statistics.mean(trl_r):.3f}")


if __name__ == "__main__":
    main()
