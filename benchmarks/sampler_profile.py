"""Where a sampling call's time goes: the prefill, the decoding steps, the draw, the loop; against what reading the
weights alone costs on this host.

    python benchmarks/sampler_profile.py [--model smollm2-135m-instruct] [--prompts 16] [--k 4]
                                         [--max-new-tokens 64] [--precision bf16] [--repeats 3]

Samples the prompts of benchmarks/sampler_throughput.py (16 prompts x 4 samples = 64 rows in one batch, temperature
1.0, 64 new tokens) with `HFEngine` in `--precision` (bf16: a bf16 copy of float32 weights, as
`sampling.precision=bf16` does), keeping freed memory as `rlvr` commands do. After two warm-up calls (a short one,
then the whole batch, so the kernels of every row count the batch shrinks through exist) it times `--repeats` calls
by phase, wall seconds:

- prefill: the prompts through transformers (the model's forward calls outside the decoding steps);
- decoding steps: one new token of every live row through the model (rlvr/models/fast_decode.py's step where the
  model is one it knows, else transformers' step);
- draw: the next token of every row from the logits (`_draw`: log-softmax, the cumulative distribution, one uniform
  a row);
- rest: the loop around them (the rows' tokens recorded, end-of-sequence checks, finished rows removed), the
  prompts' caches copied for their samples and into the step's blocks, the packing check and the decoding of the
  texts.

Beside the steps it prints what they would take if reading the weights were all they did: the bytes of the matrices
a step reads (every linear layer and the output head, in the sampling precision) times the steps, at the rate this
host streams weights into a packed product of one row (a probe over 256 MB of weights, about a step's; one row makes
the product's arithmetic negligible, so it reads as fast as the matrix library can), and what the call's FLOPs
would take at the host's peak (rlvr/train/runtime/mfu.py). Last, the operators of one more call, by kind, from
torch.profiler (the profiler's own cost included), and the top 15 by self time. A bf16 step attends in torch's fused
kernel (the attention kind); a float32 step with two batched products and a softmax, which count as matrix products
and with the draw's softmax.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager

import torch

KINDS = (  # (kind, substrings of operator names), first match wins
    ("matrix products and head", ("mkldnn::_linear_pointwise", "aten::mm", "aten::addmm", "aten::bmm",
                                  "aten::linear", "aten::matmul")),
    ("attention", ("scaled_dot_product", "flash_attention")),
    ("softmax, cumsum, search (the draw)", ("softmax", "cumsum", "searchsorted", "aten::gather")),
    ("casts and copies", ("aten::copy_", "aten::_to_copy", "aten::to", "aten::clone", "aten::cat", "aten::index",
                          "aten::fill_", "aten::zero", "aten::empty", "aten::full")),
)


def kind_of(name: str) -> str:
    for kind, patterns in KINDS:
        if any(p in name for p in patterns):
            return kind
    return "other element-wise (norms, rotary, SiLU, sums)" if name.startswith("aten::") else "python glue and rest"


def step_weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of the matrices one decoding step reads: every linear layer's weight and bias, the output head's
    included (a tied head shares its storage with the embedding, counted once; the embedding's lookup of one row a
    token is not a read of the matrix)."""
    seen: set[int] = set()
    total = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            for tensor in (module.weight, module.bias):
                if tensor is not None and tensor.untyped_storage().data_ptr() not in seen:
                    seen.add(tensor.untyped_storage().data_ptr())
                    total += tensor.numel() * tensor.element_size()
    return total


