"""`rlvr distill`: rejection sampling into an SFT dataset.

    rlvr distill --model smollm2-135m-instruct --tasks train.jsonl --k 16 --max-new-tokens 32 -o sft.jsonl

Writes the dataset (chat JSONL, one kept completion a line) and, beside it, the eval record of
every sample (`sft.jsonl.eval.json`), then prints the yield. The logic is in
`rlvr/workflows/distill.py` (`DistillJob`, `run_distill`).
"""

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

SUMMARY = "Rejection sampling: sample K completions per task, keep the verified ones as an SFT dataset."
EXAMPLE = ("rlvr distill --model smollm2-135m-instruct --tasks train.jsonl --k 16 --max-new-tokens 32 "
           "-o sft.jsonl --keep shortest\n"
           "  then: rlvr sft data.train=sft.jsonl run.output_dir=runs/sft")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rlvr distill`, added to the subcommand's parser."""
    add_engine_arguments(parser)  # --model, --engine, --dtype, --device, ...
    parser.add_argument("--tasks", required=True, help="task file (JSONL, one task record a line)")
    parser.add_argument("--split", help="only tasks of this split (default: all)")
    parser.add_argument("--keep", choices=["all", "shortest", "diverse"], default="all",
                        help="which passing samples of a task to keep: every one, the shortest, or distinct "
                             "texts picked for dissimilarity (character 3-gram Jaccard) (default all)")
    parser.add_argument("--per-task", type=int, metavar="N",
                        help="at most N kept per task (default: no cap for all, 1 for shortest, 4 for diverse)")
    add_sampling_arguments(parser)
    parser.add_argument("--verifier-workers", type=int, default=2, help="parallel verifier processes (default 2)")
    parser.add_argument("-o", "--output", required=True, help="SFT dataset to write (chat JSONL); the eval record "
                                                              "goes to OUTPUT.eval.json")
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    """The flags as a `DistillJob`, run by the workflow the pipeline's distill stage runs too."""
    from rlvr.workflows.distill import DistillJob, run_distill

    spec = engine_spec_of(args)
    settings = sampling_settings(args, verifier_workers=args.verifier_workers)
    job = DistillJob(spec, (args.tasks,), args.output, settings=settings, keep=args.keep, per_task=args.per_task,
                     split=args.split)
    quiet_transformers()
    rows, _ = run_distill(job)
    print(f"wrote {len(rows)} examples to {args.output} and every sample to {job.eval_output}")
    return 0
