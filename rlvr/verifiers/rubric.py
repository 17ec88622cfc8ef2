r"""The `rubric` verifier: a weighted checklist of programmatic criteria, with partial credit.

    >>> v = RubricVerifier(criteria=[
    ...     {"name": "summary", "weight": 1, "sections": ["Summary"]},
    ...     {"name": "cites", "weight": 3, "regex": r"\[\d+\]"},
    ... ])
    >>> verdict = v.check("## Summary\nGlaciers are retreating.", None)
    >>> verdict.reward, verdict.reason, verdict.detail
    (0.25, 'partial', 'summary 1/1 (w=1); cites 0/1 (w=3: no match for \\[\\d+\\])')

Each criterion is a mapping with a unique "name", a "weight" > 0, and exactly one test:

    "regex": pattern        re.search finds it; with "must_match": false, must not find it.
                            Python syntax; write (?i) or (?m) inline for flags.
    "length": [min, max]    min <= len(completion.strip()) <= max characters; max may be null.
    "sections": [...]       every heading appears as a line of its own: markdown marks (#, **,
                            a trailing colon, a leading "1.") and case are ignored, so
                            "Summary" matches "## Summary", "**SUMMARY:**" and "1. Summary".
    "contains": [...]       every phrase appears (case-insensitive).
    "not_contains": [...]   no phrase appears (case-insensitive).
    "check": "mod:func"     a callable (completion, reference) -> float in [0, 1] or bool,
                            the only test with partial credit; its module must be allowed
                            (`allow_plugins`, --allow-plugin), or the rubric is refused
                            (a reference's: reward 0 "bad_reference"). If it raises or returns
                            anything else, the whole rubric fails closed (runtime_error,
                            invalid_reward): a broken scorer must not hand out rewards.

Reward = sum(weight * score) / sum(weight), over all criteria. Reasons: ok (every criterion
met), partial, mismatch (none met), too_long, bad_reference, runtime_error, invalid_reward.

Reference. Anything may be the reference; "check" callables receive it as it is. A mapping
with a "criteria" list adds criteria for this one task: one with the name of an option
criterion replaces it (in place), new names are appended. So options hold the shared
rubric (format, length) and each task adds or re-weights its own. A bad criterion in a
reference gives reward 0 with reason "bad_reference"; in the options it raises ConfigError.

Time limit. Regexes run on model text, so a pattern with catastrophic backtracking is a
denial of service. Completions longer than `max_chars` (default 20,000) score 0.0
("too_long") instead of being searched; they are not truncated, which would let forbidden
text hide past the cut. Within the cap the length, sections and contains tests are linear in
the text, and regexes run on the `regex` engine (Python's `re` syntax) with a timeout of
what is left of `time_limit`: a catastrophic pattern gives the whole rubric reward 0
"timeout", in any thread. So a rubric runs in the calling process (a worker would cost a
pipe round trip per check) unless it has a "check" callable: that is the user's own code,
which no timeout inside the process can stop, so by default (isolated=None) a rubric whose
options hold one runs in a worker process that is killed at the limit. A callable that a
reference adds to an in-process rubric earns nothing past the limit ("timeout") but runs to
its end: set isolated=True when references bring their own callables.
"""

from __future__ import annotations

import functools
import math
import re
import time
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import regex

from rlvr._errors import ConfigError
from rlvr.verifiers._plugins import check_allowed
from rlvr.verifiers.base import FunctionVerifier, Verifier, register_verifier
from rlvr.verifiers.verdict import Verdict, guarded_check, seconds_left

__all__ = ["RubricVerifier"]

CriterionKind = Literal["regex", "length", "sections", "contains", "not_contains", "check"]
_KINDS: tuple[str, ...] = typing.get_args(CriterionKind)
_KEYS = ("name", "weight", "must_match", *_KINDS)
_BROKEN_SCORER = frozenset({"runtime_error", "invalid_reward"})
_FAILS_THE_RUBRIC = _BROKEN_SCORER | {"timeout"}  # reward 0 for the whole rubric, not one line


@dataclass(frozen=True)
class Criterion:
    """One line of a rubric, as `_parse_criteria` validated it from a mapping.

    arg: the test's argument: a pattern, (min, max), a tuple of phrases, or "module:function".
    """

    name: str
    weight: float
    kind: CriterionKind
    arg: Any
    must_match: bool = True


