r"""The `format` verifier: a shaping reward for the form of the answer, blind to its correctness.

**Never train on this reward alone.** It pays 1.0 for a well-formed answer whether the
answer is right or wrong, so a policy that maximises it learns to write tidy wrong answers.
Use it as a small part of `compose`, behind a correctness gate:

    get_verifier("compose", parts=[
        {"verifier": "math", "weight": 0.8, "gate": True},
        {"verifier": {"name": "format", "think": True, "pattern": r"-?\d+"}, "weight": 0.2},
    ])

    >>> v = FormatVerifier(pattern=r"-?\d+")
    >>> v.check(r"37 * 29 = 1073, so \boxed{1073}.", None)
    Verdict(reward=1.0, reason='ok', detail='one answer "1073"')
    >>> v.check(r"\boxed{1073.5}", None).reason
    'mismatch'

Checks, in order; the reward is 1.0 iff all hold, else 0.0 with the first failure:

1. `think` (off by default): the completion opens with one <think>...</think> block (leading
   whitespace allowed) holding some reasoning. The answer is read from the text after
   </think> only, and the reasoning may not hold an answer marker (\boxed, <answer>) of its
   own ("ambiguous"): a correctness verifier reading the whole completion would see two.
   Chat templates that open <think> in the prompt need "<think>" put back on the completion.
2. `answer`: `extract_answer` finds exactly one answer (boxed, bare, boxed_or_bare, answer_tag);
   missing, repeated, empty and unclosed answers fail with its reason.
3. `pattern` (optional): the answer fully matches this regex, e.g. r"-?\d+" for an integer.
   The pattern runs on model text: a catastrophic pattern is stopped only by `time_limit`
   with isolated=True.

The reference is ignored. Reasons: ok, no_answer, ambiguous, parse_error, mismatch (pattern).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rlvr._errors import ConfigError
from rlvr.verifiers._answer import _BOX, _TAG_OPEN, AnswerMode, extract_answer
from rlvr.verifiers.base import Verdict, Verifier, register_verifier

__all__ = ["FormatVerifier"]

_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"


@register_verifier("format")
@dataclass(frozen=True)
class FormatVerifier(Verifier):
    """Reward the expected answer format only (a shaping reward: never use it alone).

    answer:  where the answer must be (see `extract_answer`); exactly one is required.
    pattern: a regex the extracted answer must fully match, or None for any answer.
    think:   require one non-empty <think>...</think> block that opens the completion.
    """

    answer: AnswerMode = "boxed"
    pattern: str | None = None
    think: bool = False
    isolated: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except (re.error, TypeError) as exc:
                raise ConfigError(
                    f"verifier 'format': pattern {self.pattern!r} is not a valid regex ({exc}); fix it."
                ) from None

    def check(self, completion: str, reference: Any) -> Verdict:
        text = completion
        if self.think:
            text, failure = _after_think(completion, self.answer)
            if failure is not None:
                return failure
        answer, failure = extract_answer(text, self.answer)
        if failure is not None:
            return failure
        if self.pattern is not None and re.fullmatch(self.pattern, answer) is None:  # type: ignore[arg-type]
            return Verdict(0.0, "mismatch", f"answer {_quote(answer)} does not fully match {self.pattern!r}")
        return Verdict(1.0, "ok", f"one answer {_quote(answer)}")


def _after_think(completion: str, mode: AnswerMode) -> tuple[str, Verdict | None]:
    """The text after a leading <think>...</think> block, or why the block is not well formed."""
    opens, closes = completion.count(_THINK_OPEN), completion.count(_THINK_CLOSE)
    if opens == 0 or not completion.lstrip().startswith(_THINK_OPEN):
        return "", Verdict(0.0, "parse_error", "the completion must open with a <think>...</think> block")
    if opens > 1 or closes > 1:
        return "", Verdict(0.0, "ambiguous", f"{max(opens, closes)} <think> blocks; exactly one is required")
    start = completion.index(_THINK_OPEN) + len(_THINK_OPEN)
    end = completion.find(_THINK_CLOSE, start)
    if end < 0:
        return "", Verdict(0.0, "parse_error", "unclosed <think> block")
    reasoning = completion[start:end]
    if not reasoning.strip():
        return "", Verdict(0.0, "parse_error", "empty <think></think> block")
    if _has_answer_marker(reasoning, mode):
        return "", Verdict(0.0, "ambiguous", "the <think> block holds an answer of its own")
    return completion[end + len(_THINK_CLOSE) :], None


def _has_answer_marker(text: str, mode: AnswerMode) -> bool:
    if mode in ("boxed", "boxed_or_bare"):
        return _BOX.search(text) is not None
    if mode == "answer_tag":
        return _TAG_OPEN in text
    return False  # a bare answer has no marker to look for


def _quote(text: str, limit: int = 60) -> str:
    return '"' + (text if len(text) <= limit else text[: limit - 3] + "...") + '"'
