"""Seconds per GRPO step: rlvr's trainer vs TRL's GRPOTrainer, same model, prompts and settings, and
rlvr's step against its own floor (generation + one forward and backward over the rows it trained).

    python benchmarks/trainer_vs_trl.py [--steps 5] [--prompts 4] [--k 8] [--max-new-tokens 64]
                                        [--ablation] [--trl-bf16]

Both train SmolLM2-135M-Instruct on the same single-digit addition prompts, with K completions per
prompt, the same completion length, temperature 1.0, top_k 0, beta 0, learning rate and reward
(rlvr's gated format + correctness reward, through the TRL adapter for TRL). rlvr runs with its
defaults (bf16 autocast for the update where the CPU has native bf16, float32 weights); TRL in
float32 (and with --trl-bf16 also with `bf16=True`). Prints each trainer's seconds per step and mean
reward per step, and the ratio rlvr / TRL of the median seconds per step (the first step is excluded
as warm-up).

The floor, on the same rollouts: every step's generation time (`time/generate_s`) plus the time of
one bare forward and backward (bf16 autocast as the trainer, float32 log-probabilities, no
optimizer, no verification) over exactly the rows that step trained, rebuilt from samples.jsonl
(prompt tokens re-encoded, completion lengths as sampled), in the trainer's order and micro-batches
(rlvr.train.rollouts.bucketed: cut where the fewest positions run). When the
trainer shares prompts (optim.share_prompts, on by default with the fused head) the floor does the same
arithmetic: each distinct prompt of a micro-batch once, through head.shared_prompt_logprobs.
--ablation trains rlvr again with each optimisation of issues 16 and 28 switched off in turn.

Beside the ratios, rlvr's MFU: the medians of its `mfu/generate` and `mfu/update` metrics, the model
FLOPs of the step's sampling and update (rlvr/models/flops.py) per second over this host's peak
matrix-product rate, measured once by a short probe and cached (rlvr/train/runtime/mfu.py; printed
here), in the precision each phase multiplied in (the update: bf16 under autocast).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

REWARD = {
    "name": "compose",
    "parts": [
        {"name": "format", "verifier": {"name": "format", "answer": "bare", "pattern": "-?[0-9]+"}, "weight": 0.2},
        {"name": "correct", "verifier": {"name": "math", "answer": "bare"}, "weight": 0.8, "gate": True},
    ],
}


def add_settings(parser: argparse.ArgumentParser, steps: int) -> None:
    """The run's sizes, shared with benchmarks/update_profile.py."""
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-5)


def config_for(tasks_file: Path, out: Path, args: argparse.Namespace, *overrides: str):
    """rlvr's TrainConfig for this benchmark's settings (`add_settings`), plus config overrides."""
    from rlvr.train.config import load_config

    return load_config(None, [
        f"data.train={tasks_file}", f"data.prompts_per_step={args.prompts}", f"algo.group_size={args.k}",
        f"sampling.max_new_tokens={args.max_new_tokens}", "sampling.batch_size=32", "algo.beta=0",
        f"optim.lr={args.lr}", "optim.micro_batch=32", f"run.steps={args.steps}", f"run.output_dir={out}",
        "run.checkpoint_every=1000", f"data.reward={json.dumps(REWARD)}", *overrides,  # JSON is YAML
    ])