@register_verifier("rubric")
@dataclass(frozen=True)
class RubricVerifier(Verifier):
    """Score a completion by the weighted share of rubric criteria it meets.

    criteria:  mappings (or Criterion objects); stored as a tuple of Criterion. May be empty
               when every reference carries its own criteria.
    max_chars: longer completions score 0.0 ("too_long"): the bound on the tests' work.
    isolated:  run in a worker process; None means "if a criterion is a check callable".
    """

    criteria: tuple[Criterion, ...] = ()
    max_chars: int = 20_000
    isolated: bool | None = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "criteria", _parse_criteria(self.criteria, "verifier 'rubric'"))
        if self.isolated is None:
            object.__setattr__(self, "isolated", any(c.kind == "check" for c in self.criteria))
        if not isinstance(self.isolated, bool):
            raise ConfigError(f"verifier 'rubric': isolated must be a bool, got {self.isolated!r}.")
        super().__post_init__()
        if isinstance(self.max_chars, bool) or not isinstance(self.max_chars, int) or self.max_chars < 1:
            raise ConfigError(f"verifier 'rubric': max_chars must be a positive integer, got {self.max_chars!r}.")

    def check(self, completion: str, reference: Any) -> Verdict:
        deadline = time.monotonic() + self.time_limit
        criteria = self.criteria
        if isinstance(reference, Mapping) and "criteria" in reference:
            try:
                criteria = _merge(criteria, _parse_criteria(reference["criteria"], "reference"))
            except ConfigError as exc:
                return Verdict(0.0, "bad_reference", str(exc))
        if not criteria:
            return Verdict(0.0, "bad_reference", "no criteria: give 'criteria' as an option or in the reference.")
        if len(completion) > self.max_chars:
            return Verdict(0.0, "too_long", f"{len(completion)} characters > max_chars={self.max_chars}")
        lines = []
        for criterion in criteria:
            if criterion.kind == "regex":
                verdict = _regex(criterion, completion, deadline)
            else:
                verdict = _TESTS[criterion.kind](criterion, completion, reference)
            if verdict.reason not in _FAILS_THE_RUBRIC and time.monotonic() > deadline:
                verdict = Verdict(0.0, "timeout", f"ran past the {self.time_limit:g} s time limit")
            if verdict.reason in _FAILS_THE_RUBRIC:
                return Verdict(0.0, verdict.reason, f"criterion '{criterion.name}': {verdict.detail}")
            lines.append((criterion, verdict))
        return _total(lines)


def _total(lines: list[tuple[Criterion, Verdict]]) -> Verdict:
    """The weighted share of met criteria, and the per-criterion breakdown as the detail."""
    weight = math.fsum(c.weight for c, _ in lines)
    reward = min(1.0, math.fsum(c.weight * v.reward for c, v in lines) / weight)
    reason = "ok" if reward >= 1.0 - 1e-9 else "partial" if reward > 0 else "mismatch"
    return Verdict(reward, reason, "; ".join(_line(c, v) for c, v in lines))


def _line(criterion: Criterion, verdict: Verdict) -> str:
    why = f": {verdict.detail}" if verdict.detail and not verdict.passed else ""
    return f"{criterion.name} {verdict.reward:.3g}/1 (w={criterion.weight:g}{why})"


# ------------------------------------------------------------------------------------------
# The tests: one function per kind, (criterion, completion, reference) -> Verdict; the regex
# test takes the check's deadline instead of the reference, as the one test that may not be linear.


def _regex(criterion: Criterion, completion: str, deadline: float) -> Verdict:
    try:
        found = regex.search(criterion.arg, completion, timeout=seconds_left(deadline), concurrent=True) is not None
    except TimeoutError:
        return Verdict(0.0, "timeout", f"regex {criterion.arg} ran past the time limit")
    if found == criterion.must_match:
        return Verdict(1.0, "ok")
    said = "no match for" if criterion.must_match else "unwanted match for"
    return Verdict(0.0, "mismatch", f"{said} {criterion.arg}")


def _length(criterion: Criterion, completion: str, reference: Any) -> Verdict:
    low, high = criterion.arg
    size = len(completion.strip())
    if size >= low and (high is None or size <= high):
        return Verdict(1.0, "ok")
    return Verdict(0.0, "mismatch", f"{size} characters, outside [{low}, {'' if high is None else high}]")


def _sections(criterion: Criterion, completion: str, reference: Any) -> Verdict:
    present = {_heading_key(line) for line in completion.splitlines()}
    missing = [h for h in criterion.arg if _heading_key(h) not in present]
    return Verdict(0.0, "mismatch", f"missing {_list(missing)}") if missing else Verdict(1.0, "ok")


def _contains(criterion: Criterion, completion: str, reference: Any) -> Verdict:
    text = completion.casefold()
    missing = [p for p in criterion.arg if p.casefold() not in text]
    return Verdict(0.0, "mismatch", f"missing {_list(missing)}") if missing else Verdict(1.0, "ok")


def _not_contains(criterion: Criterion, completion: str, reference: Any) -> Verdict:
    text = completion.casefold()
    found = [p for p in criterion.arg if p.casefold() in text]
    return Verdict(0.0, "mismatch", f"contains {_list(found)}") if found else Verdict(1.0, "ok")


def _check(criterion: Criterion, completion: str, reference: Any) -> Verdict:
    """The user's callable behind the shared guard: exceptions and bad values become reasons."""
    return guarded_check(_function(criterion.arg), completion, reference)


_TESTS: dict[str, Callable[[Criterion, str, Any], Verdict]] = {
    "length": _length,
    "sections": _sections,
    "contains": _contains,
    "not_contains": _not_contains,
    "check": _check,
}


