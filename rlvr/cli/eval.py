"""`rlvr eval`: sample K completions per task, verify them, report pass@1 and pass@k."""

from __future__ import annotations

import argparse

from rlvr.cli._common import (
    add_engine_arguments,
    add_plugin_argument,
    add_sampling_arguments,
    engine_spec_of,
    quiet_transformers,
    sampling_settings,
)

SUMMARY = "Sample K completions per task, verify them, and report pass@1 and pass@k."
EXAMPLE = "rlvr eval --model smollm2-135m-instruct --tasks tasks.jsonl --k 8 --max-new-tokens 64 -o eval.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_engine_arguments(parser)  # --model, --engine, --dtype, --device, ...
    parser.add_argument("--tasks", required=True, nargs="+", metavar="[NAME=]FILE",
                        help="task file(s), JSONL; several sets (held-out, harder, another family) are evaluated "
                             "one after the other into one eval file, named by file stem or NAME=")
    parser.add_argument("--split", help="only tasks of this split (default: all)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N tasks")
    add_sampling_arguments(parser)
    parser.add_argument("--verifier-workers", type=int, default=2, help="parallel verifier processes (default 2)")
    parser.add_argument("--verifier-backend", choices=["local", "ray"], default="local",
                        help="ray: verify on Ray tasks ($RAY_ADDRESS, else a local instance; pip install 'rlvr[ray]')")
    parser.add_argument("-o", "--output", default="eval.json", help="where to write the eval file (default eval.json)")
    parser.add_argument("--strict-references", action="store_true",
                        help="fail when a task's verifier cannot read its reference (default: warn, naming them)")
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    """The flags as an `EvalJob`, run by the workflow the pipeline's eval stage runs too."""
    from rlvr.workflows.evaluation import EvalJob, run_eval

    spec = engine_spec_of(args)
    settings = sampling_settings(args, verifier_workers=args.verifier_workers, verifier_backend=args.verifier_backend)
    job = EvalJob(spec, tuple(args.tasks), output=args.output, settings=settings, split=args.split, limit=args.limit,
                  strict_references=args.strict_references)
    quiet_transformers()
    records = run_eval(job, say=lambda text: print(f"\n{text}\n"))
    print(f"wrote {args.output}" + (f" ({len(records)} task sets: {', '.join(records)})" if len(records) > 1 else ""))
    return 0
