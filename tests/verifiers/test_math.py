r"""The math verifier against tables of realistic completions, and the parser's own rules.

Each row is (reference, completion, expected reward, expected reason). Completions read
the way a model writes them: some reasoning, then one answer. Rows marked "math-verify"
are cases that library (Math-Verify 0.9) accepts wrongly, e.g. `1.5e3` read as 1.5·e³ or "The answer
is not 12, it is 13." paid for 12; here they must fail.
"""

from __future__ import annotations

import ast
import doctest
import pathlib

import pytest
import sympy

import rlvr.verifiers._mathparse as mathparse
import rlvr.verifiers.math as math_module
from rlvr._errors import ConfigError
from rlvr.verifiers import get_verifier
from rlvr.verifiers._mathparse import Group, Interval, MathParseError, MathTooLarge, Scalar, parse_math

P = pytest.param

# One row per line reads as a table.
# fmt: off
BOXED = [
    # -- integers, thousands separators, exactness ------------------------------------------
    P(1073, r"First, 37 * 29 = 37 * 30 - 37 = 1110 - 37 = 1073. So the answer is \boxed{1073}.", 1.0, "ok", id="int"),
    P("1073", r"Multiplying gives 1,073 in total. The answer is $\boxed{1,073}$.", 1.0, "ok", id="thousands"),
    P("1234567", r"Summing the three parts: \boxed{1,234,567}", 1.0, "ok", id="thousands-millions"),
    P("1,073", r"So there are \boxed{1073} ways.", 1.0, "ok", id="thousands-in-reference"),
    P("123", r"Reading the digits off, I get \boxed{1,23}.", 0.0, "ambiguous", id="comma-not-thousands"),
    P(32349, r"So the answer is $\boxed{32,\! 349}$", 1.0, "ok", id="math-dataset-thousands"),
    P("32349", r"Adding up: \boxed{32,\!349}.", 1.0, "ok", id="math-dataset-thousands-no-space"),
    P(11111111100, r"So the answer is $\boxed{11,\! 111,\! 111,\! 100}$", 1.0, "ok",
      id="math-dataset-thousands-billions"),
    P(r"\$16,\!386.20", r"After five years she has \boxed{\$16386.20}.", 1.0, "ok",
      id="math-dataset-thousands-reference"),
    P(111, r"Reading the digits off, I get \boxed{0,111}.", 0.0, "ambiguous", id="leading-zero-not-thousands"),
    P("0.111", r"With a decimal comma, \boxed{0,111}.", 0.0, "ambiguous", id="decimal-comma-not-thousands"),
    P(12102, r"The domain is \boxed{(12,102)}.", 0.0, "ambiguous", id="tuple-not-thousands"),
    P("[1, 234]", r"The range is \boxed{[1,234]}.", 1.0, "ok", id="interval-not-thousands"),
    P(r"\{12, 102\}", r"The solutions are \boxed{\{12,102\}}.", 1.0, "ok", id="set-not-thousands"),
    P("(1000, 2)", r"The point is \boxed{(1{,}000, 2)}.", 1.0, "ok", id="braced-thousands-in-tuple"),
    P(168, r"The price after tax is 160 * 1.05 = 167.99, so \boxed{167.99}.", 0.0, "mismatch", id="exact-167.99"),
    P(168, r"160 \times 1.05 = 168.0, hence \boxed{168.0}.", 1.0, "ok", id="168.0"),
    P(1, r"So \boxed{1.00000000000000000000000000000000000000000000000001}.", 0.0, "mismatch",
      id="exact-beyond-40-digits"),
    P("1.0000001", r"Rounding, the ratio is \boxed{1}.", 0.0, "mismatch", id="math-verify-6-places"),
    P("0.1234567", r"So the probability is \boxed{0.1234568}.", 0.0, "mismatch", id="math-verify-float-rounding"),
    P("2^{100}", r"Doubling 100 times: \boxed{1267650600228229401496703205376}", 1.0, "ok", id="big-int-vs-power"),
    # -- fractions and decimals ---------------------------------------------------------------
    P("0.5", r"Half of the marbles are red, so the probability is \boxed{\frac{1}{2}}.", 1.0, "ok", id="frac-vs-dec"),
    P("1/2", r"The probability is 3/6 = 0.5. Final answer: \boxed{0.5}", 1.0, "ok", id="dec-vs-slash"),
    P(r"\frac{1}{2}", r"We get 2 out of 4, i.e. \boxed{2/4}.", 1.0, "ok", id="unreduced"),
    P("3/4", r"Therefore the ratio is \boxed{\dfrac{3}{4}}.", 1.0, "ok", id="dfrac"),
    P("3/4", r"So the fraction is \boxed{\tfrac34}.", 1.0, "ok", id="tfrac-single-chars"),
    P("1/2", r"This simplifies to \boxed{\frac12}.", 1.0, "ok", id="frac12"),
    P("-7/2", r"Solving 2x + 7 = 0 gives \boxed{-\frac{7}{2}}.", 1.0, "ok", id="negative-frac"),
    P("-7/2", r"Solving 2x + 7 = 0 gives x = \boxed{-3.5}", 1.0, "ok", id="negative-decimal"),
    P("-3", "The smallest value is \\boxed{\u22123}.", 1.0, "ok", id="unicode-minus"),
    P(0.1, r"One tenth of the tank, that is \boxed{\frac{1}{10}}.", 1.0, "ok", id="float-reference-exact"),
    P("1/3", r"The probability is 1/3 \approx 0.333, so \boxed{0.333}.", 1.0, "ok", id="rounded-1/3"),
    P("1/3", r"The probability is about \boxed{0.3}.", 0.0, "mismatch", id="too-few-digits"),
    P("2/3", r"That is 2/3, about \boxed{0.667}.", 1.0, "ok", id="rounded-2/3"),
    P("2/3", r"That is 2/3, about \boxed{0.666}.", 0.0, "mismatch", id="truncated-not-rounded"),
    # -- scientific notation ------------------------------------------------------------------
    P(1500, r"The mass is 1.5 kg = 1500 g, so \boxed{1.5 \times 10^{3}}.", 1.0, "ok", id="sci-times"),
    P(1500, r"In grams: \boxed{1.5\cdot10^3}", 1.0, "ok", id="sci-cdot"),
    P(1500, r"Python would print \boxed{1.5e3}.", 1.0, "ok", id="sci-e"),
    P(0.00025, r"The rate is \boxed{2.5 \cdot 10^{-4}} per second.", 1.0, "ok", id="sci-negative-exponent"),
    # -- currency, units, percent, equations -------------------------------------------------
    P(1000, r"She saves \$250 a month for 4 months: \boxed{\$1,000}.", 1.0, "ok", id="currency-thousands"),
    P("12.50", r"4 \times \$3.125 = \$12.50, so the cost is \boxed{\$12.50}.", 1.0, "ok", id="currency-cents"),
    P("20", "The ticket costs \\boxed{\u20ac20}.", 1.0, "ok", id="euro"),
    P("45", r"The perimeter is 15 + 15 + 15 = 45, so \boxed{45 \text{ cm}}.", 1.0, "ok", id="unit-text"),
    P("36", r"The area is 6^2 = 36, so \boxed{36\text{ cm}^2}.", 1.0, "ok", id="unit-squared"),
    P("5", r"Subtracting 3 from both sides: \boxed{x = 5}.", 1.0, "ok", id="equation"),
    P("x = 5", r"The solution is \boxed{5}.", 1.0, "ok", id="equation-reference"),
    P("50", r"Half of them, so \boxed{50\%}.", 1.0, "ok", id="percent-vs-number"),
    P(r"50\%", r"The discount is \boxed{50}.", 1.0, "ok", id="number-vs-percent"),
    P("0.5", r"The probability is \boxed{50\%}.", 0.0, "mismatch", id="percent-not-a-factor"),
    P(r"50\%", r"The share is \boxed{0.5}.", 0.0, "mismatch", id="fraction-not-percent"),
    P("25", r"One in four is \boxed{25%}", 1.0, "ok", id="plain-percent"),
    # -- restated questions ("unevaluated") --------------------------------------------------
    P(141, r"We need 82 + 59. The answer is \boxed{82 + 59}.", 0.0, "unevaluated", id="restated-sum"),
    P(1073, r"The product is \boxed{37 \times 29}.", 0.0, "unevaluated", id="restated-product"),
    P("6", "The answer is \\boxed{2 \u00d7 3}.", 0.0, "unevaluated", id="restated-unicode-times"),
    P(120, r"The number of orderings is \boxed{5!}.", 0.0, "unevaluated", id="restated-factorial"),
    P("2", r"The side is \boxed{\sqrt{4}}.", 0.0, "unevaluated", id="restated-root"),
    P("-1", r"By Euler, \boxed{e^{i\pi}}.", 0.0, "unevaluated", id="restated-euler"),
    P(160, r"Each share is \boxed{32800 \div 205}.", 0.0, "unevaluated", id="restated-div"),
    P("160", "Each share is \\boxed{32800 \u00f7 205}.", 0.0, "unevaluated", id="restated-unicode-div"),
    P("3/4", r"The ratio is \boxed{3 \div 4}.", 0.0, "unevaluated", id="div-is-not-a-fraction"),
    # -- irrational values ------------------------------------------------------------------
    P(r"\sqrt{2}", r"A unit square's diagonal is \sqrt{2} \approx \boxed{1.414}.", 1.0, "ok", id="rounded-sqrt2"),
    P(r"\pi", r"The ratio is approximately \boxed{3.14}.", 1.0, "ok", id="rounded-pi"),
    P(r"\pi", r"The ratio is approximately \boxed{3.15}.", 0.0, "mismatch", id="misrounded-pi"),
    P(r"\frac{\sqrt{3}}{2}", r"As \sin 60^\circ = \frac{\sqrt3}{2}: \boxed{\dfrac{\sqrt3}{2}}", 1.0, "ok", id="sqrt3"),
    P(r"\frac{\sqrt{3}}{2}", r"So the height is \boxed{\frac{1}{2}\sqrt{3}}.", 1.0, "ok", id="sqrt3-rearranged"),
    P(r"2\sqrt{3}", r"The distance is \sqrt{12}, so \boxed{\sqrt{12}}.", 1.0, "ok", id="sqrt12"),
    P(r"\frac{\sqrt{2}}{2}", r"Rationalising is optional: \boxed{\frac{1}{\sqrt{2}}}.", 1.0, "ok", id="rationalised"),
    P(r"\sqrt{2}", r"The length is \boxed{\sqrt(2)}.", 1.0, "ok", id="sqrt-parenthesised"),
    P(r"\sqrt[3]{2}", r"The edge of the doubled cube is \boxed{2^{1/3}}.", 1.0, "ok", id="cube-root"),
    P(r"2\pi", "The circumference is \\boxed{2\u03c0}.", 1.0, "ok", id="unicode-pi"),
    P(r"\ln 8", r"Using log rules, \boxed{3\ln 2}.", 1.0, "ok", id="log-rule"),
    P(r"1 - \frac{1}{e}", r"The limit is \boxed{1 - e^{-1}}.", 1.0, "ok", id="e-forms"),
    P(r"e^{\pi\sqrt{163}}", r"Numerically \boxed{262537412640768744}.", 0.0, "mismatch", id="ramanujan-near-integer"),
    P("3 + 4i", r"Multiplying out, \boxed{4i + 3}.", 1.0, "ok", id="complex"),
    P(r"\binom{5}{2}", r"Choosing 2 of 5 gives \boxed{10}.", 1.0, "ok", id="binom-reference"),
    # -- math-verify false positives: all must fail here -------------------------------------
    P(r"\frac{1}{2^{98}}", r"Each step halves it: \boxed{\frac{1}{2^{99}}}", 0.0, "mismatch", id="math-verify-2^99"),
    P(r"\frac{1}{2006!}", r"So the probability is \boxed{\frac{1}{2004!}}.", 0.0, "mismatch", id="math-verify-2004!"),
    P(r"1 + \frac{1}{e}", r"The expected value is \boxed{1 - \frac{1}{e}}.", 0.0, "mismatch", id="math-verify-1/e"),
    P(r"4\sqrt{2}", r"The side is \boxed{4}.", 0.0, "mismatch", id="math-verify-4-vs-4sqrt2"),
    P("4", r"The side is \boxed{4\sqrt(2)}.", 0.0, "mismatch", id="math-verify-4sqrt2-vs-4"),
    P("(1, 2)", r"The solution set is \boxed{\{1, 2\}}.", 0.0, "mismatch", id="math-verify-set-vs-interval"),
    P(r"\{1, 2\}", r"The solutions lie in \boxed{(1, 2)}.", 0.0, "mismatch", id="interval-vs-set"),
    P(r"\{3, 4\}", r"The roots are \boxed{3} and \boxed{4}.", 0.0, "ambiguous", id="math-verify-boxes-joined"),
    P(r"\frac{\pi}{4}", r"The angle is \boxed{45^\circ}.", 1.0, "ok", id="math-verify-rejects-degrees"),
    # -- degrees ------------------------------------------------------------------------------
    P("45", "Each angle measures \\boxed{45\u00b0}.", 1.0, "ok", id="degree-sign-as-unit"),
    P(r"\frac{\pi}{3}", r"The angle is \boxed{45^{\circ}}.", 0.0, "mismatch", id="wrong-degrees"),
    P(r"60^\circ", r"In radians the angle is \boxed{\frac{\pi}{3}}.", 1.0, "ok", id="radians-for-degrees"),
    P("45", r"The angle is \boxed{\frac{\pi}{4}}.", 0.0, "mismatch", id="unmarked-degrees"),
    P(r"\frac{\sqrt{3}}{2}", r"Exactly \boxed{\cos 30^\circ}.", 1.0, "ok", id="degrees-inside-cos"),
    P(r"\frac{1}{2}", r"Exactly \boxed{\sin 30^\circ}.", 0.0, "unevaluated", id="degrees-inside-sin-restated"),
    # -- boxes --------------------------------------------------------------------------------
    P(42, r"Let me think. 6 times 7 is 42, so the answer is 42.", 0.0, "no_answer", id="no-box"),
    P(42, r"The answer is \boxed{}. It is 42.", 0.0, "no_answer", id="empty-box"),
    P(42, r"First \boxed{42}. Double-checking: \boxed{42}.", 1.0, "ok", id="two-equal-boxes"),
    P(42, r"First \boxed{42}. Double-checking: \boxed{24}.", 0.0, "ambiguous", id="two-different-boxes"),
    P(42, r"So the answer is \boxed{42", 0.0, "parse_error", id="unclosed-box"),
    P(42, r"So the answer is \boxed{\boxed{42}}.", 1.0, "ok", id="nested-box"),
    P(3, r"So \boxed{\boxed{1} + \boxed{2}}.", 0.0, "parse_error", id="boxes-inside-a-box"),
    P(42, r"The answer is \fbox{42}.", 1.0, "ok", id="fbox"),
    P(42, r"The answer is \boxed 42.", 0.0, "parse_error", id="box-without-brace"),
    P(42, r"The answer is \boxed{forty-two}.", 0.0, "parse_error", id="words-in-box"),
    P(42, r"\boxed{\text{the answer is } 42}", 0.0, "parse_error", id="prose-in-box"),
    # -- several answers for one --------------------------------------------------------------
    P("3", r"x^2 - 7x + 12 = 0 factors, so \boxed{3, 4}.", 0.0, "ambiguous", id="list-for-one"),
    P("3", r"It is either \boxed{3 \text{ or } 4}.", 0.0, "ambiguous", id="or-for-one"),
    P("3", r"So \boxed{x = 3 \text{ or } x = -3}.", 0.0, "ambiguous", id="equations-for-one"),
    P("3", r"Taking roots, \boxed{\pm 3}.", 0.0, "ambiguous", id="pm-for-one"),
    P("1073", r"Roughly \boxed{1073 \text{ or 1074}}.", 0.0, "ambiguous", id="hedge-inside-text"),
    P("1073", r"There are \boxed{1073 \text{ or more}}.", 0.0, "parse_error", id="hedge-words"),
    P(r"\pm 3", r"So \boxed{x = 3 \text{ or } x = -3}.", 1.0, "ok", id="pm-reference"),
    # -- symbolic -----------------------------------------------------------------------------
    P("2(x+1)", r"Expanding, we get \boxed{2x+2}.", 1.0, "ok", id="expanded"),
    P("x^2 - 1", r"Difference of squares: \boxed{(x+1)(x-1)}.", 1.0, "ok", id="factored"),
    P("x^2 - 1", r"So \boxed{(x-1)^2}.", 0.0, "mismatch", id="wrong-factoring"),
    P(r"\frac{x+1}{2}", r"Splitting the fraction: \boxed{\frac{x}{2} + \frac12}.", 1.0, "ok", id="split-fraction"),
    P("y = 2x + 3", r"The line is \boxed{y = 3 + 2x}.", 1.0, "ok", id="line"),
    P(r"\sin^2 x", r"By the identity, \boxed{1 - \cos^2 x}.", 1.0, "ok", id="trig-identity"),
    P("2x", r"Therefore \boxed{2y}.", 0.0, "mismatch", id="wrong-variable"),
    # -- sets, tuples, lists, intervals -----------------------------------------------------
    P(r"\{1, 2, 3\}", r"The set is \boxed{\{3, 1, 2\}}.", 1.0, "ok", id="set-any-order"),
    P(r"\{1, 2, 3\}", r"The set is \boxed{\{1, 2, 4\}}.", 0.0, "mismatch", id="wrong-set"),
    P(r"\{1, 2\}", r"The solutions are \boxed{\{1, 2, 3\}}.", 0.0, "mismatch", id="superset"),
    P(r"\{1, 2\}", r"The solutions are \boxed{2, 1}.", 1.0, "ok", id="list-for-set"),
    P("(1, 2)", r"The intersection point is \boxed{(1, 2)}.", 1.0, "ok", id="tuple"),
    P("(1, 2)", r"The intersection point is \boxed{(2, 1)}.", 0.0, "mismatch", id="tuple-order"),
    P("1, 2", r"In order: \boxed{1, 2}", 1.0, "ok", id="list"),
    P("1, 2", r"In order: \boxed{2, 1}", 1.0, "ok", id="solution-list-any-order"),
    P("1, 2", r"In order: \boxed{2, 1, 2}", 0.0, "mismatch", id="solution-list-repeat"),
    P("[1, 2)", r"The domain is \boxed{[1, 2)}.", 1.0, "ok", id="half-open"),
    P("[1, 2)", r"The domain is \boxed{[1, 2]}.", 0.0, "mismatch", id="wrong-bracket"),
    P(r"(-\infty, 3]", r"So x \le 3: \boxed{\left(-\infty, 3\right]}.", 1.0, "ok", id="infinite-interval"),
    P(r"(-\infty, 0) \cup (1, \infty)", r"\boxed{(1, \infty) \cup (-\infty, 0)}", 1.0, "ok", id="union"),
    P(r"(-\infty, 0) \cup (1, \infty)", r"\boxed{(-\infty, 0] \cup (1, \infty)}", 0.0, "mismatch", id="union-bracket"),
    P(r"(2, 12) \cup (12, 102)", r"\boxed{(2,12) \cup (12,102)}", 1.0, "ok", id="union-not-thousands"),
    P(r"\frac{\pi}{4}", r"The angle is about \boxed{0.785} radians.", 1.0, "ok", id="rounded-radians"),
    # -- references ---------------------------------------------------------------------------
    P(r"\boxed{\frac{1}{2}}", r"So the answer is \boxed{0.5}.", 1.0, "ok", id="boxed-reference"),
    P("see the solution above", r"\boxed{5}", 0.0, "bad_reference", id="bad-reference"),
    P(1, r"\boxed{9^{9^{9^9}}}", 0.0, "too_large", id="tower"),
]

