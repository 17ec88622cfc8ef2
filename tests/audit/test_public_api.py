"""The public surface of rlvr.audit is deliberate: this pins it."""

import rlvr.audit


def test_all_lists_the_public_names_and_each_exists():
    assert sorted(rlvr.audit.__all__) == sorted([
        "SUITES", "AuditCase", "AuditReport", "CaseResult", "Mutations", "build_database", "cases_from_eval",
        "format_table", "generate_mutations", "html_section", "load_cases", "run_audit", "suite_cases",
        "suite_tasks", "verdict_words", "write_cases",
    ])
    assert all(hasattr(rlvr.audit, name) for name in rlvr.audit.__all__)
