"""Measure the two throughputs `rlvr cost` needs, on this machine, for one model.

    python benchmarks/cost_throughput.py [--model smollm2-135m-instruct] [--device cpu] [--rows 64]

generation: `--rows` rollouts (8 prompts x rows/8 samples) of arithmetic prompts through rlvr's
            sampler (HFEngine, batch 32, temperature 1, top_k 0), `--max-new-tokens` each;
            tokens/s = generated tokens / seconds, as the trainer's `throughput/tokens_per_s`.
training:   forward + backward (no optimizer step) of `--micro-batch` rows of
            `--seq-len` tokens, `--repeats` times; tokens/s = rows x seq_len / seconds.

Prints the flags to pass: `rlvr cost CONFIG --gen-tokens-per-s G --train-tokens-per-s T`.
The defaults that `rlvr cost` assumes on a CPU came from this script (rlvr/train/cost.py).
"""

from __future__ import annotations

import argparse
import time

import torch

from rlvr.models import HFEngine, SamplingParams, load_policy
from rlvr.tasks import make_tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--rows", type=int, default=64, help="rollouts generated (default 64)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128, help="prompt + completion tokens per row (default 128)")
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()

    policy = load_policy(args.model, dtype=args.dtype, device=args.device)
    prompts = [t.prompt for t in make_tasks("arithmetic", n=8, seed=0)]
    engine = HFEngine(policy, batch_size=32)
    params = SamplingParams(n=max(1, args.rows // len(prompts)), temperature=1.0, top_k=0,
                            max_new_tokens=args.max_new_tokens, seed=0)
    engine.generate(prompts[:1], SamplingParams(n=2, max_new_tokens=4, seed=0))  # warm-up
    start = time.perf_counter()
    out = engine.generate(prompts, params)
    gen_s = time.perf_counter() - start
    gen_tps = out.new_tokens / gen_s
    print(f"generation: {out.new_tokens} tokens in {gen_s:.1f} s = {gen_tps:.1f} tokens/s", flush=True)

    model = policy.model.train()
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (args.micro_batch, args.seq_len), device=model.device)
    model(input_ids=ids[:2, :16]).logits.sum().backward()  # warm-up
    start = time.perf_counter()
    for _ in range(args.repeats):
        model.zero_grad(set_to_none=True)
        logits = model(input_ids=ids).logits
        torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1)).backward()
    train_s = time.perf_counter() - start
    train_tps = args.repeats * args.micro_batch * args.seq_len / train_s
    print(f"training: {args.repeats} x {args.micro_batch} rows x {args.seq_len} tokens in {train_s:.1f} s "
          f"= {train_tps:.1f} tokens/s")
    print(f"\nrlvr cost CONFIG --gen-tokens-per-s {gen_tps:.0f} --train-tokens-per-s {train_tps:.0f}")


if __name__ == "__main__":
    main()
