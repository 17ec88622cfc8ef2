"""`rlvr audit TARGET`: is this verifier safe to optimise against?

    rlvr audit math
    rlvr audit mypkg.checks:my_verifier --suite math --json audit.json
    rlvr audit math --tasks tasks.jsonl --eval eval.json --checker mypkg.checks:strict_check

TARGET is a registry name or "package.module:function" (a check `(completion, reference) ->
float | Verdict`), imported from the current directory or the installed packages. Cases come
from the built-in suite (`--suite`, by default TARGET when it names one) with mutations of a
generated task set (or of `--tasks`), from `--cases` files, and from an eval run relabelled by
an independent `--checker`. Exit status: 0 when coverage reaches `--min-coverage`, 1 below it,
2 on bad input. The audit itself is `rlvr.workflows.audit.audit_verifier` (an `AuditJob`).
"""

from __future__ import annotations

import argparse
import sys

from rlvr.cli._common import add_plugin_argument
from rlvr.audit.suites import SUITES  # light: building the `rlvr` parser imports this module

SUMMARY = "Audit a verifier against known hacks, mutated answers and your own cases; report coverage."
EXAMPLE = ("rlvr audit math --json audit.json --html audit.html\n"
           "  rlvr audit mypkg.checks:my_check --suite math --min-coverage 0.95")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rlvr audit`, added to the subcommand's parser."""
    parser.add_argument("target", metavar="TARGET", help="verifier to audit: a registry name (math, code, sql, ...) "
                                       "or package.module:function")
    parser.add_argument("--suite", choices=SUITES,
                        help="built-in cases and mutations to run (default: TARGET when it is a suite name)")
    parser.add_argument("--cases", action="append", default=[], metavar="FILE",
                        help="your own cases, JSONL {completion, reference, should_pass, tag} (repeatable)")
    parser.add_argument("--tasks", metavar="FILE", help="task file to mutate instead of the generated task set; "
                                                        "also the references of --eval")
    parser.add_argument("--eval", metavar="EVAL.json", help="relabel this eval run's completions with --checker")
    parser.add_argument("--checker", metavar="SPEC", help="independent verifier that labels --eval completions")
    parser.add_argument("--min-coverage", type=float, default=0.9, metavar="X",
                        help="exit 1 below this coverage (default 0.9)")
    parser.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    parser.add_argument("--html", metavar="OUT", help="write the report as an HTML fragment")
    parser.add_argument("--n-tasks", type=int, default=40, metavar="N",
                        help="generated tasks to mutate (code: HumanEval problems beside the built-in ones; "
                             "default 40)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the generated task set (default 0)")
    parser.add_argument("--processes", type=int, default=2, metavar="N",
                        help="parallel verifier processes for the second run and the oracles (default 2)")
    parser.add_argument("--strict-references", action="store_true",
                        help="fail when TARGET cannot read a case's reference (default: warn, naming them)")
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    """The flags as an `AuditJob` (rlvr/workflows/audit.py); 1 when coverage is below --min-coverage."""
    from rlvr.workflows.audit import AuditJob, audit_verifier

    job = AuditJob(args.target, suite=args.suite, cases=tuple(args.cases), tasks=args.tasks, eval=args.eval,
                   checker=args.checker, min_coverage=args.min_coverage, json=args.json, html=args.html,
                   n_tasks=args.n_tasks, seed=args.seed, processes=args.processes,
                   strict_references=args.strict_references)
    coverage = audit_verifier(job).summary()["coverage"]
    if coverage < args.min_coverage:
        print(f"rlvr audit: coverage {coverage:.4f} is below --min-coverage {args.min_coverage:g}", file=sys.stderr)
        return 1
    return 0
