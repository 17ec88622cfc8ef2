r"""The `structured` verifier: one JSON value read from a completion, checked against a schema,
declarative constraints and expected values.

    >>> v = StructuredVerifier()
    >>> reference = {
    ...     "schema": {"type": "object", "required": ["items", "total"]},
    ...     "constraints": [{"sum": "items[*].price", "equals": "total", "tolerance": 0.01}],
    ... }
    >>> v.check('{"items": [{"price": 2.5}, {"price": 4}], "total": 6.5}', reference).reason
    'ok'
    >>> v.check('{"items": [{"price": 2.5}, {"price": 4}], "total": 7}', reference).detail
    'sum of items[*].price is 6.5, total is 7 (tolerance 0.01)'

Reading the JSON: exactly one candidate value, found by the first rule that applies:

1. a ```json fenced block: exactly one (several -> "ambiguous"; unclosed -> "parse_error");
2. the whole completion, when it parses as JSON;
3. otherwise the top-level {...} / [...] spans in the text: exactly one must parse as JSON
   (several -> "ambiguous"; spans that do not parse -> "parse_error"; none -> "no_answer").
   A bracketed aside that is not JSON ("[see above]") is not a candidate; one that is ("[1]")
   is, and makes the answer ambiguous.

Parsing is strict: NaN, Infinity, numbers that overflow to infinity and duplicate keys are
parse errors. Nothing from the completion is evaluated.

Reference: a mapping with any of

    "schema":      a JSON Schema (Draft 2020-12; "format" is checked for date, email, ...);
    "constraints": a list of
        {"sum": path or [paths], "equals": path or number, "tolerance": 1e-9}
        {"range": path, "min": number, "max": number}         (inclusive, either optional)
        {"equals_path": path, "value": any JSON value}
    "expected":    {path: value}: each path's value must equal it exactly (a wildcard path
                   compares the list of the values it selects).

Options `schema` and `constraints` take the same forms and add up with the reference's: both
schemas must validate and every constraint must hold, so a reference can never loosen an
option. A schema is required somewhere; `{}` accepts any JSON value.

Paths: `a.b[0].c`, `items[*].price`, `[0].id` for a top-level list. Keys are any characters
but `.`, `[` and `]`; `[*]` selects every item of a list. A path the answer lacks fails its
constraint. A constraint on a wildcard path holds for every value it selects (sum adds them).

Checks run in that order (parse, schema, constraints, expected); the first violation gives
reward 0.0 and its detail. Reasons: ok, no_answer, ambiguous, parse_error, schema_error,
constraint_failed, mismatch, bad_reference, timeout.

Time limit. Checks run in worker processes that are killed at `time_limit` (isolated=True,
the default, as for math and code). In-process work could not be bounded: jsonschema
validates in pure Python, with "pattern" keywords that run `re` on model text, and a 5 MB
completion of many small bracketed spans takes seconds to read. The worker costs a pipe
round trip per check. isolated=False runs in the calling process, without a time limit.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rlvr._errors import ConfigError
from rlvr.verifiers.base import Verifier, register_verifier
from rlvr.verifiers.verdict import Verdict

__all__ = ["StructuredVerifier", "extract_json"]

_REFERENCE_KEYS = ("schema", "constraints", "expected")
_FENCE_OPEN = re.compile(r"```[ \t]*json[ \t]*\r?\n", re.IGNORECASE)
_PATH = re.compile(r"(?:[^.\[\]]+|\[(?:\d+|\*)\])(?:\.[^.\[\]]+|\[(?:\d+|\*)\])*")
_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+|\*)\]")
_WILDCARD = None  # the step that selects every item of a list


class _Violation(Exception):
    """A check the answer fails: the message is the verdict's detail."""