def weight_read_rate(dtype: torch.dtype, megabytes: int = 256, shape: tuple[int, int] = (3072, 576)) -> float:
    """Bytes a second this host streams weights into a packed product of one row (rlvr/models/fast_decode.py's
    `_Linear`): `megabytes` of (out, in) matrices multiplied one after the other (256 MB: about what a decoding
    step of SmolLM2-135M reads, so the caches keep as little of them as of a step's weights), the best of 4 passes
    (the first also builds the kernel)."""
    from rlvr.models.fast_decode import _Linear

    one = shape[0] * shape[1] * torch.finfo(dtype).bits // 8
    generator = torch.Generator().manual_seed(0)
    linears = [_Linear.of([torch.randn(shape, generator=generator).to(dtype)], [None], 1)
               for _ in range(max(2, megabytes * 2**20 // one))]
    x = torch.randn(1, shape[1]).to(dtype)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(4):
            start = time.perf_counter()
            for linear in linears:
                linear(x)
            best = min(best, time.perf_counter() - start)
    return len(linears) * one / best


class PhaseTimer:
    """Wall seconds of a call's phases: wraps the sampler's `_draw`, the decoding steps and the model's forward
    (outside a step: the prefill) while installed."""

    def __init__(self, engine):
        self.engine = engine
        self.seconds: dict[str, float] = defaultdict(float)
        self.steps = 0
        self.prefill_calls = 0  # the model's forward calls outside the decoding steps
        self._in_step = False
        self._forward_start = 0.0

    @contextmanager
    def installed(self):
        import rlvr.models.fast_decode as fast_decode
        import rlvr.models.sampler as sampler

        draw, fast_step, transformers_step = sampler._draw, fast_decode.DecodeState.step, sampler._TransformersStep.step
        timer = self

        def timed_draw(*args, **kwargs):
            start = time.perf_counter()
            try:
                return draw(*args, **kwargs)
            finally:
                timer.seconds["draw"] += time.perf_counter() - start

        def timed_step(original):
            def step(state, token):
                start, timer._in_step = time.perf_counter(), True
                try:
                    return original(state, token)
                finally:
                    timer._in_step = False
                    timer.seconds["decoding steps"] += time.perf_counter() - start
                    timer.steps += 1
            return step

        def before(_module, _args):
            if not timer._in_step:
                timer._forward_start = time.perf_counter()

        def after(_module, _args, _output):
            if not timer._in_step:
                timer.seconds["prefill"] += time.perf_counter() - timer._forward_start
                timer.prefill_calls += 1

        sampler._draw = timed_draw
        fast_decode.DecodeState.step = timed_step(fast_step)
        sampler._TransformersStep.step = timed_step(transformers_step)
        handles = [self.engine.model.register_forward_pre_hook(before),
                   self.engine.model.register_forward_hook(after)]
        try:
            yield self
        finally:
            sampler._draw = draw
            fast_decode.DecodeState.step, sampler._TransformersStep.step = fast_step, transformers_step
            for handle in handles:
                handle.remove()


def timed_call(engine, prompts, params) -> tuple[object, dict[str, float], int]:
    """One `engine.generate` call: its result, the seconds of each phase (rest: what the phases leave of the call's
    wall time) and the number of decoding steps."""
    timer = PhaseTimer(engine)
    with timer.installed():
        result = engine.generate(prompts, params)
    phases = {name: timer.seconds.get(name, 0.0) for name in ("prefill", "decoding steps", "draw")}
    phases["rest"] = result.seconds - sum(phases.values())
    return result, phases, timer.steps


def operator_kinds(engine, prompts, params) -> tuple[dict[str, float], list[tuple[str, float, int]]]:
    """Self CPU seconds of one call's operators by kind, and the top 15 operators (name, seconds, calls)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        engine.generate(prompts, params)
    kinds: dict[str, float] = defaultdict(float)
    events = prof.key_averages()
    for e in events:
        kinds[kind_of(e.key)] += e.self_cpu_time_total / 1e6
    top = sorted(((e.key, e.self_cpu_time_total / 1e6, e.count) for e in events), key=lambda t: -t[1])[:15]
    return dict(kinds), top


def main() -> None:
    from sampler_throughput import add_prompt_arguments, addition_prompts  # this folder is on the path when run

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_prompt_arguments(parser)
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for name in ("prompts", "k", "max_new_tokens", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    from transformers.utils import logging as hf_logging

    from rlvr._errors import RlvrError
    from rlvr.models import HFEngine, SamplingParams, load_policy
    from rlvr.models.fast_decode import FastDecoder
    from rlvr.models.flops import ModelShape, generation_flops
    from rlvr.models.precision import native_bf16
    from rlvr.train.runtime.memory import keep_freed_memory
    from rlvr.train.runtime.mfu import host_peak

    kept = keep_freed_memory()  # as `rlvr` commands run (RLVR_MALLOC=system: glibc's default)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        policy = load_policy(args.model, dtype="float32", device="cpu")
    except RlvrError as exc:  # an unknown model: one sentence, exit 2
        parser.error(str(exc))
    prompts = addition_prompts(args.prompts)
    rows = args.prompts * args.k
    engine = HFEngine(policy, batch_size=rows, precision=args.precision)
    dtype = engine.model.dtype
    print(f"model {args.model}, sampled in {dtype} ({args.precision}), {args.prompts} prompts x {args.k} samples = "
          f"{rows} rows in one batch, max_new_tokens {args.max_new_tokens}, {torch.get_num_threads()} threads, "
          f"freed memory {'kept, as rlvr commands' if kept else 'returned to the system (glibc default)'}")
    if args.precision == "bf16" and not native_bf16("cpu"):
        print("this CPU has no native bf16 (no AVX512-BF16 or AMX): its bf16 products are emulated")
    if FastDecoder.for_model(engine.model) is None:
        print("this model has no rlvr decoding step: its steps are transformers' (their forward is not prefill)")
    peak = host_peak("cpu")
    print(peak.line())
    weights = step_weight_bytes(engine.model)
    rate = weight_read_rate(dtype)
    print(f"a decoding step reads {weights / 1e6:.0f} MB of matrices; this host streams weights into a packed "
          f"product of one row at {rate / 1e9:.1f} GB/s ({weights / rate * 1e3:.1f} ms a step)")
    shape = ModelShape.from_config(engine.model.config)
    params = SamplingParams(n=args.k, temperature=1.0, max_new_tokens=args.max_new_tokens, seed=0)
    engine.generate(prompts[:1], SamplingParams(n=2, temperature=1.0, max_new_tokens=4, seed=0))  # kernels, packing
    engine.generate(prompts, params)  # every row count of the call's shrinking batch builds its kernels once
    walls, step_shares = [], []
    for repeat in range(args.repeats):
        result, phases, steps = timed_call(engine, prompts, params)
        tokens = sum(len(c.token_ids) for cs in result.completions for c in cs)
        walls.append(result.seconds)
        print(f"\n== call {repeat + 1} of {args.repeats}: {tokens} tokens in {result.seconds:.2f} s "
              f"({tokens / result.seconds:.1f} tok/s), {steps} decoding steps")
        for name, seconds in phases.items():
            print(f"  phase {name:<16} {seconds:>6.2f} s  {seconds / result.seconds:>6.1%}")
        reads = steps * weights / rate
        step_shares.append(reads / max(phases["decoding steps"], 1e-9))
        line = (f"  the steps' weight reads alone, at {rate / 1e9:.1f} GB/s: {reads:.2f} s "
                f"({step_shares[-1]:.0%} of the steps' time)")
        if shape is not None:
            lengths = [[len(c.token_ids) for c in cs] for cs in result.completions]
            flops = generation_flops(shape, [len(p) for p in result.prompt_token_ids], lengths)
            line += f"; the call's FLOPs at the {args.precision} peak: {flops / peak.of(args.precision):.2f} s"
        print(line)
    kinds, top = operator_kinds(engine, prompts, params)
    total = sum(kinds.values())
    print("\noperators of one more call, profiled (self CPU seconds; the profiler's cost included):")
    for kind, seconds in sorted(kinds.items(), key=lambda t: -t[1]):
        print(f"  {kind:<48} {seconds:>6.2f} s  {seconds / total:>6.1%}")
    print("top operators (self CPU seconds, calls):")
    for name, seconds, count in top:
        print(f"  {name:<60} {seconds:>7.3f} {count:>6}")
    print(f"\nmedian call {statistics.median(walls):.2f} s; the weight reads are {statistics.median(step_shares):.0%} "
          "of the decoding steps' time (median)")


if __name__ == "__main__":
    main()