BARE = [
    P(42, "42", 1.0, "ok", id="number"),
    P(42, "The answer is 42.", 1.0, "ok", id="lead-in"),
    P(42, "Answer: $42$", 1.0, "ok", id="math-mode"),
    P("1/2", r"$\frac{1}{2}$", 1.0, "ok", id="frac"),
    P(42, "41", 0.0, "mismatch", id="wrong"),
    P(141, "82 + 59", 0.0, "unevaluated", id="restated"),
    P(42, "6 times 7 is 42", 0.0, "parse_error", id="sentence"),
    P(42, "42\n\nI hope this helps!", 0.0, "parse_error", id="two-lines"),
    P(42, "", 0.0, "no_answer", id="empty"),
    P("1/3", r"$\frac{1}{3},$", 1.0, "ok", id="trailing-comma"),
    P(42, "The answer is 42,", 1.0, "ok", id="trailing-comma-plain"),
    P(42, "42,,", 0.0, "parse_error", id="two-trailing-commas"),
    P("1, 2, 3", "$1, 2, 3, ...$", 0.0, "parse_error", id="comma-before-ellipsis"),
]

BOXED_OR_BARE = [
    P(42, r"Thus \boxed{42}.", 1.0, "ok", id="box"),
    P(42, "42", 1.0, "ok", id="bare"),
    P(42, r"The answer is \boxed{}. 42", 0.0, "no_answer", id="empty-box-wins"),
    P(42, r"Thus \boxed{41}.", 0.0, "mismatch", id="wrong-box"),
]

