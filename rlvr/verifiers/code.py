"""The `code` verifier: run the completion's Python against the reference's tests, sandboxed.

    >>> v = CodeVerifier()
    >>> ref = {"entry_point": "add", "cases": [{"args": [2, 3], "expected": 5}]}
    >>> v.verify("```python\\ndef add(a, b):\\n    return a + b\\n```", ref)
    Verdict(reward=1.0, reason='ok', detail='1 case passed')

Reference forms:

    {"entry_point": "solve", "cases": [{"args": [2, 3], "kwargs": {}, "expected": 6}, ...]}
        Each call runs in the sandbox; return values come back as plain data and this
        process compares them with `expected`, so no candidate `__eq__` is ever called.
        Tuples equal lists (JSON has only lists); bools match only bools. An int expected
        is matched exactly, never within a tolerance: an int equal to it, or a float equal
        to it while |expected| < 2**53 (5.0 for 5; no float for 2**53 + 2, which a float
        cannot tell from its neighbours). A float expected matches within `rel_tol`. A
        return value that is not plain data is a runtime_error.
    {"tests": "assert solve(2, 3) == 6\\n..."}
        Assert-style tests. They run in a separate judge process where the candidate's
        functions are proxies returning plain data (see `rlvr.sandbox`). Names the tests
        use as `name.attr` without importing them (`math`, `np`) are the judge's imports.
        An exception from the candidate reaches the tests as the builtins its type derives
        from: `except ValueError` catches its `class InvalidInput(ValueError)`.
    {"test": "def check(candidate): ...", "entry_point": "f", "prompt": "def f(x): ..."}
        HumanEval: `check(f)` in the judge. `prompt` is optional; when given it runs in the
        judge first (its helpers, such as `poly`, are the reference's, not the candidate's),
        and it is prepended to a completion that does not define `f` (a function body).
        Only `f` comes from the candidate: a test that uses another name the reference does
        not define (`poly` without the prompt) is a bad_reference.

The code is the last ```python, ```py or bare ``` block of the completion, else the
whole completion. Reward 1.0 only if everything passed. Reasons: ok, mismatch (a wrong value
or failed assert; the detail names the first failing case with expected and got), timeout,
runtime_error (the exception's last traceback line), memory, forbidden (a sandbox violation:
permission denied, no network, a tampered result channel), no_answer (no code),
syntax_error, bad_reference.
"""

from __future__ import annotations

import math
import re
import signal
from dataclasses import dataclass, field
from typing import Any, Literal

from rlvr._errors import ConfigError
from rlvr.sandbox import (
    BadTests,
    ErrorInfo,
    ProcessExit,
    Report,
    Sandbox,
    SandboxLimits,
    encode_value,
)
from rlvr.verifiers.base import Verifier, register_verifier
from rlvr.verifiers.verdict import Verdict

__all__ = ["CodeVerifier", "extract_code"]

# time_limit (the base class's hard limit, used with isolated=True) = timeout + this margin for
# starting and cleaning up the sandbox processes.
_START_MARGIN_S = 5.0
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"python", "python3", "py", ""}
_FLOAT_EXACT_INTS = 2**53  # below this magnitude a float that is an integer is no other integer's rounding


def extract_code(completion: str) -> str:
    """The last non-empty ```python / ```py / bare ``` block, else the whole completion.

    >>> extract_code("Try:\\n```python\\nx = 1\\n```\\nor better:\\n```py\\nx = 2\\n```")
    'x = 2\\n'
    >>> extract_code("def f():\\n    return 1")
    'def f():\\n    return 1'
    """
    blocks = [body for tag, body in _FENCE.findall(completion) if tag.lower() in _PYTHON_TAGS and body.strip()]
    return blocks[-1] if blocks else completion


