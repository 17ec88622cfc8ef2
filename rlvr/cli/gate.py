"""`rlvr gate BASELINE CANDIDATE --rules R`: the release gate; exit 1 on a violated rule."""

from __future__ import annotations

import argparse

SUMMARY = "Release gate: a candidate's metrics against a baseline; exit 1 on a violation."
EXAMPLE = "rlvr gate base.json candidate.json --rules rules.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline", help="eval file or {\"metrics\": {...}} JSON of the baseline")
    parser.add_argument("candidate", help="the same for the candidate")
    parser.add_argument("--rules", required=True, help="YAML rules file (see rlvr/evaluate/gate.py)")


def run(args: argparse.Namespace) -> int:
    """The arguments as a `GateJob`, run by the workflow the pipeline's gate stage runs too; 1 unless it ships."""
    from rlvr.workflows.gate import GateJob, gate_candidate

    shipped = gate_candidate(GateJob(args.baseline, args.candidate, rules=args.rules))["shipped"]
    return 0 if shipped else 1
