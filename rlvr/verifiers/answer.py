"""Find the one answer in a completion, or say precisely why there is none.

Modes (the `answer` option of the math and reasoning_gym verifiers):

    boxed          exactly one \\boxed{...} (or \\fbox{...}); nested braces allowed. The same
                   answer boxed again (R1-style: in the reasoning and after it) counts once,
                   and a box inside a box is the same box; boxes that differ are ambiguous.
    bare           the whole completion is the answer, optionally after a lead-in such as
                   "Answer:", "**Answer:**", "Final Answer: The final answer is" (and
                   Minerva's closing "I hope it is correct."), with a trailing period
                   allowed, or one trailing comma (sentence punctuation: "$\\frac{1}{3},$").
    boxed_or_bare  boxed rules when the completion has a box, bare rules otherwise.
    answer_tag     exactly one <answer>...</answer> pair (reasoning-gym's convention).
    lenient        the format-neutral reading, for attribution only (see below).

In every mode, a completion with a closing reasoning tag (</think>) is read after its last
one: the reasoning before it is not the answer.

Missing, empty, duplicated and unclosed answers fail closed; an answer is never
guessed from "the last number in the text", which a policy can game by listing numbers.

The one exception is `lenient`, the *format-neutral* reading that `rlvr eval`, `compare`
and the trainer's `pass_rate/neutral` report beside the strict one: would the answer be
right if its format were ignored? It reads, in this order, the last non-empty \\boxed{},
the last non-empty <answer> tag, the whole completion when it is one line of no prose (a
bare answer after an optional "Answer:" lead-in), else the last number in the text. It is
never a training reward unless a user asks for it (the trainer warns then): a policy can
game it by listing numbers.
"""

from __future__ import annotations

import re
from typing import Literal

from rlvr.verifiers.verdict import Verdict

__all__ = ["AnswerMode", "boxed_answers", "extract_answer", "has_answer_tag", "has_box"]

AnswerMode = Literal["boxed", "bare", "boxed_or_bare", "answer_tag", "lenient"]