@register_verifier("code")
@dataclass(frozen=True)
class CodeVerifier(Verifier):
    """Judge Python code against cases, assert-style tests, or a HumanEval `check`.

    timeout:           wall-clock seconds for one check's sandbox (all its cases or tests).
    memory_mb:         address-space limit of each sandboxed process.
    rel_tol:           relative tolerance where the cases form expects a float (0 for exact);
                       an int expected is always matched exactly.
    allow_unsandboxed: run without namespace isolation when the host has none (warns loudly);
                       otherwise construction raises ConfigError there.
    isolation:         "auto" (bubblewrap, else unshare + unprivileged uid) or insist on one.
    time_limit:        not an option: timeout + 5 s, the base class's limit when isolated=True.
    isolated:          False: each check is already its own sandboxed process.
    """

    timeout: float = 5.0
    memory_mb: int = 1024
    rel_tol: float = 1e-9
    allow_unsandboxed: bool = False
    isolation: Literal["auto", "bwrap", "unshare"] = "auto"
    time_limit: float = field(default=0.0, init=False)  # derived from timeout, never set
    isolated: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not self.timeout > 0:
            raise ConfigError(f"verifier 'code': timeout must be a positive number of seconds, got {self.timeout!r}.")
        object.__setattr__(self, "time_limit", self.timeout + _START_MARGIN_S)
        super().__post_init__()
        if not (isinstance(self.rel_tol, (int, float)) and 0.0 <= self.rel_tol < 1.0):
            raise ConfigError(f"verifier 'code': rel_tol must be in [0, 1), got {self.rel_tol!r}.")
        limits = SandboxLimits(timeout=self.timeout, memory_mb=self.memory_mb)
        object.__setattr__(self, "_sandbox", Sandbox(limits, self.allow_unsandboxed, self.isolation))

    def check(self, completion: str, reference: Any) -> Verdict:
        form = _parse_reference(reference)
        if isinstance(form, Verdict):
            return form
        code = extract_code(completion)
        if not code.strip():
            return Verdict(0.0, "no_answer", "the completion has no code")
        sandbox: Sandbox = self._sandbox  # type: ignore[attr-defined]
        if isinstance(form, _Cases):
            report = sandbox.call(code, form.entry_point, [(c.args, c.kwargs) for c in form.cases])
            return self._judge_cases(report, form)
        if form.prompt and form.entry_point and not _defines(code, form.entry_point):
            code = form.prompt + code
        try:
            report = sandbox.judge(code, form.tests, form.prompt, form.entry_point)
        except BadTests as exc:
            return Verdict(0.0, "bad_reference", str(exc))
        return self._judge_tests(report)

    # -- verdicts --------------------------------------------------------------------------
    def _judge_cases(self, report: Report, form: _Cases) -> Verdict:
        if report.protocol_error:
            return Verdict(0.0, "forbidden", f"the program tampered with its result channel: {report.protocol_error}")
        if report.load is None:
            return self._stopped(report, report.candidate_exit, "loading the code")
        if report.load != "ok":
            return _error_verdict(report.load_error, "while loading the code", syntax=report.load == "syntax_error")
        for i, case in enumerate(form.cases):
            call = f"case {i}: {form.entry_point}({_call_args(case)})"
            if i >= len(report.returns):
                return self._stopped(report, report.candidate_exit, call)
            returned = report.returns[i]
            if returned.error is not None:
                return _error_verdict(returned.error, call)
            if not _equal(returned.value, case.expected, self.rel_tol):
                got, expected = _short(returned.value), _short(case.expected)
                return Verdict(0.0, "mismatch", f"{call} expected {expected}, got {got}")
        return Verdict(1.0, "ok", f"{len(form.cases)} case{'s' * (len(form.cases) != 1)} passed")

    def _judge_tests(self, report: Report) -> Verdict:
        record = report.judge
        if report.protocol_error or record is None:
            if report.timed_out:
                return Verdict(0.0, "timeout", f"the tests did not finish within {self.timeout:g} s")
            why = report.protocol_error or f"it stopped ({report.exit})"
            return Verdict(0.0, "runtime_error", f"the test process gave no result: {why}")
        result = record.get("result")
        detail = str(record.get("detail", ""))[:1000]
        if result == "passed":
            return Verdict(1.0, "ok", f"all tests passed ({record.get('calls')} calls)")
        if result == "assertion":
            return Verdict(0.0, "mismatch", detail)
        if result == "candidate_load":
            syntax = record.get("load") == "syntax_error"
            return _error_verdict(_info(record.get("error")), "while loading the code", syntax=syntax)
        if result == "candidate_error":
            return _error_verdict(_info(record.get("error")), "in a call from the tests")
        if result == "candidate_gone":
            return self._stopped(report, report.candidate_exit, "the tests")
        if result == "missing_name":
            return Verdict(0.0, "runtime_error", f"the code does not define {record.get('name')!s:.100}")
        if result == "protocol":
            return Verdict(0.0, "forbidden", f"the program tampered with its channel to the tests: {detail}")
        if result == "test_error":
            info = _info(record.get("error"))
            reason = "memory" if info.memory else "runtime_error"
            return Verdict(0.0, reason, f"the tests failed on the program's results: {info}")
        if result == "bad_reference":
            return Verdict(0.0, "bad_reference", detail)
        return Verdict(0.0, "runtime_error", f"unknown test result {str(result)[:50]!r}")

    def _stopped(self, report: Report, process: ProcessExit, what: str) -> Verdict:
        """The program stopped before finishing `what`: timed out, out of CPU, or exited."""
        if report.timed_out:
            return Verdict(0.0, "timeout", f"{what} did not finish within {self.timeout:g} s")
        if process.signal == signal.SIGXCPU:  # RLIMIT_CPU
            return Verdict(0.0, "timeout", f"{what}: the CPU time limit was exceeded")
        tail = report.output.strip().splitlines()[-1:] if report.output.strip() else []
        said = f"; its last output: {tail[0][:200]!r}" if tail else ""
        return Verdict(0.0, "runtime_error", f"the program stopped ({process}) during {what}{said}")