def run_ours(tasks_file: Path, out: Path, args: argparse.Namespace, *overrides: str) -> list[dict]:
    from rlvr.train.trainer import train

    train(config_for(tasks_file, out, args, *overrides), progress=True)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def floor_seconds(run_dir: Path, tasks_file: Path) -> list[float]:
    """Per step: one bare forward and backward over the rows that step trained (see the module docstring)."""
    import torch

    from rlvr.models import load_policy
    from rlvr.models.attention import grouped
    from rlvr.models.head import accumulating, shared_prompt_logprobs
    from rlvr.models.logprobs import left_pad, token_logprobs
    from rlvr.tasks import load_tasks
    from rlvr.train.config import load_config
    from rlvr.train.rollouts import bucketed, micro_batches
    from rlvr.train.runtime.precision import autocast, cast_once, use_autocast

    config = load_config(run_dir / "config.yaml")
    policy = load_policy(config.model, dtype=config.dtype, device="cpu")
    model = policy.model.train()
    bf16 = use_autocast(config.optim.mixed_precision, torch.float32, "cpu")
    prompts = {t.id: policy.encode(t.prompt) for t in load_tasks(tasks_file)}
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    share = config.optim.share_prompts and config.optim.fused_head  # the trainer ran each distinct prompt once
    seconds = []
    for step in range(1, config.run.steps + 1):
        rows = [s for s in samples if s["step"] == step and s["kept"] and s["advantage"] != 0]
        groups = list(dict.fromkeys(r["task_id"] for r in rows))  # the step's prompts, in order
        shape = SimpleNamespace(prompt_ids=[prompts[t] for t in groups], completion_ids=[
            [[0] * r["tokens"] for r in rows if r["task_id"] == t] for t in groups])
        index = [(groups.index(r["task_id"]), sum(q["task_id"] == r["task_id"] for q in rows[:i]))
                 for i, r in enumerate(rows)]
        if config.optim.bucket_by_length:  # the trainer's order and micro-batches (rollouts.bucketed)
            order, micros = bucketed(shape, index, config.optim.micro_batch, share)
        else:
            order, micros = index, micro_batches(len(index), config.optim.micro_batch)
        by_index = dict(zip(index, rows))
        first = {t: g for g, t in enumerate(groups)}
        start = time.perf_counter()
        # Each weight cast once a pass, a fused head's weight gradient added into .grad, and short bf16 passes
        # attending with the grouped products, as the trainer does.
        with cast_once(bf16, "cpu"), (accumulating(model) if share else contextlib.nullcontext()), grouped(model):
            for cut in micros:
                part = [by_index[r] for r in order[cut]]
                if share:  # any completion tokens: the time depends on the shape
                    batch = left_pad([prompts[r["task_id"]] for r in part],
                                     [[1 + j] * r["tokens"] for j, r in enumerate(part)])
                    batch["prompt_index"] = torch.tensor([first[r["task_id"]] for r in part])
                    logp = shared_prompt_logprobs(model, batch, 1.0, torch.bfloat16 if bf16 else None)
                    logp.mul(batch["attention"][:, -logp.shape[1]:]).sum().backward()
                    continue
                width = max(len(prompts[r["task_id"]]) for r in part)
                span = max(max(r["tokens"] for r in part), 1)
                ids = torch.zeros((len(part), width + span), dtype=torch.long)
                attention = torch.zeros_like(ids)
                for j, r in enumerate(part):
                    prompt = prompts[r["task_id"]]
                    ids[j, width - len(prompt) : width] = torch.tensor(prompt)
                    ids[j, width : width + r["tokens"]] = 1 + j  # any tokens: the time depends on the shape
                    attention[j, width - len(prompt) : width + r["tokens"]] = 1
                with autocast(bf16, "cpu"):
                    logits = model(input_ids=ids, attention_mask=attention, logits_to_keep=span + 1).logits[:, :-1]
                token_logprobs(logits, ids[:, width:]).mul(attention[:, width:]).sum().backward()
        model.zero_grad(set_to_none=True)
        seconds.append(time.perf_counter() - start)
    return seconds


# rlvr with one optimisation of issue 16 off: config overrides.
ABLATIONS = {
    "float32 update (no bf16 autocast)": ("optim.mixed_precision=fp32",),
    "no fused head (the model's lm_head)": ("optim.fused_head=false",),
    "no shared prompts (each row whole)": ("optim.share_prompts=false",),
    "no length bucketing": ("optim.bucket_by_length=false",),
    "verify after all decoding": ("data.overlap_verify=false",),
    "all off (as before issue 16)": ("optim.mixed_precision=fp32", "optim.fused_head=false",
                                     "optim.share_prompts=false", "optim.bucket_by_length=false",
                                     "data.overlap_verify=false"),
}


def run_trl(tasks, out: Path, args: argparse.Namespace, bf16: bool) -> tuple[list[float], list[float]]:
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
        temperature=1.0, top_k=0, report_to=[], logging_steps=1, save_strategy="no", use_cpu=True, bf16=bf16,
        seed=0, gradient_accumulation_steps=1,
    )
    trainer = trl.GRPOTrainer(model=policy.model, processing_class=policy.tokenizer, args=config,
                              train_dataset=dataset, reward_funcs=[reward_func(REWARD, reference_column="solution")],
                              callbacks=[Clock()])
    trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    return step_times, rewards


