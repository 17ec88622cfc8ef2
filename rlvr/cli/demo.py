"""`rlvr demo`: the whole story on the bundled real model, on a CPU, in one command (rlvr/workflows/demo.py)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from rlvr._errors import ConfigError
from rlvr._io import check_directory
from rlvr.cli._common import quiet_transformers
from rlvr.cli.compare import DELTA_HELP, check_delta
from rlvr.cli.spurious import seed_count
from rlvr.models.spec import DEFAULT_MODEL
from rlvr.workflows.demo import FULL, QUICK

SUMMARY = ("Run the whole story on the bundled model: base eval, curation, GRPO with random and format-only "
           "controls over several seeds, compare on strict and format-neutral readings, report.")
EXAMPLE = ("rlvr demo --quick\n  rlvr demo --model gemma3-270m --output-dir runs/demo-gemma\n"
           "  rlvr demo --seeds auto --max-seeds 6")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="a ~4 minute version: fewer steps and tasks, one seed")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"alias, local HF folder, .gguf or hub id (default {DEFAULT_MODEL})")
    parser.add_argument("--output-dir", metavar="DIR", help="where everything goes (default runs/demo or "
                                                            "runs/demo-quick)")
    parser.add_argument("--steps", type=int, help=f"GRPO steps (default {FULL.steps}, quick {QUICK.steps})")
    parser.add_argument("--seeds", metavar="N|auto",
                        help=f"train every arm with this many seeds (default {FULL.seeds}, quick {QUICK.seeds}), or "
                             "'auto': add seeds to the real arm until its decision is reached or --max-seeds are "
                             "spent (Bonferroni over the looks)")
    parser.add_argument("--max-seeds", type=int, metavar="N", help="with --seeds auto: the most seeds (default 6)")
    parser.add_argument("--delta", type=float, help=DELTA_HELP)
    parser.add_argument("--seed", type=int, default=0, help="the first seed (default 0)")


def run(args: argparse.Namespace) -> int:
    from rlvr.workflows.demo import prepare, run_demo

    plan = QUICK if args.quick else FULL
    if args.steps is not None:
        if args.steps < 1:
            raise ConfigError("--steps must be at least 1.")
        plan = replace(plan, steps=args.steps)
    if args.seeds is not None or args.max_seeds is not None:
        count, max_seeds = seed_count(args.seeds or str(plan.seeds), args.max_seeds)
        plan = replace(plan, seeds=count, max_seeds=max_seeds)  # with auto, seeds is the most that may train
    if args.delta is not None:
        plan = replace(plan, delta=check_delta(args.delta))
    from rlvr.models.generation import MAX_SEED, check_seed

    check_seed(args.seed, "--seed")
    if args.seed + plan.seeds - 1 > MAX_SEED:
        raise ConfigError(f"--seed {args.seed} with {plan.seeds} seeds runs past {MAX_SEED} (2**32 - 1); give a "
                          "smaller --seed.")
    root = Path(args.output_dir or ("runs/demo-quick" if args.quick else "runs/demo"))
    check_directory(root, "--output-dir")
    quiet_transformers()
    from rlvr.models import resolve_model

    resolve_model(args.model)  # a missing model fails (and a GGUF is converted) before anything is written
    prepare(root)
    run_demo(args.model, root, plan, seed=args.seed)
    return 0