@register_verifier("structured")
@dataclass(frozen=True)
class StructuredVerifier(Verifier):
    """Judge a JSON answer by a JSON Schema, constraints and expected values.

    schema:      a JSON Schema every answer must satisfy, added to the reference's own.
    constraints: constraints every answer must meet, added to the reference's own.
    """

    schema: Mapping | bool | None = None
    constraints: tuple = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.schema is not None:
            _validator(self.schema, "verifier 'structured' option schema")
        object.__setattr__(self, "constraints", _constraints(self.constraints, "verifier 'structured'"))

    def check(self, completion: str, reference: Any) -> Verdict:
        try:
            schemas, constraints, expected = self._rules(reference)
        except ConfigError as exc:
            return Verdict(0.0, "bad_reference", str(exc))
        value, failure = extract_json(completion)
        if failure is not None:
            return failure
        for schema in schemas:
            failure = _schema_failure(schema, value)
            if failure is not None:
                return failure
        try:
            for constraint in constraints:
                constraint.check(value)
        except _Violation as exc:
            return Verdict(0.0, "constraint_failed", str(exc))
        mismatch = _first_mismatch(expected, value)
        if mismatch is not None:
            return Verdict(0.0, "mismatch", mismatch)
        return Verdict(
            1.0, "ok", f"schema valid; {len(constraints)} constraints hold; {len(expected)} expected values match"
        )

    def _rules(self, reference: Any) -> tuple[list, tuple, list]:
        """(schemas, constraints, expected) from the options and the reference."""
        if reference is None:
            reference = {}
        if not isinstance(reference, Mapping):
            raise ConfigError(
                f"reference must be a mapping with {', '.join(_REFERENCE_KEYS)}, got {type(reference).__name__}."
            )
        unknown = sorted(set(reference) - set(_REFERENCE_KEYS))
        if unknown:
            raise ConfigError(f"reference has unknown key '{unknown[0]}'; use {', '.join(_REFERENCE_KEYS)}.")
        schemas = [s for s in (self.schema, reference.get("schema")) if s is not None]
        if not schemas:
            raise ConfigError("no schema: give 'schema' in the reference or as an option ({} accepts any JSON).")
        if reference.get("schema") is not None:
            _validator(reference["schema"], "reference schema")
        constraints = self.constraints + _constraints(reference.get("constraints", ()), "reference")
        return schemas, constraints, _expected(reference.get("expected", {}))


def _first_mismatch(expected: list[tuple[_Path, Any]], value: Any) -> str | None:
    """What differs first from the expected values; a wildcard path compares the list it selects."""
    for path, want in expected:
        try:
            got = path.values(value)
        except _Violation as exc:
            return str(exc)
        got = got if path.wildcard else got[0]
        if not _same(got, want):
            return f"{path.text} is {_show(got)}, expected {_show(want)}"
    return None


# ------------------------------------------------------------------------------------------
# Reading one JSON value


def extract_json(completion: str) -> tuple[Any, Verdict | None]:
    """`(value, None)` for the one JSON value in a completion, or `(None, verdict)` saying why not.

    >>> extract_json('Sure:\\n```json\\n{"a": [1, 2]}\\n```')
    ({'a': [1, 2]}, None)
    >>> extract_json('{"a": 1} or {"a": 2}')[1].reason
    'ambiguous'
    """
    fenced = list(_FENCE_OPEN.finditer(completion))
    if len(fenced) > 1:
        return None, Verdict(0.0, "ambiguous", f"{len(fenced)} ```json blocks; exactly one is required")
    if fenced:
        start = fenced[0].end()
        end = completion.find("```", start)
        if end < 0:
            return None, Verdict(0.0, "parse_error", "unclosed ```json block")
        return _parse_one(completion[start:end], "the ```json block")
    try:
        return _loads(completion), None
    except ValueError:
        pass
    return _one_of_spans(completion)


def _parse_one(text: str, where: str) -> tuple[Any, Verdict | None]:
    if not text.strip():
        return None, Verdict(0.0, "no_answer", f"{where} is empty")
    try:
        return _loads(text), None
    except ValueError as exc:
        return None, Verdict(0.0, "parse_error", f"{where} is not strict JSON: {exc}")


def _one_of_spans(text: str) -> tuple[Any, Verdict | None]:
    values, errors = [], []
    for span in _top_level_spans(text):
        try:
            values.append(_loads(span))
        except ValueError as exc:
            errors.append(f"{_short(span)} is not strict JSON: {exc}")
    if len(values) == 1:
        return values[0], None
    if len(values) > 1:
        return None, Verdict(0.0, "ambiguous", f"{len(values)} JSON values in the text; exactly one is required")
    if errors:
        return None, Verdict(0.0, "parse_error", errors[0])
    return None, Verdict(0.0, "no_answer", "no JSON object or array in the completion")


def _top_level_spans(text: str) -> list[str]:
    """Every outermost {...} / [...] span, brackets inside JSON strings skipped; an unclosed
    span runs to the end of the text. Linear in the length of the text."""
    spans, i = [], 0
    while i < len(text):
        if text[i] not in "{[":
            i += 1
            continue
        end = _span_end(text, i)
        spans.append(text[i:end])
        i = end
    return spans


def _span_end(text: str, start: int) -> int:
    depth, in_string, i = 0, False, start
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def _loads(text: str) -> Any:
    """Strict JSON: raises ValueError on NaN, Infinity, overflowing numbers, duplicate keys."""
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite, object_pairs_hook=_unique)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{_short(text)} overflows a float")
    return value


