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

    rules = read_rules_file(args.rules)
    results = run_gate(rules, read_metrics_file(args.baseline), read_metrics_file(args.candidate))
    for r in results:
        print(f"  {'PASS' if r['passed'] else 'FAIL'}  {r['metric']:<20} {r['detail']}")
    failed = [r for r in results if not r["passed"]]
    print(f"\n{'does not ship' if failed else 'ships'}: {len(results) - len(failed)} of {len(results)} rules pass")
    return 1 if failed else 0
