"""`rlvr audit TARGET`: is this verifier safe to optimise against?

    rlvr audit math
    rlvr audit mypkg.checks:my_verifier --suite math --json audit.json
    rlvr audit math --tasks tasks.jsonl --eval eval.json --checker mypkg.checks:strict_check

TARGET is a registry name or "package.module:function" (a check `(completion, reference) ->
float | Verdict`), imported from the current directory or the installed packages. Cases come
from the built-in suite (`--suite`, by default TARGET when it names one) with mutations of a
generated task set (or of `--tasks`), from `--cases` files, and from an eval run relabelled by
an independent `--checker`. Exit status: 0 when coverage reaches `--min-coverage`, 1 below it,
2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rlvr._errors import ConfigError, DataError
from rlvr._io import atomic_write
from rlvr.cli._common import add_plugin_argument
from rlvr.audit.suites import SUITES  # light: building the `rlvr` parser imports this module

if TYPE_CHECKING:
    from rlvr.audit.cases import AuditCase
    from rlvr.audit.report import AuditReport
    from rlvr.tasks import Task
    from rlvr.verifiers import Verifier

SUMMARY = "Audit a verifier against known hacks, mutated answers and your own cases; report coverage."
EXAMPLE = ("rlvr audit math --json audit.json --html audit.html\n"
           "  rlvr audit mypkg.checks:my_check --suite math --min-coverage 0.95")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rlvr audit`, added to the subcommand's parser."""
    parser.add_argument("target", metavar="TARGET", help="verifier to audit: a registry name (math, code, sql, ...) "
                                       "or package.module:function")
    parser.add_argument("--suite", choices=SUITES,
                        help="built-in cases and mutations to run (default: TARGET when it is a suite name)")
    parser.add_argument("--cases", action="append", default=[], metavar="FILE",
                        help="your own cases, JSONL {completion, reference, should_pass, tag} (repeatable)")
    parser.add_argument("--tasks", metavar="FILE", help="task file to mutate instead of the generated task set; "
                                                        "also the references of --eval")
    parser.add_argument("--eval", metavar="EVAL.json", help="relabel this eval run's completions with --checker")
    parser.add_argument("--checker", metavar="SPEC", help="independent verifier that labels --eval completions")
    parser.add_argument("--min-coverage", type=float, default=0.9, metavar="X",
                        help="exit 1 below this coverage (default 0.9)")
    parser.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    parser.add_argument("--html", metavar="OUT", help="write the report as an HTML fragment")
    parser.add_argument("--n-tasks", type=int, default=40, metavar="N",
                        help="generated tasks to mutate (code: HumanEval problems beside the built-in ones; "
                             "default 40)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the generated task set (default 0)")
    parser.add_argument("--processes", type=int, default=2, metavar="N",
                        help="parallel verifier processes for the second run and the oracles (default 2)")
    parser.add_argument("--strict-references", action="store_true",
                        help="fail when TARGET cannot read a case's reference (default: warn, naming them)")
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Collect the cases, audit, print and write the report; 1 when coverage is below --min-coverage."""
    from rlvr.audit.report import format_table, run_audit

    _check_arguments(args)
    _make_importable(args)
    verifier = _verifier(args.target, "TARGET")
    cases, sources, dropped = _collect(args)
    _warn_unreadable_references(verifier, cases, args.target, strict=args.strict_references)
    report = run_audit(verifier, cases, target=args.target, processes=args.processes, progress=True,
                       sources=sources, dropped=dropped)
    print(format_table(report))
    _write_outputs(report, args)
    coverage = report.summary()["coverage"]
    if coverage < args.min_coverage:
        print(f"rlvr audit: coverage {coverage:.4f} is below --min-coverage {args.min_coverage:g}", file=sys.stderr)
        return 1
    return 0


def _warn_unreadable_references(verifier: Verifier, cases: list[AuditCase], target: str, strict: bool = False
                                ) -> None:
    """List, before the audit runs, the references TARGET cannot read: each of their cases scores 0 whatever
    the completion, so a case expected to pass there measures the reference, not the verifier. With `strict`
    (--strict-references) that is bad input: DataError, before any case runs."""
    seen: dict[str, str] = {}
    for case in cases:
        key = repr(case.reference)
        if key not in seen:
            seen[key] = verifier.check_reference(case.reference) or ""
    unreadable = [(key, reason) for key, reason in seen.items() if reason]
    if unreadable:
        first = "; ".join(f"{_clip(key)} ({reason.rstrip('.')})" for key, reason in unreadable[:3])
        if strict:
            raise DataError(f"{target} cannot read {len(unreadable)} of {len(seen)} references, so their cases "
                            f"score 0 whatever the completion (first: {first}); fix or drop those cases, or "
                            f"leave out --strict-references.")
        print(f"rlvr audit: warning: {target} cannot read {len(unreadable)} of {len(seen)} references, so their "
              f"cases score 0 whatever the completion (first: {first}).", file=sys.stderr)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_arguments(args: argparse.Namespace) -> None:
    if not 0.0 <= args.min_coverage <= 1.0:
        raise ConfigError(f"--min-coverage must be between 0 and 1, got {args.min_coverage:g}.")
    if args.n_tasks < 1 or args.processes < 1:
        raise ConfigError("--n-tasks and --processes must be at least 1.")
    if bool(args.eval) != bool(args.checker):
        raise ConfigError("--eval and --checker go together: the checker labels the eval's completions.")
    if not (_suite(args) or args.cases or args.eval):
        raise ConfigError(f"nothing to audit '{args.target}' with; give --suite {'|'.join(SUITES)}, "
                          "--cases FILE or --eval FILE --checker SPEC.")
    from rlvr._io import check_not_input, check_writable

    inputs = [path for path in (*args.cases, args.eval, args.tasks) if path]
    for flag, path in (("--json", args.json), ("--html", args.html)):
        if path:  # checked before the audit runs, and never one of its inputs
            check_writable(path, flag)
            check_not_input(path, inputs, flag)


def _suite(args: argparse.Namespace) -> str | None:
    return args.suite or (args.target if args.target in SUITES else None)


def _make_importable(args: argparse.Namespace) -> None:
    """Let "mypkg.checks:fn" name a module in the current directory, as `python -m` would;
    verifier worker processes inherit the path. A path typed here is the user's own choice, so it is
    allowed (that one path, not its module); a task file's verifiers still need --allow-plugin."""
    from rlvr.verifiers import allow_plugins

    typed = [spec for spec in (args.target, args.checker) if ":" in (spec or "")]
    if typed and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    allow_plugins(*typed)


