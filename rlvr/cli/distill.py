"""`rlvr distill`: rejection sampling into an SFT dataset.

    rlvr distill --model smollm2-135m-instruct --tasks train.jsonl --k 16 --max-new-tokens 32 -o sft.jsonl

Writes the dataset (chat JSONL, one kept completion a line) and, beside it, the eval record of
every sample (`sft.jsonl.eval.json`), then prints the yield. The logic is in `distill.py`.
"""

from __future__ import annotations

import argparse

from rlvr._errors import DataError
from rlvr.cli._common import add_plugin_argument, add_sampling_arguments, quiet_transformers, sampling_settings

SUMMARY = "Rejection sampling: sample K completions per task, keep the verified ones as an SFT dataset."
EXAMPLE = ("rlvr distill --model smollm2-135m-instruct --tasks train.jsonl --k 16 --max-new-tokens 32 "
           "-o sft.jsonl --keep shortest\n"
           "  then: rlvr sft data.train=sft.jsonl run.output_dir=runs/sft")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rlvr distill`, added to the subcommand's parser."""
    parser.add_argument("--model", required=True, help="alias, local HF folder, .gguf file or hub id")
    parser.add_argument("--tasks", required=True, help="task file (JSONL, one task record a line)")
    parser.add_argument("--split", help="only tasks of this split (default: all)")
    parser.add_argument("--keep", choices=["all", "shortest", "diverse"], default="all",
                        help="which passing samples of a task to keep: every one, the shortest, or distinct "
                             "texts picked for dissimilarity (character 3-gram Jaccard) (default all)")
    parser.add_argument("--per-task", type=int, metavar="N",
                        help="at most N kept per task (default: no cap for all, 1 for shortest, 4 for diverse)")
    add_sampling_arguments(parser)
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default auto)")
    parser.add_argument("--verifier-workers", type=int, default=2, help="parallel verifier processes (default 2)")
    parser.add_argument("-o", "--output", required=True, help="SFT dataset to write (chat JSONL); the eval record "
                                                              "goes to OUTPUT.eval.json")
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Sample, verify, select, write the dataset and the eval record; print the yield."""
    from rlvr._io import check_not_input, check_writable, write_jsonl
    from rlvr.evaluate import write_eval
    from rlvr.tasks import load_tasks
    from rlvr.tasks.judge import check_verifiers
    from rlvr.workflows.distill import distill, format_yield, select

    tasks = load_tasks(args.tasks, split=args.split)  # bad input fails before the model loads
    check_verifiers(tasks, args.tasks)
    select([], args.keep, args.per_task)
    settings = sampling_settings(args, verifier_workers=args.verifier_workers)
    check_writable(args.output, "--output")
    check_writable(f"{args.output}.eval.json", "--output")
    check_not_input(args.output, [args.tasks], "--output")
    check_not_input(f"{args.output}.eval.json", [args.tasks], "--output")

    from rlvr.models import HFEngine, load_policy
    from rlvr.models.loading import check_device

    check_device(args.device)

    quiet_transformers()
    print(f"loading {args.model} ...", flush=True)
    policy = load_policy(args.model, dtype=args.dtype, device=args.device)
    rows, record = distill(HFEngine(policy, batch_size=args.batch_size), tasks, settings, args.keep, args.per_task,
                           model_name=args.model, tasks_source=args.tasks)
    eval_path = f"{args.output}.eval.json"
    write_eval(record, eval_path)
    print(format_yield(record["distill"]))
    if not rows:
        raise DataError(f"no sampled completion passed its verifier (see {eval_path}); sample more with a larger "
                        "--k or --max-new-tokens, or use easier tasks.")
    write_jsonl(rows, args.output)
    print(f"wrote {len(rows)} examples to {args.output} and every sample to {eval_path}")
    return 0
