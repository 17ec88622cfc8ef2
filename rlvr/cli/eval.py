"""`rlvr eval`: sample K completions per task, verify them, report pass@1 and pass@k."""

from __future__ import annotations

import argparse
import os

from rlvr._errors import ConfigError
from rlvr.cli._common import add_plugin_argument, add_sampling_arguments, quiet_transformers, sampling_settings

SUMMARY = "Sample K completions per task, verify them, and report pass@1 and pass@k."
EXAMPLE = "rlvr eval --model smollm2-135m-instruct --tasks tasks.jsonl --k 8 --max-new-tokens 64 -o eval.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="alias, local HF folder, .gguf file or hub id")
    parser.add_argument("--tasks", required=True, nargs="+", metavar="[NAME=]FILE",
                        help="task file(s), JSONL; several sets (held-out, harder, another family) are evaluated "
                             "one after the other into one eval file, named by file stem or NAME=")
    parser.add_argument("--split", help="only tasks of this split (default: all)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N tasks")
    add_sampling_arguments(parser)
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default auto)")
    parser.add_argument("--engine", choices=["hf", "vllm"], default="hf",
                        help="sampler: hf (transformers, CPU or GPU; default) or vllm (one CUDA GPU, pip install vllm)")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.3,
                        help="vllm: share of the GPU's memory vLLM may take (default 0.3)")
    parser.add_argument("--verifier-workers", type=int, default=2, help="parallel verifier processes (default 2)")
    parser.add_argument("--verifier-backend", choices=["local", "ray"], default="local",
                        help="ray: verify on Ray tasks ($RAY_ADDRESS, else a local instance; pip install 'rlvr[ray]')")
    parser.add_argument("-o", "--output", default="eval.json", help="where to write the eval file (default eval.json)")
    parser.add_argument("--strict-references", action="store_true",
                        help="fail when a task's verifier cannot read its reference (default: warn, naming them)")
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    from rlvr._io import check_not_input, check_writable
    from rlvr.evaluate import combine_sets, evaluate_sets, write_eval
    from rlvr.evaluate.runner import set_name
    from rlvr.tasks import load_tasks
    from rlvr.tasks.judge import check_references, check_verifiers

    if args.limit < 0:
        raise ConfigError(f"--limit must be 0 (every task) or a positive number of tasks, got {args.limit}.")
    if not 0 < args.gpu_memory_utilization <= 1:  # checked whatever the engine: a wrong value is never silent
        raise ConfigError(f"--gpu-memory-utilization must be in (0, 1], got {args.gpu_memory_utilization:g}.")
    sets = {}  # name -> (source, tasks); bad task files fail before the model loads
    for source in args.tasks:
        name, sep, path = source.partition("=")
        name, path = (name, path) if sep and not os.path.exists(source) else (set_name(source), source)
        if name in sets:
            raise ConfigError(f"two task sets are named '{name}'; name them: --tasks heldout=a.jsonl harder=b.jsonl.")
        tasks = load_tasks(path, split=args.split)
        check_verifiers(tasks, path)
        tasks = tasks[: args.limit] if args.limit else tasks
        check_references(tasks, path, strict=args.strict_references)
        sets[name] = (path, tasks)
    settings = sampling_settings(args, verifier_workers=args.verifier_workers, verifier_backend=args.verifier_backend)
    check_writable(args.output, "--output")
    check_not_input(args.output, [path for path, _ in sets.values()], "--output")

    from rlvr.models import check_device, check_engine, load_policy, make_engine

    check_engine(args.engine)  # e.g. vllm without a GPU fails before the model loads
    check_device(args.device)
    quiet_transformers()
    print(f"loading {args.model} ...", flush=True)
    policy = load_policy(args.model, dtype=args.dtype, device=args.device)
    engine = make_engine(args.engine, policy, batch_size=args.batch_size,
                         gpu_memory_utilization=args.gpu_memory_utilization)
    records = evaluate_sets(engine, sets, settings, model_name=args.model, say=lambda text: print(f"\n{text}\n"))
    write_eval(combine_sets(records), args.output)
    print(f"wrote {args.output}" + (f" ({len(records)} task sets: {', '.join(records)})" if len(records) > 1 else ""))
    return 0