ANSWER_TAG = [
    P(42, "<think>6 * 7 = 42</think>\n<answer>42</answer>", 1.0, "ok", id="tag"),
    P(r"\frac{1}{2}", "<think>half</think><answer>0.5</answer>", 1.0, "ok", id="tag-decimal"),
    P(42, "<answer>42</answer> or maybe <answer>43</answer>", 0.0, "ambiguous", id="two-tags"),
    P(42, "<think>6 * 7</think><answer>42", 0.0, "parse_error", id="unclosed"),
    P(42, "<think>6 * 7 = 42</think> 42", 0.0, "no_answer", id="no-tag"),
]

TOLERANCE = [
    P("100", r"\boxed{100.05}", 1.0, "ok", id="within"),
    P("100", r"\boxed{100.5}", 0.0, "mismatch", id="outside"),
    P(r"\pi", r"\boxed{3.1413}", 1.0, "ok", id="misrounded-but-close"),
    P(r"\pi", r"\boxed{3.13}", 0.0, "mismatch", id="too-far"),
]

NO_LITERAL = [
    P(141, r"\boxed{82 + 59}", 1.0, "ok", id="sum"),
    P(1073, r"\boxed{37 \cdot 29}", 1.0, "ok", id="product"),
    P(1073, r"\boxed{37 \cdot 28}", 0.0, "mismatch", id="wrong-product"),
    P(160, r"\boxed{32800 \div 205}", 1.0, "ok", id="div"),
]
# fmt: on


