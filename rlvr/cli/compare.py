"""`rlvr compare BASE TRAINED [BASE2 TRAINED2 ...]`: search compression vs capability gain, on the strict and
neutral readings, and the three-way decision on the pass@1 gain (over seeds and problems with several pairs)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rlvr.workflows.comparison import check_delta as check_delta  # spurious and demo check --delta with it

if TYPE_CHECKING:
    from rlvr.workflows.comparison import CompareJob

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
    """The arguments as a `CompareJob`, run by the workflow the pipeline's compare stage runs too."""
    from rlvr.workflows.comparison import run_compare

    run_compare(compare_job(args))
    return 0


def compare_job(args: argparse.Namespace) -> CompareJob:
    """BASE TRAINED [BASE2 TRAINED2 ...], --resamples, --seed, --delta and --json as a `CompareJob`."""
    from rlvr.workflows.comparison import CompareJob

    return CompareJob(args.base, args.trained, more=tuple(args.more), resamples=args.resamples, seed=args.seed,
                      delta=args.delta, json=args.json)


def read_eval_pairs(args: argparse.Namespace) -> tuple[list[tuple[dict, dict]], float]:
    """(the (base, trained) pairs, delta) as `rlvr compare` reads them (`CompareJob.check`), every file checked
    before any work; `rlvr plan` reads its pairs with this."""
    return compare_job(args).check()
