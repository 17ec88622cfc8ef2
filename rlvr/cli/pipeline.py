"""`rlvr pipeline CONFIG`: chain distill, sft, grpo, eval, compare and gate stages (rlvr/workflows/pipeline.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rlvr.cli._common import add_plugin_argument, quiet_transformers

SUMMARY = "Run a multi-stage pipeline (distill, sft, grpo, eval, compare, gate) into one run directory tree."
EXAMPLE = "rlvr pipeline pipeline.yaml\n  (the config format: README, section Pipelines)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="pipeline YAML: output_dir, model and a list of stages")
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    from rlvr.workflows.pipeline import load_pipeline, run_pipeline

    pipeline = load_pipeline(args.config)
    quiet_transformers()
    state = run_pipeline(pipeline, base_dir=Path(args.config).parent)
    return 0 if state["shipped"] is not False else 1
