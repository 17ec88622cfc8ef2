"""`rlvr spurious CONFIG`: the training config again with random (and format-only, majority-vote) rewards."""

from __future__ import annotations

import argparse
import os

from rlvr.cli._common import add_plugin_argument, quiet_transformers
from rlvr.cli.compare import DELTA_HELP, check_delta
from rlvr.rundir import RunDir

SUMMARY = ("Train the config again with a random reward (p = 0.5) and optionally format-only or majority-vote, over "
           "several seeds; report what each arm trained on and warn when a control gains too.")
EXAMPLE = ("rlvr spurious examples/grpo_arithmetic.yaml data.train=train.jsonl data.eval=heldout.jsonl --format "
           "--seeds 2\n  rlvr spurious config.yaml --random-p matched --base-rate 0.3 --output-dir runs/controls\n"
           "  rlvr spurious config.yaml --seeds auto --max-seeds 6 --delta 0.05")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="training config (YAML), as for `rlvr train`")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. run.steps=10")
    parser.add_argument("--format", action="store_true",
                        help="also run a format-only control (the reward's format part, or --format-reward)")
    parser.add_argument("--majority", action="store_true",
                        help="also run a label-free control: reward agreeing with the group's majority answer "
                             "(TTRL, data.group_reward=majority)")
    parser.add_argument("--format-reward", metavar="SPEC",
                        help="verifier spec of the format-only control, e.g. '{name: format, answer: bare}'")
    parser.add_argument("--random-p", default="0.5", metavar="P|matched",
                        help="the random arm's reward rate (default 0.5, so that it trains), or 'matched': the real "
                             "reward's base rate on the base model (measured, or --base-rate)")
    parser.add_argument("--base-rate", type=float, metavar="P",
                        help="with --random-p matched: use this base rate instead of measuring it on the base model")
    parser.add_argument("--rate-prompts", type=int, default=16, metavar="N",
                        help="training prompts (K rollouts each) to measure the base rate on (default 16)")
    parser.add_argument("--seeds", default="1", metavar="N|auto",
                        help="train every arm with N seeds (run.seed, run.seed + 1, ...) and report the spread "
                             "(default 1; one seed is an anecdote), or 'auto': add seeds to the real arm until its "
                             "decision is reached or --max-seeds are spent (Bonferroni over the looks)")
    parser.add_argument("--max-seeds", type=int, metavar="N",
                        help="with --seeds auto: the most seeds to train (default 6)")
    parser.add_argument("--delta", type=float, help=DELTA_HELP)
    parser.add_argument("--output-dir", metavar="DIR",
                        help="where the arms go, DIR/real, DIR/random, DIR/format, DIR/majority (default: "
                             "run.output_dir + '-spurious')")
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    import yaml

    from rlvr._errors import ConfigError
    from rlvr.models import check_spec
    from rlvr.train.config import load_config, sampler_spec
    from rlvr.verifiers import allow_plugins
    from rlvr.workflows.spurious import format_spurious, run_spurious

    config = load_config(args.config, list(args.overrides))
    check_spec(sampler_spec(config))  # e.g. sampling.engine=vllm without a GPU fails before anything runs
    allow_plugins(*config.plugins)  # the config's own opt-in, before --format-reward is built
    format_reward = None
    if args.format_reward:
        try:
            format_reward = yaml.safe_load(args.format_reward)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0].rstrip(".:")
            raise ConfigError(f"--format-reward is not a valid YAML/JSON verifier spec ({first}); write it as "
                              "e.g. '{name: format, answer: bare}'.") from None
        from rlvr.verifiers import get_verifier

        get_verifier(format_reward)  # a bad spec fails now, not after the real arm trained
    if args.rate_prompts < 1:
        raise ConfigError("--rate-prompts must be at least 1.")
    count, max_seeds = seed_count(args.seeds, args.max_seeds)
    delta = check_delta(args.delta)
    if config.run.seed + count - 1 > 2**32 - 1:
        raise ConfigError(f"run.seed {config.run.seed} with {count} seeds runs past 4294967295 (2**32 - 1); "
                          "give a smaller run.seed.")
    random_p = None if args.random_p == "matched" else _probability(args.random_p)
    if args.base_rate is not None and random_p is not None:
        raise ConfigError("--base-rate is used only with --random-p matched; add --random-p matched or drop "
                          "--base-rate.")
    if args.base_rate is not None:
        _probability(str(args.base_rate), "--base-rate")
    controls = ("random",) + (("format",) if args.format or args.format_reward else ()) \
        + (("majority",) if args.majority else ())
    root = args.output_dir or config.run.output_dir.rstrip("/" + os.sep) + "-spurious"
    quiet_transformers()
    record = run_spurious(config, root, controls=controls, format_reward=format_reward, random_p=random_p,
                          base_rate=args.base_rate, rate_prompts=args.rate_prompts,
                          seeds=tuple(config.run.seed + i for i in range(1 if max_seeds else count)),
                          max_seeds=max_seeds, delta=delta)
    print()
    print(format_spurious(record))
    print(f"\nwrote {os.path.join(root, RunDir.SPURIOUS)}; run directories under {root}/")
    return 1 if record["warnings"] else 0


AUTO_MAX_SEEDS = 6


def seed_count(seeds: str, max_seeds: int | None) -> tuple[int, int | None]:
    """(the most seeds that may train, max_seeds for `--seeds auto` else None), from --seeds and --max-seeds."""
    from rlvr._errors import ConfigError

    if seeds == "auto":
        most = AUTO_MAX_SEEDS if max_seeds is None else max_seeds
        if most < 2:
            raise ConfigError(f"--max-seeds must be at least 2 (a decision over seeds needs two), got {most}.")
        return most, most
    if max_seeds is not None:
        raise ConfigError("--max-seeds is used only with --seeds auto; add --seeds auto or drop --max-seeds.")
    try:
        count = int(seeds)
    except ValueError:
        count = 0
    if count < 1:
        raise ConfigError(f"--seeds must be a whole number of at least 1, or 'auto', got {seeds!r}.")
    return count, None


def _probability(text: str, flag: str = "--random-p") -> float:
    from math import isfinite

    from rlvr._errors import ConfigError

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (isfinite(value) and 0.0 <= value <= 1.0):
        extra = " or 'matched'" if flag == "--random-p" else ""
        raise ConfigError(f"{flag} must be a probability in [0, 1]{extra}, got {text!r}.")
    return value