# ------------------------------------------------------------------------------------------
# Reference forms


@dataclass(frozen=True)
class _Case:
    args: list
    kwargs: dict
    expected: Any


@dataclass(frozen=True)
class _Cases:
    entry_point: str
    cases: tuple[_Case, ...]


@dataclass(frozen=True)
class _Tests:
    tests: str
    entry_point: str | None = None  # HumanEval: call check(<entry_point>)
    prompt: str = ""


def _parse_reference(reference: Any) -> _Cases | _Tests | Verdict:
    """The reference as one of the three forms, or a bad_reference verdict saying what is wrong."""

    def bad(why: str) -> Verdict:
        return Verdict(0.0, "bad_reference", why)

    if not isinstance(reference, dict):
        return bad(f"a code reference is a mapping with 'cases', 'tests' or 'test', got {type(reference).__name__}")
    forms = [key for key in ("cases", "tests", "test") if key in reference]
    if len(forms) != 1:
        return bad(f"a code reference needs exactly one of 'cases', 'tests', 'test'; got {forms or sorted(reference)}")
    entry_point = reference.get("entry_point")
    if entry_point is not None and not (isinstance(entry_point, str) and entry_point.isidentifier()):
        return bad(f"entry_point must be a Python identifier, got {entry_point!r}")
    prompt = reference.get("prompt", "")
    if not isinstance(prompt, str):
        return bad("prompt must be a string")
    if forms == ["tests"]:
        if not isinstance(reference["tests"], str) or not reference["tests"].strip():
            return bad("'tests' must be a non-empty string of Python asserts")
        return _Tests(reference["tests"])
    if forms == ["test"]:
        if not isinstance(reference["test"], str) or entry_point is None:
            return bad("a HumanEval reference needs 'test' (a string defining check) and 'entry_point'")
        return _Tests(reference["test"], entry_point, prompt)
    if entry_point is None:
        return bad("a 'cases' reference needs 'entry_point', the function to call")
    cases = reference["cases"]
    if not isinstance(cases, (list, tuple)) or not cases:
        return bad("'cases' must be a non-empty list")
    parsed = []
    for i, case in enumerate(cases):
        if not isinstance(case, dict) or "expected" not in case:
            return bad(f"case {i} must be a mapping with 'expected' (and 'args', 'kwargs')")
        args, kwargs = case.get("args", []), case.get("kwargs", {})
        if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
            return bad(f"case {i}: 'args' must be a list and 'kwargs' a mapping")
        if not all(isinstance(key, str) and key.isidentifier() for key in kwargs):
            return bad(f"case {i}: 'kwargs' keys must be argument names")
        try:
            encode_value([args, kwargs, case["expected"]])
        except (TypeError, ValueError) as exc:
            return bad(f"case {i} holds something that is not plain data: {exc}")
        parsed.append(_Case(list(args), dict(kwargs), case["expected"]))
    return _Cases(entry_point, tuple(parsed))


