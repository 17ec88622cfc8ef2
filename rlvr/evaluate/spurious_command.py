"""`rlvr spurious CONFIG`: the training config again with random (and format-only) rewards."""

from __future__ import annotations

import argparse
import os

SUMMARY = ("Train the config again with a random reward matched to its base rate (and optionally format-only) "
           "and warn when a control gains too.")
EXAMPLE = ("rlvr spurious examples/grpo_arithmetic.yaml data.train=train.jsonl data.eval=heldout.jsonl --format\n"
           "  rlvr spurious config.yaml --base-rate 0.3 --output-dir runs/controls")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="training config (YAML), as for `rlvr train`")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. run.steps=10")
    parser.add_argument("--format", action="store_true",
                        help="also run a format-only control (the reward's format part, or --format-reward)")
    parser.add_argument("--format-reward", metavar="SPEC",
                        help="verifier spec of the format-only control, e.g. '{name: format, answer: bare}'")
    parser.add_argument("--base-rate", type=float, metavar="P",
                        help="use this base rate instead of measuring it on the base model")
    parser.add_argument("--rate-prompts", type=int, default=16, metavar="N",
                        help="training prompts (K rollouts each) to measure the base rate on (default 16)")
    parser.add_argument("--output-dir", metavar="DIR",
                        help="where the arms go, DIR/real, DIR/random, DIR/format (default: run.output_dir "
                             "+ '-spurious')")


def run(args: argparse.Namespace) -> int:
    import yaml

    from rlvr._errors import ConfigError
    from rlvr.cli import _quiet_transformers
    from rlvr.evaluate.spurious import format_spurious, run_spurious
    from rlvr.train.config import load_config

    config = load_config(args.config, list(args.overrides))
    format_reward = None
    if args.format_reward:
        try:
            format_reward = yaml.safe_load(args.format_reward)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--format-reward is not a valid YAML/JSON verifier spec: {exc}.") from None
        from rlvr.verifiers import get_verifier

        get_verifier(format_reward)  # a bad spec fails now, not after the real arm trained
    if args.rate_prompts < 1:
        raise ConfigError("--rate-prompts must be at least 1.")
    controls = ("random", "format") if args.format or args.format_reward else ("random",)
    root = args.output_dir or config.run.output_dir.rstrip("/" + os.sep) + "-spurious"
    _quiet_transformers()
    record = run_spurious(config, root, controls=controls, format_reward=format_reward,
                          base_rate=args.base_rate, rate_prompts=args.rate_prompts)
    print()
    print(format_spurious(record))
    print(f"\nwrote {os.path.join(root, 'spurious.json')}; run directories under {root}/")
    return 1 if record["warnings"] else 0
