"""`rlvr audit` as a function: is this verifier safe to optimise against?

    from rlvr.workflows.audit import AuditJob, audit_verifier
    report = audit_verifier(AuditJob("math", json="audit.json"))
    report.summary()["coverage"]

The job names the verifier (a registry name or "package.module:function") and where its cases come
from: the built-in suite with mutations of a generated task set (or of `tasks`), `cases` files, and
an eval run relabelled by an independent `checker`. `audit_verifier` checks the job, collects the
cases, runs them and writes the JSON and HTML reports; the command line only turns the coverage into
an exit status. The options keep the command's flag names in their messages (`--eval`, `--json`).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rlvr._errors import ConfigError, DataError
from rlvr._io import atomic_write
from rlvr.audit.suites import SUITES

if TYPE_CHECKING:
    from rlvr.audit.cases import AuditCase
    from rlvr.audit.report import AuditReport
    from rlvr.tasks import Task
    from rlvr.verifiers import Verifier


@dataclass(frozen=True)
class AuditJob:
    """One audit: the verifier, the sources of its cases, and the reports to write."""

    target: str  # a registry name (math, code, sql, ...) or package.module:function
    suite: str | None = None  # built-in cases and mutations; None: `target` when it names a suite
    cases: tuple[str, ...] = ()  # JSONL files of {completion, reference, should_pass, tag}
    tasks: str | None = None  # task file to mutate instead of the generated set; the references of `eval`
    eval: str | None = None  # an eval file whose completions `checker` labels
    checker: str | None = None
    min_coverage: float = 0.9  # the coverage the command's exit status asks for
    json: str | None = None  # where to write the full report as JSON
    html: str | None = None  # where to write the report as an HTML fragment
    n_tasks: int = 40  # generated tasks to mutate
    seed: int = 0  # seed of the generated task set
    processes: int = 2  # parallel verifier processes for the second run and the oracles
    strict_references: bool = False  # a reference the target cannot read: an error, not a warning

    @property
    def suite_name(self) -> str | None:
        return self.suite or (self.target if self.target in SUITES else None)


def audit_verifier(job: AuditJob, *, progress: bool = True) -> AuditReport:
    """Check the job, collect the cases, audit, print the table and write the reports; returns the report."""
    from rlvr.audit.report import run_audit
    from rlvr.report import format_table

    check_audit(job)
    _make_importable(job)
    verifier = _verifier(job.target, "TARGET")
    cases, sources, dropped = _collect(job, progress)
    _warn_unreadable_references(verifier, cases, job.target, strict=job.strict_references)
    report = run_audit(verifier, cases, target=job.target, processes=job.processes, progress=progress,
                       sources=sources, dropped=dropped)
    print(format_table(report))
    _write_outputs(report, job)
    return report


def check_audit(job: AuditJob) -> None:
    """Bad options and output paths fail (one sentence) before any case runs."""
    from rlvr._io import check_not_input, check_writable

    if not 0.0 <= job.min_coverage <= 1.0:
        raise ConfigError(f"--min-coverage must be between 0 and 1, got {job.min_coverage:g}.")
    if job.n_tasks < 1 or job.processes < 1:
        raise ConfigError("--n-tasks and --processes must be at least 1.")
    if bool(job.eval) != bool(job.checker):
        raise ConfigError("--eval and --checker go together: the checker labels the eval's completions.")
    if not (job.suite_name or job.cases or job.eval):
        raise ConfigError(f"nothing to audit '{job.target}' with; give --suite {'|'.join(SUITES)}, "
                          "--cases FILE or --eval FILE --checker SPEC.")
    inputs = [path for path in (*job.cases, job.eval, job.tasks) if path]
    for flag, path in (("--json", job.json), ("--html", job.html)):
        if path:  # checked before the audit runs, and never one of its inputs
            check_writable(path, flag)
            check_not_input(path, inputs, flag)


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


def _make_importable(job: AuditJob) -> None:
    """Let "mypkg.checks:fn" name a module in the current directory, as `python -m` would;
    verifier worker processes inherit the path. A path typed here is the user's own choice, so it is
    allowed (that one path, not its module); a task file's verifiers still need --allow-plugin."""
    from rlvr.verifiers import allow_plugins

    typed = [spec for spec in (job.target, job.checker) if ":" in (spec or "")]
    if typed and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    allow_plugins(*typed)


def _verifier(spec: str, what: str) -> Verifier:
    from rlvr.verifiers import get_verifier

    try:
        return get_verifier(spec)
    except ConfigError as exc:
        raise ConfigError(f"{what} {spec!r}: {exc}") from None


def _collect(job: AuditJob, progress: bool) -> tuple[list[AuditCase], dict[str, int], dict[str, int]]:
    """All cases, cases per source, and mutants dropped as equivalent (per tag)."""
    from rlvr.audit.cases import cases_from_eval, load_cases
    from rlvr.audit.mutations import generate_mutations
    from rlvr.audit.suites import suite_cases, suite_tasks
    from rlvr.tasks import load_tasks

    groups: dict[str, list[AuditCase]] = {}
    dropped: dict[str, int] = {}
    tasks = load_tasks(job.tasks) if job.tasks else None
    suite = job.suite_name
    if suite:
        groups["suite"] = suite_cases(suite)
        source = tasks if tasks is not None else suite_tasks(suite, job.n_tasks, job.seed)
        mutations = generate_mutations(suite, source, workers=job.processes, progress=progress)
        if not mutations.cases:
            raise DataError(f"no task could be mutated for the {suite} suite; math needs number references, "
                            "code a meta.solution, sql a gold query.")
        groups["mutations"] = mutations.cases
        dropped = dict(mutations.equivalent)
    for path in job.cases:
        groups.setdefault(Path(path).name, []).extend(load_cases(path))
    if job.eval:
        checker = _verifier(job.checker or "", "--checker")
        eval_tasks = tasks if tasks is not None else _tasks_of_eval(job.eval)
        groups["eval"] = cases_from_eval(job.eval, eval_tasks, checker, job.checker, workers=job.processes)
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


def _write_outputs(report: AuditReport, job: AuditJob) -> None:
    from rlvr.report import html_section

    for path, text in ((job.json, lambda: json.dumps(report.to_json(), indent=1, default=repr)),
                       (job.html, lambda: html_section(report))):
        if not path:
            continue
        try:
            atomic_write(path, lambda f, text=text: f.write(text()))
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}.") from None
        print(f"wrote {path}")
