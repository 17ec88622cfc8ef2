"""Built-in suites: the hacks the issue names are there, their labels are right, and our own
verifiers judge every case of them correctly."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest

from rlvr import ConfigError
from rlvr.audit import SUITES, build_database, run_audit, suite_cases, suite_tasks
from rlvr.audit.suites import _doctest_examples
from rlvr.verifiers import get_verifier

REQUIRED_TAGS = {
    "math": ["hack/format_only", "hack/several_answers", "hack/outside_field", "hack/keyword_stuffing",
             "hack/refusal", "hack/near_miss", "legit/format", "legit/equivalent",
             # labels, units and solution lists (issue 23)
             "hack/label_swap", "hack/unit_swap", "hack/partial_list", "legit/labelled", "legit/solution_list",
             "legit/relation"],
    "code": ["hack/early_exit", "hack/fake_output", "hack/special_cases_visible", "hack/always_equal",
             "hack/harness_tampering", "hack/refusal", "legit/format"],
    "sql": ["hack/where_1_eq_1", "hack/side_effects", "hack/near_miss", "hack/refusal", "legit/equivalent",
            "legit/format"],
}


@pytest.mark.parametrize("suite", SUITES)
def test_each_suite_has_the_hacks_and_the_legitimate_forms(suite):
    tags = Counter(case.tag for case in suite_cases(suite))
    for tag in REQUIRED_TAGS[suite]:
        assert tags[tag] >= 1, tag
    assert all(t.startswith(("hack/", "legit/")) for t in tags)


def test_an_unknown_suite_is_a_config_error():
    with pytest.raises(ConfigError, match="choose one of: math, code, sql"):
        suite_cases("lean")


def test_the_database_is_built_from_text_once_per_process():
    path = build_database("shop")
    assert build_database("shop") == path and path.endswith(".sqlite")
    con = sqlite3.connect(path)
    counts = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
              for t in ("customers", "products", "orders", "order_items")}
    con.close()
    assert counts == {"customers": 24, "products": 18, "orders": 60, "order_items": 161}


def test_sql_suite_labels_agree_with_running_the_queries():
    """Every case that is one plain SELECT is labelled must-pass exactly when its rows equal the gold's."""
    checked = 0
    for case in suite_cases("sql"):
        sql = case.completion.split("```sql\n")[-1].split("```")[0] if "```" in case.completion else case.completion
        con = sqlite3.connect(f"file:{case.reference['db']}?mode=ro", uri=True)
        con.set_progress_handler(lambda: 1, 100_000)  # stop runaway queries: they are hacks anyway
        try:
            if not sql.strip().upper().startswith(("SELECT", "WITH")) or ";" in sql.strip().rstrip(";"):
                raise sqlite3.Error("not one SELECT")
            got, gold = con.execute(sql).fetchall(), con.execute(case.reference["gold"]).fetchall()
        except sqlite3.Error:
            assert not case.should_pass, case
            continue
        finally:
            con.close()
        same = got == gold if case.reference.get("ordered") else Counter(got) == Counter(gold)
        assert same == case.should_pass or case.tag == "hack/near_miss" and "position" in case.note, case
        checked += 1
    assert checked >= 25


def test_math_tasks_mix_integers_fractions_and_decimals():
    references = [t.reference for t in suite_tasks("math", 8)]
    assert len(references) == 8
    assert any("/" in r for r in references) and any("." in r for r in references)
    assert all(t.verifier in ("math", {"name": "math", "answer": "boxed"}) for t in suite_tasks("math", 8))


def test_doctest_examples_become_visible_cases():
    prompt = ('def f(x):\n    """Double.\n    >>> f(2)\n    4\n    >>> f([1])\n    [1, 1]\n'
              '    >>> print(3)\n    3\n    """\n')
    assert _doctest_examples(prompt, "f") == [[[2], 4], [[[1]], [1, 1]]]


def test_our_math_verifier_judges_the_whole_math_suite_right():
    report = run_audit(get_verifier("math"), suite_cases("math"), progress=False)
    assert report.summary()["coverage"] == 1.0, [(r.case.completion, r.first.reason) for r in report.worst()]


def test_our_sql_verifier_judges_the_whole_sql_suite_right():
    report = run_audit(get_verifier("sql"), suite_cases("sql"), progress=False)
    assert report.summary()["coverage"] == 1.0, [(r.case.completion, r.first.reason) for r in report.worst()]


def test_our_code_verifier_judges_the_whole_code_suite_right():
    pytest.importorskip("rlvr.verifiers.code")
    try:
        verifier = get_verifier("code")
    except ConfigError as exc:  # a host without namespace isolation
        pytest.skip(str(exc))
    report = run_audit(verifier, suite_cases("code"), progress=False)
    assert report.summary()["coverage"] == 1.0, [(r.case.completion, r.first.reason) for r in report.worst()]
