"""bf16 autocast vs float32 for the GRPO update: per-step losses on the same rollouts, and the speed ratio.

    python benchmarks/mixed_precision.py [--steps 5] [--prompts 4] [--k 8] [--max-new-tokens 32]

Samples one batch of rollouts from SmolLM2-135M-Instruct on single-digit additions (seed 0, the
demo's gated format + correctness reward), then, from the same starting weights, runs `--steps`
update steps on that batch twice: once in float32 and once under bf16 autocast (float32 weights and
AdamW state either way; lr 3e-5 as the demo). Prints both loss curves, their largest difference,
and the float32 curve's own step-to-step change, which is the signal a precision error must stay
well below; then the median seconds per update step and the ratio bf16 / float32, measured
alternately in the same run.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args()

    from dataclasses import replace

    import torch

    from rlvr.cli._common import quiet_transformers
    from rlvr.models import HFEngine, SamplingParams, load_policy
    from rlvr.tasks import make_tasks
    from rlvr.models.logprobs import token_logprobs
    from rlvr.train.objectives.grpo import group_advantages, grpo_loss, micro_batch_weight
    from rlvr.train.runtime.optim import make_optimizer
    from rlvr.train.runtime.precision import autocast
    from rlvr.train.rollouts import Rollouts, micro_batch, pad_batch, verify
    from rlvr.workflows.demo import REWARD

    quiet_transformers()
    torch.manual_seed(0)
    policy = load_policy("smollm2-135m-instruct", dtype="float32", device="cpu")
    tasks = [replace(t, verifier=REWARD) for t in make_tasks("arithmetic", args.prompts, op="add", digits=1)]
    params = SamplingParams(n=args.k, max_new_tokens=args.max_new_tokens, seed=0)
    generation = HFEngine(policy, batch_size=32).generate([t.prompt for t in tasks], params)
    texts = [[c.text for c in g] for g in generation.completions]
    verdicts, neutral = verify(tasks, texts, {t.id: t.verifier for t in tasks}, 2, "local")
    rollouts = Rollouts.from_generation(tasks, generation, verdicts, neutral, params)
    advantages, _ = group_advantages(rollouts.rewards)
    rows = [(g, j) for g in range(len(tasks)) for j in range(args.k) if advantages[g, j] != 0]
    batch = pad_batch(rollouts, rows, advantages, False, policy.tokenizer.pad_token_id or 0)
    micro = micro_batch(batch, slice(None))
    print(f"{len(rows)} rows trained of {len(tasks) * args.k} (the others have zero advantage); "
          f"{int(micro['mask'].sum())} completion tokens")

    def run(bf16: bool) -> tuple[list[float], list[float]]:
        model = copy.deepcopy(policy.model).train()
        optimizer, _ = make_optimizer(model.parameters(), 3e-5, 0.0, 0)
        losses, seconds = [], []
        for _ in range(args.steps):
            start = time.perf_counter()
            span = micro["completion"].shape[1]
            with autocast(bf16, "cpu"):
                logits = model(input_ids=micro["input_ids"], attention_mask=micro["attention"],
                               position_ids=micro["positions"], logits_to_keep=span + 1).logits[:, :-1]
            logp = token_logprobs(logits, micro["completion"])
            loss, _ = grpo_loss(logp, micro["old_logp"], micro["advantage"], micro["mask"], clip_high=0.28)
            (loss * micro_batch_weight("token_mean", micro["mask"], float(micro["mask"].sum()), len(rows))).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            seconds.append(time.perf_counter() - start)
            losses.append(loss.item())
        return losses, seconds

    fp32, fp32_s = run(False)
    bf16, bf16_s = run(True)
    fp32_again, fp32_s2 = run(False)  # float32 twice: the run-to-run difference of the same precision
    bf16_again, bf16_s2 = run(True)
    print(f"\n{'step':>4} {'float32 loss':>13} {'bf16 loss':>11} {'difference':>11}")
    for i, (a, b) in enumerate(zip(fp32, bf16), 1):
        print(f"{i:>4} {a:>13.5f} {b:>11.5f} {b - a:>+11.5f}")
    worst = max(abs(a - b) for a, b in zip(fp32, bf16))
    signal = statistics.mean(abs(a - b) for a, b in zip(fp32, fp32[1:]))
    rerun32 = max(abs(a - b) for a, b in zip(fp32, fp32_again))
    rerun16 = max(abs(a - b) for a, b in zip(bf16, bf16_again))
    print(f"largest |bf16 - float32|: {worst:.5f}; the float32 loss moves {signal:.5f} a step on average "
          f"(ratio {worst / signal:.2f}); a float32 rerun differs by {rerun32:.1e}, a bf16 rerun by {rerun16:.1e}")
    f32, b16 = statistics.median(fp32_s[1:] + fp32_s2[1:]), statistics.median(bf16_s[1:] + bf16_s2[1:])
    print(f"median s per update step: float32 {f32:.2f}, bf16 {b16:.2f}; bf16 / float32 = {b16 / f32:.2f}")


if __name__ == "__main__":
    main()
