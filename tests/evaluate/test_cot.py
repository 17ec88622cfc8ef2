"""The arithmetic process check behind CoT-pass@k: a table of completions with the expected verdicts."""

from __future__ import annotations

import pytest

from rlvr.evaluate.cot import check_steps, cot_counts

# (completion, ok, reason)
TABLE = [
    ("3 + 4 = 7", True, "ok"),
    ("3 + 4 = 8", False, "false_step"),
    ("3 + 4 = 7.", True, "ok"),
    ("So 3 + 4 = 7, and 7 * 2 = 14.", True, "ok"),
    ("3 + 4 = 7 and 7 * 2 = 15", False, "false_step"),
    ("2 + 3 + 4 = 9", True, "ok"),
    ("2 + 3 * 4 = 14", True, "ok"),
    ("2 + 3 * 4 = 20", False, "false_step"),
    ("(2 + 3) * 4 = 20", True, "ok"),
    ("2 * (3 + 4) = 14", True, "ok"),
    ("3 × 4 = 12", True, "ok"),
    ("12 ÷ 4 = 3", True, "ok"),
    ("7 − 2 = 5", True, "ok"),
    ("3 x 4 = 12", True, "ok"),
    ("3 · 4 = 12", True, "ok"),
    ("3 ＋ 4 ＝ 7", True, "ok"),
    ("6 / 4 = 1.5", True, "ok"),
    ("1 / 3 = 0.333", False, "false_step"),  # exact arithmetic: a rounded quotient is not equal
    ("5 / 0 = 0", False, "false_step"),
    ("-3 + 5 = 2", True, "ok"),
    ("3 - 5 = -2", True, "ok"),
    ("1.5 + 1.5 = 3", True, "ok"),
    ("1.5 + 1.5 = 3.0", True, "ok"),
    ("10 - 3 - 2 = 5", True, "ok"),
    ("8 / 2 / 2 = 2", True, "ok"),
    ("8 / 2 / 2 = 8", False, "false_step"),
    ("2 + 2 = 4 = 2 * 2", True, "ok"),
    ("2 + 2 = 4 = 5", False, "false_step"),
    ("4 = 5", False, "false_step"),
    ("3+4=7", True, "ok"),
    ("3 +4= 7", True, "ok"),
    ("9+8=17\n17+6=23", True, "ok"),
    ("First 9 + 8 = 17. Then 17 + 6 = 23. Answer: 23", True, "ok"),
    ("First 9 + 8 = 17. Then 17 + 6 = 24. Answer: 24", False, "false_step"),  # right-looking chain, one bad step
    ("12 × 12 = 144 and 144 ÷ 12 = 12", True, "ok"),
    ("2 * (3 + 4 = 14", False, "unreadable_step"),
    ("The answer is 7", True, "no_steps"),
    ("", True, "no_steps"),
    ("7", True, "no_steps"),
    ("x = 7", True, "no_steps"),
    ("2x = 8, so x = 4", True, "no_steps"),
    ("1,200 + 300 = 1,500", True, "no_steps"),  # thousands separators are not read
    ("I have 3 apples and 4 pears", True, "no_steps"),
    ("The sum of 3 and 4 is 7, because 3 + 4 = 7", True, "ok"),  # an equation inside prose
    ("Adding: 25 + 17 = 42; doubling: 42 * 2 = 84; answer 84", True, "ok"),
    ("Adding: 25 + 17 = 43; doubling: 43 * 2 = 86; answer 84", False, "false_step"),  # true steps elsewhere
]


@pytest.mark.parametrize("text, ok, reason", TABLE, ids=[f"{i}" for i in range(len(TABLE))])
def test_the_table(text, ok, reason):
    result = check_steps(text)
    assert (result.ok, result.reason) == (ok, reason), result


def test_the_table_is_large_enough_and_steps_are_counted():
    assert len(TABLE) >= 40
    assert check_steps("So 3 + 4 = 7, and 7 * 2 = 14.").steps == 2
    assert check_steps("7", require_steps=True) == check_steps("7", require_steps=True)
    assert not check_steps("7", require_steps=True).ok


def test_a_huge_number_is_unreadable_not_slow():
    assert check_steps("1" * 500 + " + 1 = 2").reason == "unreadable_step"


def test_cot_counts_need_the_right_answer_and_true_steps():
    record = {"tasks": [{"id": "a"}, {"id": "b"}], "samples": [
        {"task_id": "a", "text": "3 + 4 = 7, so 7", "passed": True, "neutral": True},     # right, true step
        {"task_id": "a", "text": "3 + 4 = 8, so 7", "passed": True, "neutral": True},     # right, false step
        {"task_id": "a", "text": "3 + 4 = 7, so 8", "passed": False, "neutral": False},   # wrong, true step
        {"task_id": "b", "text": "so it is 9", "passed": False, "neutral": True},         # right read neutrally only
    ]}
    assert cot_counts(record) == {"a": 1, "b": 1}
    assert cot_counts(record, reading="strict") == {"a": 1, "b": 0}