def _unique(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


# ------------------------------------------------------------------------------------------
# JSON Schema


def _schema_failure(schema: Any, value: Any) -> Verdict | None:
    from jsonschema.exceptions import best_match
    from referencing.exceptions import Unresolvable

    try:
        error = best_match(_validator(schema, "schema").iter_errors(value))
    except Unresolvable as exc:  # a $ref deeper than the construction-time probe reached
        return Verdict(0.0, "bad_reference", f"the schema has a $ref that cannot be resolved: {exc}")
    if error is None:
        return None
    return Verdict(0.0, "schema_error", f"at {error.json_path}: {error.message}"[:300])


def _validator(schema: Any, where: str) -> Any:
    """A Draft 2020-12 validator (with format checks) for a schema; ConfigError if the schema is bad."""
    if not isinstance(schema, (Mapping, bool)):
        raise ConfigError(f"{where} must be a JSON Schema object or a bool, got {type(schema).__name__}.")
    try:
        key = json.dumps(schema, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where} is not plain JSON ({exc}); write it with JSON types only.") from None
    try:
        return _cached_validator(key)
    except ValueError as exc:
        raise ConfigError(f"{where} {exc}") from None


@functools.lru_cache(maxsize=256)
def _cached_validator(schema_json: str) -> Any:
    """Built once per distinct schema (per process): checking a schema costs more than using it."""
    try:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError
        from referencing.exceptions import Unresolvable
    except ImportError:
        raise ConfigError("the 'structured' verifier needs jsonschema: pip install 'jsonschema>=4.18'.") from None
    schema = json.loads(schema_json)
    try:
        Draft202012Validator.check_schema(schema)
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        validator.is_valid(None)  # probes a top-level $ref now: unresolvable is a bad schema, not a bad answer
    except SchemaError as exc:
        raise ValueError(f"is not a valid JSON Schema ({exc.message}); fix it.") from None
    except Unresolvable as exc:
        raise ValueError(f"has a $ref that cannot be resolved ({exc}); inline the referenced schema.") from None
    return validator


# ------------------------------------------------------------------------------------------
# Paths


@dataclass(frozen=True)
class _Path:
    """A parsed path: steps are dict keys (str), list indices (int), or _WILDCARD."""

    text: str
    steps: tuple

    @property
    def wildcard(self) -> bool:
        return _WILDCARD in self.steps

    def values(self, document: Any) -> list:
        """Every value the path selects in `document`; a _Violation when a step finds nothing."""
        nodes = [document]
        for step in self.steps:
            selected = []
            for node in nodes:
                found = _select(node, step)
                if found is None:
                    raise _Violation(f"the answer has no {self.text}")
                selected.extend(found)
            nodes = selected
        return nodes


def _select(node: Any, step: str | int | None) -> list | None:
    """What one path step selects in one node, or None when the node has no such key or item."""
    if step is _WILDCARD:
        return node if isinstance(node, list) else None
    if isinstance(step, int):
        return [node[step]] if isinstance(node, list) and step < len(node) else None
    return [node[step]] if isinstance(node, dict) and step in node else None


def _path(text: Any, where: str) -> _Path:
    if not isinstance(text, str) or _PATH.fullmatch(text) is None:
        raise ConfigError(f"{where}: {text!r} is not a path like 'a.b[0].c' or 'items[*].price'; fix it.")
    steps = []
    for match in _STEP.finditer(text):
        key, index = match.groups()
        steps.append(key if key is not None else _WILDCARD if index == "*" else int(index))
    return _Path(text, tuple(steps))


# ------------------------------------------------------------------------------------------
# Constraints: one small class per kind, each with `check(document)` raising _Violation


@dataclass(frozen=True)
class _Sum:
    """{"sum": path or [paths], "equals": path or number, "tolerance": 1e-9}"""

    keys = frozenset({"sum", "equals", "tolerance"})
    paths: tuple[_Path, ...]
    target: _Path | float
    tolerance: float

    @classmethod
    def parse(cls, item: Mapping, where: str) -> _Sum:
        paths = [item["sum"]] if isinstance(item["sum"], str) else item["sum"]
        if not isinstance(paths, Sequence) or not paths or "equals" not in item:
            raise ConfigError(f"{where} needs 'sum' (a path or a list of paths) and 'equals' (a path or a number).")
        target = item["equals"]
        target = _path(target, where) if isinstance(target, str) else _finite_option(target, "equals", where)
        tolerance = _finite_option(item.get("tolerance", 1e-9), "tolerance", where)
        if tolerance < 0:
            raise ConfigError(f"{where}: 'tolerance' must be >= 0, got {tolerance}.")
        return cls(tuple(_path(p, where) for p in paths), target, tolerance)

    def check(self, document: Any) -> None:
        total = math.fsum(_number(v, p.text) for p in self.paths for v in p.values(document))
        if isinstance(self.target, _Path):
            target, name = _number(_single(self.target, document), self.target.text), self.target.text
        else:
            target, name = self.target, "the target"
        if not abs(total - target) <= self.tolerance:
            summed = " + ".join(p.text for p in self.paths)
            raise _Violation(
                f"sum of {summed} is {total:.10g}, {name} is {target:.10g} (tolerance {self.tolerance:g})"
            )


@dataclass(frozen=True)
class _Range:
    """{"range": path, "min": number, "max": number}: inclusive, either bound optional."""

    keys = frozenset({"range", "min", "max"})
    path: _Path
    low: float | None
    high: float | None

    @classmethod
    def parse(cls, item: Mapping, where: str) -> _Range:
        low, high = (None if item.get(k) is None else _finite_option(item[k], k, where) for k in ("min", "max"))
        if (low is None and high is None) or (low is not None and high is not None and low > high):
            raise ConfigError(f"{where} needs 'min' and/or 'max', with min <= max.")
        return cls(_path(item["range"], where), low, high)

    def check(self, document: Any) -> None:
        for value in self.path.values(document):
            number = _number(value, self.path.text)
            if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
                low = "" if self.low is None else f"{self.low:.10g}"
                high = "" if self.high is None else f"{self.high:.10g}"
                raise _Violation(f"{self.path.text} is {number:.10g}, outside [{low}, {high}]")


@dataclass(frozen=True)
class _Equals:
    """{"equals_path": path, "value": any JSON value}"""

    keys = frozenset({"equals_path", "value"})
    path: _Path
    value: Any

    @classmethod
    def parse(cls, item: Mapping, where: str) -> _Equals:
        if "value" not in item:
            raise ConfigError(f"{where} needs a 'value' to compare with.")
        return cls(_path(item["equals_path"], where), item["value"])

    def check(self, document: Any) -> None:
        for value in self.path.values(document):
            if not _same(value, self.value):
                raise _Violation(f"{self.path.text} is {_show(value)}, not {_show(self.value)}")


_CONSTRAINTS = {"sum": _Sum, "range": _Range, "equals_path": _Equals}


def _constraints(items: Any, where: str) -> tuple:
    """Validate constraints given as mappings; parsed ones (from a validated verifier) pass as they are."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise ConfigError(f"{where}: constraints must be a list of mappings, got {type(items).__name__}.")
    return tuple(item if isinstance(item, (_Sum, _Range, _Equals)) else _constraint(item, where) for item in items)


def _constraint(item: Any, where: str) -> Any:
    kinds = [k for k in _CONSTRAINTS if isinstance(item, Mapping) and k in item]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: each constraint needs exactly one of sum, range, equals_path, got {item!r}.")
    cls = _CONSTRAINTS[kinds[0]]
    unknown = sorted(set(item) - cls.keys)
    if unknown:
        allowed = ", ".join(sorted(cls.keys))
        raise ConfigError(f"{where}: a {kinds[0]} constraint has unknown key '{unknown[0]}'; use {allowed}.")
    return cls.parse(item, f"{where}: {kinds[0]} constraint")


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Violation(f"{path} is {_show(value)}, not a number")
    return value


def _single(path: _Path, document: Any) -> Any:
    values = path.values(document)
    if len(values) != 1:
        raise _Violation(f"{path.text} selects {len(values)} values where one is needed")
    return values[0]


def _finite_option(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: '{key}' must be a finite number, got {value!r}.")
    return value


def _expected(items: Any) -> list[tuple[_Path, Any]]:
    if not isinstance(items, Mapping):
        raise ConfigError(f"reference 'expected' must map paths to values, got {type(items).__name__}.")
    return [(_path(path, "reference 'expected'"), value) for path, value in items.items()]


# ------------------------------------------------------------------------------------------
# JSON equality and display


def _same(a: Any, b: Any) -> bool:
    """Equality of JSON values: 1 == 1.0, but true != 1 and "1" != 1; tuples count as lists."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _show(value: Any) -> str:
    try:
        return _short(json.dumps(value))
    except (TypeError, ValueError):
        return _short(repr(value))


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
