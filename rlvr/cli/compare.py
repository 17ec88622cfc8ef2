"""`rlvr compare BASE TRAINED`: search compression vs capability gain, on the strict and neutral readings."""

from __future__ import annotations

import argparse

from rlvr.cli._common import read_eval_pair

SUMMARY = "Compare two eval files of the same tasks: search compression vs capability gain."
EXAMPLE = "rlvr compare base.json trained.json --json compare.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="eval file of the base model")
    parser.add_argument("trained", help="eval file of the trained model")
    parser.add_argument("--resamples", type=int, default=2000, help="paired bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the comparison as JSON")


def run(args: argparse.Namespace) -> int:
    from rlvr.evaluate import write_eval
    from rlvr.evaluate.gains import compare_sets, format_comparison_sets

    base, trained = read_eval_pair(args)
    result = compare_sets(base, trained, resamples=args.resamples, seed=args.seed)
    if len(result["sets"]) == 1:  # one set: the plain comparison record, as before
        result = next(iter(result["sets"].values()))
        print(format_comparison_sets({"sets": {"": result}, "warning": None}))
    else:
        print(format_comparison_sets(result))
    if args.json:
        write_eval(result, args.json)
    return 0
