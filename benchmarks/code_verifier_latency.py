"""Per-check overhead of the code verifier, against a bare Python subprocess in the same run.

    python benchmarks/code_verifier_latency.py [--checks 100] [--isolation auto]

Times a trivial passing check (`def f(): return 1` against one case, and the same function
against one assert in the judge form) `--checks` times each, and a bare
`subprocess.run([sys.executable, "-c", "pass"])` as many times, interleaved so that load on
the machine hits all of them alike. Prints the median and p90 of each and the ratio of the
verifier's median to the bare subprocess's. Target: a median under 100 ms for the cases form.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from rlvr.verifiers.code import CodeVerifier

CODE = "def f():\n    return 1\n"
CASES = {"entry_point": "f", "cases": [{"args": [], "expected": 1}]}
TESTS = {"tests": "assert f() == 1\n"}


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=100, help="checks per measurement (default 100)")
    parser.add_argument("--isolation", default="auto", choices=["auto", "bwrap", "unshare"])
    args = parser.parse_args()

    verifier = CodeVerifier(isolation=args.isolation)
    print(f"sandbox: {verifier._sandbox.kind}; {args.checks} checks each", flush=True)
    for reference in (CASES, TESTS):  # warm up: first-use costs (probe, compiling the child program)
        assert verifier.verify(CODE, reference).passed

    timings: dict[str, list[float]] = {"bare subprocess": [], "code: cases form": [], "code: tests form": []}
    for _ in range(args.checks):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        timings["bare subprocess"].append(time.perf_counter() - start)
        for name, reference in (("code: cases form", CASES), ("code: tests form", TESTS)):
            start = time.perf_counter()
            verdict = verifier.verify(CODE, reference)
            timings[name].append(time.perf_counter() - start)
            assert verdict.passed, verdict

    reference_median = statistics.median(timings["bare subprocess"])
    print(f"{'':20s} {'median ms':>10s} {'p90 ms':>8s} {'x bare':>7s}")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"{name:20s} {median * 1e3:10.1f} {p90(values) * 1e3:8.1f} {median / reference_median:7.2f}")


if __name__ == "__main__":
    main()
