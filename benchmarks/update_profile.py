"""Where a GRPO update's time goes: phases and operator kinds, against the time the model's own FLOPs need.

    python benchmarks/update_profile.py [--steps 3] [--prompts 4] [--k 8] [--max-new-tokens 64] [override ...]

Trains SmolLM2-135M-Instruct with the configuration of benchmarks/trainer_vs_trl.py (4 prompts x 8
completions, 64 new tokens, micro-batches of 32, bf16 autocast where native) for `--steps` steps and
profiles every update after the first (torch.profiler, CPU). Extra arguments are config overrides
(`optim.fused_head=false`, `optim.mixed_precision=fp32`, ...) so a change can be profiled against the
default in the same way. The process keeps freed memory for reuse, as `rlvr train` does
(rlvr/train/runtime/memory.py); RLVR_MALLOC=system leaves glibc's allocator as it is.

It prints, per profiled update:

- the phases, wall seconds: forward (the policy's log-probs), loss (grpo_loss), backward, optimizer
  (clipping and AdamW), and the rest of `_update` (batching, masks, metrics);
- the operators by kind, self CPU seconds summed over threads' launches as the profiler reports them:
  matrix products, attention, (log-)softmax and the fused head, dtype casts and copies, the optimizer's
  element-wise work, the other element-wise work (norms, activations, rotary, residuals, masks), the rest;
- the update's model FLOPs (rlvr/models/flops.py: 3x the forward over the rows trained) over this
  host's measured bf16 (or float32) peak: the seconds the update would take at 100 % MFU, and its MFU;
- its matrix products (aten::mm, addmm, bmm, by shape) in the update against the same products alone, each
  shape timed after the run with contiguous operands in the update's precision, warmed (its kernel built,
  its operands in cache): the update's model FLOPs over the products' time alone is the MFU it would reach
  if every other operator were free and its products ran as fast as they run alone;
- the page faults the process took during the update and its CPU seconds in the kernel (getrusage, all
  threads): the first updates of a process touch their memory for the first time (the heap grows to its
  peak), which a virtual machine makes dear. The profiler's own records are part of that memory: without
  the profiler, later updates take far fewer faults.

Recording the operators' shapes costs the profiled updates a little time of their own.

The operator table of the last profiled update (top 25 by self time) follows, for what the kinds hide.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

KINDS = (  # (kind, substrings of aten operator names), first match wins
    ("matrix products", ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "mkldnn_", "aten::linear",
                         "aten::matmul", "aten::_weight_int")),
    ("attention", ("scaled_dot_product", "flash_attention", "_efficient_attention")),
    ("softmax / log-softmax / head", ("softmax", "logsumexp", "_fused_head", "HeadLogprobs")),
    ("casts and copies", ("aten::copy_", "aten::_to_copy", "aten::to", "aten::clone", "aten::contiguous",
                          "aten::cat", "aten::stack", "aten::pad", "aten::constant_pad", "aten::index",
                          "aten::gather", "aten::scatter", "aten::fill_", "aten::zero_", "aten::zeros",
                          "aten::empty", "aten::ones")),
    ("optimizer element-wise", ("_foreach", "_fused_adam", "aten::lerp", "aten::addcdiv", "aten::addcmul",
                                "aten::sqrt", "aten::norm", "aten::linalg_vector_norm", "clip_grad")),
)
PHASES = ("forward", "loss", "backward", "optimizer")
PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm")  # the operators `isolated_seconds` times alone


def product_flops(name: str, shapes: list) -> int | None:
    """FLOPs of one call of a matrix-product operator, from its input shapes as the profiler records them (mm:
    (m, k), (k, n); addmm: bias, (m, k), (k, n); bmm: (b, m, k), (b, k, n)); None for any other operator or shape."""
    try:
        if name == "aten::mm":
            (m, k), (_, n) = shapes[0], shapes[1]
            return 2 * m * k * n
        if name == "aten::addmm":
            (m, k), (_, n) = shapes[1], shapes[2]
            return 2 * m * k * n
        if name == "aten::bmm":
            (b, m, k), (_, _, n) = shapes[0], shapes[1]
            return 2 * b * m * k * n
    except (TypeError, ValueError, IndexError):
        return None
    return None


def isolated_seconds(name: str, shapes: list, dtype, repeats: int = 3) -> float:
    """Median seconds of one call of a product alone: contiguous random operands of `shapes` in `dtype`, one call
    first (its kernel built, its operands in cache), then `repeats` timed."""
    import torch

    generator = torch.Generator().manual_seed(0)

    def operand(shape):
        return torch.randn(shape, generator=generator).to(dtype)

    if name == "aten::addmm":
        bias, a, b = operand(shapes[0]), operand(shapes[1]), operand(shapes[2])
        call = lambda: torch.addmm(bias, a, b)  # noqa: E731
    else:
        a, b = operand(shapes[0]), operand(shapes[1])
        call = (lambda: torch.bmm(a, b)) if name == "aten::bmm" else (lambda: torch.mm(a, b))
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def products_alone(products: list[tuple[str, list, int, float]], dtype, cache: dict | None = None) -> dict:
    """The update's products (name, input shapes, calls, self seconds in the update) against the same products
    alone (`isolated_seconds` per shape, `cache` shared between updates): calls, FLOPs, seconds in the update and
    alone. Shapes whose FLOPs cannot be read are left out of both sums."""
    cache = {} if cache is None else cache
    calls = flops = seconds = alone = 0
    for name, shapes, count, spent in products:
        each = product_flops(name, shapes)
        if each is None:
            continue
        key = (name, str(shapes))
        if key not in cache:
            cache[key] = isolated_seconds(name, shapes, dtype)
        calls += count
        flops += count * each
        seconds += spent
        alone += count * cache[key]
    return {"calls": calls, "flops": flops, "seconds": seconds, "alone": alone}


def _usage() -> tuple[int, float]:
    """(minor page faults, system CPU seconds) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt, usage.ru_stime


