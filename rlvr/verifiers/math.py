r"""The `math` verifier: one answer read from a completion, judged against a reference value.

    >>> v = MathVerifier(isolated=False)
    >>> v.check(r"First, 37 * 29 = 1073. So the answer is \boxed{1073}.", 1073)
    Verdict(reward=1.0, reason='ok', detail='read 1073 (from "1073") == 1073')
    >>> v.check(r"\boxed{82 + 59}", "141").reason
    'unevaluated'

Reading. `extract_answer` finds the answer text (option `answer`: boxed, bare, boxed_or_bare,
answer_tag); `parse_math` turns it, and the reference, into values with a restricted parser:
model text never reaches eval or sympify. A reference is an int, a float (read from its
repr, so 0.1 is exactly 1/10), a Fraction, a Decimal, or a string, possibly `\boxed{...}`.

Equivalence, in the order the rules apply:

1. Shape. A single reference value needs a single answer: "3, 4", "3 or 4" and \pm 3 are
   several answers ("ambiguous"). Sets compare as sets (a list matches a set in any order);
   a list of solutions ("1, 2", "3 or 4") as a multiset (any order; a missing, extra or
   repeated solution fails); tuples, matrices and ratios element by element, in order;
   intervals need equal endpoints and the same brackets, and a relation is its interval
   (x > 2 is (2, \infty); 1 \le |z| \le 2 is [-2, -1] \cup [1, 2]; f(2) < f(1) < f(4) is
   f(1) \in (f(2), f(4)), so a reordered or flipped chain fails); (a, b) equals the open
   interval (a, b); a set never equals an interval.
   Labels: "x = 1, y = 2" is a label -> value map: a different, missing or repeated label
   fails, an unlabelled "1, 2" is read in the reference's order, and a label on one side
   only is accepted (x = 3 for 3). Two different labels never match (y = 3 for x = 3).
   Equations (2x + 4y - 3 = 0, y = 2x + y^2, and x = 3 against one) are equal when their
   sides' differences agree up to a non-zero constant factor.
   Units: when both sides carry a unit word they must be the same word (hours = hour;
   5 km is neither 5 m nor 5000 m: units are never converted); a unit on one side only is
   accepted. A number in another base (204_5) equals only a number in that base.
   Text answers: a reference in \text{...} (or one or two bare words) is compared as words.
2. Literal. With `require_literal` (default), a reference written as a rational number
   literal (1073, -0.5, 3/4, \frac{3}{4}) needs a number literal back (12, 0.5, 1.5e3,
   1.5\times10^{3}, 3/4, \frac34; sign, currency, units, thousands separators, % and °
   allowed). An expression with a rational value (82 + 59, 37*29, 5!, \sqrt{4}, and
   32800 \div 205: ÷ is an operator, only a/b and \frac{a}{b} are fraction literals) is
   "unevaluated": a policy must not pass by restating the question. An irrational
   expression cannot restate a rational number and goes on to the rules below (so
   \frac{\pi}{3} can answer 60^\circ, and 4\sqrt{2} against 4 is a plain mismatch).
3. Rational numbers compare exactly: 167.99 != 168, 1/2^{99} != 1/2^{98}, 1/2004! !=
   1/2006!, while 168.0 == 168 and 0.5 == \frac{1}{2} == 2/4.
4. A decimal against an irrational or non-terminating reference (1/3, \sqrt2, \pi) passes
   iff it equals the reference rounded to the decimal's places and has at least 3
   significant digits: 0.333 for 1/3, 1.414 for \sqrt2, 3.14 for \pi; not 0.3, 0.334, 3.15.
5. Otherwise symbolic. Constants must agree to 40 significant digits at 60-digit precision
   (a 1e-12 check would call e^{\pi\sqrt{163}} an integer); expressions with variables
   must agree at 5 random rational points; sympy.simplify(a - b) == 0 decides only when
   the numbers cannot (a value that will not evaluate). So 1 - 1/e != 1 + 1/e, 4 != 4\sqrt2.
6. `tolerance` > 0 also accepts numbers with |a - b| <= tolerance * max(1, |b|).

Markers and conventions (see `_mathparse` for the notation itself):

- Percent is a unit marker, not a factor: 50\% matches 50 and 50\%, and never 0.5 (nor
  does 0.5 match 50\%). Write the reference in the form the question asks for.
- Degrees: 45^\circ matches 45 and 45^\circ (the sign as a unit), and \frac{\pi}{4} (degrees
  times pi/180 against a radian value). An unmarked 45 never matches \frac{\pi}{4}.
- e is Euler's number, i the imaginary unit, \log the natural logarithm.

Reasons: ok, mismatch, ambiguous, unevaluated, parse_error, too_large, bad_reference, and
extract_answer's no_answer / ambiguous / parse_error.
"""

