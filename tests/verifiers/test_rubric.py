"""The rubric verifier: weighted criteria over realistic long-form answers, merging, and errors."""

from __future__ import annotations

import dataclasses
import doctest
import math
import time

import pytest

import rlvr.verifiers.rubric as rubric_module
from conftest import in_thread, timed
from rlvr._errors import ConfigError
from rlvr.verifiers import allow_plugins, get_verifier
from rlvr.verifiers.rubric import RubricVerifier


@pytest.fixture(autouse=True)
def _trust_test_modules():
    """The "module:function" paths below name this module's scorers (and one that does not import): the
    tests opt in, as a user would."""
    allow_plugins(__name__, "no_such_module_xyz")


P = pytest.param


# Module-level scorers, imported by path as a task file would name them.
def share_of_sources_cited(completion: str, reference: dict) -> float:
    sources = reference["sources"]
    return sum(s in completion for s in sources) / len(sources)


def mentions_year(completion: str, reference: object) -> bool:
    return "2023" in completion


def broken_scorer(completion: str, reference: object) -> float:
    raise KeyError("sources")


def nan_scorer(completion: str, reference: object) -> float:
    return float("nan")


def word_scorer(completion: str, reference: object) -> str:
    return "good"


def slow_scorer(completion: str, reference: object) -> float:
    time.sleep(1.5)
    return 1.0


NOT_A_FUNCTION = 42


REPORT = [
    {"name": "structure", "weight": 2, "sections": ["Summary", "Evidence", "Conclusion"]},
    {"name": "cites", "weight": 3, "regex": r"\[\d+\]"},
    {"name": "length", "weight": 1, "length": [150, 1500]},
    {"name": "no-hedging", "weight": 1, "not_contains": ["as an AI", "I cannot"]},
    {"name": "topic", "weight": 1, "contains": ["glacier", "sea level"]},
]

GOOD = """## Summary
Mountain glaciers lost mass in every region last year [1].

## Evidence
Satellite gravimetry shows the loss adds about 0.5 mm a year to global sea level [2].

## Conclusion
Glacier retreat will keep raising sea level for decades [1][2].
"""

NO_CITATIONS = GOOD.replace("[1]", "").replace("[2]", "")
BOLD_HEADINGS = GOOD.replace("## Summary", "**SUMMARY:**").replace("## Evidence", "1. Evidence")
NO_CONCLUSION = GOOD.replace("## Conclusion\n", "In conclusion, ")
HEDGING = GOOD + "\nAs an AI, I cannot verify these numbers."
SHORT = "## Summary\nIt melts [1].\n## Evidence\nSatellites.\n## Conclusion\nYes."
OFF_TOPIC = "I like turtles. They are slow [3]. " * 8

REPORT_CASES = [
    P(GOOD, 1.0, "ok", set(), id="all-met"),
    P(NO_CITATIONS, 5 / 8, "partial", {"cites"}, id="no-citations"),
    P(BOLD_HEADINGS, 1.0, "ok", set(), id="headings-in-other-markdown"),
    P(NO_CONCLUSION, 6 / 8, "partial", {"structure"}, id="heading-only-in-prose"),
    P(HEDGING, 7 / 8, "partial", {"no-hedging"}, id="hedging"),
    P(SHORT, 6 / 8, "partial", {"length", "topic"}, id="too-short-and-off-topic"),
    P(OFF_TOPIC, 5 / 8, "partial", {"structure", "topic"}, id="off-topic"),
    P("As an AI, I cannot help.", 0.0, "mismatch", {"structure", "cites", "length", "no-hedging", "topic"},
      id="refusal"),
]


@pytest.fixture(scope="module")
def report():
    return get_verifier("rubric", criteria=REPORT)


@pytest.mark.parametrize(("completion", "reward", "reason", "failed"), REPORT_CASES)
def test_report_rubric(report, completion, reward, reason, failed):
    verdict = report.verify(completion, None)
    assert verdict.reward == pytest.approx(reward) and verdict.reason == reason, verdict.detail
    parts = dict(line.split(" ", 1) for line in verdict.detail.split("; "))
    assert {name for name, said in parts.items() if said.startswith("0/1")} == failed


def test_detail_is_a_per_criterion_breakdown(report):
    detail = report.verify(NO_CITATIONS + "\nAs an AI", None).detail
    assert detail == (
        "structure 1/1 (w=2); cites 0/1 (w=3: no match for \\[\\d+\\]); length 1/1 (w=1); "
        "no-hedging 0/1 (w=1: contains 'as an AI'); topic 1/1 (w=1)"
    )