def _verifier(spec: str, what: str) -> Verifier:
    from rlvr.verifiers import get_verifier

    try:
        return get_verifier(spec)
    except ConfigError as exc:
        raise ConfigError(f"{what} {spec!r}: {exc}") from None


def _collect(args: argparse.Namespace) -> tuple[list[AuditCase], dict[str, int], dict[str, int]]:
    """All cases, cases per source, and mutants dropped as equivalent (per tag)."""
    from rlvr.audit.cases import cases_from_eval, load_cases
    from rlvr.audit.mutations import generate_mutations
    from rlvr.audit.suites import suite_cases, suite_tasks
    from rlvr.tasks import load_tasks

    groups: dict[str, list[AuditCase]] = {}
    dropped: dict[str, int] = {}
    tasks = load_tasks(args.tasks) if args.tasks else None
    suite = _suite(args)
    if suite:
        groups["suite"] = suite_cases(suite)
        source = tasks if tasks is not None else suite_tasks(suite, args.n_tasks, args.seed)
        mutations = generate_mutations(suite, source, workers=args.processes, progress=True)
        if not mutations.cases:
            raise DataError(f"no task could be mutated for the {suite} suite; math needs number references, "
                            "code a meta.solution, sql a gold query.")
        groups["mutations"] = mutations.cases
        dropped = dict(mutations.equivalent)
    for path in args.cases:
        groups.setdefault(Path(path).name, []).extend(load_cases(path))
    if args.eval:
        checker = _verifier(args.checker, "--checker")
        eval_tasks = tasks if tasks is not None else _tasks_of_eval(args.eval)
        groups["eval"] = cases_from_eval(args.eval, eval_tasks, checker, args.checker, workers=args.processes)
    cases = [case for group in groups.values() for case in group]
    return cases, {name: len(group) for name, group in groups.items()}, dropped


def _tasks_of_eval(path: str) -> list[Task]:
    """The task file an eval ran on, as recorded in it; --tasks overrides it."""
    from rlvr.tasks import load_tasks

    try:
        source = json.loads(Path(path).read_text(encoding="utf-8")).get("tasks_source")
    except (OSError, ValueError, AttributeError):
        source = None
    if not source or not Path(source).is_file():
        raise DataError(f"{path} does not name a task file that exists here; pass --tasks with the file the eval "
                        "ran on.")
    return load_tasks(source)


def _write_outputs(report: AuditReport, args: argparse.Namespace) -> None:
    from rlvr.audit.report import html_section

    for path, text in ((args.json, lambda: json.dumps(report.to_json(), indent=1, default=repr)),
                       (args.html, lambda: html_section(report))):
        if not path:
            continue
        try:
            atomic_write(path, lambda f, text=text: f.write(text()))
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}.") from None
        print(f"wrote {path}")