from __future__ import annotations

import decimal
import numbers
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from math import isfinite
from typing import Any

import sympy
from sympy.core.function import AppliedUndef

from rlvr._errors import ConfigError
from rlvr.verifiers._mathparse import (
    Equation,
    Group,
    Interval,
    MathParseError,
    MathTooLarge,
    Parsed,
    Scalar,
    parse_math,
)
from rlvr.verifiers.answer import AnswerMode, boxed_answers, extract_answer
from rlvr.verifiers.base import Verifier, register_verifier
from rlvr.verifiers.verdict import Verdict

__all__ = ["MathVerifier"]

_PRECISION = 60  # digits for numeric comparison
_CONSTANT_AGREEMENT = 1e-40  # relative; true identities agree to ~1e-58 at 60 digits
_POINT_AGREEMENT = 1e-30
_POINTS = 5
_NONZERO = 1e-20  # |value| below this at a sample point of size ~1 counts as 0 (identities give ~1e-60)
_MIN_SIGNIFICANT = 3


@register_verifier("math")
@dataclass(frozen=True)
class MathVerifier(Verifier):
    """Judge a math answer against a reference number, expression, set, tuple or interval.

    answer:          where the answer is in the completion (see `extract_answer`).
    tolerance:       extra absolute/relative tolerance for numbers; 0 keeps the exact rules.
    require_literal: a reference written as a number needs a number back, not an expression.
    """

    answer: AnswerMode = "boxed"
    tolerance: float = 0.0
    require_literal: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isfinite(self.tolerance) and self.tolerance >= 0):
            raise ConfigError(
                f"verifier 'math': tolerance must be a finite number >= 0, got {self.tolerance}."
            )

    def neutral(self) -> Verifier:
        return self if self.answer == "lenient" else replace(self, answer="lenient")

    def check_reference(self, reference: Any) -> str | None:
        try:
            _read_reference(reference)
        except MathParseError as exc:
            return None if _reference_words(reference) else str(exc)
        return None

    def check(self, completion: str, reference: Any) -> Verdict:
        try:
            expected = _read_reference(reference)
        except MathParseError as exc:
            words = _reference_words(reference)
            if words:
                return self._judge_words(completion, words)
            shown = reference if isinstance(reference, str) else repr(reference)
            return Verdict(0.0, "bad_reference", f"reference {_quote(shown)}: {exc}")
        text, failure = extract_answer(completion, self.answer)
        if failure is not None:
            return failure
        try:
            read = parse_math(text)  # type: ignore[arg-type]
        except MathTooLarge as exc:
            return Verdict(0.0, "too_large", f"{_quote(text)}: {exc}")
        except MathParseError as exc:
            return Verdict(0.0, "parse_error", f"could not read {_quote(text)}: {exc}")
        return self._judge(read, expected, text)  # type: ignore[arg-type]

    def _judge_words(self, completion: str, words: str) -> Verdict:
        """A text answer (\\text{Evelyn}, "odd"): the same words, ignoring case and spacing."""
        text, failure = extract_answer(completion, self.answer)
        if failure is not None:
            return failure
        answer: str = text  # type: ignore[assignment]
        if _words(answer) == words:
            return Verdict(1.0, "ok", f"read the words {_quote(words)} == {_quote(words)}")
        return Verdict(0.0, "mismatch", f"read {_quote(answer)}, expected the words {_quote(words)}")

    def _judge(self, read: Parsed, expected: Parsed, text: str) -> Verdict:
        said = f"read {_show(read)} (from {_quote(text)})"
        if isinstance(expected, Scalar) and isinstance(read, Group) and len(read.items) > 1:
            return Verdict(0.0, "ambiguous", f"{said}: {len(read.items)} answers where one is expected")
        if self.require_literal and _rational_literals(expected) and _unevaluated(read):
            return Verdict(
                0.0, "unevaluated", f"{said} is an expression; the reference {_show(expected)} is a number"
            )
        if _equal(read, expected, self.tolerance):
            return Verdict(1.0, "ok", f"{said} == {_show(expected)}")
        return Verdict(0.0, "mismatch", f"{said}, expected {_show(expected)}")


