"""A process check for arithmetic reasoning, and CoT-pass@k (Wen et al., 2506.14245).

    >>> check_steps("3 + 4 = 7, and 7 * 2 = 14.")
    StepCheck(ok=True, steps=2, reason='ok', detail='')
    >>> check_steps("3 + 4 = 8, so the answer is 7").reason
    'false_step'

pass@k credits a sample whose final answer is right, whatever its reasoning; CoT-pass@k credits
it only when every arithmetic step it writes is true as well. A model that learned to guess
right answers behind wrong work keeps its pass@k and loses its CoT-pass@k.

What counts as a step: an equation chain of numeric expressions, `a op b = c`, `a op b op c = d`,
`a + b = c + d = e`: numbers (integers and decimals, an optional leading minus), the operators
+ - * / (also x, ×, ·, ÷, −, ＋ and ＝), and parentheses, with "=" between two or more expressions.
It may stand in prose ("so 3 + 4 = 7, then ..."). Each "=" of the chain must hold exactly
(rational arithmetic, no floating point; division by zero is false). Expressions are parsed by a
small recursive-descent parser, never by eval. A completion with no step at all has nothing to
check: it passes with reason "no_steps" (a bare answer is not wrong reasoning), unless
`require_steps` is set.

It is a measurement, never a reward by default: a policy can avoid it by writing no equations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["StepCheck", "check_steps", "cot_counts"]

_UNICODE = str.maketrans({"×": "*", "✕": "*", "·": "*", "⋅": "*", "÷": "/", "−": "-", "–": "-", "＋": "+",
                          "＝": "=", "∗": "*"})
_NUMBER = r"\d+(?:\.\d+)?"
_EXPR = rf"[-(]*\s*{_NUMBER}(?:\s*[)]*\s*[-+*/x]\s*[-(]*\s*{_NUMBER})*\s*[)]*"
# An equation chain: expression (= expression)+, not glued to a word, a decimal point or a thousands
# separator around it (so "1,200 + 300 = 1,500" is not read as 200 + 300 = 1); a full stop may follow.
_CHAIN = re.compile(rf"(?<![\w.,]){_EXPR}(?:\s*=\s*{_EXPR})+(?!\w|[.,]\d)")
_MAX_DIGITS = 200  # a number this long is not arithmetic anyone checks by hand; refusing it bounds the work


@dataclass(frozen=True)
class StepCheck:
    ok: bool
    steps: int  # equation chains found
    reason: str  # "ok", "no_steps", "false_step", "unreadable_step"
    detail: str = ""


def check_steps(text: str, *, require_steps: bool = False) -> StepCheck:
    """Every arithmetic equation chain in `text` holds."""
    chains = _CHAIN.findall(re.sub(r"\s+", " ", text.translate(_UNICODE)))
    if not chains:
        return StepCheck(not require_steps, 0, "no_steps", "no arithmetic equation in the completion")
    for chain in chains:
        try:
            values = [_evaluate(part) for part in chain.split("=")]
        except (ValueError, ZeroDivisionError) as exc:
            if isinstance(exc, ZeroDivisionError):
                return StepCheck(False, len(chains), "false_step", f"{chain.strip()!r} divides by zero")
            return StepCheck(False, len(chains), "unreadable_step", f"{chain.strip()!r}: {exc}")
        if any(v != values[0] for v in values[1:]):
            return StepCheck(False, len(chains), "false_step", f"{chain.strip()!r} does not hold")
    return StepCheck(True, len(chains), "ok")


def _evaluate(expression: str) -> Fraction:
    """The exact value of + - * / ( ) over decimal numbers; ValueError for anything else."""
    tokens = re.findall(rf"{_NUMBER}|[-+*/x()]|\S", expression)
    value, end = _sum(tokens, 0)
    if end != len(tokens):
        raise ValueError(f"unexpected {tokens[end]!r}")
    return value


def _sum(tokens: list[str], i: int) -> tuple[Fraction, int]:
    value, i = _product(tokens, i)
    while i < len(tokens) and tokens[i] in "+-":
        right, j = _product(tokens, i + 1)
        value, i = (value + right if tokens[i] == "+" else value - right), j
    return value, i


def _product(tokens: list[str], i: int) -> tuple[Fraction, int]:
    value, i = _unary(tokens, i)
    while i < len(tokens) and tokens[i] in ("*", "/", "x"):
        right, j = _unary(tokens, i + 1)
        value, i = (value / right if tokens[i] == "/" else value * right), j
    return value, i


def _unary(tokens: list[str], i: int) -> tuple[Fraction, int]:
    if i >= len(tokens):
        raise ValueError("an expression ends early")
    if tokens[i] == "-":
        value, i = _unary(tokens, i + 1)
        return -value, i
    if tokens[i] == "(":
        value, i = _sum(tokens, i + 1)
        if i >= len(tokens) or tokens[i] != ")":
            raise ValueError("unclosed parenthesis")
        return value, i + 1
    if re.fullmatch(_NUMBER, tokens[i]):
        if len(tokens[i]) > _MAX_DIGITS:
            raise ValueError("a number of more than 200 digits")
        return Fraction(tokens[i]), i + 1
    raise ValueError(f"unexpected {tokens[i]!r}")


def cot_counts(record: dict, *, reading: str = "neutral", require_steps: bool = False) -> dict[str, int]:
    """Per-task counts of samples whose answer is right (on `reading`) and whose steps all hold."""
    counts = {t["id"]: 0 for t in record["tasks"]}
    for sample in record.get("samples") or []:
        right = sample.get("neutral", sample.get("passed")) if reading == "neutral" else sample.get("passed")
        if right and sample.get("task_id") in counts and check_steps(str(sample.get("text", "")),
                                                                    require_steps=require_steps).ok:
            counts[sample["task_id"]] += 1
    return counts