@pytest.fixture(scope="module")
def verifiers():
    """One verifier per configuration: each owns a worker process, started on first use."""
    return {
        "boxed": get_verifier("math"),
        "bare": get_verifier("math", answer="bare"),
        "boxed_or_bare": get_verifier("math", answer="boxed_or_bare"),
        "answer_tag": get_verifier("math", answer="answer_tag"),
        "tolerance": get_verifier("math", tolerance=1e-3),
        "no_literal": get_verifier("math", require_literal=False),
    }


def _check(verifier, reference, completion, reward, reason):
    verdict = verifier.verify(completion, reference)
    assert (verdict.reward, verdict.reason) == (reward, reason), verdict.detail
    assert verdict.detail  # every verdict says what was compared or why it failed


@pytest.mark.parametrize(("reference", "completion", "reward", "reason"), BOXED)
def test_boxed(verifiers, reference, completion, reward, reason):
    _check(verifiers["boxed"], reference, completion, reward, reason)


@pytest.mark.parametrize(("reference", "completion", "reward", "reason"), BARE)
def test_bare(verifiers, reference, completion, reward, reason):
    _check(verifiers["bare"], reference, completion, reward, reason)


@pytest.mark.parametrize(("reference", "completion", "reward", "reason"), BOXED_OR_BARE)
def test_boxed_or_bare(verifiers, reference, completion, reward, reason):
    _check(verifiers["boxed_or_bare"], reference, completion, reward, reason)


@pytest.mark.parametrize(("reference", "completion", "reward", "reason"), ANSWER_TAG)
def test_answer_tag(verifiers, reference, completion, reward, reason):
    _check(verifiers["answer_tag"], reference, completion, reward, reason)


@pytest.mark.parametrize(("reference", "completion", "reward", "reason"), TOLERANCE)
def test_tolerance(verifiers, reference, completion, reward, reason):
    _check(verifiers["tolerance"], reference, completion, reward, reason)


@pytest.mark.parametrize(("reference", "completion", "reward", "reason"), NO_LITERAL)
def test_require_literal_off(verifiers, reference, completion, reward, reason):
    _check(verifiers["no_literal"], reference, completion, reward, reason)


def test_detail_says_what_was_compared(verifiers):
    ok = verifiers["boxed"].verify(r"so \boxed{0.5}", "1/2")
    assert ok.detail == 'read 0.5 (from "0.5") == 1/2'
    wrong = verifiers["boxed"].verify(r"so \boxed{17}", 18)
    assert wrong.detail == 'read 17 (from "17"), expected 18'


def test_batch_keeps_order(verifiers):
    pairs = [(r"\boxed{1}", 1), (r"\boxed{2}", 3), (r"\boxed{3}", "3")]
    assert [v.reward for v in verifiers["boxed"].verify_batch(pairs, workers=2)] == [1.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "options",
    [{"answer": "boxd"}, {"tolerance": -0.1}, {"tolerance": float("nan")}, {"require_literal": "yes"}],
)
def test_bad_options_raise_at_construction(options):
    with pytest.raises(ConfigError):
        get_verifier("math", **options)


# ------------------------------------------------------------------------------------------
# The parser on its own


def test_decimals_are_exact_rationals():
    assert parse_math("0.1").expr == sympy.Rational(1, 10)
    assert parse_math("-0.125").expr == sympy.Rational(-1, 8)
    assert parse_math(".5").places == 1
    assert parse_math("0.0333").significant == 3


@pytest.mark.parametrize(
    "text", ["1500", "1,500", "1.5e3", "1.5E+3", r"1.5\times 10^{3}", r"1.5\cdot10^3", "1.5 * 10^3"]
)
def test_number_literal_forms(text):
    value = parse_math(text)
    assert value == Scalar(
        sympy.Integer(1500), literal=True, places=value.places, significant=value.significant
    )


