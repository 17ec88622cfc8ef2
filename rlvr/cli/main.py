"""`rlvr`: one entry point, one subcommand per job; this table is the one list of commands.

Each command is a module of `rlvr.cli` with SUMMARY, EXAMPLE, add_arguments(parser) and
run(args) -> exit status. Building the parser imports every command module, so they import
nothing heavy at module level: `rlvr --help` starts in well under a second.

Bad input (a missing file, a malformed task line, an unknown option) prints one sentence and
exits with status 2.

A command from outside the package is the same four names on any object (a module, a class), added
with `register_command(name, command)` by the program that then calls `main` (docs/extending.md):
nothing is found or imported behind the user's back.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from rlvr._errors import ConfigError, RlvrError
from rlvr.cli._common import OneLineParser, allow_plugin_arguments, command

COMMANDS = (
    "demo", "eval", "train", "compare", "plan", "spurious", "boundary", "audit", "verify", "curate", "health", "gate",
    "distill", "sft", "pipeline", "cost", "report", "models", "tasks",
)
_ADDED: dict[str, Any] = {}  # name -> command registered from outside the package, in the order added
_PARTS = ("SUMMARY", "EXAMPLE", "add_arguments", "run")


def register_command(name: str, command: Any) -> Any:
    """Add `rlvr NAME` to the parser `build_parser` (and so `main`) builds from now on; returns `command`.

    command: anything with SUMMARY and EXAMPLE (text), add_arguments(parser) and run(args) -> exit status,
    as each module of `rlvr.cli` has. A missing part or a name already taken is a ConfigError."""
    missing = [part for part in _PARTS if not hasattr(command, part)]
    if missing:
        raise ConfigError(f"command '{name}' has no {', '.join(missing)}; a command needs SUMMARY, EXAMPLE, "
                          "add_arguments(parser) and run(args).")
    if not name or not name.replace("-", "").replace("_", "").isalnum() or name.startswith("-"):
        raise ConfigError(f"a command name is a word like 'count-tasks', got {name!r}.")
    if name in COMMANDS or name in _ADDED:
        raise ConfigError(f"there is a command named '{name}' already; give the new command another name.")
    _ADDED[name] = command
    return command


def build_parser() -> argparse.ArgumentParser:
    from rlvr import __version__

    parser = OneLineParser(
        prog="rlvr",
        description="Reinforcement learning with verifiable rewards, and honest measurement of what it bought.",
        epilog="example:\n  rlvr eval --model smollm2-135m-instruct --tasks tasks.jsonl --k 8 -o eval.json\n\n"
               "Run `rlvr COMMAND --help` for the options and an example of each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rlvr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"rlvr.cli.{name}")
        module.add_arguments(command(sub, name, module.SUMMARY, module.EXAMPLE, module.run))
    for name, added in _ADDED.items():
        added.add_arguments(command(sub, name, added.SUMMARY, added.EXAMPLE, added.run))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except RlvrError as exc:  # a bad flag or value: one sentence, as for any bad input
        print(f"rlvr: error: {exc}", file=sys.stderr)
        return 2
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        allow_plugin_arguments(args)  # before the command builds any verifier
        from rlvr.train.runtime.memory import keep_freed_memory

        keep_freed_memory()  # before any model loads: freed memory reused, not faulted in again
        return args.handler(args)
    except RlvrError as exc:
        print(f"rlvr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlvr: interrupted", file=sys.stderr)
        return 130