def _read_reference(reference: Any) -> Parsed:
    if isinstance(reference, bool):
        raise MathParseError("a bool is not a math reference.")
    if isinstance(reference, numbers.Integral):
        return Scalar(sympy.Integer(int(reference)), literal=True)
    if isinstance(reference, numbers.Rational):  # Fraction, sympy.Rational: exact already
        return Scalar(sympy.Rational(int(reference.numerator), int(reference.denominator)), literal=True)
    if isinstance(reference, numbers.Real) and not isinstance(reference, decimal.Decimal):
        if not isfinite(float(reference)):
            raise MathParseError("the reference is not a finite number.")
        return parse_math(repr(float(reference)))  # repr is the shortest exact decimal: 0.1 -> 1/10
    if isinstance(reference, decimal.Decimal):
        return parse_math(str(reference))
    if isinstance(reference, str):
        text, failure = extract_answer(reference, "boxed_or_bare")
        boxes = boxed_answers(reference) if failure is not None and failure.reason == "ambiguous" else []
        if len(boxes) > 1:  # a reference may box each of several answers: \boxed{1} and \boxed{-2}
            text, failure = " \\text{ and } ".join(boxes), None
        if failure is not None:
            raise MathParseError(f"{failure.detail}.")
        return parse_math(text)  # type: ignore[arg-type]
    raise MathParseError(f"a {type(reference).__name__} is not a math reference.")


_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|textrm|mathrm|textnormal|mbox)\s*\{([^{}]*)\}")
_WORDS = re.compile(r"[A-Za-z][A-Za-z' -]*")


def _words(text: str) -> str:
    r"""The words of a text answer, compared casefolded with single spaces: \text{Even} -> "even";
    "" when the text is not words alone."""
    inner = _TEXT_WRAPPER.fullmatch(text.strip())
    text = (inner.group(1) if inner else text).strip().rstrip(".").strip()
    return " ".join(text.casefold().split()) if _WORDS.fullmatch(text) else ""


def _reference_words(reference: Any) -> str:
    """A reference that is a text answer rather than math: words in \\text{...} (\\text{Evelyn}), or one or
    two bare words ("odd", "no solution"); "" otherwise, so a sentence ("see the solution above") stays an
    unreadable reference, listed before training."""
    if not isinstance(reference, str):
        return ""
    text, failure = extract_answer(reference, "boxed_or_bare")
    if failure is not None:
        return ""
    words = _words(text)  # type: ignore[arg-type]
    wrapped = _TEXT_WRAPPER.fullmatch(text.strip()) is not None  # type: ignore[union-attr]
    return words if wrapped or len(words.split()) <= 2 else ""


# ------------------------------------------------------------------------------------------
# Equivalence


def _leaves(value: Parsed) -> Iterator[Scalar]:
    if isinstance(value, Scalar):
        yield value
    elif isinstance(value, Interval):
        yield from (value.left, value.right)
    elif isinstance(value, Group):
        for item in value.items:
            yield from _leaves(item)


def _rational_literals(value: Parsed) -> bool:
    leaves = list(_leaves(value))
    return bool(leaves) and all(x.literal and x.expr.is_Rational for x in leaves)


def _unevaluated(value: Parsed) -> bool:
    r"""Arithmetic left for the reader: an expression whose value is rational (82 + 59, 5!).

    An irrational expression (\frac{\pi}{3}) cannot restate a rational reference, so it is
    judged by the usual rules; that lets radians answer a reference in degrees."""
    return any(not x.literal and x.expr.is_Rational for x in _leaves(value))


