"""`rlvr health RUN`: replay the health rules on a run's metrics log."""

from __future__ import annotations

import argparse
import os

from rlvr.cli._common import options
from rlvr.rundir import RunDir

SUMMARY = "Replay the health rules on a run's metrics log and list the warnings."
EXAMPLE = "rlvr health runs/grpo --set min_entropy=0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help=f"run directory or {RunDir.METRICS}")
    parser.add_argument("--set", action="append", default=[], metavar="key=value", help="override a threshold")
    parser.add_argument("--strict", action="store_true", help="exit 1 when there is any warning")


def run(args: argparse.Namespace) -> int:
    from rlvr.monitor import HealthThresholds, read_metrics, replay
    from rlvr.config import with_overrides
    from rlvr.train.config import load_config

    thresholds, total_steps = HealthThresholds(), None  # no config: the run's length is read from its log
    config_path = RunDir(args.run).config if os.path.isdir(args.run) else None
    if config_path and config_path.exists():
        config = load_config(config_path)
        thresholds, total_steps = config.health, config.run.steps  # the windows the trainer used
    overrides = options(args.set)
    if overrides:
        thresholds = with_overrides(thresholds, overrides, "health.")
    rows = read_metrics(args.run)
    warnings = replay(rows, thresholds, total_steps)
    print(f"{len(rows)} steps read; {len(warnings)} health warning(s)")
    for w in warnings:
        print(f"  step {w.step:>5}  {w.rule:<26} {w.message}")
    return 1 if warnings and args.strict else 0