def _defines(code: str, name: str) -> bool:
    """Does the code define `name` at the start of a line (def, async def, class, assignment)?
    A regular expression, not a parse: the parent never compiles untrusted code."""
    escaped = re.escape(name)
    pattern = rf"^[ \t]*(?:(?:async[ \t]+)?def|class)[ \t]+{escaped}\b|^{escaped}[ \t]*="
    return re.search(pattern, code, re.MULTILINE) is not None


# ------------------------------------------------------------------------------------------
# Comparing and describing


def _equal(got: Any, expected: Any, rel_tol: float) -> bool:
    """Plain-data equality with JSON's view of sequences (a tuple equals a list), bools kept
    apart from numbers, ints exact, and floats within rel_tol.

    An int expected is an exact answer: no tolerance, since rel_tol=1e-9 of 10**12 is 1000 and
    `float(a + b + 1)` would pass for add(10**9, 7). A float is accepted for it only when equal
    (Python compares int and float exactly) and below 2**53, where no other integer rounds to
    it; from 2**53 on a float stands for several integers (float(2**53 + 1) == 2**53), so only
    the int itself is right.

    >>> _equal(5.0, 5, 1e-9), _equal(1000000008.0, 1000000007, 1e-9)
    (True, False)
    >>> _equal(float(2**53), 2**53, 1e-9), _equal(float(2**53 + 2), 2**53 + 2, 1e-9), _equal(2**53 + 2, 2**53 + 2, 1e-9)
    (False, False, True)
    """
    if isinstance(got, bool) or isinstance(expected, bool):
        return type(got) is type(expected) and got == expected
    if isinstance(expected, int) and isinstance(got, (int, float)):
        return got == expected and (isinstance(got, int) or abs(expected) < _FLOAT_EXACT_INTS)
    if isinstance(got, (int, float)) and isinstance(expected, (int, float)):
        if got == expected:
            return True
        if isinstance(got, float) and isinstance(expected, float) and math.isnan(got) and math.isnan(expected):
            return True
        try:  # a float expected: within rel_tol
            return math.isclose(got, expected, rel_tol=rel_tol)
        except OverflowError:
            return False
    if isinstance(got, (list, tuple)) and isinstance(expected, (list, tuple)):
        return len(got) == len(expected) and all(_equal(g, e, rel_tol) for g, e in zip(got, expected))
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(_equal(got[k], expected[k], rel_tol) for k in expected)
    sets = (set, frozenset)
    if type(got) is not type(expected) and not (isinstance(got, sets) and isinstance(expected, sets)):
        return False
    return got == expected


def _error_verdict(info: ErrorInfo | None, context: str, syntax: bool = False) -> Verdict:
    if info is None:
        return Verdict(0.0, "runtime_error", f"{context}: an unknown error")
    if syntax:
        return Verdict(0.0, "syntax_error", info.line)
    if info.memory:
        return Verdict(0.0, "memory", f"{context}: {info}")
    if info.forbidden:
        return Verdict(0.0, "forbidden", f"{context}: {info}")
    return Verdict(0.0, "runtime_error", f"{context}: {info}")


def _info(record: object) -> ErrorInfo:
    try:
        return ErrorInfo.from_record(record)
    except ValueError:
        return ErrorInfo("?", "an error the program did not describe")


def _call_args(case: _Case) -> str:
    parts = [_short(arg, 60) for arg in case.args] + [f"{k}={_short(v, 60)}" for k, v in case.kwargs.items()]
    return _short_text(", ".join(parts), 200)


def _short(value: Any, limit: int = 200) -> str:
    return _short_text(repr(value), limit)


def _short_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
