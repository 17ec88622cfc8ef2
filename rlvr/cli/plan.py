"""`rlvr plan BASE TRAINED [BASE2 TRAINED2 ...]`: the seeds and problems a decision at --delta needs."""

from __future__ import annotations

import argparse

from rlvr.cli.compare import add_pair_arguments, read_eval_pairs

SUMMARY = ("From the same eval files as compare: where the gain's variance comes from (seeds, problems, samples), "
           "the minimum detectable effect, and the seeds and problems a decision at --delta needs.")
EXAMPLE = "rlvr plan base.json seed0.json base.json seed1.json --delta 0.05 --power 0.8"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_arguments(parser, "with one pair the seed-to-seed variance is unmeasured")
    parser.add_argument("--power", type=float, default=0.8,
                        help="the chance of detecting a gain of delta that the plan asks for (default 0.8)")
    parser.add_argument("--json", help="also write the plan (the analysis per task set and reading) as JSON")


def run(args: argparse.Namespace) -> int:
    from math import isfinite

    from rlvr._errors import ConfigError
    from rlvr.evaluate import write_eval
    from rlvr.evaluate.gains import compare_seeds, format_compare_seeds

    if not (isfinite(args.power) and 0.5 <= args.power < 1):
        raise ConfigError(f"--power must be at least 0.5 and below 1 (e.g. 0.8), got {args.power}.")
    args.resamples, args.seed = 200, 0  # the bootstrap only gives P(improvement) here
    pairs, delta = read_eval_pairs(args)
    result = compare_seeds(pairs, resamples=args.resamples, seed=args.seed, delta=delta, power=args.power)
    print(format_compare_seeds(result, plan=True))
    if args.json:
        write_eval({key: result[key] for key in ("seeds", "delta", "sets")}, args.json)
    return 0