def _median(values: list[float]) -> float:
    return statistics.median(values[1:] or values)  # the first step is warm-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_settings(parser, steps=5)
    parser.add_argument("--ablation", action="store_true", help="rerun rlvr with each optimisation off in turn")
    parser.add_argument("--trl-bf16", action="store_true", help="also run TRL with bf16=True")
    args = parser.parse_args()

    from transformers.utils import logging as hf_logging

    from rlvr.tasks import make_tasks, write_tasks

    hf_logging.set_verbosity_error()
    tasks = make_tasks("arithmetic", 64, op="add", digits=1, split="train")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        write_tasks(tasks, tmp_path / "train.jsonl")
        ours = run_ours(tmp_path / "train.jsonl", tmp_path / "ours", args)
        floor = floor_seconds(tmp_path / "ours", tmp_path / "train.jsonl")
        ablations = {}
        if args.ablation:
            for name, overrides in ABLATIONS.items():
                ablations[name] = run_ours(tmp_path / "train.jsonl", tmp_path / name, args, *overrides)
        trl_s, trl_r = run_trl(tasks, tmp_path / "trl", args, bf16=False)
        trl_bf16 = run_trl(tasks, tmp_path / "trl-bf16", args, bf16=True) if args.trl_bf16 else None

    ours_s, ours_r = [m["time/step_s"] for m in ours], [m["reward/mean"] for m in ours]
    generate = [m["time/generate_s"] for m in ours]
    print(f"\n{args.prompts} prompts x {args.k} completions, {args.max_new_tokens} new tokens, {args.steps} steps")
    print(f"{'step':>4} | {'rlvr s':>7} {'gen s':>6} {'f+b s':>6} {'reward':>7} | {'TRL s':>7} {'reward':>7}")
    for i in range(args.steps):
        print(f"{i + 1:>4} | {ours_s[i]:>7.1f} {generate[i]:>6.1f} {floor[i]:>6.1f} {ours_r[i]:>7.3f} | "
              f"{trl_s[i]:>7.1f} {trl_r[i]:>7.3f}")
    ours_med, trl_med = _median(ours_s), _median(trl_s)
    floor_med = _median([g + f for g, f in zip(generate, floor)])
    print(f"median s/step: rlvr {ours_med:.1f}, TRL (float32) {trl_med:.1f}; rlvr/TRL = {ours_med / trl_med:.2f} "
          f"(target <= 0.5)")
    if trl_bf16:
        print(f"TRL with bf16=True: median {_median(trl_bf16[0]):.1f} s/step; rlvr/TRL-bf16 = "
              f"{ours_med / _median(trl_bf16[0]):.2f}; mean reward {statistics.mean(trl_bf16[1]):.3f}")
    print(f"rlvr floor (generation + one forward-backward over the trained rows): median {floor_med:.1f} s; "
          f"step / floor = {ours_med / floor_med:.2f} (target <= 1.10, issue 28)")
    print(_mfu_line(ours))
    print(f"mean reward over the run: rlvr {statistics.mean(ours_r):.3f}, TRL {statistics.mean(trl_r):.3f}")
    if ablations:
        print("\nablation (rlvr, same seed, one optimisation off at a time): median s/step and the update's share")
        rows = {"all on (default)": ours, **ablations}
        for name, metrics in rows.items():
            step = _median([m["time/step_s"] for m in metrics])
            update = _median([m.get("time/update_s", float("nan")) for m in metrics])
            print(f"  {name:<34} {step:6.1f} s/step  update {update:5.1f} s  ({step / ours_med:4.2f}x default)  "
                  f"update MFU {_median([m.get('mfu/update', float('nan')) for m in metrics]):.1%}")


def _mfu_line(metrics: list[dict]) -> str:
    """rlvr's median MFU of generation and of the update, and the peak they are shares of."""
    from rlvr.train.runtime.mfu import host_peak

    shares = {phase: _median([m.get(f"mfu/{phase}", float("nan")) for m in metrics]) for phase in ("generate",
                                                                                                   "update")}
    return (f"rlvr MFU (median): generation {shares['generate']:.1%}, update {shares['update']:.1%} (target >= 40% "
            f"of the bf16 peak); {host_peak('cpu').line()}")


if __name__ == "__main__":
    main()
