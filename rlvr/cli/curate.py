"""`rlvr curate`: keep the tasks whose pass rate under a model lies in a band."""

from __future__ import annotations

import argparse

from rlvr._errors import ConfigError, DataError
from rlvr.cli._common import (
    add_engine_arguments,
    add_plugin_argument,
    add_sampling_arguments,
    engine_spec_of,
    quiet_transformers,
    sampling_settings,
)

SUMMARY = "Keep the tasks whose pass rate under a model lies in a band (default 0.3-0.7)."
EXAMPLE = "rlvr curate --model smollm2-135m-instruct --tasks train.jsonl --k 8 -o curated.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", required=True, help="task file to curate")
    parser.add_argument("--from-eval", help="take pass rates from this eval file instead of sampling --model")
    parser.add_argument("--split", help="only tasks of this split")
    parser.add_argument("--band", nargs=2, type=float, default=[0.3, 0.7], metavar=("LOW", "HIGH"))
    parser.add_argument("--by", choices=["passed", "reward"], default="passed",
                        help="rate = share of passing samples (default) or mean reward (for shaped rewards)")
    add_engine_arguments(parser, model="optional")  # --model (whose pass rates decide), --engine, ...
    add_sampling_arguments(parser)
    parser.add_argument("-o", "--output", required=True, help="curated task file to write")
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    from rlvr._io import check_not_input, check_writable, read_json_file
    from rlvr.evaluate import evaluate, write_eval
    from rlvr.evaluate.runner import check_eval_record
    from rlvr.tasks import load_tasks, write_tasks
    from rlvr.tasks.judge import check_verifiers
    from rlvr.workflows.curation import curate, pass_rates

    low, high = args.band
    if not 0.0 <= low <= high <= 1.0:
        raise ConfigError(f"--band must satisfy 0 <= LOW <= HIGH <= 1, got {low:g} {high:g}.")
    tasks = load_tasks(args.tasks, split=args.split)
    check_writable(args.output, "--output")
    inputs = [args.tasks, *([args.from_eval] if args.from_eval else [])]
    check_not_input(args.output, inputs, "--output")
    if args.from_eval:
        record = check_eval_record(read_json_file(args.from_eval, "eval file"), args.from_eval)
        if "sets" in record:
            raise DataError(f"{args.from_eval} holds several task sets; curate from the eval file of one task set.")
    else:
        if not args.model:
            raise ConfigError("give --model to measure pass rates, or --from-eval with an existing eval file.")
        from rlvr.models import check_spec, open_engine

        spec = engine_spec_of(args)
        check_verifiers(tasks, args.tasks)
        check_writable(args.output + ".eval.json", "--output")
        check_not_input(args.output + ".eval.json", inputs, "--output")
        settings = sampling_settings(args)
        check_spec(spec)  # e.g. vllm without a GPU fails before the model loads
        quiet_transformers()
        _, engine = open_engine(spec)
        record = evaluate(engine, tasks, settings, model_name=args.model, tasks_source=args.tasks)
        write_eval(record, args.output + ".eval.json")
    kept, counts = curate(tasks, pass_rates(record, by=args.by), low, high)
    print(f"pass rates of {len(tasks)} tasks over {record['settings']['k']} samples each:")
    for band, count in counts.items():
        print(f"  {band:<22} {count:>6}  {'#' * round(40 * count / max(len(tasks), 1))}")
    if not kept:
        raise ConfigError(f"no task has a pass rate in [{low}, {high}]; widen --band or use other tasks.")
    write_tasks(kept, args.output)
    print(f"kept {len(kept)} of {len(tasks)} tasks -> {args.output}")
    return 0
