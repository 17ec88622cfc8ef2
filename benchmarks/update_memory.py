"""Peak memory of one GRPO update's forward and backward: rlvr's selective log-softmax vs the plain
(B, T, V) float32 log-softmax it replaced vs TRL's `selective_log_softmax`, on the same batch, each in
float32 and under bf16 autocast (rlvr's default where the CPU has native bf16; TRL's `bf16=True`), and
rlvr's fused head (`rlvr-fused*`: the trainer's default in one process, no (B, T, V) logits at all).

    python benchmarks/update_memory.py [--models smollm2-135m-instruct gemma3-270m] [--rows 8] [--tokens 256]

Each (model, variant) runs in a fresh process: load the model (float32, CPU), build a batch of
`--rows` rows of a 32-token prompt and `--tokens` completion tokens, then time one forward over the
completion positions, the per-token log-probabilities, a clipped GRPO loss and its backward. The
peak is the process's peak resident memory during the update minus its resident memory just before
it (so the weights, which every variant holds, do not count); printed with the ratio to the plain
variant measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

VARIANTS = ("plain", "rlvr", "trl", "rlvr-fused", "rlvr-bf16", "trl-bf16", "rlvr-fused-bf16")


def measure(model: str, variant: str, rows: int, tokens: int) -> dict:
    """In this process: the update's peak resident memory over its start, and its seconds."""
    import resource
    import time

    import torch

    from rlvr.models import load_policy
    from rlvr.models.logprobs import token_logprobs
    from rlvr.train.objectives.grpo import grpo_loss
    from rlvr.models.head import fused_head, head_logprobs

    def plain(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:  # the code before issue 16
        return torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[..., None]).squeeze(-1)

    def trl(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        from trl.trainer.utils import selective_log_softmax

        return selective_log_softmax(logits, ids)

    bf16 = variant.endswith("-bf16")  # the forward under bf16 autocast: rlvr's default, TRL's bf16=True
    fused = "fused" in variant  # rlvr's default in one process: no (B, T, V) logits at all (rlvr/models/head.py)
    logprobs = {"plain": plain, "rlvr": token_logprobs, "trl": trl}[variant.split("-")[0]]
    policy = load_policy(model, dtype="float32", device="cpu")
    model_ = policy.model
    model_.train()
    vocab = model_.get_output_embeddings().weight.shape[0]
    generator = torch.Generator().manual_seed(0)
    prompt = 32
    input_ids = torch.randint(0, min(vocab, 32000), (rows, prompt + tokens), generator=generator)
    completion = input_ids[:, prompt:]
    advantages = torch.randn(rows, generator=generator)
    mask = torch.ones(rows, tokens)

    def rss_kib() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))

    before = rss_kib()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if fused:
        if fused_head(model_) is None:
            raise SystemExit(f"{model} has a head the fused path does not take (bias or soft-capping)")
        micro = {"input_ids": input_ids, "attention": torch.ones_like(input_ids),
                 "positions": torch.arange(input_ids.shape[1]).expand_as(input_ids), "completion": completion}
        logp = head_logprobs(model_, micro, 1.0, torch.bfloat16 if bf16 else None)
    else:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model_(input_ids=input_ids, logits_to_keep=tokens + 1)
        logits = out.logits[:, :-1]  # (B, T, V)
        logp = logprobs(logits, completion)
    loss, _ = grpo_loss(logp, logp.detach(), advantages, mask)
    loss.backward()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if peak <= peak_before:  # the load itself peaked higher: the update's own peak is hidden
        raise SystemExit("the model load's peak hides the update's; give more --tokens or rows")
    return {"model": model, "variant": variant, "vocab": vocab, "peak_gib": (peak - before) / 2**20,
            "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["smollm2-135m-instruct", "gemma3-270m"])
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1], args.rows, args.tokens)))
        return
    print(f"one update: {args.rows} rows x {args.tokens} completion tokens (+32 prompt), float32, CPU\n")
    print(f"{'model':<24} {'vocab':>7} {'variant':<8} {'peak GiB':>9} {'vs plain':>9} {'seconds':>8}")
    for model in args.models:
        results = {}
        for variant in VARIANTS:
            out = subprocess.run([sys.executable, __file__, "--one", model, variant, "--rows", str(args.rows),
                                  "--tokens", str(args.tokens)], capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{model:<24} {'':>7} {variant:<8} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        for variant, r in results.items():
            ratio = r["peak_gib"] / results["plain"]["peak_gib"] if "plain" in results else float("nan")
            print(f"{model:<24} {r['vocab']:>7} {variant:<8} {r['peak_gib']:>9.2f} {ratio:>9.2f} {r['seconds']:>8.1f}")


if __name__ == "__main__":
    main()
