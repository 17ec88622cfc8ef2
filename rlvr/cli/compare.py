"""`rlvr compare BASE TRAINED [BASE2 TRAINED2 ...]`: search compression vs capability gain, on the strict and
neutral readings, and the three-way decision on the pass@1 gain (over seeds and problems with several pairs)."""

from __future__ import annotations

import argparse

from rlvr.cli._common import read_eval_pair

SUMMARY = ("Compare eval files of the same tasks: search compression vs capability gain, and whether pass@1 "
           "rose (gain, loss, no gain beyond delta or inconclusive), over seeds with one pair per seed.")
EXAMPLE = ("rlvr compare base.json trained.json --json compare.json\n"
           "  rlvr compare base.json seed0.json base.json seed1.json base.json seed2.json --delta 0.05")
DELTA_HELP = "the smallest pass@1 gain that matters, for the decision (default 0.05)"


def add_pair_arguments(parser: argparse.ArgumentParser, more: str) -> None:
    """BASE TRAINED [BASE2 TRAINED2 ...] and --delta, as compare and plan read them (`read_eval_pairs`)."""
    parser.add_argument("base", help="eval file of the base model")
    parser.add_argument("trained", help="eval file of the trained model")
    parser.add_argument("more", nargs="*", default=[], metavar="BASE2 TRAINED2",  # a default: not "required"
                        help=f"more pairs, one per training seed (a shared base file repeated): {more}")
    parser.add_argument("--delta", type=float, help=DELTA_HELP)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_arguments(parser, "the gain's interval then spans seeds and problems")
    parser.add_argument("--resamples", type=int, default=2000,
                        help="paired bootstrap resamples (default 2000, at most 100,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the comparison as JSON")


def run(args: argparse.Namespace) -> int:
    from rlvr.evaluate import write_eval
    from rlvr.evaluate.gains import compare_sets, format_comparison_sets

    pairs, delta = read_eval_pairs(args)
    if len(pairs) > 1:
        from rlvr.evaluate.gains import compare_seeds, format_compare_seeds

        seeds = compare_seeds(pairs, resamples=args.resamples, seed=args.seed, delta=delta)
        print(format_compare_seeds(seeds))
        if args.json:
            write_eval(seeds, args.json)
        return 0
    base, trained = pairs[0]
    result = compare_sets(base, trained, resamples=args.resamples, seed=args.seed, delta=delta)
    if len(result["sets"]) == 1:  # one set: the plain comparison record, as before
        result = next(iter(result["sets"].values()))
        print(format_comparison_sets({"sets": {"": result}, "warning": None}))
    else:
        print(format_comparison_sets(result))
    if args.json:
        write_eval(result, args.json)
    return 0


def read_eval_pairs(args: argparse.Namespace) -> tuple[list[tuple[dict, dict]], float]:
    """(the (base, trained) pairs, delta), every file checked before any work: BASE TRAINED as for one pair,
    then BASE2 TRAINED2 ... in pairs, with --json none of them and --delta a pass@1 difference."""
    from rlvr._errors import ConfigError
    from rlvr._io import check_not_input, read_json_file
    from rlvr.evaluate.runner import check_eval_record

    delta = check_delta(args.delta)
    if len(args.more) % 2:
        raise ConfigError(f"give eval files in pairs, BASE TRAINED per seed; {args.more[-1]} has no partner.")
    if args.json and args.more:
        check_not_input(args.json, args.more, "--json")
    pairs = [read_eval_pair(args)]
    more = [check_eval_record(read_json_file(path, "eval file"), path, need_samples=True) for path in args.more]
    return pairs + list(zip(more[::2], more[1::2])), delta


def check_delta(delta: float | None) -> float:
    """--delta, or the default: a pass@1 difference strictly between 0 and 1 (one sentence if not)."""
    from math import isfinite

    from rlvr._errors import ConfigError
    from rlvr.evaluate.decide import DELTA

    if delta is None:
        return DELTA
    if not (isfinite(delta) and 0 < delta < 1):
        raise ConfigError(f"--delta must be a pass@1 difference between 0 and 1 (e.g. 0.05), got {delta}.")
    return delta