@pytest.mark.parametrize("text", ["1+2", r"\sqrt{4}", "2^3", "5!", r"\frac{1}{2}+1", "3x", r"6 \div 3", "6 \u00f7 3"])
def test_expressions_are_not_literals(text):
    assert not parse_math(text).literal


def test_thousands_separators_need_groups_of_three():
    assert parse_math("1,234,567").expr == 1234567
    assert parse_math(r"1{,}234").expr == 1234
    assert parse_math(r"1\,234").expr == 1234
    assert [item.expr for item in parse_math("1,23").items] == [1, 23]
    assert [item.expr for item in parse_math("1234,567").items] == [1234, 567]
    assert parse_math(r"32,\! 349").expr == parse_math(r"32,\!349").expr == 32349  # the MATH dataset's form
    assert [item.expr for item in parse_math("0,111").items] == [0, 111]  # not 111


def test_plain_commas_inside_brackets_separate_items():
    assert parse_math("12,102").expr == 12102
    assert [item.expr for item in parse_math("(12,102)").items] == [12, 102]
    assert [item.expr for item in parse_math(r"\left(12,102\right)").items] == [12, 102]
    assert [item.expr for item in parse_math(r"\{12,102\}").items] == [12, 102]
    assert [item.expr for item in parse_math(r"(\text{12,102})").items] == [12, 102]
    interval = parse_math("[1,234]")
    assert isinstance(interval, Interval) and (interval.left.expr, interval.right.expr) == (1, 234)
    assert [item.expr for item in parse_math(r"(1{,}000, 2)").items] == [1000, 2]  # explicit separators stay
    assert parse_math(r"\frac{1,000}{3}").expr == sympy.Rational(1000, 3)  # a brace is not a bracket


def test_structures():
    assert parse_math(r"\{1, 2\}").kind == "set"
    assert parse_math("(1, 2)").kind == "tuple"
    assert parse_math("1, 2").kind == "list"
    assert parse_math(r"3 \text{ or } 4").kind == "list"
    interval = parse_math(r"(-\infty, 2]")
    assert isinstance(interval, Interval)
    assert (interval.left_closed, interval.left.expr, interval.right.expr, interval.right_closed) == (
        False, -sympy.oo, 2, True,
    )  # fmt: skip
    union = parse_math(r"(0, 1) \cup [2, 3]")
    assert isinstance(union, Group) and union.kind == "union"
    assert all(isinstance(part, Interval) for part in union.items)
    pm = parse_math(r"1 \pm \sqrt{2}")
    assert pm.kind == "set" and {item.expr for item in pm.items} == {1 + sympy.sqrt(2), 1 - sympy.sqrt(2)}


def test_markers_and_decoration():
    assert parse_math(r"50\%") == Scalar(sympy.Integer(50), literal=True, significant=2, percent=True)
    assert parse_math("45^\\circ").degrees and parse_math("45^\\circ").expr == 45
    assert parse_math(r"\sin 30^\circ").expr == sympy.Rational(1, 2)  # inside an expression: a factor
    assert parse_math(r"-\$1,000.50").expr == sympy.Rational(-2001, 2)
    assert parse_math(r"12 \text{ apples}").expr == 12
    assert parse_math(r"x_1 = \frac12").expr == sympy.Rational(1, 2)
    assert parse_math(r"\mathrm{e}").expr == sympy.E
    assert parse_math(r"\text{(B)}").expr == sympy.Symbol("B")


def test_latex_shorthands():
    assert parse_math(r"\frac12").expr == sympy.Rational(1, 2)
    assert parse_math(r"\frac1{3}").expr == sympy.Rational(1, 3)
    assert parse_math(r"\sqrt2").expr == sympy.sqrt(2)
    assert parse_math(r"\sqrt[3]{27}").expr == 3
    assert parse_math(r"\log_2 8").expr.equals(3)
    assert parse_math(r"\sin^2(x)").expr == sympy.sin(sympy.Symbol("x")) ** 2
    x, y = sympy.symbols("x y")
    assert parse_math("2xy").expr == 2 * x * y
    assert parse_math("(1+x)(1-x)").expr == (1 + x) * (1 - x)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("the answer is five", MathParseError),
        (r"\input{/etc/passwd}", MathParseError),
        ("(1 + 2", MathParseError),
        ("1 + 2)", MathParseError),
        ("a/2b", MathParseError),  # a/(2b) or (a/2)b
        (r"2\frac{1}{2}", MathParseError),  # 2½ or 2·½
        ("2 3", MathParseError),
        ("1/0", MathParseError),
        ("1.5!", MathParseError),
        ("5!!", MathParseError),
        ("x = 1 = 2", MathParseError),
        ("5 + 5 = 10", MathParseError),
        ("'1'", MathParseError),
        ("", MathParseError),
        ("x" * 1001, MathTooLarge),
        ("(" * 51 + "1" + ")" * 51, MathTooLarge),
        ("-" * 60 + "1", MathTooLarge),
        ("2^" * 60 + "2", MathTooLarge),
        ("10^{10001}", MathTooLarge),
        ("1e10001", MathTooLarge),
        ("10001!", MathTooLarge),
        ("x^{1001}", MathTooLarge),
    ],
)
def test_rejections(text, error):
    with pytest.raises(error) as info:
        parse_math(text)
    message = str(info.value)
    assert message.endswith(".") and "\n" not in message  # one short sentence