def _equal(read: Parsed, expected: Parsed, tolerance: float) -> bool:
    if _label(read) and _label(expected) and _label(read) != _label(expected):
        return False  # y = 3 does not answer x = 3; a label on one side only is accepted
    if isinstance(read, Equation) or isinstance(expected, Equation):
        a, b = _as_equation(read), _as_equation(expected)
        return a is not None and b is not None and _proportional(a, b)
    if isinstance(read, Scalar) and isinstance(expected, Scalar):
        return _scalars_equal(read, expected, tolerance)
    if isinstance(read, Interval) or isinstance(expected, Interval):
        a, b = _as_interval(read), _as_interval(expected)
        return (
            a is not None
            and b is not None
            and (a.left_closed, a.right_closed) == (b.left_closed, b.right_closed)
            and _scalars_equal(a.left, b.left, tolerance)
            and _scalars_equal(a.right, b.right, tolerance)
        )
    if isinstance(read, Group) and isinstance(expected, Group):
        kinds = {read.kind, expected.kind}
        if kinds == {"list"} and _is_map(expected):
            return _same_map(read, expected, tolerance)
        if kinds == {"list"} or (kinds <= {"set", "list"} and "set" in kinds) or kinds == {"union"}:
            return _same_members(read.items, expected.items, tolerance)
        if kinds == {"union", "list"} and all(isinstance(x, Interval) for x in read.items + expected.items):
            return _same_members(read.items, expected.items, tolerance)  # x < 1 or x > 2
        if kinds <= {"tuple", "list"} or kinds in ({"matrix"}, {"ratio"}):
            return _in_order(read.items, expected.items, tolerance)
    return False


def _label(value: Parsed) -> str:
    return getattr(value, "label", "")


def _in_order(read: tuple[Parsed, ...], expected: tuple[Parsed, ...], tolerance: float) -> bool:
    return len(read) == len(expected) and all(_equal(a, b, tolerance) for a, b in zip(read, expected))


def _is_map(value: Group) -> bool:
    """x = 1, y = 2: every item has a label, and no label repeats (x = 1 or x = 2 is a solution list)."""
    labels = [_label(item) for item in value.items]
    return all(labels) and len(set(labels)) == len(labels)


def _same_map(read: Group, expected: Group, tolerance: float) -> bool:
    """Labelled answers compare label by label: a different, missing or repeated label fails. An
    unlabelled list is read in the reference's order (x = 1, y = 2 is answered by 1, 2)."""
    if not any(_label(item) for item in read.items):
        return _in_order(read.items, expected.items, tolerance)
    if not _is_map(read):
        return False
    values = {_label(item): item for item in read.items}
    return set(values) == {_label(item) for item in expected.items} and all(
        _equal(values[_label(item)], item, tolerance) for item in expected.items
    )


def _as_equation(value: Parsed) -> sympy.Expr | None:
    """An equation as left - right: x = 3 is x - 3; an unlabelled value is no equation."""
    if isinstance(value, Equation):
        return value.expr
    if isinstance(value, Scalar) and value.label:
        return sympy.Symbol(value.label) - value.expr
    return None


def _proportional(a: sympy.Expr, b: sympy.Expr) -> bool:
    """a = 0 and b = 0 are the same equation: a = c * b for a constant c != 0 (2x + 4y = 3 and
    x + 2y - 3/2 = 0). c is read at a fixed rational point where neither side is (numerically) 0,
    then a * b(p) == b * a(p) is checked as usual. An identity (sin^2 x + cos^2 x = 1, 0 everywhere)
    has no such point, so it equals no equation."""
    if a == b:
        return True
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    if not symbols:
        return False
    for k in range(1, 6):
        point = {s: sympy.Rational(7 * k + 3 * n, 11 + n) for n, s in enumerate(symbols)}
        size_a, size_b = _abs(a, point), _abs(b, point)
        if size_a is None or size_b is None or size_a < _NONZERO or size_b < _NONZERO:
            continue  # a pole, or a zero of one side: no ratio here
        at_a, at_b = a.evalf(_PRECISION, subs=point), b.evalf(_PRECISION, subs=point)
        return _symbolically_equal(a * at_b, b * at_a)
    return False


