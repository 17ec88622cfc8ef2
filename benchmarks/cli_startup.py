"""How long `rlvr --help` and every `rlvr COMMAND --help` take, warm, against a bare Python start.

    python benchmarks/cli_startup.py [--repeats 5]

Each command line runs `--repeats` times in a fresh process after one warm-up run (so the
page cache and the .pyc files are warm); the median wall time is printed beside the median of
`python -c pass` measured in the same run, and the ratio. The target is under 1 s each.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from rlvr.cli.main import COMMANDS


def _median_seconds(argv: list[str], repeats: int) -> float:
    subprocess.run(argv, capture_output=True, check=True)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    python = _median_seconds([sys.executable, "-c", "pass"], args.repeats)
    print(f"python -c pass: {python:.3f} s (median of {args.repeats})")
    rows = [("rlvr --help", [sys.executable, "-m", "rlvr.cli", "--help"])]
    rows += [(f"rlvr {name} --help", [sys.executable, "-m", "rlvr.cli", name, "--help"]) for name in COMMANDS]
    slowest = 0.0
    for label, argv in rows:
        seconds = _median_seconds(argv, args.repeats)
        slowest = max(slowest, seconds)
        print(f"{label:<26} {seconds:6.3f} s   {seconds / python:5.1f}x python -c pass   "
              f"{'ok' if seconds < 1.0 else 'OVER 1 s'}")
    print(f"\nslowest: {slowest:.3f} s ({'under' if slowest < 1.0 else 'over'} the 1 s target)")


if __name__ == "__main__":
    main()
