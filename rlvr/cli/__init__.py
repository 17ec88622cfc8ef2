"""The `rlvr` command line: `rlvr.cli.main` holds the one command table, each command is a module here.

argparse lives only in this package; the workflows and libraries it calls take plain values.
"""

from rlvr.cli.main import build_parser, main, register_command

__all__ = ["build_parser", "main", "register_command"]