def kind_of(name: str) -> str:
    for kind, patterns in KINDS:
        if any(p in name for p in patterns):
            return kind
    return "other element-wise and rest" if name.startswith("aten::") else "autograd and python glue"


@contextmanager
def _phase(name: str):
    import torch

    with torch.profiler.record_function(f"phase::{name}"):
        yield


def _wrap(obj, attribute: str, phase: str) -> None:
    original = getattr(obj, attribute)

    def wrapped(*args, **kwargs):
        with _phase(phase):
            return original(*args, **kwargs)

    setattr(obj, attribute, wrapped)


def profile_updates(config, warmup: int = 1) -> list[dict]:
    """Train `config`, profiling each update after `warmup` steps; per profiled update its wall seconds, the
    phases' seconds, the self seconds of each operator kind, the rows trained and the top operators."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    import rlvr.train.trainer as trainer_module
    from rlvr.models.flops import update_flops
    from rlvr.train.trainer import Trainer

    profiles: list[dict] = []
    original_update = Trainer._update

    def update(self, rollouts, advantages, kept):
        if self.step < warmup:
            return original_update(self, rollouts, advantages, kept)
        if not getattr(self, "_phases_wrapped", False):  # on the instance, after it built its layout
            _wrap(self, "_completion_logprobs", "forward")
            _wrap(self.layout, "backward", "backward")
            _wrap(self.layout, "step", "optimizer")
            self._phases_wrapped = True
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            faults, system = _usage()
            start = time.perf_counter()
            result = original_update(self, rollouts, advantages, kept)
            wall = time.perf_counter() - start
            faults_after, system_after = _usage()
        faults, system = faults_after - faults, system_after - system
        events = prof.key_averages()
        products = [(e.key, e.input_shapes, e.count, e.self_cpu_time_total / 1e6)
                    for e in prof.key_averages(group_by_input_shape=True) if e.key in PRODUCTS]
        phases = {name: sum(e.cpu_time_total for e in events if e.key == f"phase::{name}") / 1e6 for name in PHASES}
        kinds: dict[str, float] = defaultdict(float)
        for e in events:
            if not e.key.startswith("phase::"):
                kinds[kind_of(e.key)] += e.self_cpu_time_total / 1e6
        top = sorted(((e.key, e.self_cpu_time_total / 1e6, e.count) for e in events if not e.key.startswith("phase::")),
                     key=lambda t: -t[1])[:25]
        precision = self.precisions["update"]  # what the update multiplied in, and this host's peak in it
        profiles.append({"step": self.step + 1, "wall_s": wall, "phases": phases, "kinds": dict(kinds), "top": top,
                         "rows": list(self.trained_rows), "threads": torch.get_num_threads(),
                         "flops": self._update_flops() if hasattr(self, "_update_flops")  # shared prompts once
                         else update_flops(self.shape, self.trained_rows), "precision": precision,
                         "peak": self.peak.of(precision), "peak_line": self.peak.line(), "products": products,
                         "faults": faults, "system_s": system})
        return result

    original_loss = trainer_module.grpo_loss

    def loss(*args, **kwargs):
        with _phase("loss"):
            return original_loss(*args, **kwargs)

    Trainer._update, trainer_module.grpo_loss = update, loss
    try:
        trainer_module.train(config, progress=False)
    finally:
        Trainer._update, trainer_module.grpo_loss = original_update, original_loss
    return profiles


def main() -> None:
    from trainer_vs_trl import add_settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_settings(parser, steps=3)
    parser.add_argument("overrides", nargs="*", help="config overrides, key=value")
    args = parser.parse_args()

    from trainer_vs_trl import config_for
    from transformers.utils import logging as hf_logging

    from rlvr._errors import ConfigError
    from rlvr.tasks import make_tasks, write_tasks
    from rlvr.train.runtime.memory import keep_freed_memory

    # The allocator `rlvr train` runs with (freed memory reused, not faulted in again); RLVR_MALLOC=system leaves
    # glibc's default, as before this benchmark set it.
    kept = keep_freed_memory()
    hf_logging.set_verbosity_error()
    tasks = make_tasks("arithmetic", 64, op="add", digits=1, split="train")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        write_tasks(tasks, tmp_path / "train.jsonl")
        try:  # a bad override: one sentence, exit 2, before the model loads
            config = config_for(tmp_path / "train.jsonl", tmp_path / "run", args, *args.overrides)
        except ConfigError as exc:
            parser.error(str(exc))
        profiles = profile_updates(config)
    if not profiles:
        raise SystemExit("no update was profiled: give --steps 2 or more")
    print(f"\n{args.prompts} prompts x {args.k} completions, {args.max_new_tokens} new tokens; overrides: "
          f"{' '.join(args.overrides) or '(none)'}; {profiles[0]['threads']} threads; freed memory "
          f"{'kept, as rlvr train' if kept else 'returned to the system (glibc default)'}")
    print(profiles[0]["peak_line"])
    import torch

    cache: dict = {}  # each shape timed alone once, after the run
    for p in profiles:
        p["alone"] = products_alone(p["products"], torch.bfloat16 if p["precision"] == "bf16" else torch.float32,
                                    cache)
    for p in profiles:
        flops, precision = p["flops"], p["precision"]
        ideal = flops / p["peak"]
        tokens = sum(a + b for a, b in p["rows"])
        print(f"\n== update of step {p['step']}: {len(p['rows'])} rows, {tokens} tokens, {flops / 1e12:.2f} TFLOP; "
              f"wall {p['wall_s']:.2f} s; at the {precision} peak {ideal:.2f} s; MFU {ideal / p['wall_s']:.1%}")
        rest = p["wall_s"] - sum(p["phases"].values())
        for name, seconds in [*p["phases"].items(), ("rest of _update", rest)]:
            print(f"  phase {name:<26} {seconds:>6.2f} s  {seconds / p['wall_s']:>6.1%}")
        total = sum(p["kinds"].values())
        for kind, seconds in sorted(p["kinds"].items(), key=lambda t: -t[1]):
            print(f"  ops   {kind:<26} {seconds:>6.2f} s  {seconds / total:>6.1%} of operator self time")
        a = p["alone"]
        if a["calls"] and a["seconds"] and a["alone"]:
            print(f"  products in the update {a['seconds']:.2f} s ({a['calls']} calls, {a['flops'] / 1e12:.2f} TFLOP, "
                  f"{a['flops'] / a['seconds'] / 1e12:.2f} TFLOP/s); alone, contiguous and warm, {a['alone']:.2f} s "
                  f"({a['flops'] / a['alone'] / 1e12:.2f} TFLOP/s, {a['flops'] / a['alone'] / p['peak']:.0%} of the "
                  f"peak): every other operator free, the products at that rate, MFU {ideal / a['alone']:.0%}")
        print(f"  memory {p['faults']:,} page faults ({p['faults'] * resource.getpagesize() / 2**30:.2f} GiB touched "
              f"for the first time or again), {p['system_s']:.2f} CPU s in the kernel, the profiler's records included")
    print("\ntop operators of the last profiled update (self CPU seconds, calls):")
    for name, seconds, count in profiles[-1]["top"]:
        print(f"  {name:<60} {seconds:>7.3f} {count:>6}")
    print(f"\nmedian update wall {statistics.median(p['wall_s'] for p in profiles):.2f} s")


if __name__ == "__main__":
    main()
