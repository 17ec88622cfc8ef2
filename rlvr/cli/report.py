"""`rlvr report RUN_DIR`: write a run's HTML report (default RUN_DIR/report.html) and print its path.

    rlvr report runs/add
    rlvr report runs/add -o add.html
"""

from __future__ import annotations

import argparse

from rlvr.rundir import RunDir

SUMMARY = "Write a self-contained HTML report of a run: curves, held-out gains, controls, audit, rollouts."
EXAMPLE = "rlvr report runs/add -o add.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rlvr report`, added to the subcommand's parser."""
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help=f"run directory written by `rlvr train` (needs {RunDir.METRICS})")
    parser.add_argument("-o", "--output", metavar="OUT", help="HTML file to write (default RUN_DIR/report.html)")


def run(args: argparse.Namespace) -> int:
    from rlvr.report import write_report

    print(write_report(args.run_dir, args.output))
    return 0