@pytest.mark.parametrize(
    ("criterion", "completion", "met"),
    [
        P({"regex": r"(?i)^final answer:", "must_match": True}, "Final answer: 4", True, id="regex-inline-flag"),
        P({"regex": r"^Final", "must_match": True}, "Steps.\nFinal answer: 4", False, id="regex-no-multiline"),
        P({"regex": r"(?m)^Final"}, "Steps.\nFinal answer: 4", True, id="regex-multiline-flag"),
        P({"regex": r"\bTODO\b", "must_match": False}, "All done.", True, id="regex-must-not-match"),
        P({"regex": r"\bTODO\b", "must_match": False}, "TODO: finish", False, id="regex-unwanted-match"),
        P({"length": [3, 5]}, "  abcde  ", True, id="length-stripped"),
        P({"length": [3, 5]}, "abcdef", False, id="length-over"),
        P({"length": [10, None]}, "x" * 5000, True, id="length-no-max"),
        P({"sections": ["Step 1"]}, "### Step 1:\ndo it", True, id="section-h3-colon"),
        P({"sections": ["Step 1"]}, "__Step 1__\ndo it", True, id="section-underscores"),
        P({"sections": ["Methods"]}, "2) Methods\nWe", True, id="section-numbered"),
        P({"sections": ["Methods"]}, "Our methods were simple.", False, id="section-not-a-heading"),
        P({"sections": ["Methods"]}, "## Methods and Data", False, id="section-must-be-whole-line"),
        P({"contains": ["Sea Level"]}, "global sea level rose", True, id="contains-case-insensitive"),
        P({"contains": ["sea", "ice"]}, "sea only", False, id="contains-needs-all"),
        P({"not_contains": "lorem"}, "Lorem ipsum", False, id="not-contains-one-string"),
    ],
)
def test_each_kind_of_criterion(criterion, completion, met):
    verdict = RubricVerifier(criteria=[{"name": "c", "weight": 1, **criterion}]).verify(completion, None)
    assert verdict.passed is met, verdict.detail


def test_callable_criteria_give_partial_credit_and_see_the_reference():
    verifier = RubricVerifier(criteria=[
        {"name": "sources", "weight": 2, "check": f"{__name__}:share_of_sources_cited"},
        {"name": "year", "weight": 1, "check": f"{__name__}:mentions_year"},
    ])
    reference = {"sources": ["IPCC", "NASA", "ESA"]}
    verdict = verifier.verify("Per IPCC and NASA data from 2023.", reference)
    assert verdict.reward == pytest.approx((2 * 2 / 3 + 1) / 3) and verdict.reason == "partial"
    assert verdict.detail == "sources 0.667/1 (w=2); year 1/1 (w=1)"
    assert verifier.verify("IPCC, NASA, ESA, 2023", reference).reason == "ok"


@pytest.mark.parametrize(
    ("scorer", "reason", "said"),
    [
        ("broken_scorer", "runtime_error", "KeyError"),
        ("nan_scorer", "invalid_reward", "not a finite number"),
        ("word_scorer", "invalid_reward", "returned str"),
    ],
)
def test_a_broken_scorer_fails_the_whole_rubric(scorer, reason, said):
    verifier = RubricVerifier(criteria=[
        {"name": "easy", "weight": 9, "contains": ["a"]},
        {"name": "custom", "weight": 1, "check": f"{__name__}:{scorer}"},
    ])
    verdict = verifier.verify("a completion", {"sources": []})
    assert (verdict.reward, verdict.reason) == (0.0, reason)
    assert verdict.detail.startswith("criterion 'custom': ") and said in verdict.detail


# -- reference criteria ------------------------------------------------------------------------


SHARED = [
    {"name": "format", "weight": 1, "regex": r"\\boxed\{"},
    {"name": "short", "weight": 1, "length": [0, 400]},
]


def test_reference_criteria_replace_by_name_and_append():
    verifier = RubricVerifier(criteria=SHARED)
    reference = {"criteria": [
        {"name": "mentions-units", "weight": 2, "contains": ["km"]},
        {"name": "short", "weight": 1, "length": [0, 10]},  # this task wants it shorter
    ]}
    verdict = verifier.verify(r"The distance is \boxed{42} km.", reference)
    assert verdict.detail.split("; ")[1].startswith("short 0/1")  # replaced in place
    assert [line.split(" ")[0] for line in verdict.detail.split("; ")] == ["format", "short", "mentions-units"]
    assert verdict.reward == pytest.approx(3 / 4)
    assert verifier.verify(r"The distance is \boxed{42} km.", None).reward == 1.0  # options alone