def _as_interval(value: Parsed) -> Interval | None:
    if isinstance(value, Interval):
        return value
    if isinstance(value, Group) and value.kind == "tuple" and len(value.items) == 2:
        left, right = value.items
        if isinstance(left, Scalar) and isinstance(right, Scalar):
            return Interval(False, left, right, False)
    return None


def _same_members(read: tuple[Parsed, ...], expected: tuple[Parsed, ...], tolerance: float) -> bool:
    if len(read) != len(expected):
        return False
    unmatched = list(expected)
    for item in read:
        match = next((k for k, other in enumerate(unmatched) if _equal(item, other, tolerance)), None)
        if match is None:
            return False
        unmatched.pop(match)
    return True


def _scalars_equal(read: Scalar, expected: Scalar, tolerance: float) -> bool:
    if read.unit and expected.unit and _unit_key(read.unit) != _unit_key(expected.unit):
        return False  # 5 m is not 5 km; units are compared as words, never converted
    if read.base != expected.base:
        return False  # 204_5 is not 54: the question asked for base 5
    if read.degrees == expected.degrees:
        return _values_equal(read, expected.expr, tolerance)
    if _values_equal(read, expected.expr, tolerance):  # 45° against 45: the sign is a unit
        return True
    if read.degrees:  # 45° against pi/4: degrees are a factor pi/180
        return _values_equal(
            replace(read, expr=read.expr * sympy.pi / 180, places=None), expected.expr, tolerance
        )
    return _values_equal(read, expected.expr * sympy.pi / 180, tolerance)


def _unit_key(unit: str) -> str:
    """A unit as compared: no spaces or case, a plural "s" dropped (hours = hour, but cm != c)."""
    key = "".join(unit.split()).lower()
    return key[:-1] if len(key) > 3 and key.endswith("s") and key.isalpha() else key


def _values_equal(read: Scalar, expected: sympy.Expr, tolerance: float) -> bool:
    value = read.expr
    if value == expected:
        return True
    if tolerance > 0 and _within(value, expected, tolerance):
        return True
    if read.places is not None and _is_finite_number(expected) and not _terminates(expected):
        return _rounds_to(read, expected)
    if value.is_Rational and expected.is_Rational:
        return False  # exact: 167.99 is not 168
    return _symbolically_equal(value, expected)


def _is_finite_number(expr: sympy.Expr) -> bool:
    return bool(expr.is_number) and not expr.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan)


def _terminates(expr: sympy.Expr) -> bool:
    """A rational with a finite decimal expansion: its denominator divides a power of ten."""
    return bool(expr.is_Rational) and pow(10, expr.q.bit_length(), expr.q) == 0


def _rounds_to(read: Scalar, expected: sympy.Expr) -> bool:
    """0.333 for 1/3: the decimal is the reference rounded to its places, with 3+ significant digits."""
    if read.significant < _MIN_SIGNIFICANT or read.places is None:
        return False
    scale = sympy.Integer(10) ** read.places
    if expected.is_Rational:
        nearest = sympy.floor(expected * scale + sympy.Rational(1, 2))
    else:
        size = _abs(expected)
        if size is None:
            return False
        whole_digits = int(sympy.log(size, 10).evalf(15)) if size > 1 else 0
        value = (expected * scale).evalf(max(0, read.places) + whole_digits + 30)
        if not (value.is_Number and value.is_real):
            return False
        nearest = sympy.floor(value + sympy.Rational(1, 2))
    return read.expr * scale == nearest


def _within(value: sympy.Expr, expected: sympy.Expr, tolerance: float) -> bool:
    if not (_is_finite_number(value) and _is_finite_number(expected)):
        return False
    gap, size = _abs(value - expected), _abs(expected)
    return gap is not None and size is not None and bool(gap <= tolerance * max(1, size))


def _abs(expr: sympy.Expr, subs: dict | None = None) -> sympy.Number | None:
    """|expr| at _PRECISION digits as a sympy number (floats underflow below 1e-308), or None
    when it does not evaluate to a finite number (a pole, an undefined function)."""
    value = sympy.Abs(expr.evalf(_PRECISION, subs=subs)).evalf(_PRECISION)
    return value if value.is_Number and value.is_finite else None


