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
    from rlvr.evaluate.gate import read_metrics_file, read_rules_file, run_gate
    from rlvr.report import format_gate

    rules = read_rules_file(args.rules)
    results = run_gate(rules, read_metrics_file(args.baseline), read_metrics_file(args.candidate))
    print(format_gate(results))
    return 0 if all(r["passed"] for r in results) else 1
