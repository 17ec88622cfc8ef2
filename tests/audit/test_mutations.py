"""Mutation generators: labels checked by independent arithmetic and by running the SQL."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from fractions import Fraction

import pytest

from rlvr.audit import build_database, generate_mutations
from rlvr.audit.suites import CODE_FORMS, CodeProblem, code_reference
from rlvr.tasks import Task

_BOX = re.compile(r"\\boxed\{(.*)\}")


def value_of(completion: str) -> Fraction | None:
    """The number in a generated completion's box, read by this test's own simple rules."""
    match = _BOX.search(completion)
    if match is None:
        return None
    text = match.group(1).replace("{,}", "").replace(",", "").replace("\u2212", "-")
    fraction = re.fullmatch(r"(-?)\\d?frac\{(-?\d+)\}\{(\d+)\}", text)
    if fraction:
        return (-1 if fraction.group(1) else 1) * Fraction(int(fraction.group(2)), int(fraction.group(3)))
    scientific = re.fullmatch(r"(-?[\d.]+)\\times10\^\{(\d+)\}", text)
    if scientific:
        return Fraction(scientific.group(1)) * 10 ** int(scientific.group(2))
    try:
        return Fraction(text)
    except ValueError:
        return None


def math_task(prompt: str, reference: str) -> Task:
    return Task("t", prompt, reference, verifier="math")


@pytest.mark.parametrize("prompt, reference", [
    ("What is 874 * 952? Put the final answer in \\boxed{}.", "832048"),
    ("What is 7/8 - 1/6? Put the final answer in \\boxed{}.", "17/24"),
    ("What is 5.27 - 15.3? Put the final answer in \\boxed{}.", "-10.03"),
    ("How many?", "0"),
])
def test_math_labels_agree_with_exact_arithmetic(prompt, reference):
    cases = generate_mutations("math", [math_task(prompt, reference)]).cases
    expected = Fraction(reference)
    numeric = {"variant/plain", "variant/reformat_number", "variant/equivalent_fraction", "mutation/perturb",
               "mutation/flip_sign", "mutation/shift_decimal", "mutation/swap_digits", "mutation/swap_operator"}
    checked = 0
    for case in cases:
        if case.tag in numeric:
            assert (value_of(case.completion) == expected) == case.should_pass, case
            checked += 1
    assert checked >= 4
    assert all(c.reference == reference for c in cases)


def test_math_covers_every_mutation_kind_of_the_issue():
    cases = generate_mutations("math", [math_task("What is 37 * 29? Put it in \\boxed{}.", "1073")]).cases
    tags = Counter(c.tag for c in cases)
    for tag in ("mutation/perturb", "mutation/flip_sign", "mutation/shift_decimal", "mutation/swap_operator",
                "mutation/second_answer", "mutation/strip_field", "mutation/empty_field",
                "mutation/restate_question", "variant/reformat_number"):
        assert tags[tag] >= 1, tag
    by_text = {c.completion: c for c in cases}
    assert not by_text["So the answer is \\boxed{37 \\times 29}."].should_pass
    assert not by_text["\\boxed{1074} or \\boxed{1073}"].should_pass
    assert by_text["So the answer is \\boxed{1,073}."].should_pass
    assert {value_of(c.completion) for c in cases if c.tag == "mutation/swap_operator"} == {66, 8, Fraction(37, 29)}


def test_a_reference_that_is_not_a_number_gets_only_structural_mutants():
    cases = generate_mutations("math", [math_task("Which set?", "\\{1, 2\\}")]).cases
    assert cases and all(not c.should_pass for c in cases)
    assert {c.tag for c in cases} <= {"mutation/strip_field", "mutation/empty_field", "mutation/unclosed_field",
                                      "mutation/second_answer"}


def test_a_task_with_nothing_to_mutate_is_reported_unusable():
    result = generate_mutations("math", [Task("x", "p", {"not": "a number"})])
    assert result.cases == [] and result.unusable == ["x"]


SIGN = CodeProblem("sign", "sign", "def sign(x):\n    if x > 0:\n        return 1\n    if x < 0:\n        return -1\n"
                   "    return 0\n", (((5,), 1), ((-3,), -1), ((0,), 0), ((7,), 1)))


def code_task(problem: CodeProblem, form: str) -> Task:
    return Task(f"sign-{form}", "p", code_reference(problem, form), verifier="code",
                meta={"solution": problem.solution, "entry_point": problem.entry_point,
                      "visible": [[list(a), e] for a, e in problem.cases[:2]]})


@pytest.mark.parametrize("form", CODE_FORMS)
def test_code_mutants_of_each_reference_form(form):
    result = generate_mutations("code", [code_task(SIGN, form)], workers=2)
    tags = Counter((c.tag, c.should_pass) for c in result.cases)
    for tag in ("mutation/return_constant", "mutation/drop_branch", "mutation/hard_code_visible",
                "mutation/flip_comparison"):
        assert tags[(tag, False)] >= 1, tag
    for tag in ("variant/plain", "variant/fenced", "variant/draft_then_final", "variant/helper"):
        assert tags[(tag, True)] == 1, tag
    hard_coded = next(c for c in result.cases if c.tag == "mutation/hard_code_visible")
    assert "[[5], 1]" in hard_coded.completion.replace("([5], 1)", "[[5], 1]")


def test_a_mutant_the_tests_cannot_tell_apart_is_dropped_as_equivalent():
    # No case has x < 0, so dropping that branch changes nothing the reference can see.
    blind = CodeProblem("sign", "sign", SIGN.solution, (((5,), 1), ((0,), 0), ((7,), 1)))
    result = generate_mutations("code", [code_task(blind, "cases")], workers=2)
    assert result.equivalent["mutation/drop_branch"] == 1
    assert sum(c.tag == "mutation/drop_branch" for c in result.cases) == 1


def test_a_task_without_a_solution_cannot_be_mutated():
    task = Task("x", "p", code_reference(SIGN, "cases"), verifier="code")
    assert generate_mutations("code", [task]).unusable == ["x"]


def rows(db: str, sql: str) -> Counter | None:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return Counter(con.execute(sql).fetchall())
    except sqlite3.Error:
        return None
    finally:
        con.close()


def test_sql_labels_agree_with_running_the_queries():
    db = build_database("shop")
    gold = ("SELECT c.name, COUNT(o.id) AS n FROM customers AS c LEFT JOIN orders AS o ON o.customer_id = c.id "
            "WHERE c.country = 'Germany' AND c.signup_year >= 2021 GROUP BY c.id, c.name")
    result = generate_mutations("sql", [Task("q", "p", {"db": db, "gold": gold}, verifier="sql")])
    expected = rows(db, gold)
    for case in result.cases:
        query = re.search(r"```sql\n(.*?)```", case.completion, re.DOTALL)
        assert (rows(db, query.group(1) if query else case.completion) == expected) == case.should_pass, case
    tags = {c.tag for c in result.cases}
    for tag in ("mutation/drop_where", "mutation/where_or_true", "mutation/change_join", "mutation/drop_condition",
                "variant/reorder_conditions", "variant/swap_equality", "variant/rename_aliases", "variant/cte"):
        assert tag in tags, tag
    assert result.equivalent["mutation/toggle_distinct"] == 1  # the rows are distinct already


def test_sql_without_a_gold_query_is_unusable():
    task = Task("q", "p", {"db": build_database("shop"), "expected": [[1]]}, verifier="sql")
    assert generate_mutations("sql", [task]).unusable == ["q"]