@functools.lru_cache(maxsize=256)
def _function(target: str) -> FunctionVerifier:
    return FunctionVerifier(target=target, isolated=False)


def _heading_key(line: str) -> str:
    """"## 1. Summary:" -> "summary": a heading line without its markdown marks or case."""
    text = line.strip(" \t#*_:")
    text = re.sub(r"^\d+[.)]\s+", "", text).strip(" \t*_:")
    return " ".join(text.split()).casefold()


def _list(items: Sequence[str]) -> str:
    return ", ".join(repr(item) for item in items[:5]) + (", ..." if len(items) > 5 else "")


# ------------------------------------------------------------------------------------------
# Parsing and merging criteria


def _parse_criteria(items: Any, where: str) -> tuple[Criterion, ...]:
    """Validate criteria given as mappings; Criterion objects (from a validated rubric) pass as they are."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise ConfigError(f"{where}: criteria must be a list of mappings, got {type(items).__name__}.")
    criteria = tuple(item if isinstance(item, Criterion) else _criterion(item, where) for item in items)
    names = [c.name for c in criteria]
    repeated = next((n for n in names if names.count(n) > 1), None)
    if repeated is not None:
        raise ConfigError(f"{where}: two criteria are named '{repeated}'; give each a distinct name.")
    try:
        math.fsum(c.weight for c in criteria)
    except OverflowError:
        raise ConfigError(f"{where}: the weights overflow when added; scale them down.") from None
    return criteria


def _criterion(item: Any, where: str) -> Criterion:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: each criterion must be a mapping, got {type(item).__name__}.")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: every criterion needs a non-empty 'name', got {name!r}.")
    where = f"{where}: criterion '{name}'"
    unknown = sorted(set(item) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{where} has unknown key '{unknown[0]}'; use {', '.join(_KEYS)}.")
    kinds = [k for k in _KINDS if k in item]
    if len(kinds) != 1:
        raise ConfigError(f"{where} needs exactly one of {', '.join(_KINDS)}, got {kinds or 'none'}.")
    kind = kinds[0]
    must_match = item.get("must_match", True)
    if "must_match" in item and (kind != "regex" or not isinstance(must_match, bool)):
        raise ConfigError(f"{where}: 'must_match' is a bool and goes only with 'regex'.")
    return Criterion(name, _weight(item.get("weight"), where), kind, _ARGS[kind](item[kind], where), must_match)


def _weight(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{where} needs a 'weight' that is a finite number > 0, got {value!r}.")
    return float(value)


def _pattern_arg(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: 'regex' must be a string, got {type(value).__name__}.")
    try:
        regex.compile(value)
    except regex.error as exc:
        raise ConfigError(f"{where}: regex {value!r} does not compile ({exc}); fix the pattern.") from None
    return value


def _length_arg(value: Any, where: str) -> tuple[int, int | None]:
    def is_count(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool) and x >= 0

    if not (isinstance(value, Sequence) and len(value) == 2 and not isinstance(value, str)):
        raise ConfigError(f"{where}: 'length' must be [min_chars, max_chars], got {value!r}.")
    low, high = value
    if not is_count(low) or not (high is None or is_count(high) and high >= low):
        raise ConfigError(
            f"{where}: 'length' needs integers 0 <= min_chars <= max_chars (max may be null), got {value!r}."
        )
    return low, high


def _phrases_arg(value: Any, where: str) -> tuple[str, ...]:
    phrases = (value,) if isinstance(value, str) else value
    if not (
        isinstance(phrases, Sequence) and phrases and all(isinstance(p, str) and p.strip() for p in phrases)
    ):
        raise ConfigError(f"{where}: give a non-empty list of non-empty strings, got {value!r}.")
    return tuple(phrases)


def _sections_arg(value: Any, where: str) -> tuple[str, ...]:
    headings = _phrases_arg(value, where)
    blank = next((h for h in headings if not _heading_key(h)), None)
    if blank is not None:
        raise ConfigError(f"{where}: heading {blank!r} has no words once markdown marks are removed; name it.")
    return headings


def _function_arg(value: Any, where: str) -> str:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(f"{where}: 'check' must be a 'package.module:function' path, got {value!r}.")
    try:
        check_allowed(value)  # every time: `_function` remembers paths allowed earlier
        _function(value)  # imports it now: a typo fails here, not during training
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return value


_ARGS: dict[str, Callable[[Any, str], Any]] = {
    "regex": _pattern_arg,
    "length": _length_arg,
    "sections": _sections_arg,
    "contains": _phrases_arg,
    "not_contains": _phrases_arg,
    "check": _function_arg,
}


def _merge(base: tuple[Criterion, ...], extra: tuple[Criterion, ...]) -> tuple[Criterion, ...]:
    """Option criteria with the reference's: same name replaces in place, new names append."""
    by_name = {c.name: c for c in extra}
    merged = [by_name.pop(c.name, c) for c in base]
    return (*merged, *by_name.values())