def test_criteria_only_in_the_reference():
    verifier = get_verifier("rubric")
    reference = {"criteria": [{"name": "polite", "weight": 1, "contains": ["please"]}], "note": "kept"}
    assert verifier.verify("Yes, please.", reference).passed
    assert verifier.verify("Yes, please.", None).reason == "bad_reference"
    assert verifier.verify("Yes, please.", {"criteria": []}).reason == "bad_reference"


@pytest.mark.parametrize(
    ("criteria", "said"),
    [
        ("not a list", "criteria must be a list"),
        ([{"name": "x", "weight": 1, "regex": "(["}], "does not compile"),
        ([{"name": "x", "weight": 0, "regex": "a"}], "finite number > 0"),
        ([{"name": "x", "weight": 1, "regx": "a"}], "unknown key 'regx'"),
        ([{"name": "x", "weight": 1, "check": "no_such_module_xyz:f"}], "cannot import"),
    ],
)
def test_a_bad_reference_rubric_is_bad_reference(criteria, said):
    verdict = RubricVerifier(criteria=SHARED).verify(r"\boxed{1}", {"criteria": criteria})
    assert (verdict.reward, verdict.reason) == (0.0, "bad_reference")
    assert said in verdict.detail and verdict.detail.startswith("reference")


# -- length cap and catastrophic patterns ---------------------------------------------------


def test_overlong_completions_score_zero_rather_than_being_truncated():
    verifier = RubricVerifier(criteria=[{"name": "clean", "weight": 1, "not_contains": ["forbidden"]}], max_chars=100)
    assert verifier.verify("x" * 100, None).passed
    verdict = verifier.verify("x" * 100 + "forbidden", None)  # the bad word sits past the cap
    assert (verdict.reward, verdict.reason) == (0.0, "too_long")


def test_default_cap_and_mode():
    verifier = RubricVerifier(criteria=SHARED)
    assert verifier.max_chars == 20_000 and verifier.isolated is False
    assert verifier.verify(r"\boxed{1}" + " " * 20_000, None).reason == "too_long"


REDOS = r"^(a|a)+$"  # exponential backtracking on "aaa...a!", in `re` and in `regex` alike
LIMIT = 1.0


def test_isolated_time_limit_stops_a_catastrophic_pattern():
    verifier = RubricVerifier(
        criteria=[{"name": "redos", "weight": 1, "regex": REDOS}], isolated=True, time_limit=1.0
    )
    assert verifier.verify("a" * 40 + "!", None).reason == "timeout"
    assert verifier.verify("aaaa", None).passed  # the worker was replaced and works


@pytest.mark.parametrize("must_match", [True, False])
def test_in_process_time_limit_stops_a_catastrophic_pattern(must_match):
    verifier = RubricVerifier(
        criteria=[
            {"name": "short", "weight": 9, "length": [0, 100]},
            {"name": "redos", "weight": 1, "regex": REDOS, "must_match": must_match},
        ],
        time_limit=LIMIT,
    )
    assert verifier.isolated is False
    verdict, seconds = timed(lambda: verifier.verify("a" * 40 + "!", None))
    assert (verdict.reward, verdict.reason) == (0.0, "timeout") and seconds < LIMIT + 1, (verdict, seconds)
    assert verdict.detail.startswith("criterion 'redos': ")  # no partial credit for the other lines
    assert verifier.verify("aaaa", None).reward == (1.0 if must_match else 0.9)


def test_in_process_time_limit_holds_on_threads():
    verifier = RubricVerifier(criteria=[{"name": "redos", "weight": 1, "regex": REDOS}], time_limit=LIMIT)
    pairs = [("a" * 40 + "!", None), ("aaaa", None), ("a" * 41 + "!", None), ("b", None)]
    verdicts, seconds = timed(lambda: in_thread(lambda: verifier.verify_batch(pairs, workers=2)))
    assert [v.reason for v in verdicts] == ["timeout", "ok", "timeout", "mismatch"]
    assert seconds < LIMIT + 1, seconds  # two checks at a time, each stopped at the limit


def test_the_classic_redos_pattern_is_no_longer_slow():
    # `re` backtracks for minutes on this one; the `regex` engine rejects it at once.
    verifier = RubricVerifier(criteria=[{"name": "redos", "weight": 1, "regex": r"^(a+)+$"}], time_limit=LIMIT)
    verdict, seconds = timed(lambda: verifier.verify("a" * 40 + "!", None))
    assert (verdict.reward, verdict.reason) == (0.0, "mismatch") and seconds < LIMIT + 1


