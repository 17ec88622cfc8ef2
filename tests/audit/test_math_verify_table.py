"""External check: math-verify's own (gold, prediction, expected) test table against our math verifier.

The table (data/math_verify_cases.jsonl, 289 rows) is rebuilt from math-verify 0.9.0's test
files by data/extract_math_verify_cases.py (276 rows; math-verify 0.9.0 agrees with all of
them), plus 13 rows of a table added on GitHub main since (0.9.0 fails 12 of those). We
run our verifier in `answer="boxed_or_bare"` mode: a prediction with a box is held to the
exactly-one-box rule, a prediction without one is read whole (after "Answer:" and $...$),
so math-verify's bare predictions are judged without rewriting its table.

We agree on about half the rows, and on 44 of the 46 where math-verify expects a refusal.
Every disagreement falls in one of the classes below. Most are deliberate: we never pick an
answer out of prose, never accept two boxes, never read a comma as a decimal point, and fail
closed on a gold we cannot read. One is math-verify accepting a wrong answer, two are it
refusing a right one, and two are gaps of our parser worth fixing (marked GAP).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from rlvr.audit import AuditCase, load_cases
from rlvr.verifiers import Verdict, get_verifier

TABLE = Path(__file__).parent / "data" / "math_verify_cases.jsonl"

CLASSES = {
    "reference": "the gold is outside our reference language (a relation or inequality, a matrix, words, several "
                 "boxes, an equation in several unknowns, ratio or clock notation): bad_reference, fail closed",
    "prose": "the prediction is prose; math-verify picks the last number or formula out of it, we need the "
             "answer isolated (one box, or the whole completion)",
    "several_boxes": "the prediction has several boxes, which math-verify joins into a set; we require exactly one",
    "notation": "notation we do not read: \\in, \\approx, chained equations a = b = c, '(x, y) = ...', doubled "
                "backslashes",
    "units_in_words": "a unit or percent written as a word ('28 percent', '\\textbf{meters}'); we read units only "
                      "inside \\text{} and % as \\%",
    "decimal_comma": "a decimal comma ('1000,99', '0,111'); we read a comma as a list or thousands separator",
    "space_thousands": "a space as thousands separator ('1 000'); we refuse two numbers side by side",
    "unevaluated": "an expression for a number ('(9+1)' for 10); we refuse a restated computation",
    "unordered_list": "a comma list of solutions in another order or with a repeat; we compare lists in order "
                      "(sets must be written \\{...\\})",
    "not_strict": "math-verify's strict=False row (f(x) equals f(y)); we are always strict",
    "float_gold": "a 16-digit float gold against an irrational prediction; math-verify rounds to 5 places, we "
                  "compare a decimal reference exactly",
    "multiline_inline_math": "inline math split over lines, which math-verify's extractor refuses (expected 0); "
                             "we read the value, which is right",
    "math_verify_false_positive": "math-verify accepts a wrong answer (1 + 1/e for 1 - 1/e, a known bug); we refuse",
    "trailing_comma": "a comma after the answer as sentence punctuation ('\\frac{1}{3},'); we read a list with "
                      "an empty part",
    "thin_space_thousands": "GAP: the MATH dataset's thousands separator ',\\!' ('32,\\! 349') reads as a list",
    "thousands_in_interval": "GAP: '(12,102)' inside a union reads as the number 12102, not an interval",
}


def classify(case: AuditCase, verdict: Verdict) -> str | None:
    """The class of a disagreement, from our verdict and the row; None when none fits."""
    c, r, d, reason = case.completion, str(case.reference), verdict.detail, verdict.reason
    if verdict.passed:
        return "multiline_inline_math" if re.search(r"(\$|\\\() \n", c) else None
    rules = [
        (reason == "bad_reference", "reference"),
        (",\\!" in c, "thin_space_thousands"),
        (reason == "ambiguous" and "\\boxed{} answers" in d, "several_boxes"),
        (reason == "unevaluated", "unevaluated"),
        (bool(re.search(r"'(percent|percentage|meters)' reads as words", d)) or "c*p*t" in d, "units_in_words"),
        (bool(re.fullmatch(r"\$?\d+,\d+\$?", c) or re.fullmatch(r"\$?\d+,\d+\$?", r)), "decimal_comma"),
        ("two numbers side by side" in d, "space_thousands"),
        (reason == "too_large" or reason == "parse_error" and ("reads as words" in d or "character" in d), "prose"),
        (reason == "parse_error" and ("unknown command" in d or "only an equation" in d), "notation"),
        (reason == "parse_error" and "part of the answer is empty" in d and c.rstrip("$").endswith(","),
         "trailing_comma"),
        (reason == "mismatch" and case.meta.get("strict") is False, "not_strict"),
        (reason == "mismatch" and bool(re.fullmatch(r"\d+\.\d{10,}", r)), "float_gold"),
        (reason == "mismatch" and bool(re.search(r"\(\d+,\d{3}\)", c)), "thousands_in_interval"),
        (reason == "mismatch" and _same_members(d), "unordered_list"),
        (reason == "mismatch" and "\\frac{1}{\\mathrm{e}}" in r and "1 + " in c, "math_verify_false_positive"),
    ]
    return next((name for matched, name in rules if matched), None)


def _same_members(detail: str) -> bool:
    """"read A (from ...), expected B" where A and B list the same items in another order or with repeats."""
    match = re.fullmatch(r"read (.*) \(from .*\), expected (.*)", detail, re.DOTALL)
    if match is None:
        return False
    read, expected = (set(re.split(r",\s*(?![^()]*\))", side)) for side in match.groups())
    return len(expected) > 1 and read == expected


@pytest.fixture(scope="module")
def judged():
    cases = load_cases(TABLE)
    verifier = get_verifier("math", answer="boxed_or_bare")
    return list(zip(cases, verifier.verify_batch([(c.completion, c.reference) for c in cases], workers=2)))


def test_the_table_is_math_verifys_own():
    cases = load_cases(TABLE)
    assert len(cases) == 289
    assert Counter(c.should_pass for c in cases) == {True: 243, False: 46}
    assert sum("origin" in c.meta for c in cases) == 13
    assert all(c.tag.startswith("math_verify/") and c.meta["source"].startswith("tests/") for c in cases)


def test_agreement_rate_and_every_disagreement_explained(judged):
    disagreements = [(case, verdict) for case, verdict in judged if verdict.passed != case.should_pass]
    unexplained = [(case.meta["source"], case.reference, case.completion[:80], verdict.reason, verdict.detail[:120])
                   for case, verdict in disagreements if classify(case, verdict) is None]
    assert unexplained == []
    agreement = 1 - len(disagreements) / len(judged)
    assert agreement >= 0.48  # measured 0.498 (144 of 289); a drop means a new kind of disagreement
    counts = Counter(classify(case, verdict) for case, verdict in disagreements)
    print(f"\nmath-verify table: agreement {agreement:.3f} ({len(judged) - len(disagreements)} of {len(judged)})")
    for name, count in counts.most_common():
        print(f"  {count:>4}  {name}: {CLASSES[name]}")


def test_where_both_read_one_answer_we_agree_except_for_deliberate_strictness(judged):
    """Leaving out rows where either side could not read an answer (unreadable gold, prose,
    several boxes, unsupported notation), what remains is a comparison of values."""
    readable = [(case, verdict) for case, verdict in judged
                if classify(case, verdict) not in ("reference", "prose", "several_boxes", "notation")]
    agreement = sum(verdict.passed == case.should_pass for case, verdict in readable) / len(readable)
    assert agreement >= 0.79  # measured 0.813 (126 of 155)


def test_math_verifys_accepted_wrong_answers_are_refused(judged):
    """The rows where math-verify expects 0 and we agree include its near-miss checks."""
    refused = {(str(case.reference), case.completion) for case, verdict in judged
               if not case.should_pass and not verdict.passed}
    assert ("$4$", "$4\\sqrt{2}$") in refused and ("$\\pm 2021$", "$2021$") in refused
