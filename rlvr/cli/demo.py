"""`rlvr demo`: the whole story on the bundled real model, on a CPU, in one command (rlvr/workflows/demo.py)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from rlvr._errors import ConfigError
from rlvr._io import check_directory
from rlvr.cli._common import quiet_transformers
from rlvr.workflows.demo import FULL, QUICK

SUMMARY = ("Run the whole story on the bundled model: base eval, curation, GRPO with random and format-only "
           "controls over several seeds, compare on strict and format-neutral readings, report.")
EXAMPLE = "rlvr demo --quick\n  rlvr demo --model gemma3-270m --output-dir runs/demo-gemma"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="a ~4 minute version: fewer steps and tasks, one seed")
    parser.add_argument("--model", default="smollm2-135m-instruct",
                        help="alias, local HF folder, .gguf or hub id (default smollm2-135m-instruct)")
    parser.add_argument("--output-dir", metavar="DIR", help="where everything goes (default runs/demo or "
                                                            "runs/demo-quick)")
    parser.add_argument("--steps", type=int, help=f"GRPO steps (default {FULL.steps}, quick {QUICK.steps})")
    parser.add_argument("--seeds", type=int,
                        help=f"train every arm with this many seeds (default {FULL.seeds}, quick {QUICK.seeds})")
    parser.add_argument("--seed", type=int, default=0, help="the first seed (default 0)")


def run(args: argparse.Namespace) -> int:
    from rlvr.workflows.demo import prepare, run_demo

    plan = QUICK if args.quick else FULL
    if args.steps is not None:
        if args.steps < 1:
            raise ConfigError("--steps must be at least 1.")
        plan = replace(plan, steps=args.steps)
    if args.seeds is not None:
        if args.seeds < 1:
            raise ConfigError("--seeds must be at least 1.")
        plan = replace(plan, seeds=args.seeds)
    root = Path(args.output_dir or ("runs/demo-quick" if args.quick else "runs/demo"))
    check_directory(root, "--output-dir")
    quiet_transformers()
    from rlvr.models import resolve_model

    resolve_model(args.model)  # a missing model fails (and a GGUF is converted) before anything is written
    prepare(root)
    run_demo(args.model, root, plan, seed=args.seed)
    return 0
