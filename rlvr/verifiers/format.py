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

The reference is ignored. Reasons: ok, no_answer, ambiguous, parse_error, mismatch (pattern),
timeout.

Time limit. The check runs in the calling process by default (isolated=False): it is a tiny
check that `compose` runs every training step, and a worker process would cost a pipe round
trip per check and a process start per configuration. The limit still holds, in any thread:
everything but the pattern is linear in the completion (under 0.5 s for 5 MB), and the
pattern runs on the `regex` engine (Python's `re` syntax) with a timeout of what is left of
`time_limit`, so a catastrophic pattern returns reward 0 "timeout" instead of hanging the
caller. isolated=True also works, and adds the worker's kill at the limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import regex

from rlvr._errors import ConfigError
from rlvr.verifiers.answer import AnswerMode, extract_answer, has_answer_tag, has_box
from rlvr.verifiers.base import Verifier, register_verifier
from rlvr.verifiers.verdict import Verdict, seconds_left

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
                regex.compile(self.pattern)
            except (regex.error, TypeError) as exc:
                raise ConfigError(
                    f"verifier 'format': pattern {self.pattern!r} is not a valid regex ({exc}); fix it."
                ) from None

    def check(self, completion: str, reference: Any) -> Verdict:
        deadline = time.monotonic() + self.time_limit
        text = completion
        if self.think:
            text, failure = _after_think(completion, self.answer)
            if failure is not None:
                return failure
        answer, failure = extract_answer(text, self.answer)
        if failure is not None:
            return failure
        if self.pattern is not None:
            try:
                matched = regex.fullmatch(self.pattern, answer, timeout=seconds_left(deadline), concurrent=True)
            except TimeoutError:
                said = f"pattern {self.pattern!r} ran past the {self.time_limit:g} s time limit"
                return Verdict(0.0, "timeout", said)
            if matched is None:
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
        return has_box(text)
    if mode == "answer_tag":
        return has_answer_tag(text)
    return False  # a bare answer has no marker to look for


def _quote(text: str, limit: int = 60) -> str:
    return '"' + (text if len(text) <= limit else text[: limit - 3] + "...") + '"'

