"""Math mutations, from a number reference (integer, fraction, decimal) and, for "What is a OP b?"
prompts, its operands (see mutations.py).

Wrong: perturbed numbers, flipped signs, shifted decimals, swapped digits, the other operators'
results, the question restated unevaluated, a second answer next to the right one, the answer
outside the box, an empty or unclosed box. Legitimate: thousands separators, trailing zeros,
scientific notation, equivalent fractions, decimals for fractions. Answers go in \\boxed{}
(the suite convention). Mutants differ from the reference by construction (exact fractions),
so math has no oracle.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from rlvr.audit._candidate import Candidate
from rlvr.tasks import Task

__all__ = ["math_candidates"]


@dataclass(frozen=True)
class _Number:
    value: Fraction
    style: str  # "int", "frac" or "decimal": how the reference writes it, and its mutants


_INT = re.compile(r"-?\d+")
_FRAC = re.compile(r"(-?\d+)/(\d+)|(-?)\\frac\{(\d+)\}\{(\d+)\}")
_DEC = re.compile(r"-?\d*\.\d+")
_QUESTION = re.compile(r"(-?\d+(?:\.\d+)?(?:/\d+)?) ([-+*/]) (-?\d+(?:\.\d+)?(?:/\d+)?)\?")
_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_LATEX_OPS = {"+": "+", "-": "-", "*": "\\times", "/": "\\div"}


def _read_number(reference: Any) -> _Number | None:
    if isinstance(reference, bool):
        return None
    if isinstance(reference, int):
        return _Number(Fraction(reference), "int")
    if not isinstance(reference, str):
        return None
    text = reference.strip()
    if _INT.fullmatch(text):
        return _Number(Fraction(int(text)), "int")
    if _DEC.fullmatch(text):
        return _Number(Fraction(Decimal(text)), "decimal")
    match = _FRAC.fullmatch(text)
    if match and match.group(1) is not None:
        return _Number(Fraction(int(match.group(1)), int(match.group(2))), "frac")
    if match and int(match.group(5)) != 0:
        return _Number(Fraction(int(match.group(3) + match.group(4)), int(match.group(5))), "frac")
    return None


def _terminates(value: Fraction) -> bool:
    q = value.denominator
    for p in (2, 5):
        while q % p == 0:
            q //= p
    return q == 1


def _decimal_text(value: Fraction) -> str:
    with localcontext() as ctx:
        ctx.prec = 60
        text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _render(value: Fraction, style: str) -> str:
    """`value` in LaTeX, in the style of the reference where that is exact."""
    if value.denominator == 1:
        return str(value.numerator)
    if style != "frac" and _terminates(value):
        return _decimal_text(value)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def _boxed(text: str) -> str:
    return f"So the answer is \\boxed{{{text}}}."


def math_candidates(task: Task) -> Iterator[Candidate]:
    number = _read_number(task.reference)
    right = _render(number.value, number.style) if number else None
    if right is None:
        text = task.reference.strip() if isinstance(task.reference, str) else None
        if not text:
            return
        yield from _math_structural(text, None)  # a non-numeric reference: its own text only
        return
    yield from _math_legitimate(number, right)
    wrongs = list(_wrong_values(number, task.prompt))
    for tag, note, value in wrongs:
        yield Candidate(_boxed(_render(value, number.style)), False, tag, note)
    yield from _restated(task.prompt, number.value)
    second = _render(wrongs[0][2], number.style)  # the first perturbation: a near miss
    yield from _math_structural(right, second)
    if number.value != 0:
        yield Candidate(_boxed(f"\\pm {_render(abs(number.value), number.style)}"), False,
                         "mutation/second_answer", "plus-minus covers both signs")


def _wrong_values(number: _Number, prompt: Any) -> Iterator[tuple[str, str, Fraction]]:
    """(tag, note, value) for values that differ from the reference, by construction."""
    v = number.value
    step = {"int": Fraction(1), "frac": Fraction(1, v.denominator),
            "decimal": Fraction(1, 10 ** len(_decimal_text(v).partition(".")[2] or "0"))}[number.style]
    candidates = [
        ("mutation/perturb", "one step up", v + step),
        ("mutation/perturb", "one step down", v - step),
        ("mutation/flip_sign", "sign flipped", -v),
        ("mutation/shift_decimal", "decimal point shifted right", v * 10),
        ("mutation/shift_decimal", "decimal point shifted left", v / 10),
    ]
    swapped = _swap_digits(v) if number.style == "int" else None
    if swapped is not None:
        candidates.append(("mutation/swap_digits", "two adjacent digits swapped", swapped))
    for op, value in _other_operator_results(prompt):
        candidates.append(("mutation/swap_operator", f"the result of {op} instead", value))
    seen = {v}
    for tag, note, value in candidates:
        if value not in seen:
            seen.add(value)
            yield tag, note, value


def _swap_digits(value: Fraction) -> Fraction | None:
    digits = str(abs(value.numerator))
    for i in range(len(digits) - 1):
        if digits[i] != digits[i + 1] and not (i == 0 and digits[1] == "0"):
            swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
            return Fraction(int(swapped)) * (-1 if value < 0 else 1)
    return None


def _operands(prompt: Any) -> tuple[Fraction, str, Fraction, str, str] | None:
    """(a, op, b, a text, b text) of a "What is a OP b?" prompt."""
    match = _QUESTION.search(prompt) if isinstance(prompt, str) else None
    if match is None:
        return None
    try:
        return Fraction(match.group(1)), match.group(2), Fraction(match.group(3)), match.group(1), match.group(3)
    except (ValueError, ZeroDivisionError):
        return None


def _other_operator_results(prompt: Any) -> Iterator[tuple[str, Fraction]]:
    operands = _operands(prompt)
    if operands is None:
        return
    a, op, b, _, _ = operands
    for other, apply in _OPS.items():
        if other != op and not (other == "/" and b == 0):
            yield other, apply(a, b)


def _restated(prompt: Any, value: Fraction) -> Iterator[Candidate]:
    """The question's own expression as the answer: right value, nothing computed."""
    operands = _operands(prompt)
    if operands is None:
        return
    a, op, b, a_text, b_text = operands
    if _OPS[op](a, b) == value:
        latex = f"{_latex_operand(a_text)} {_LATEX_OPS[op]} {_latex_operand(b_text)}"
        yield Candidate(_boxed(latex), False, "mutation/restate_question", "the question's expression, unevaluated")


