"""`rlvr train CONFIG [key=value ...]`: GRPO against verifiers."""

from __future__ import annotations

import argparse
import os

from rlvr.cli._common import add_config_arguments, add_plugin_argument, config_arguments, quiet_transformers
from rlvr.rundir import RunDir

SUMMARY = "Train a policy with GRPO against verifiers; CONFIG is YAML, overrides are key=value."


def _example() -> str:
    from rlvr.train.config import config_help

    return ("rlvr train grpo.yaml run.steps=40 algo.beta=0.04 data.train=train.jsonl\n\n"
            "config keys and defaults:\n" + config_help())


EXAMPLE = _example()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in run.output_dir from its last checkpoint")
    parser.add_argument("--strict-references", action="store_true",
                        help="fail when a task's verifier cannot read its reference (default: warn, naming them); "
                             "the same as data.strict_references=true")
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    from rlvr.train.config import load_config
    from rlvr.train.trainer import train

    config_file, overrides = config_arguments(args)
    if args.strict_references:
        overrides = [*overrides, "data.strict_references=true"]
    config = load_config(config_file, overrides)
    quiet_transformers()
    run_dir = train(config, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":  # once, not once per process of a distributed launch
        print(f"run directory: {run_dir} ({RunDir.METRICS}, {RunDir.SAMPLES}, {RunDir.CHECKPOINTS}/)")
    return 0