def _symbolically_equal(value: sympy.Expr, expected: sympy.Expr) -> bool:
    if any(x.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan) for x in (value, expected)):
        return False  # infinities only equal themselves, compared exactly before
    if any(x.atoms(AppliedUndef) for x in (value, expected)):
        return False  # a \sum or a term F_{n-1} is equal only as written, compared exactly before
    symbols = sorted(value.free_symbols | expected.free_symbols, key=str)
    verdict = _agree_at_points(value, expected, symbols) if symbols else _agree_as_constants(value, expected)
    if verdict is not None:
        return verdict
    try:
        return sympy.simplify(value - expected) == 0
    except Exception:  # noqa: BLE001 - sympy raises many types on exotic input; unproven is unequal
        return False


def _agree_as_constants(a: sympy.Expr, b: sympy.Expr) -> bool | None:
    sizes = [_abs(a), _abs(b), _abs(a - b)]
    if any(s is None for s in sizes):
        return None
    size_a, size_b, gap = sizes
    return gap == 0 or bool(gap <= max(size_a, size_b) * _CONSTANT_AGREEMENT)  # type: ignore[operator,type-var]


def _agree_at_points(a: sympy.Expr, b: sympy.Expr, symbols: list[sympy.Symbol]) -> bool | None:
    rng = random.Random(0)  # the same pair always gets the same verdict
    agreed = 0
    for _ in range(3 * _POINTS):
        point = {s: sympy.Rational(rng.randint(-(10**6), 10**6), rng.randint(1, 10**4)) for s in symbols}
        sizes = [_abs(a, point), _abs(b, point), _abs(a - b, point)]
        if any(s is None for s in sizes):
            continue  # a pole or a branch point: try another point
        size_a, size_b, gap = sizes
        if gap != 0 and gap > max(size_a, size_b) * _POINT_AGREEMENT:  # type: ignore[operator,type-var]
            return False
        agreed += 1
        if agreed == _POINTS:
            return True
    return None


# ------------------------------------------------------------------------------------------
# Details: short, and safe for numbers with thousands of digits (str() of them raises)


def _quote(text: str, limit: int = 60) -> str:
    return '"' + (text if len(text) <= limit else text[: limit - 3] + "...") + '"'


def _show(value: Parsed) -> str:
    if isinstance(value, Equation):
        return f"{_show_expr(value.expr)} = 0"
    label = f"{value.label} = " if value.label else ""
    if isinstance(value, Scalar):
        number = _show_decimal(value) if value.places is not None else _show_expr(value.expr)
        unit = f" {value.unit}" if value.unit else ""
        number += f" (written in base {value.base})" if value.base != 10 else ""
        return label + number + ("%" if value.percent else "") + ("°" if value.degrees else "") + unit
    if isinstance(value, Interval):
        left, right = "[" if value.left_closed else "(", "]" if value.right_closed else ")"
        label = f"{value.label} ∈ " if value.label else ""
        return f"{label}{left}{_show(value.left)}, {_show(value.right)}{right}"
    items = [_show(item) for item in value.items]
    joined = " ∪ ".join(items) if value.kind == "union" else ", ".join(items)
    if value.kind == "ratio":
        joined = ":".join(items)
    return label + {"set": "{%s}", "tuple": "(%s)", "matrix": "[%s]"}.get(value.kind, "%s") % joined


def _show_decimal(value: Scalar) -> str:
    """0.333 rather than 333/1000: a decimal literal shown as written (less separators)."""
    places = value.places or 0
    if places <= 0 or places > 40 or not value.expr.is_Rational:
        return _show_expr(value.expr)
    digits = str(abs(value.expr * 10**places)).rjust(places + 1, "0")
    sign = "-" if value.expr < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def _show_expr(expr: sympy.Expr) -> str:
    try:
        if expr.is_Rational and max(abs(expr.p), expr.q).bit_length() > 130:  # ~40 digits
            return "≈" + sympy.sstr(sympy.Float(expr, 8))
        text = sympy.sstr(expr)
    except ValueError:  # an integer too long to print inside a larger expression
        text = "an expression with very large numbers"
    return text if len(text) <= 80 else text[:77] + "..."
