"""`rlvr sft CONFIG [key=value ...]`: supervised fine-tuning with completion-only loss.

    rlvr sft data.train=sft.jsonl data.eval=heldout.jsonl optim.epochs=3 run.output_dir=runs/sft

The loop is in `rlvr/sft/trainer.py`; the config and its defaults in `rlvr/sft/config.py`.
"""

from __future__ import annotations

import argparse

from rlvr.cli._common import config_arguments, quiet_transformers
from rlvr.config import config_help
from rlvr.rundir import RunDir
from rlvr.sft.config import SFTConfig  # light: only dataclasses, for the key list in --help

SUMMARY = "Supervised fine-tuning on a chat JSONL dataset (e.g. from `rlvr distill`), loss on completions only."
EXAMPLE = ("rlvr sft sft.yaml data.train=sft.jsonl data.eval=heldout.jsonl optim.lr=2e-5 optim.epochs=3\n"
           "  rlvr eval --model runs/sft/model --tasks heldout.jsonl --k 8 -o sft.json\n\n"
           "config keys and defaults:\n" + config_help(SFTConfig))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rlvr sft`, added to the subcommand's parser."""
    parser.add_argument("config", nargs="?", help="YAML config file (optional: defaults plus overrides work too)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. optim.lr=2e-5")


def run(args: argparse.Namespace) -> int:
    """Load the config, train, and print where everything went."""
    from rlvr.sft.config import load_sft_config
    from rlvr.sft.trainer import train_sft

    config_file, overrides = config_arguments(args)
    config = load_sft_config(config_file, overrides)
    quiet_transformers()
    run_dir = train_sft(config)
    rows = RunDir(run_dir).read(RunDir.METRICS)
    print(f"{len(rows)} steps; batch loss {rows[0]['loss']:.4f} at step 1, {rows[-1]['loss']:.4f} at step {len(rows)}")
    saved = f" {RunDir.MODEL}/ (load it with --model)," if config.run.save_model else ""
    print(f"run directory: {run_dir} ({RunDir.CONFIG}, {RunDir.METRICS},{saved} {RunDir.EVAL}/ when data.eval is set)")
    return 0
