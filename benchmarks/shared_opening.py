"""The hf sampler's shared-opening prefill on the tool study's episodes: sampling time, prefill and decoding.

    python benchmarks/shared_opening.py [--repeats 2] [--episodes 64] [--precision bf16]

Three held-out problems of `benchmarks/tools_boundary.py` (the few-shot calculator prompt, the `tools`
environment), `--episodes` episodes each, sampled by the bundled SmolLM2-135M-Instruct twice in turn per
repeat: with the opening that a batch's prompts share prefilled once (the default) and with every prompt
prefilled whole (`SHARED_PREFIX_SAVING` out of reach). Each line gives the wall time, the prefilled positions
(rows x columns of every call with more than one input column, padding included) and the seconds of the
prefill calls and of the one-token decoding steps.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=64, help="episodes of each of the 3 problems")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="bf16")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    args = parser.parse_args()
    if args.repeats < 1 or args.episodes < 1:
        parser.error("--repeats and --episodes must be at least 1.")
    import tools_boundary as study

    from rlvr.cli._common import quiet_transformers
    from rlvr.models import HFEngine, SamplingParams, load_policy, sampler
    from rlvr.models.episodes import sample_tasks

    quiet_transformers()
    problems = [(34, 57), (81, 26), (45, 72)]
    tasks = [{"id": f"{a}x{b}", "prompt": study._prompt(a, b, "tool"), "reference": str(a * b),
              "verifier": study.VERIFIER, "env": study.ENV} for a, b in problems]
    engine = HFEngine(load_policy(args.model, dtype="float32"), precision=args.precision)
    totals: dict[str, list[float]] = {}
    call: dict[str, float] = {}

    def before(module, inputs, kwargs):
        rows, columns = kwargs["input_ids"].shape
        call.update(start=time.perf_counter(), positions=rows * columns, prefill=columns > 1)

    def after(module, inputs, kwargs, output):
        kind = "prefill" if call["prefill"] else "decode"
        seconds_positions = totals.setdefault(kind, [0.0, 0])
        seconds_positions[0] += time.perf_counter() - call["start"]
        seconds_positions[1] += call["positions"]

    engine.model.register_forward_pre_hook(before, with_kwargs=True)
    engine.model.register_forward_hook(after, with_kwargs=True)
    saving = sampler.SHARED_PREFIX_SAVING
    print(f"{len(problems)} problems x {args.episodes} tool episodes, {args.model}, {args.precision} sampler")
    for repeat in range(args.repeats):
        for name, threshold in (("shared opening", saving), ("prefilled whole", 10**9)):
            sampler.SHARED_PREFIX_SAVING = threshold
            totals.clear()
            start = time.perf_counter()
            result = sample_tasks(engine, tasks, SamplingParams(n=args.episodes, max_new_tokens=40, temperature=1.0,
                                                                seed=repeat))
            seconds = time.perf_counter() - start
            prefill, decode = totals.get("prefill", [0.0, 0]), totals.get("decode", [0.0, 0])
            print(f"  run {repeat} {name:<15} {seconds:6.1f} s, {result.new_tokens} tokens sampled; prefill "
                  f"{prefill[0]:5.1f} s over {prefill[1]} positions; decoding {decode[0]:5.1f} s", flush=True)
    sampler.SHARED_PREFIX_SAVING = saving


if __name__ == "__main__":
    main()