_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_LEAD_IN = re.compile(
    r"^\**\s*(?:so,?\s+)?(?:the\s+)?(?:final\s+)?(?:answer|result)(?:\s+is)?\s*[:=]?\s*\**\s*", re.IGNORECASE
)
_SIGN_OFF = "i hope it is correct"  # Minerva's closing line, after the answer
_MAX_NESTED_BOXES = 4  # \boxed{\boxed{5}} is unwrapped this deep; deeper nesting is left to fail
_THINK_CLOSE = "</think>"
_GAP_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]+")  # a word, not a \command
_WRAPPERS = (("**", "**"), ("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("`", "`"))
_TAG_OPEN, _TAG_CLOSE = "<answer>", "</answer>"
_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*(?=\{)")
_TAGGED = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_PROSE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")  # a word of two letters or more, not a \command
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?")


def extract_answer(completion: str, mode: AnswerMode = "boxed") -> tuple[str | None, Verdict | None]:
    """Return `(answer, None)`, or `(None, verdict)` with the fail-closed reason.

    >>> extract_answer(r"so \\boxed{\\frac{1}{2}}")
    ('\\\\frac{1}{2}', None)
    >>> extract_answer(r"\\boxed{1} or \\boxed{2}")[1].reason
    'ambiguous'
    """
    if mode != "lenient" and _THINK_CLOSE in completion:
        completion = completion.rsplit(_THINK_CLOSE, 1)[1]
    if mode == "boxed":
        return _boxed(completion)
    if mode == "bare":
        return _bare(completion)
    if mode == "boxed_or_bare":
        return _boxed(completion) if _BOX.search(completion) else _bare(completion)
    if mode == "answer_tag":
        return _tagged(completion)
    if mode == "lenient":
        return _lenient(completion)
    raise ValueError(f"unknown answer mode {mode!r}")


def has_box(text: str) -> bool:
    """Whether `text` holds a \\boxed or \\fbox marker: an answer the boxed modes would read."""
    return _BOX.search(text) is not None


def boxed_answers(text: str, max_words_between: int = 3) -> list[str]:
    """The contents of the outermost boxes of `text`, in order (inner boxes unwrapped), when every box is
    closed and non-empty and at most `max_words_between` words separate two boxes ("\\boxed{1} and
    \\boxed{2}", not a sentence between them); else []. For references that box each of several
    answers; a completion's boxes go through `extract_answer`."""
    answers, position = [], 0
    while match := _BOX.search(text, position):
        if answers and len(_GAP_WORD.findall(text[position : match.start()])) > max_words_between:
            return []
        content, failure, position = _one_box(text, match.end())
        if failure is not None:
            return []
        answers.append(content)
    return answers  # type: ignore[return-value]


def has_answer_tag(text: str) -> bool:
    """Whether `text` opens an <answer> tag: an answer the answer_tag mode would read."""
    return _TAG_OPEN in text


def _boxed(text: str) -> tuple[str | None, Verdict | None]:
    if not _BOX.search(text):
        return None, Verdict(0.0, "no_answer", "no \\boxed{} in the completion")
    answers: list[str] = []
    position = 0
    while match := _BOX.search(text, position):  # outermost boxes only: \boxed{\boxed{5}} is one
        content, failure, position = _one_box(text, match.end())
        if failure is not None:
            return None, failure
        answers.append(content)  # type: ignore[arg-type]
    if len({"".join(a.split()) for a in answers}) > 1:
        return None, Verdict(0.0, "ambiguous", f"{len(answers)} different \\boxed{{}} answers; exactly one is required")
    return answers[0], None


def _one_box(text: str, i: int) -> tuple[str | None, Verdict | None, int]:
    """The content of the box whose marker ends at `i` (inner boxes unwrapped), and where it ends."""
    while i < len(text) and text[i] in " \t":
        i += 1
    if i >= len(text) or text[i] != "{":
        return None, Verdict(0.0, "parse_error", "\\boxed must be followed by {"), i
    content = _braced(text, i)
    if content is None:
        return None, Verdict(0.0, "parse_error", "unclosed \\boxed{"), i
    end = i + len(content) + 2
    content = content.strip()
    for _ in range(_MAX_NESTED_BOXES):  # \boxed{\boxed{5}} is \boxed{5}
        inner = _BOX_OPEN.match(content)
        if inner is None or _braced(content, inner.end()) != content[inner.end() + 1 : -1]:
            break
        content = content[inner.end() + 1 : -1].strip()
    if not content:
        return None, Verdict(0.0, "no_answer", "empty \\boxed{}"), end
    return content, None, end


def _braced(text: str, open_index: int) -> str | None:
    """Content of the brace group opening at `open_index`; escaped braces do not nest."""
    depth = 0
    i = open_index
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[open_index + 1 : i]
        i += 1
    return None


def _bare(text: str) -> tuple[str | None, Verdict | None]:
    answer = _without_sign_off(text.strip())
    # One trailing comma in all ("1, 2,," stays unread), and none after an ellipsis: in
    # "1, 2, 3, ..." the periods are not a full stop and the comma is the list's own.
    comma, periods = False, 0
    for _ in range(3):  # "**Answer:** $42$." peels in a few rounds
        before = answer
        answer = _LEAD_IN.sub("", answer).strip()
        for left, right in _WRAPPERS:
            if len(answer) > len(left) + len(right) and answer.startswith(left) and answer.endswith(right):
                answer = answer[len(left) : len(answer) - len(right)].strip()
        trimmed = answer.rstrip(".")
        periods += len(answer) - len(trimmed)
        answer = trimmed.strip()
        if not comma and periods <= 1 and answer.endswith(",") and not answer.endswith(",,"):
            answer, comma = answer[:-1].strip(), True
        if answer == before:
            break
    if not answer:
        return None, Verdict(0.0, "no_answer", "empty completion")
    if "\n" in answer:
        return None, Verdict(0.0, "parse_error", "a bare answer must be one line with nothing else")
    return answer, None


def _without_sign_off(text: str) -> str:
    """"... The final answer is 12. I hope it is correct." without its last sentence (no regex: linear)."""
    end = text.rstrip(".").rstrip()
    if end.lower().endswith(_SIGN_OFF):
        return end[: len(end) - len(_SIGN_OFF)].rstrip()
    return text


def _tagged(text: str) -> tuple[str | None, Verdict | None]:
    opens, closes = text.count(_TAG_OPEN), text.count(_TAG_CLOSE)
    if opens == 0:
        return None, Verdict(0.0, "no_answer", "no <answer>...</answer> in the completion")
    if opens > 1 or closes > 1:
        return None, Verdict(0.0, "ambiguous", f"{max(opens, closes)} <answer> tags; exactly one is required")
    start = text.index(_TAG_OPEN) + len(_TAG_OPEN)
    end = text.find(_TAG_CLOSE, start)
    if end < 0:
        return None, Verdict(0.0, "parse_error", "unclosed <answer> tag")
    content = text[start:end].strip()
    if not content:
        return None, Verdict(0.0, "no_answer", "empty <answer></answer>")
    return content, None


def _lenient(text: str) -> tuple[str | None, Verdict | None]:
    """The format-neutral reading (module docstring): box, tag, bare answer, else the last number."""
    boxes = [_braced(text, m.end()) for m in _BOX_OPEN.finditer(text)]
    boxes = [b.strip() for b in boxes if b is not None and b.strip()]
    if boxes:
        return boxes[-1], None
    tags = [t.strip() for t in _TAGGED.findall(text) if t.strip()]
    if tags:
        return tags[-1], None
    bare, failed = _bare(text)
    if failed is None and bare is not None and not _PROSE.search(bare) and not _BOX.search(bare):
        return bare, None
    numbers = _NUMBER.findall(text)
    if numbers:
        return numbers[-1], None
    return None, Verdict(0.0, "no_answer", "no answer in the completion, read leniently")
