"""`rlvr tasks make|list|show`: make, list and check task files."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from rlvr.cli._common import add_plugin_argument, command, options

SUMMARY = "Make, list and check task files."
EXAMPLE = "rlvr tasks make arithmetic op=add digits=2 --n 64 --split test -o test.jsonl\n  rlvr tasks show test.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)
    p = command(actions, "make", "Write generated tasks to a JSONL file. Generator options go as key=value.",
                "rlvr tasks make arithmetic op=add digits=2 --n 64 --split test -o test.jsonl", _make)
    p.add_argument("name", help="generator name (see `rlvr tasks list`)")
    p.add_argument("options", nargs="*", metavar="key=value", help="generator options")
    p.add_argument("--n", type=int, required=True, help="number of tasks")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="train", help="train, test or val (splits never share a problem)")
    p.add_argument("-o", "--output", required=True, help="JSONL file to write")
    command(actions, "list", "List the built-in task generators and their options.", "rlvr tasks list", _list)
    p = command(actions, "show", "Check every line of a task file and summarise it.",
                "rlvr tasks show tasks.jsonl", _show)
    p.add_argument("file")
    p.add_argument("--strict-references", action="store_true",
                   help="exit 1 when a task's verifier cannot read its reference (default: list them only)")
    add_plugin_argument(p)


def run(args: argparse.Namespace) -> int:
    """Run the chosen action (each action parser sets its own handler)."""
    return args.handler(args)


def _make(args: argparse.Namespace) -> int:
    from rlvr._io import check_writable
    from rlvr.tasks import make_tasks, write_tasks

    check_writable(args.output, "--output")
    tasks = make_tasks(args.name, n=args.n, seed=args.seed, split=args.split, **options(args.options))
    write_tasks(tasks, args.output)
    print(f"wrote {len(tasks)} {args.split} tasks ({args.name}) to {args.output}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from rlvr.tasks import describe_generators

    for name, description in describe_generators().items():
        print(name)
        print("\n".join("  " + line for line in description.splitlines()))
        print()
    return 0


def _show(args: argparse.Namespace) -> int:
    from rlvr.tasks import load_tasks
    from rlvr.tasks.judge import check_references, check_verifiers, unreadable_references

    tasks = load_tasks(args.file)
    check_verifiers(tasks, args.file)
    # the warning eval and train give (count and first ids, on stderr); --strict-references makes it exit 1
    unreadable = unreadable_references(tasks) if args.strict_references else check_references(tasks, args.file)
    splits = Counter(t.split for t in tasks)
    verifiers = Counter(json.dumps(t.verifier, sort_keys=True) for t in tasks)
    print(f"{args.file}: {len(tasks)} tasks, all lines valid")
    print("splits: " + ", ".join(f"{s} {c}" for s, c in splits.most_common()))
    print("verifiers: " + ", ".join(f"{v} {c}" for v, c in verifiers.most_common()))
    first = tasks[0]
    print(f"first: {first.id}: {_clip(repr(first.prompt))} -> {_clip(repr(first.reference))}")
    if unreadable:  # every completion of these tasks would score 0
        print(f"unreadable references: {len(unreadable)} (every completion of these tasks scores 0)")
        for task_id, reason in unreadable[:10]:
            print(f"  {task_id}: {reason}")
        if len(unreadable) > 10:
            print(f"  ... and {len(unreadable) - 10} more")
    if unreadable and args.strict_references:
        print(f"rlvr tasks show: {len(unreadable)} of {len(tasks)} tasks have a reference their verifier cannot "
              f"read (--strict-references).", file=sys.stderr)
        return 1
    return 0


def _clip(text: str, limit: int = 300) -> str:
    """At most `limit` characters of `text`, saying how much was left out (a prompt can be megabytes)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"