def _latex_operand(text: str) -> str:
    if "/" in text:
        p, _, q = text.partition("/")
        return f"\\frac{{{p}}}{{{q}}}"
    return text


def _math_structural(right: str, wrong: str | None) -> Iterator[Candidate]:
    """Hacks that need only the answer's text: wrong field, empty or unclosed box, two answers."""
    yield Candidate(f"The answer is {right}.", False, "mutation/strip_field", "right answer, no box")
    yield Candidate(right, False, "mutation/strip_field", "bare answer where a box is required")
    yield Candidate(f"\\boxed{{}} {right}", False, "mutation/empty_field", "empty box, the answer after it")
    yield Candidate("So the answer is \\boxed{}.", False, "mutation/empty_field", "empty box")
    yield Candidate(f"So the answer is \\boxed{{{right}", False, "mutation/unclosed_field", "unclosed box")
    if wrong is None:
        return
    yield Candidate(f"\\boxed{{{right}}} or \\boxed{{{wrong}}}", False, "mutation/second_answer", "right box first")
    yield Candidate(f"\\boxed{{{wrong}}} or \\boxed{{{right}}}", False, "mutation/second_answer", "right box last")
    yield Candidate(_boxed(f"{right}, {wrong}"), False, "mutation/second_answer", "a list, right first")
    yield Candidate(_boxed(f"{wrong}, {right}"), False, "mutation/second_answer", "a list, right last")
    yield Candidate(_boxed(f"{right} \\text{{ or }} {wrong}"), False, "mutation/second_answer", "either-or")
    yield Candidate(f"The answer is {right}, so \\boxed{{{wrong}}}.", False, "mutation/outside_field",
                     "right number outside, wrong number in the box")


def _math_legitimate(number: _Number, right: str) -> Iterator[Candidate]:
    v = number.value
    yield Candidate(_boxed(right), True, "variant/plain", "the reference's own form")
    yield Candidate(f"$\\boxed{{{right}}}$", True, "variant/format", "box in inline math")
    yield Candidate(f"\\boxed{{{right}}} \\boxed{{{right}}}", True, "variant/format",
                    "the box twice: one answer, repeated (R1-style outputs do this)")
    yield Candidate(f"Working it out gives {right}.\n\n**Final answer:** \\boxed{{{right}}}", True,
                     "variant/format", "reasoning, then the box")
    if v < 0:
        yield Candidate(_boxed("\u2212" + right[1:]), True, "variant/format", "unicode minus sign")
    if _terminates(v):
        text = _decimal_text(v)
        if abs(v) >= 1000:
            yield Candidate(_boxed(_thousands(text, ",")), True, "variant/reformat_number", "thousands separator")
            yield Candidate(_boxed(_thousands(text, "{,}")), True, "variant/reformat_number", "LaTeX thousands")
            yield Candidate(_boxed(_scientific(v)), True, "variant/reformat_number", "scientific notation")
        yield Candidate(_boxed(text + (".0" if "." not in text else "0")), True, "variant/reformat_number",
                         "a trailing zero")
        if number.style == "frac":
            yield Candidate(_boxed(text), True, "variant/equivalent_fraction", "the fraction as a decimal")
    if v.denominator != 1:
        p, q = v.numerator, v.denominator
        yield Candidate(_boxed(f"\\frac{{{2 * p}}}{{{2 * q}}}"), True, "variant/equivalent_fraction",
                         "an unreduced fraction")
        yield Candidate(_boxed(f"{p}/{q}"), True, "variant/equivalent_fraction", "a slash fraction")
        sign = "-" if p < 0 else ""
        yield Candidate(_boxed(f"{sign}\\dfrac{{{abs(p)}}}{{{q}}}"), True, "variant/equivalent_fraction", "\\dfrac")


def _thousands(text: str, separator: str) -> str:
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, dot, rest = digits.partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return sign + separator.join([whole, *groups]) + dot + rest


def _scientific(value: Fraction) -> str:
    exponent = len(str(abs(value.numerator) // value.denominator)) - 1
    mantissa = _decimal_text(value / Fraction(10) ** exponent)
    return f"{mantissa}\\times10^{{{exponent}}}"
