"""Generation throughput: rlvr's HFEngine vs plain `model.generate`, same prompts, same settings.

    python benchmarks/sampler_throughput.py [--model smollm2-135m-instruct] [--prompts 16] [--k 4] [--bf16]

For each batch size (rows decoded together) both engines sample K completions for the
same prompts with temperature 1.0, top_k 0, top_p 1.0 and the same max_new_tokens.
"Useful" tokens are generated tokens up to and including EOS; `model.generate` also
spends steps on rows that already finished (padding), which is why the two differ.
Prints tokens/s of each (the median of --repeats interleaved runs after a warm-up call: this 2-core host's
speed wanders by a fifth from minute to minute) and the ratio ours / generate, measured in this run, and beside them the
MFU of rlvr's sampler: its model FLOPs (rlvr/models/flops.py: prefill once per prompt, one decoding
step per token) per second over this host's measured peak in the weights' precision (--dtype;
rlvr/train/runtime/mfu.py, printed first). With --bf16, rlvr's sampler also runs from a bf16 copy of
the weights (sampling.precision=bf16): its tokens/s, its speed-up over float32 and its MFU over the
bf16 peak; and the float32 sampler on transformers' own decoding step (`HFEngine(fast=False)`: the sampler
before rlvr/models/fast_decode.py), with the bf16 sampler's speed-up over it. A host without native bf16
(no AVX512-BF16 or AMX) says so: its bf16 products are emulated, slower than float32.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from rlvr._errors import RlvrError
from rlvr.models import HFEngine, SamplingParams, load_policy
from rlvr.models.flops import ModelShape, generation_flops
from rlvr.models.precision import native_bf16
from rlvr.train.runtime.mfu import host_peak, mfu


def plain_generate(
    policy, prompts: list[str], k: int, batch_rows: int, max_new_tokens: int, seed: int
) -> tuple[int, int, float]:
    """(useful tokens, padded tokens, seconds) for model.generate over the same rows."""
    tokenizer = policy.tokenizer
    tokenizer.padding_side = "left"
    eos = sorted(policy.eos_token_ids)
    per_batch = max(1, batch_rows // k)
    useful = padded = 0
    torch.manual_seed(seed)
    start = time.perf_counter()
    for i in range(0, len(prompts), per_batch):
        texts = [policy.render(p) for p in prompts[i : i + per_batch]]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = policy.model.generate(
                **enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
                num_return_sequences=k, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id or eos[0],
            )
        new = out[:, enc["input_ids"].shape[1] :]
        padded += new.numel()
        for row in new.tolist():
            stop = next((j for j, t in enumerate(row) if t in policy.eos_token_ids), len(row) - 1)
            useful += stop + 1
    return useful, padded, time.perf_counter() - start


def addition_prompts(n: int) -> list[str]:
    """The benchmark's `n` prompts: two-digit additions asking for the bare number (fixed by seed 0)."""
    rng = random.Random(0)
    return [f"What is {rng.randint(10, 99)} + {rng.randint(10, 99)}? Reply with only the final number."
            for _ in range(n)]


def add_prompt_arguments(parser: argparse.ArgumentParser) -> None:
    """The model and the rows sampled: `addition_prompts(--prompts)` x `--k` samples of `--max-new-tokens`; shared
    with benchmarks/sampler_profile.py."""
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_prompt_arguments(parser)
    parser.add_argument("--batch-sizes", default="8,32,64")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--bf16", action="store_true", help="also sample from a bf16 copy of the weights")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each engine (the median is printed)")
    args = parser.parse_args()

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        policy = load_policy(args.model, dtype=args.dtype, device="cpu")
    except RlvrError as exc:  # an unknown model or dtype: one sentence, exit 2
        parser.error(str(exc))
    prompts = addition_prompts(args.prompts)
    rows = args.prompts * args.k
    print(f"model {args.model} ({policy.model.dtype}), {args.prompts} prompts x {args.k} samples = {rows} rows, "
          f"max_new_tokens {args.max_new_tokens}, {torch.get_num_threads()} threads")
    peak, shape = host_peak("cpu"), ModelShape.from_config(policy.model.config)
    print(peak.line())
    if args.bf16 and not native_bf16("cpu"):
        print("this CPU has no native bf16 (no AVX512-BF16 or AMX): its bf16 products are emulated")
    own = "bf16" if policy.model.dtype == torch.bfloat16 else "fp32"  # the peak of the weights' own products
    params = SamplingParams(n=args.k, temperature=1.0, max_new_tokens=args.max_new_tokens, seed=0)

    def share(result, precision: str) -> float:  # MFU of one HFEngine call
        if shape is None:
            return float("nan")
        lengths = [[len(c.token_ids) for c in cs] for cs in result.completions]
        return mfu(generation_flops(shape, [len(p) for p in result.prompt_token_ids], lengths), result.seconds,
                   peak.of(precision))

    bf16_head = (f" | {'transformers-step tok/s':>23} | {'rlvr bf16 tok/s':>15} {'bf16/fp32':>9} {'bf16/step':>9} "
                 f"{'MFU bf16':>8}" if args.bf16 else "")
    print(f"{'batch':>5} | {'generate useful tok/s':>21} {'padded tok/s':>12} | {'rlvr tok/s':>10} | {'ratio':>6} | "
          f"{'MFU':>8}{bf16_head}")
    warm = SamplingParams(n=2, temperature=1.0, max_new_tokens=4, seed=0)
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        engines = {"fp32": HFEngine(policy, batch_size=batch)}
        if args.bf16:  # the bf16 copy; and the float32 sampler on transformers' own decoding step (fast=False)
            engines["bf16"] = HFEngine(policy, batch_size=batch, precision="bf16")
            engines["step"] = HFEngine(policy, batch_size=batch, fast=False)
        for engine in engines.values():  # one-time costs (kernel set-up, first allocations) stay out of the timing
            engine.generate(prompts[:1], warm)
        plain, runs = [], {name: [] for name in engines}
        for _ in range(args.repeats):  # interleaved, so that a slow spell of the host hits every engine
            useful, padded, base_s = plain_generate(policy, prompts, args.k, batch, args.max_new_tokens, seed=0)
            plain.append((useful / base_s, padded / base_s))
            for name, engine in engines.items():
                runs[name].append(engine.generate(prompts, params))
        base, base_padded = statistics.median(plain)  # the same rows every time: tok/s differ, token counts not
        result = _median(runs["fp32"])
        ours = result.tokens_per_s
        line = (f"{batch:>5} | {base:>21.1f} {base_padded:>12.1f} | {ours:>10.1f} | {ours / base:>5.2f}x | "
                f"{share(result, own):>8.1%}")
        if args.bf16:
            half, step = _median(runs["bf16"]), _median(runs["step"]).tokens_per_s
            line += (f" | {step:>23.1f} | {half.tokens_per_s:>15.1f} {half.tokens_per_s / ours:>8.2f}x "
                     f"{half.tokens_per_s / step:>8.2f}x {share(half, 'bf16'):>8.1%}")
        print(line)
    print(f"(the median of {args.repeats} interleaved runs of each, after one warm-up call)")


def _median(results: list):
    """The run of median tokens/s (the same samples every time under the fixed seed)."""
    return sorted(results, key=lambda r: r.tokens_per_s)[len(results) // 2]


if __name__ == "__main__":
    main()