def test_parser_and_verifier_never_evaluate_text():
    """No call to eval/exec/compile/sympify/parse_expr/parse_latex appears in either module."""
    builtins = {"eval", "exec", "compile", "__import__"}  # re.compile is fine, compile() is not
    anywhere = {"sympify", "parse_expr", "parse_latex", "S", "N"}  # sympy.S("...") sympifies too
    for module in (mathparse, math_module):
        tree = ast.parse(pathlib.Path(module.__file__).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in builtins | anywhere, f"{module.__name__} calls {node.func.id}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in anywhere, f"{module.__name__} calls {node.func.attr}"


def test_docstring_examples():
    for module in (mathparse, math_module):
        assert doctest.testmod(module).failed == 0


# -- labels, units, solution lists, relations, equations, matrices (issue 23) ---------------------
# Every wrong answer a policy could find by swapping, repeating or dropping labels, units or list
# items scores 0; the forms real datasets write (MATH, NuminaMath, R1-style outputs) score 1.
LABELS_UNITS_FORMS = [
    # labelled answers compare as label -> value maps
    P("x = 1, y = 2", r"\boxed{y = 1, x = 2}", 0.0, "mismatch", id="swapped-labels"),
    P("a = 3, b = 5", r"\boxed{b = 3, a = 5}", 0.0, "mismatch", id="swapped-labels-ab"),
    P("x = 1, y = 2", r"\boxed{x = 1, x = 2}", 0.0, "mismatch", id="repeated-label"),
    P("x = 1, y = 2", r"\boxed{x = 1, y = 2, x = 1}", 0.0, "mismatch", id="repeated-label-extra"),
    P("x = 1, y = 2", r"\boxed{x = 1}", 0.0, "mismatch", id="missing-label"),
    P("x = 1, y = 2", r"\boxed{x = 1, z = 2}", 0.0, "mismatch", id="other-label"),
    P("x = 1, y = 2", r"\boxed{y = 2, x = 1}", 1.0, "ok", id="labels-any-order"),
    P("x = 1, y = 2", r"\boxed{1, 2}", 1.0, "ok", id="unlabelled-in-order"),
    P("x = 1, y = 2", r"\boxed{2, 1}", 0.0, "mismatch", id="unlabelled-out-of-order"),
    P(r"a_3 = 2, a_{37} = 19", r"\boxed{a_{37} = 19, \quad a_3 = 2}", 1.0, "ok", id="subscript-labels"),
    P("x = 3", r"\boxed{y = 3}", 0.0, "mismatch", id="wrong-label"),
    P("x = 3", r"\boxed{3}", 1.0, "ok", id="label-on-reference-only"),
    P("3", r"\boxed{k = 3}", 1.0, "ok", id="label-on-completion-only"),
    P("x = 1", r"\boxed{x = 1 \text{ or } x = 2}", 0.0, "ambiguous", id="hedged-labels"),
    P(r"x = 1 \text{ or } x = 2", r"\boxed{x = 2, x = 1}", 1.0, "ok", id="one-label-solution-list"),
    P(r"(5, 8), (8, 5)", r"\boxed{(x, y) = (5, 8) \text{ and } (8, 5)}", 1.0, "ok", id="tuple-equation"),
    P("(5, 8)", r"\boxed{(x, y) = (8, 5)}", 0.0, "mismatch", id="tuple-equation-swapped"),
    P("x = 3", r"\boxed{3 = x}", 1.0, "ok", id="value-on-the-left"),
    # an equation's left side is kept
    P("y = 2x + 1", r"\boxed{x = 2x + 1}", 0.0, "mismatch", id="equation-left-side"),
    P("y = 2x + 1", r"\boxed{y = 2x - 1}", 0.0, "mismatch", id="equation-wrong-right"),
    P("y = 2x + 1", r"\boxed{2x - y + 1 = 0}", 1.0, "ok", id="equation-rearranged"),
    P("2x + 4y - 3 = 0", r"\boxed{x + 2y = \frac{3}{2}}", 1.0, "ok", id="equation-scaled"),
    P("2x + 4y - 3 = 0", r"\boxed{x + 2y = 3}", 0.0, "mismatch", id="equation-not-scaled"),
    P("x^2 + y^2 = 1", r"\boxed{y^2 = 1 - x^2}", 1.0, "ok", id="circle"),
    P("x = 11", r"\boxed{x = 5 + 5 + 1 = 11}", 0.0, "parse_error", id="chained-equation"),
    P("y = 2x + 1", r"\boxed{\sin^2 x + \cos^2 x = 1}", 0.0, "mismatch", id="identity-is-no-equation"),
    P("y = 2x + 1", r"\boxed{(y - 2x - 1)^2 = 0}", 0.0, "mismatch", id="squared-equation"),
    P("y = 2x + 1", r"\boxed{0 \cdot y = 0}", 0.0, "parse_error", id="equation-without-variables"),
    P("x = 3", r"\boxed{2x = 6}", 1.0, "ok", id="scaled-label"),
    P("x = 3", r"\boxed{x^2 = 9}", 0.0, "mismatch", id="squared-label"),
    P("AB = 4, CD = 5", r"\boxed{4, 5}", 1.0, "ok", id="segment-names"),
    P("f(x) = 1", r"\boxed{1}", 1.0, "ok", id="function-name"),
    P("204_5", r"\boxed{54}", 0.0, "mismatch", id="base-needs-base"),
    P("204_5", r"\boxed{204_{5}}", 1.0, "ok", id="base"),
    P("7:32", r"\boxed{32:7}", 0.0, "mismatch", id="ratio-order"),
    P(r"\text{Evelyn}", r"\boxed{\text{evelyn}}", 1.0, "ok", id="text-answer"),
    P(r"\text{Evelyn}", r"\boxed{\text{Evelyn or Carla}}", 0.0, "mismatch", id="text-answer-hedged"),
    P(r"\boxed{1} \text{ and } \boxed{-2}", r"\boxed{-2, 1}", 1.0, "ok", id="reference-with-two-boxes"),
    # units: compared when both sides carry one; a unit on one side only is accepted
    P(r"5\text{ km}", r"\boxed{5\text{ m}}", 0.0, "mismatch", id="unit-swap"),
    P(r"3\text{ hours}", r"\boxed{3\text{ minutes}}", 0.0, "mismatch", id="unit-swap-time"),
    P(r"5\text{ km}", r"\boxed{5000\text{ m}}", 0.0, "mismatch", id="unit-not-converted"),
    P(r"3\text{ hours}", r"\boxed{3\text{ hour}}", 1.0, "ok", id="unit-plural"),
    P(r"5\text{ km}", r"\boxed{5 \text{km}}", 1.0, "ok", id="unit-same"),
    P(r"5\text{ km}", r"\boxed{5}", 1.0, "ok", id="unit-on-reference-only"),
    P("5", r"\boxed{5\text{ m}}", 1.0, "ok", id="unit-on-completion-only"),
    P(r"6\text{ cm}^2", r"\boxed{6\text{ cm}}", 0.0, "mismatch", id="unit-power"),
    P(r"\frac{1}{3}", r"\boxed{\frac{1}{3} \textbf{meters}}", 1.0, "ok", id="textbf-unit"),
    # percent words, thousands separators
    P(r"28\%", r"\boxed{28 \text{ percent}}", 1.0, "ok", id="percent-text"),
    P(r"28\%", r"\boxed{28 pct}", 1.0, "ok", id="pct"),
    P(r"0.28", r"\boxed{28 percent}", 0.0, "mismatch", id="percent-word-not-a-factor"),
    P("1000", r"\boxed{1 000}", 1.0, "ok", id="space-thousands"),
    P("1000000", "\\boxed{1\u2009000\u2009000}", 1.0, "ok", id="thin-space-thousands"),
    P("1000", r"\boxed{10 00}", 0.0, "parse_error", id="space-not-thousands"),
    # solution lists are multisets; tuples stay ordered
    P(r"(11,7) \text{ or } (7,11)", r"\boxed{(7,11), (11,7)}", 1.0, "ok", id="solutions-any-order"),
    P("a = 4, -8, -10", r"\boxed{-10, -8, 4}", 1.0, "ok", id="labelled-solution-list"),
    P("a = 4, -8, -10", r"\boxed{b = -10, -8, 4}", 0.0, "mismatch", id="labelled-solution-list-wrong-label"),
    P("1, 2", r"\boxed{1, 2, 3}", 0.0, "mismatch", id="superset-of-solutions"),
    P("1, 1, 2", r"\boxed{1, 2}", 0.0, "mismatch", id="repeated-solution-missing"),
    P("1, 1, 2", r"\boxed{2, 1, 1}", 1.0, "ok", id="repeated-solution"),
    P("(1, 2)", r"\boxed{(2, 1)}", 0.0, "mismatch", id="tuple-stays-ordered"),
    # relations and intervals
    P(r"x \in [1, 3)", r"\boxed{[1, 3)}", 1.0, "ok", id="in-interval"),
    P(r"[1, 3)", r"\boxed{1 \le x < 3}", 1.0, "ok", id="chained-relation"),
    P(r"[1, 3)", r"\boxed{1 < x < 3}", 0.0, "mismatch", id="open-for-closed"),
    P(r"(2, \infty)", r"\boxed{x > 2}", 1.0, "ok", id="relation-for-interval"),
    P(r"x > 2", r"\boxed{x < 2}", 0.0, "mismatch", id="relation-flipped"),
    P(r"x > 2", r"\boxed{x \ge 2}", 0.0, "mismatch", id="relation-closed-end"),
    P(r"x > 2", r"\boxed{2 < x}", 1.0, "ok", id="relation-written-backwards"),
    P(r"x > 2", r"\boxed{y > 2}", 0.0, "mismatch", id="relation-other-variable"),
    P(r"3 > x \geq 1", r"\boxed{x \in [1, 3)}", 1.0, "ok", id="descending-relation"),
    P(r"x < -2 \text{ or } x > 3", r"\boxed{(-\infty, -2) \cup (3, \infty)}", 1.0, "ok", id="relations-as-union"),
    P(r"x < -2 \text{ or } x > 3", r"\boxed{(-\infty, -2] \cup (3, \infty)}", 0.0, "mismatch", id="union-closed-end"),
    # matrices
    P(r"\begin{pmatrix} 0 & 3 \\ 0 & -1 \end{pmatrix}", r"\boxed{\begin{bmatrix} 0 & 3 \\ 0 & -1 \end{bmatrix}}",
      1.0, "ok", id="matrix"),
    P(r"\begin{pmatrix} 0 & 3 \\ 0 & -1 \end{pmatrix}", r"\boxed{\begin{pmatrix} 3 & 0 \\ 0 & -1 \end{pmatrix}}",
      0.0, "mismatch", id="matrix-swapped"),
    P(r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\boxed{\begin{pmatrix} 1 & 2 \end{pmatrix}}", 0.0, "mismatch",
      id="column-for-row"),
    P(r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\boxed{\begin{align} 1 \end{align}}", 0.0, "parse_error",
      id="other-environment"),
    # relations between expressions, |x| bounds, names (S_{ABC}, |AB|, NO/BO), a broken \frac escape
    P(r"f(2) < f(1) < f(4)", r"\boxed{f(2) < f(1) < f(4)}", 1.0, "ok", id="chain-of-values"),
    P(r"f(2) < f(1) < f(4)", r"\boxed{f(4) > f(1) > f(2)}", 1.0, "ok", id="chain-of-values-descending"),
    P(r"f(2) < f(1) < f(4)", r"\boxed{f(1) < f(2) < f(4)}", 0.0, "mismatch", id="chain-reordered"),
    P(r"f(2) < f(1) < f(4)", r"\boxed{f(2) < f(4) < f(1)}", 0.0, "mismatch", id="chain-other-middle"),
    P(r"f(2) < f(1) < f(4)", r"\boxed{f(2) > f(1) > f(4)}", 0.0, "mismatch", id="chain-flipped"),
    P(r"f(2) < f(1) < f(4)", r"\boxed{f(2) \le f(1) < f(4)}", 0.0, "mismatch", id="chain-closed-end"),
    P(r"f(2) < f(1) < f(4)", r"\boxed{2f(1) < f(1) < f(4)}", 0.0, "mismatch", id="chain-f2-is-not-2f"),
    P(r"f(2) < f(1) < f(4)", r"\boxed{g(2) < g(1) < g(4)}", 0.0, "mismatch", id="chain-other-function"),
    P(r"0 < f(x) < 1", r"\boxed{(0, 1)}", 1.0, "ok", id="range-as-interval"),
    P(r"0 < f(x) < 1", r"\boxed{(0, 1]}", 0.0, "mismatch", id="range-closed-end"),
    P(r"0 < f(x) < 1", r"\boxed{0 < x < 1}", 0.0, "mismatch", id="range-of-the-variable"),
    P(r"0 < f(x) < 1", r"\boxed{f(x) > 0}", 0.0, "mismatch", id="range-half"),
    P(r"1 \le |z| \le \frac{3}{2}", r"\boxed{z \in [-\frac32, -1] \cup [1, \frac32]}", 1.0, "ok", id="abs-bounds"),
    P(r"1 \le |z| \le \frac{3}{2}", r"\boxed{\frac32 \ge |z| \ge 1}", 1.0, "ok", id="abs-bounds-descending"),
    P(r"1 \le |z| \le \frac{3}{2}", r"\boxed{z \in [1, \frac32]}", 0.0, "mismatch", id="abs-positive-half"),
    P(r"1 \le |z| \le \frac{3}{2}", r"\boxed{[-\frac32, \frac32]}", 0.0, "mismatch", id="abs-lower-bound-lost"),
    P(r"1 \le |z| \le \frac{3}{2}", r"\boxed{1 < |z| \le \frac32}", 0.0, "mismatch", id="abs-open-end"),
    P(r"1 \le |z| \le \frac{3}{2}", r"\boxed{\frac32 \le |z| \le 1}", 0.0, "parse_error", id="abs-bounds-swapped"),
    P(r"1 \le |z| \le \frac{3}{2}", r"\boxed{1 \le z \le \frac32}", 0.0, "mismatch", id="abs-dropped"),
    P(r"1 \le |z| \le \frac{3}{2}", r"\boxed{1 \le |w| \le \frac32}", 0.0, "mismatch", id="abs-other-variable"),
    P(r"|x| > 3", r"\boxed{x < -3 \text{ or } x > 3}", 1.0, "ok", id="abs-outside"),
    P(r"|x| > 3", r"\boxed{x > 3}", 0.0, "mismatch", id="abs-outside-half"),
    P(r"|x| \ge 3", r"\boxed{(-\infty, -3) \cup (3, \infty)}", 0.0, "mismatch", id="abs-outside-open"),
    P(r"|x| < 3", r"\boxed{|x| < -3}", 0.0, "parse_error", id="abs-negative-bound"),
    P(3, r"\boxed{|-3|}", 0.0, "parse_error", id="abs-of-a-number-unread"),
    P(r"[1, 2]", r"\boxed{[1, 2] \in |x|}", 0.0, "parse_error", id="abs-in-refused"),
    P(r"[1, 2]", r"\boxed{1 \in |x| \in 2}", 0.0, "parse_error", id="abs-chain-of-in-refused"),
    P(r"[1, 3]", r"\boxed{1 \neq x \neq 3}", 0.0, "parse_error", id="chain-of-neq-is-no-interval"),
    P(r"|AB| = 1", r"\boxed{1}", 1.0, "ok", id="segment-length"),
    P(r"|AB| = 1", r"\boxed{AB = 1}", 1.0, "ok", id="segment-length-named"),
    P(r"|AB| = 1", r"\boxed{|AC| = 1}", 0.0, "mismatch", id="segment-other-name"),
    P(r"|z| = 2", r"\boxed{z = 2}", 0.0, "mismatch", id="modulus-is-not-the-value"),
    P(r"S_{ABC} = 6", r"\boxed{6}", 1.0, "ok", id="word-subscript"),
    P(r"S_{ABC} = 6", r"\boxed{S_{ABD} = 6}", 0.0, "mismatch", id="word-subscript-other"),
    P(r"S_{MBCN}:S = 7:32", r"\boxed{7:32}", 1.0, "ok", id="named-ratio"),
    P(r"S_{MBCN}:S = 7:32", r"\boxed{32:7}", 0.0, "mismatch", id="named-ratio-reversed"),
    P(r"S_{MBCN}:S = 7:32", r"\boxed{S:S_{MBCN} = 7:32}", 0.0, "mismatch", id="named-ratio-other-names"),
    P(r"\frac{NO}{BO} = \frac{1}{\sqrt{6}}", r"\boxed{\frac{\sqrt6}{6}}", 1.0, "ok", id="segment-ratio"),
    P(r"\frac{NO}{BO} = \frac{1}{\sqrt{6}}", r"\boxed{\sqrt6}", 0.0, "mismatch", id="segment-ratio-inverse"),
    P(r"\frac{NO}{BO} = \frac{1}{\sqrt{6}}", r"\boxed{\frac{NB}{BO} = \frac{1}{\sqrt6}}", 0.0, "mismatch",
      id="segment-ratio-other-names"),
    P(r"\frac{NO}{BO} = \frac{1}{\sqrt{6}}", r"\boxed{\frac{N}{B} = \frac{1}{\sqrt6}}", 0.0, "mismatch",
      id="segment-ratio-cancelled"),
    P("\\begin{pmatrix}-\\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\end{pmatrix}",
      r"\boxed{\begin{pmatrix}-\frac{7}{4}&-2\\4&\frac{1}{4}\end{pmatrix}}", 1.0, "ok", id="form-feed-frac"),
    P("\\begin{pmatrix}-\\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\end{pmatrix}",
      r"\boxed{\begin{pmatrix}-\frac{7}{4}&-2\\4&\frac{1}{3}\end{pmatrix}}", 0.0, "mismatch",
      id="form-feed-frac-other-matrix"),
    # \sum with a symbolic bound: kept as written, equal only up to the order of factors and terms
    P(r"F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}", r"\boxed{F_n = \sum_{k=0}^{n-1} F_{n-1-k} F_k}", 1.0, "ok",
      id="sum-factors-swapped"),
    P(r"F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}", r"\boxed{\sum_{k=0}^{n-1} F_k F_{n-k-1}}", 1.0, "ok",
      id="sum-unlabelled"),
    P(r"F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}", r"\boxed{F_n = \sum_{k=0}^{n-2} F_k F_{n-k-2}}", 0.0, "mismatch",
      id="sum-other-bounds"),
    P(r"F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}", r"\boxed{F_n = \sum_{k=0}^{n-1} F_k F_{n-k}}", 0.0, "mismatch",
      id="sum-other-term"),
    P(r"F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}", r"\boxed{F_n = 2\sum_{k=0}^{n-1} F_k F_{n-k-1}}", 0.0, "mismatch",
      id="sum-doubled"),
    P(r"F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}", r"\boxed{F_m = \sum_{k=0}^{n-1} F_k F_{n-k-1}}", 0.0, "mismatch",
      id="sum-other-label"),
    P(r"\sum_{k=1}^{n} k", r"\boxed{\sum_{k=1}^{n} k + 1}", 0.0, "mismatch", id="sum-plus-one"),
    P(55, r"\boxed{\sum_{k=1}^{10} k}", 0.0, "parse_error", id="sum-of-numbers-refused"),
    P(r"\sum_{k=1}^{n} k", r"\boxed{\sum_{k=1}^{10^{9}} k}", 0.0, "parse_error", id="sum-huge-refused"),
    # extraction: repeated and nested boxes, the reasoning tag
    P(143, r"so \boxed{143}. Check: \boxed{143}. Answer: \boxed{ 143 }", 1.0, "ok", id="three-equal-boxes"),
    P(42, r"<think>maybe \boxed{41}</think> The answer is \boxed{42}.", 1.0, "ok", id="after-think"),
    P(42, r"<think>It is \boxed{42}.</think> Done.", 0.0, "no_answer", id="box-only-inside-think"),
]

BARE_FORMS = [
    P(12, "**Answer:** 12", 1.0, "ok", id="bold-answer"),
    P(12, "Final Answer: The final answer is 12. I hope it is correct.", 1.0, "ok", id="minerva"),
    P(12, "12 apples", 1.0, "ok", id="count-with-noun"),
    P(12, "12 or more", 0.0, "parse_error", id="hedge-in-words"),
    P(12, "12 wrong", 0.0, "parse_error", id="negating-word"),
    P(1000, "1 000", 1.0, "ok", id="space-thousands-bare"),
    P(r"-2 \\le x \\le 7", r"x \in [-2, 7]", 1.0, "ok", id="doubled-backslashes-in-reference"),
    P(12, "The answer is not 12, it is 13.", 0.0, "parse_error", id="negated-prose"),
    P(28, "28 percent", 1.0, "ok", id="percent-word-bare"),
    P(12, "<think>12 maybe</think>\n13", 0.0, "mismatch", id="bare-after-think"),
]


@pytest.mark.parametrize(("reference", "completion", "reward", "reason"), LABELS_UNITS_FORMS)
def test_labels_units_and_forms(verifiers, reference, completion, reward, reason):
    _check(verifiers["boxed"], reference, completion, reward, reason)


@pytest.mark.parametrize(("reference", "completion", "reward", "reason"), BARE_FORMS)
def test_bare_forms(verifiers, reference, completion, reward, reason):
    _check(verifiers["bare"], reference, completion, reward, reason)