def test_callable_criteria_run_isolated_and_are_killed_at_the_limit():
    slow = {"name": "slow", "weight": 1, "check": f"{__name__}:slow_scorer"}
    verifier = RubricVerifier(criteria=[slow], max_chars=100, time_limit=LIMIT)
    assert verifier.isolated is True  # a callable is code no in-process timeout can stop
    assert RubricVerifier(criteria=[slow], isolated=False).isolated is False
    assert verifier.verify("x" * 101, None).reason == "too_long"  # starts the worker outside the timed call
    verdict, seconds = timed(lambda: in_thread(lambda: verifier.verify("x", None)))
    assert (verdict.reward, verdict.reason) == (0.0, "timeout") and seconds < LIMIT + 1, (verdict, seconds)


def test_a_slow_reference_callable_in_process_earns_nothing():
    verifier = RubricVerifier(criteria=SHARED, time_limit=0.5)
    assert verifier.isolated is False
    reference = {"criteria": [{"name": "slow", "weight": 1, "check": f"{__name__}:slow_scorer"}]}
    verdict = verifier.verify(r"\boxed{1}", reference)  # runs to the end (1.5 s), but past the limit
    assert (verdict.reward, verdict.reason) == (0.0, "timeout")


# -- construction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"name": "x", "weight": 1, "regex": "a"}, "criteria must be a list"),
        ([["regex", "a"]], "each criterion must be a mapping"),
        ([{"weight": 1, "regex": "a"}], "needs a non-empty 'name'"),
        ([{"name": "x", "regex": "a"}], "'weight' that is a finite number > 0, got None"),
        ([{"name": "x", "weight": 0, "regex": "a"}], "finite number > 0, got 0"),
        ([{"name": "x", "weight": -1, "regex": "a"}], "finite number > 0"),
        ([{"name": "x", "weight": math.inf, "regex": "a"}], "finite number > 0"),
        ([{"name": "x", "weight": True, "regex": "a"}], "finite number > 0"),
        ([{"name": "x", "weight": 1, "regex": "(unclosed"}], "does not compile"),
        ([{"name": "x", "weight": 1, "regex": 5}], "'regex' must be a string"),
        ([{"name": "x", "weight": 1, "pattern": "a"}], "unknown key 'pattern'"),
        ([{"name": "x", "weight": 1}], "needs exactly one of"),
        ([{"name": "x", "weight": 1, "regex": "a", "contains": ["b"]}], "needs exactly one of"),
        ([{"name": "x", "weight": 1, "contains": ["a"], "must_match": False}], "goes only with 'regex'"),
        ([{"name": "x", "weight": 1, "regex": "a", "must_match": "no"}], "'must_match' is a bool"),
        ([{"name": "x", "weight": 1, "length": [10]}], "'length' must be"),
        ([{"name": "x", "weight": 1, "length": [10, 5]}], "min_chars <= max_chars"),
        ([{"name": "x", "weight": 1, "length": [-1, 5]}], "min_chars <= max_chars"),
        ([{"name": "x", "weight": 1, "contains": []}], "non-empty list"),
        ([{"name": "x", "weight": 1, "sections": ["Intro", ""]}], "non-empty list"),
        ([{"name": "x", "weight": 1, "sections": ["##"]}], "has no words"),
        ([{"name": "x", "weight": 1, "check": "len"}], "'package.module:function' path"),
        ([{"name": "x", "weight": 1, "check": "no_such_module_xyz:f"}], "cannot import"),
        ([{"name": "x", "weight": 1, "check": f"{__name__}:no_such_fn"}], "has no attribute"),
        ([{"name": "x", "weight": 1, "check": f"{__name__}:NOT_A_FUNCTION"}], "is not callable"),
        ([{"name": "x", "weight": 1, "regex": "a"}, {"name": "x", "weight": 2, "regex": "b"}], "two criteria"),
    ],
)
def test_bad_criteria_raise_at_construction(criteria, message):
    with pytest.raises(ConfigError, match=message):
        get_verifier("rubric", criteria=criteria)


def test_construction_errors_name_the_criterion():
    with pytest.raises(ConfigError, match=r"^verifier 'rubric': criterion 'cites' has unknown key 'regx'; use "):
        get_verifier("rubric", criteria=[{"name": "cites", "weight": 1, "regx": r"\[\d\]"}])
    with pytest.raises(ConfigError, match="max_chars must be a positive integer"):
        get_verifier("rubric", criteria=SHARED, max_chars=0)


def test_criteria_are_stored_frozen_and_survive_replace():
    verifier = get_verifier({"name": "rubric", "criteria": SHARED})
    assert isinstance(verifier.criteria, tuple) and hash(verifier) == hash(RubricVerifier(criteria=SHARED))
    again = dataclasses.replace(verifier, max_chars=50)
    assert again.criteria == verifier.criteria
    assert again.verify(r"\boxed{1}" * 10, None).reason == "too_long"


def test_docstring_examples():
    assert doctest.testmod(rubric_module).failed == 0
