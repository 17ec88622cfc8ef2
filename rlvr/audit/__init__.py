"""Verifier audit: is a verifier safe to optimise against?

    >>> from rlvr.audit import run_audit, suite_cases
    >>> from rlvr.verifiers import get_verifier
    >>> report = run_audit(get_verifier("math"), suite_cases("math"), progress=False)  # doctest: +SKIP
    >>> report.summary()["verdict"]  # doctest: +SKIP
    'worth trying RLVR'

Cases (`AuditCase`: completion, reference, should_pass, tag) come from built-in suites
(`suite_cases`), mutations of a task set's references (`generate_mutations` over
`suite_tasks` or your own tasks), JSONL files (`load_cases`) and eval runs relabelled by an
independent checker (`cases_from_eval`). `run_audit` checks each case twice and measures
coverage, false-positive and false-negative rates, non-determinism and latency; the report
gives numbers (`AuditReport.summary`) and JSON (`AuditReport.to_json`), and rlvr.report draws it as a
table (`format_table`) or an HTML fragment (`html_section`). The command line is `rlvr audit`
(`rlvr.workflows.audit`, `rlvr.cli.audit`).

Names load on first use, so that building the `rlvr` command line, which imports
`rlvr.cli.audit`, does not pay for sympy and sqlglot.
"""

from __future__ import annotations

from rlvr._lazy import lazy_exports

_EXPORTS = {
    "AuditCase": "cases", "cases_from_eval": "cases", "load_cases": "cases", "write_cases": "cases",
    "Mutations": "mutations", "generate_mutations": "mutations",
    "AuditReport": "report", "CaseResult": "report", "run_audit": "report", "verdict_words": "report",
    "SUITES": "suites", "build_database": "suites", "suite_cases": "suites", "suite_tasks": "suites",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
