"""rlvr's math verifier against Math-Verify 0.9.0 on Math-Verify's own 276 test cases.

    python benchmarks/math_vs_math_verify.py [--repeat 3]

The cases are tests/audit/data/math_verify_cases.jsonl without the 13 rows newer than 0.9.0
(meta.origin). rlvr runs as `MathVerifier(answer="boxed_or_bare", isolated=False)`;
Math-Verify (when installed) runs each case the way its own tests do (`compare_strings`:
parse gold and prediction with the case's match types, then `verify` with its precision and
strictness). Prints, for each: agreement with the recorded expectation, paid wrong answers
(false positives), unpaid right answers (false negatives), and for rlvr the golds it cannot
read (reason bad_reference); then the median and p99 time of one check, in process.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from rlvr.audit import load_cases
from rlvr.verifiers.math import MathVerifier

TABLE = Path(__file__).resolve().parent.parent / "tests" / "audit" / "data" / "math_verify_cases.jsonl"


def math_verify_check(case) -> bool:
    """One case as Math-Verify's tests run it (tests/test_all.py::compare_strings)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    targets = []
    for kind in case.meta.get("match_types") or ["latex", "expr"]:
        if kind == "latex":
            targets.append(LatexExtractionConfig(boxed_match_priority=0))
        elif kind == "expr":
            targets.append(ExprExtractionConfig())
    gold, pred = parse(str(case.reference), targets), parse(case.completion, targets)
    return bool(verify(gold, pred, float_rounding=case.meta.get("precision", 6),
                       strict=case.meta.get("strict", True),
                       allow_set_relation_comp=case.meta.get("allow_set_relation_comp", False)))


def summarize(name: str, cases, passed: list[bool], times: list[float], unreadable: int | None) -> None:
    agree = sum(p == c.should_pass for p, c in zip(passed, cases))
    fp = sum(p and not c.should_pass for p, c in zip(passed, cases))
    fn = sum(c.should_pass and not p for p, c in zip(passed, cases))
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    line = (f"{name:<12} agree {agree}/{len(cases)}  false_pos {fp}  false_neg {fn}  "
            f"median {statistics.median(times) * 1e3:.2f} ms  p99 {p99 * 1e3:.1f} ms")
    if unreadable is not None:
        line += f"  unreadable_golds {unreadable}"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timing rounds (the fastest of each case is kept)")
    args = parser.parse_args()
    cases = [c for c in load_cases(TABLE) if "origin" not in c.meta]
    verifier = MathVerifier(answer="boxed_or_bare", isolated=False)
    verdicts, times = [], []
    for case in cases:
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            verdict = verifier.check(case.completion, case.reference)
            best = min(best, time.perf_counter() - start)
        verdicts.append(verdict)
        times.append(best)
    unreadable = sum(v.reason == "bad_reference" for v in verdicts)
    summarize("rlvr", cases, [v.passed for v in verdicts], times, unreadable)
    try:
        import math_verify  # noqa: F401
    except ImportError:
        print("math-verify is not installed: pip install math-verify==0.9.0 to compare")
        return
    passed, times = [], []
    for case in cases:
        start = time.perf_counter()
        passed.append(math_verify_check(case))
        times.append(time.perf_counter() - start)
    summarize("math-verify", cases, passed, times, None)


if __name__ == "__main__":
    main()
