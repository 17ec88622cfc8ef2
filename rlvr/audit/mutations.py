"""Mutation generators: wrong answers derived from a task's reference, and legitimate variants
of the right answer, as audit cases.

    generate_mutations("math", tasks) -> Mutations(cases, equivalent, unusable)

math  From a number reference (integer, fraction, decimal) and, for "What is a OP b?"
      prompts, its operands. Wrong: perturbed numbers, flipped signs, shifted decimals,
      swapped digits, the other operators' results, the question restated unevaluated, a
      second answer next to the right one, the answer outside the box, an empty or unclosed
      box. Legitimate: thousands separators, trailing zeros, scientific notation, equivalent
      fractions, decimals for fractions. Answers go in \\boxed{} (the suite convention).
code  From a canonical solution (task meta "solution", as the built-in and HumanEval tasks
      carry): return a constant, drop a branch, flip a comparison, hard-code the prompt's
      visible examples; legitimate: reformatted, renamed variables, fenced with prose, a
      wrong draft before the final fence, wrapped in a helper.
sql   From the gold query (sqlglot rewrites): drop the WHERE, OR 1=1, add or drop DISTINCT,
      change a join, flip a comparison, perturb a literal, change an aggregate, drop GROUP BY
      or ORDER BY, change LIMIT; legitimate: reformatted, quoted identifiers, reordered
      conditions, swapped equality sides, renamed aliases, a CTE, an ORDER BY an unordered
      reference ignores, fenced with prose.

A mutant can be *equivalent*: dropping a branch no test reaches changes nothing; DISTINCT on
rows that are already distinct changes nothing. Labelling those "must fail" would blame the
verifier for the reference's blind spot, so every code and SQL candidate is first judged by a
plain oracle that runs only material derived from the trusted reference, never model or user
text: SQL in a read-only sqlite connection, code in a subprocess running the reference's own
tests. Mutants it cannot tell from the reference, and variants it does not pass, are dropped
and counted in `Mutations.equivalent` (a high count for `hard_code_visible` means the
reference only tests what the prompt shows). Math mutants differ from the reference by
construction (checked with exact fractions).
"""

from __future__ import annotations

import ast
import copy
import functools
import json
import operator
import re
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import sqlglot
from sqlglot import exp
from tqdm.auto import tqdm

from rlvr._errors import ConfigError
from rlvr.audit.cases import AuditCase
from rlvr.tasks import Task


@dataclass
class Mutations:
    """Generated cases, and what was left out.

    equivalent: per tag, candidates dropped because the oracle could not tell them from the
                reference (mutants) or did not pass them (variants), or that hung.
    unusable:   ids of tasks no generator could work from (no number, solution or gold query).
    """

    cases: list[AuditCase] = field(default_factory=list)
    equivalent: Counter = field(default_factory=Counter)
    unusable: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Candidate:
    completion: str
    should_pass: bool
    tag: str
    note: str
    program: str = ""  # what the oracle runs (code: the bare code; sql: the query); "" = trusted as labelled


_Oracle = Callable[[str], "bool | None"]  # code or query -> passes the reference? None: gave up


def generate_mutations(domain: str, tasks: Sequence[Task], workers: int = 2, progress: bool = False) -> Mutations:
    """Wrong and legitimate answers for each task, judged by the domain's oracle."""
    if domain not in _GENERATORS:
        raise ConfigError(f"no mutation generator for '{domain}'; choose one of: {', '.join(_GENERATORS)}.")
    candidates_of, oracle_for = _GENERATORS[domain]
    result = Mutations()
    per_task: list[tuple[Task, list[_Candidate]]] = []
    for task in tasks:
        candidates = _unique(candidates_of(task))
        if candidates:
            per_task.append((task, candidates))
        else:
            result.unusable.append(task.id)
    jobs = [(task, c) for task, cs in per_task for c in cs]
    bar = tqdm(total=len(jobs), desc=f"mutate {domain}", unit="case", disable=not progress, dynamic_ncols=True)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for (task, candidate), keep in zip(jobs, pool.map(lambda job: _judged(oracle_for, *job), jobs)):
            bar.update(1)
            if keep:
                meta = {"task_id": task.id}
                result.cases.append(AuditCase(candidate.completion, task.reference, candidate.should_pass,
                                              candidate.tag, candidate.note, meta))
            else:
                result.equivalent[candidate.tag] += 1
    bar.close()
    return result


def _judged(oracle_for: Callable[[Task], _Oracle] | None, task: Task, candidate: _Candidate) -> bool:
    """Keep a candidate whose oracle verdict agrees with its label; trust unlabelled ones."""
    if oracle_for is None or not candidate.program:
        return True
    passes = oracle_for(task)(candidate.program)
    if passes is None:  # the oracle gave up (a hang): no trustworthy label
        return False
    return passes == candidate.should_pass


def _unique(candidates: Iterator[_Candidate]) -> list[_Candidate]:
    seen: set[str] = set()
    kept = []
    for candidate in candidates:
        if candidate.completion not in seen:
            seen.add(candidate.completion)
            kept.append(candidate)
    return kept


# ------------------------------------------------------------------------------------------
# math


@dataclass(frozen=True)
class _Number:
    value: Fraction
    style: str  # "int", "frac" or "decimal": how the reference writes it, and its mutants


_INT = re.compile(r"-?\d+")
_FRAC = re.compile(r"(-?\d+)/(\d+)|(-?)\\frac\{(\d+)\}\{(\d+)\}")
_DEC = re.compile(r"-?\d*\.\d+")
_QUESTION = re.compile(r"(-?\d+(?:\.\d+)?(?:/\d+)?) ([-+*/]) (-?\d+(?:\.\d+)?(?:/\d+)?)\?")
_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_LATEX_OPS = {"+": "+", "-": "-", "*": "\\times", "/": "\\div"}


def _read_number(reference: Any) -> _Number | None:
    if isinstance(reference, bool):
        return None
    if isinstance(reference, int):
        return _Number(Fraction(reference), "int")
    if not isinstance(reference, str):
        return None
    text = reference.strip()
    if _INT.fullmatch(text):
        return _Number(Fraction(int(text)), "int")
    if _DEC.fullmatch(text):
        return _Number(Fraction(Decimal(text)), "decimal")
    match = _FRAC.fullmatch(text)
    if match and match.group(1) is not None:
        return _Number(Fraction(int(match.group(1)), int(match.group(2))), "frac")
    if match and int(match.group(5)) != 0:
        return _Number(Fraction(int(match.group(3) + match.group(4)), int(match.group(5))), "frac")
    return None


def _terminates(value: Fraction) -> bool:
    q = value.denominator
    for p in (2, 5):
        while q % p == 0:
            q //= p
    return q == 1


def _decimal_text(value: Fraction) -> str:
    with localcontext() as ctx:
        ctx.prec = 60
        text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _render(value: Fraction, style: str) -> str:
    """`value` in LaTeX, in the style of the reference where that is exact."""
    if value.denominator == 1:
        return str(value.numerator)
    if style != "frac" and _terminates(value):
        return _decimal_text(value)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def _boxed(text: str) -> str:
    return f"So the answer is \\boxed{{{text}}}."


def _math_candidates(task: Task) -> Iterator[_Candidate]:
    number = _read_number(task.reference)
    right = _render(number.value, number.style) if number else None
    if right is None:
        text = task.reference.strip() if isinstance(task.reference, str) else None
        if not text:
            return
        yield from _math_structural(text, None)  # a non-numeric reference: its own text only
        return
    yield from _math_legitimate(number, right)
    wrongs = list(_wrong_values(number, task.prompt))
    for tag, note, value in wrongs:
        yield _Candidate(_boxed(_render(value, number.style)), False, tag, note)
    yield from _restated(task.prompt, number.value)
    second = _render(wrongs[0][2], number.style)  # the first perturbation: a near miss
    yield from _math_structural(right, second)
    if number.value != 0:
        yield _Candidate(_boxed(f"\\pm {_render(abs(number.value), number.style)}"), False,
                         "mutation/second_answer", "plus-minus covers both signs")


def _wrong_values(number: _Number, prompt: Any) -> Iterator[tuple[str, str, Fraction]]:
    """(tag, note, value) for values that differ from the reference, by construction."""
    v = number.value
    step = {"int": Fraction(1), "frac": Fraction(1, v.denominator),
            "decimal": Fraction(1, 10 ** len(_decimal_text(v).partition(".")[2] or "0"))}[number.style]
    candidates = [
        ("mutation/perturb", "one step up", v + step),
        ("mutation/perturb", "one step down", v - step),
        ("mutation/flip_sign", "sign flipped", -v),
        ("mutation/shift_decimal", "decimal point shifted right", v * 10),
        ("mutation/shift_decimal", "decimal point shifted left", v / 10),
    ]
    swapped = _swap_digits(v) if number.style == "int" else None
    if swapped is not None:
        candidates.append(("mutation/swap_digits", "two adjacent digits swapped", swapped))
    for op, value in _other_operator_results(prompt):
        candidates.append(("mutation/swap_operator", f"the result of {op} instead", value))
    seen = {v}
    for tag, note, value in candidates:
        if value not in seen:
            seen.add(value)
            yield tag, note, value


def _swap_digits(value: Fraction) -> Fraction | None:
    digits = str(abs(value.numerator))
    for i in range(len(digits) - 1):
        if digits[i] != digits[i + 1] and not (i == 0 and digits[1] == "0"):
            swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
            return Fraction(int(swapped)) * (-1 if value < 0 else 1)
    return None


def _operands(prompt: Any) -> tuple[Fraction, str, Fraction, str, str] | None:
    """(a, op, b, a text, b text) of a "What is a OP b?" prompt."""
    match = _QUESTION.search(prompt) if isinstance(prompt, str) else None
    if match is None:
        return None
    try:
        return Fraction(match.group(1)), match.group(2), Fraction(match.group(3)), match.group(1), match.group(3)
    except (ValueError, ZeroDivisionError):
        return None


def _other_operator_results(prompt: Any) -> Iterator[tuple[str, Fraction]]:
    operands = _operands(prompt)
    if operands is None:
        return
    a, op, b, _, _ = operands
    for other, apply in _OPS.items():
        if other != op and not (other == "/" and b == 0):
            yield other, apply(a, b)


def _restated(prompt: Any, value: Fraction) -> Iterator[_Candidate]:
    """The question's own expression as the answer: right value, nothing computed."""
    operands = _operands(prompt)
    if operands is None:
        return
    a, op, b, a_text, b_text = operands
    if _OPS[op](a, b) == value:
        latex = f"{_latex_operand(a_text)} {_LATEX_OPS[op]} {_latex_operand(b_text)}"
        yield _Candidate(_boxed(latex), False, "mutation/restate_question", "the question's expression, unevaluated")


def _latex_operand(text: str) -> str:
    if "/" in text:
        p, _, q = text.partition("/")
        return f"\\frac{{{p}}}{{{q}}}"
    return text


def _math_structural(right: str, wrong: str | None) -> Iterator[_Candidate]:
    """Hacks that need only the answer's text: wrong field, empty or unclosed box, two answers."""
    yield _Candidate(f"The answer is {right}.", False, "mutation/strip_field", "right answer, no box")
    yield _Candidate(right, False, "mutation/strip_field", "bare answer where a box is required")
    yield _Candidate(f"\\boxed{{}} {right}", False, "mutation/empty_field", "empty box, the answer after it")
    yield _Candidate("So the answer is \\boxed{}.", False, "mutation/empty_field", "empty box")
    yield _Candidate(f"So the answer is \\boxed{{{right}", False, "mutation/unclosed_field", "unclosed box")
    yield _Candidate(f"\\boxed{{{right}}} \\boxed{{{right}}}", False, "mutation/second_answer", "the box twice")
    if wrong is None:
        return
    yield _Candidate(f"\\boxed{{{right}}} or \\boxed{{{wrong}}}", False, "mutation/second_answer", "right box first")
    yield _Candidate(f"\\boxed{{{wrong}}} or \\boxed{{{right}}}", False, "mutation/second_answer", "right box last")
    yield _Candidate(_boxed(f"{right}, {wrong}"), False, "mutation/second_answer", "a list, right first")
    yield _Candidate(_boxed(f"{wrong}, {right}"), False, "mutation/second_answer", "a list, right last")
    yield _Candidate(_boxed(f"{right} \\text{{ or }} {wrong}"), False, "mutation/second_answer", "either-or")
    yield _Candidate(f"The answer is {right}, so \\boxed{{{wrong}}}.", False, "mutation/outside_field",
                     "right number outside, wrong number in the box")


def _math_legitimate(number: _Number, right: str) -> Iterator[_Candidate]:
    v = number.value
    yield _Candidate(_boxed(right), True, "variant/plain", "the reference's own form")
    yield _Candidate(f"$\\boxed{{{right}}}$", True, "variant/format", "box in inline math")
    yield _Candidate(f"Working it out gives {right}.\n\n**Final answer:** \\boxed{{{right}}}", True,
                     "variant/format", "reasoning, then the box")
    if v < 0:
        yield _Candidate(_boxed("\u2212" + right[1:]), True, "variant/format", "unicode minus sign")
    if _terminates(v):
        text = _decimal_text(v)
        if abs(v) >= 1000:
            yield _Candidate(_boxed(_thousands(text, ",")), True, "variant/reformat_number", "thousands separator")
            yield _Candidate(_boxed(_thousands(text, "{,}")), True, "variant/reformat_number", "LaTeX thousands")
            yield _Candidate(_boxed(_scientific(v)), True, "variant/reformat_number", "scientific notation")
        yield _Candidate(_boxed(text + (".0" if "." not in text else "0")), True, "variant/reformat_number",
                         "a trailing zero")
        if number.style == "frac":
            yield _Candidate(_boxed(text), True, "variant/equivalent_fraction", "the fraction as a decimal")
    if v.denominator != 1:
        p, q = v.numerator, v.denominator
        yield _Candidate(_boxed(f"\\frac{{{2 * p}}}{{{2 * q}}}"), True, "variant/equivalent_fraction",
                         "an unreduced fraction")
        yield _Candidate(_boxed(f"{p}/{q}"), True, "variant/equivalent_fraction", "a slash fraction")
        sign = "-" if p < 0 else ""
        yield _Candidate(_boxed(f"{sign}\\dfrac{{{abs(p)}}}{{{q}}}"), True, "variant/equivalent_fraction", "\\dfrac")


def _thousands(text: str, separator: str) -> str:
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, dot, rest = digits.partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return sign + separator.join([whole, *groups]) + dot + rest


def _scientific(value: Fraction) -> str:
    exponent = len(str(abs(value.numerator) // value.denominator)) - 1
    mantissa = _decimal_text(value / Fraction(10) ** exponent)
    return f"{mantissa}\\times10^{{{exponent}}}"


# ------------------------------------------------------------------------------------------
# code


def _code_candidates(task: Task) -> Iterator[_Candidate]:
    solution, entry = task.meta.get("solution"), task.meta.get("entry_point")
    if not (isinstance(solution, str) and isinstance(entry, str) and isinstance(task.reference, dict)):
        return
    try:
        tree = ast.parse(solution)
    except SyntaxError:
        return
    if _find_function(tree, entry) is None:
        return
    visible = [v for v in task.meta.get("visible", []) if isinstance(v, list) and len(v) == 2]
    constant = _most_common([expected for _, expected in visible])
    yield from _code_mutants(tree, entry, visible, constant)
    yield from _code_variants(solution, tree, entry, constant)


def _find_function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _most_common(values: list) -> Any:
    counts = Counter(json.dumps(v, sort_keys=True) for v in values)
    return json.loads(counts.most_common(1)[0][0]) if counts else None


def _edited(tree: ast.Module, entry: str, edit: Callable[[ast.FunctionDef], bool]) -> str | None:
    """The module's source after `edit` changed a copy of the entry function; None if it could not."""
    copied = copy.deepcopy(tree)
    function = _find_function(copied, entry)
    if function is None or not edit(function):
        return None
    return ast.unparse(ast.fix_missing_locations(copied)) + "\n"


def _code_mutants(tree: ast.Module, entry: str, visible: list, constant: Any) -> Iterator[_Candidate]:
    returns_constant = _edited(tree, entry, lambda f: _replace_body(f, constant))
    mutants = [("mutation/return_constant", f"always returns {constant!r:.40}", returns_constant)]
    for k in range(2):
        mutants.append(("mutation/drop_branch", f"if statement {k + 1} removed",
                        _edited(tree, entry, lambda f, k=k: _drop_if(f, k))))
    mutants.append(("mutation/flip_comparison", "first comparison flipped", _edited(tree, entry, _flip_compare)))
    if visible:
        hard_coded = _hard_coded(entry, visible)
        mutants.append(("mutation/hard_code_visible", "answers only the prompt's examples", hard_coded))
    for tag, note, code in mutants:
        if code is not None:
            yield _Candidate(code, False, tag, note, code)


def _drop_if(function: ast.FunctionDef, k: int) -> bool:
    """Replace the k-th if statement (in walk order) with its else branch, or with nothing."""
    ifs = [node for node in ast.walk(function) if isinstance(node, ast.If)]
    if k >= len(ifs):
        return False
    target = ifs[k]
    for parent in ast.walk(function):
        for _, value in ast.iter_fields(parent):
            if isinstance(value, list) and target in value:
                i = value.index(target)
                value[i : i + 1] = target.orelse or [ast.Pass()]
                return True
    return False


_FLIPPED = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
            ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In}


def _flip_compare(function: ast.FunctionDef) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _FLIPPED:
            node.ops[0] = _FLIPPED[type(node.ops[0])]()
            return True
    return False


def _hard_coded(entry: str, visible: list) -> str:
    table = repr([(list(args), expected) for args, expected in visible])
    return (f"_SEEN = {table}\n\n\ndef {entry}(*args):\n    for known, result in _SEEN:\n"
            f"        if list(args) == known:\n            return result\n    return None\n")


def _code_variants(solution: str, tree: ast.Module, entry: str, constant: Any) -> Iterator[_Candidate]:
    yield _Candidate(solution, True, "variant/plain", "the canonical solution", solution)
    reformatted = ast.unparse(tree) + "\n"
    yield _Candidate(reformatted, True, "variant/reformat", "reformatted, comments dropped", reformatted)
    renamed = _renamed_locals(tree, entry)
    if renamed is not None:
        yield _Candidate(renamed, True, "variant/rename_variables", "local variables renamed", renamed)
    yield _Candidate(f"Here is my solution:\n```python\n{solution}```\nIt handles the edge cases.", True,
                     "variant/fenced", "in a fence with prose", solution)
    draft = _edited(tree, entry, lambda f: _replace_body(f, constant))
    if draft is not None:
        yield _Candidate(f"A first draft:\n```python\n{draft}```\nThat is wrong; the fix:\n```python\n{solution}```",
                         True, "variant/draft_then_final", "a wrong draft, then the final fence", solution)
    wrapped = _wrapped(tree, entry)
    yield _Candidate(wrapped, True, "variant/helper", "the work done in a helper function", wrapped)


def _replace_body(function: ast.FunctionDef, constant: Any) -> bool:
    function.body = [ast.Return(ast.parse(repr(constant), mode="eval").body)]
    return True


def _renamed_locals(tree: ast.Module, entry: str) -> str | None:
    """Rename the entry function's local variables (not its parameters); None if it has none."""
    copied = copy.deepcopy(tree)
    function = _find_function(copied, entry)
    if function is None or any(isinstance(n, (ast.Global, ast.Nonlocal)) for n in ast.walk(function)):
        return None
    params = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
    stored = {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    names = sorted(stored - params)
    if not names:
        return None
    used = {n.id for n in ast.walk(copied) if isinstance(n, ast.Name)}
    mapping = {}
    for i, name in enumerate(names):
        new = f"renamed_{i}"
        while new in used:
            new += "_"
        mapping[name] = new
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and node.id in mapping:
            node.id = mapping[node.id]
    return ast.unparse(copied) + "\n"


def _wrapped(tree: ast.Module, entry: str) -> str:
    copied = copy.deepcopy(tree)
    function = _find_function(copied, entry)
    assert function is not None  # checked by the caller
    function.name = f"_{entry}_impl"
    source = ast.unparse(copied)
    return f"{source}\n\n\ndef {entry}(*args, **kwargs):\n    return _{entry}_impl(*args, **kwargs)\n"


_ORACLE_TIMEOUT_S = 10.0
_CASES_HARNESS = """

import json as _json


def _plain(value):
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


for _case in _json.loads(%r):
    _got = %s(*_case["args"], **_case.get("kwargs", {}))
    assert _plain(_got) == _plain(_case["expected"]), _case
"""


def _code_oracle(task: Task) -> _Oracle:
    return lambda code: _run_tests(code, task.reference)


def _run_tests(code: str, reference: dict) -> bool | None:
    """Does `code` pass the reference's own tests, run plainly? None when it hangs.

    Only for code the audit derived from a trusted canonical solution: it runs unsandboxed."""
    sentinel = secrets.token_hex(8)
    program = code + _test_program(reference) + f"\nprint({sentinel!r})\n"
    with tempfile.TemporaryDirectory(prefix="rlvr-audit-oracle-") as folder:
        try:
            done = subprocess.run([sys.executable, "-I", "-c", program], cwd=folder, capture_output=True,
                                  text=True, timeout=_ORACLE_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None
    lines = done.stdout.strip().splitlines()
    return done.returncode == 0 and bool(lines) and lines[-1] == sentinel


def _test_program(reference: dict) -> str:
    if "cases" in reference:
        return _CASES_HARNESS % (json.dumps(reference["cases"]), reference["entry_point"])
    if "tests" in reference:
        return "\n\n" + reference["tests"]
    return "\n\n" + reference["test"] + f"\n\ncheck({reference['entry_point']})\n"


# ------------------------------------------------------------------------------------------
# sql


def _sql_candidates(task: Task) -> Iterator[_Candidate]:
    reference = task.reference
    if not (isinstance(reference, dict) and isinstance(reference.get("gold"), str) and reference.get("db")):
        return
    try:
        gold = sqlglot.parse_one(reference["gold"], read="sqlite")
    except sqlglot.errors.ParseError:
        return
    ordered = bool(reference.get("ordered"))
    for tag, note, rewrite in _SQL_MUTANTS:
        query = _rewritten(gold, rewrite, ordered)
        if query is not None:
            yield _Candidate(query, False, tag, note, query)
    for tag, note, rewrite in _SQL_VARIANTS:
        query = _rewritten(gold, rewrite, ordered)
        if query is not None:
            yield _Candidate(query, True, tag, note, query)
    yield _Candidate(f"Here is the query:\n```sql\n{reference['gold']}\n```\nIt answers the question.", True,
                     "variant/fenced", "in a fence with prose", reference["gold"])


def _rewritten(gold: exp.Expression, rewrite: Callable, ordered: bool) -> str | None:
    tree = gold.copy()
    try:
        result = rewrite(tree, ordered)
    except (AttributeError, ValueError, sqlglot.errors.SqlglotError):
        return None
    if result is None or result is False:
        return None
    if isinstance(result, str):
        return result
    return (result if isinstance(result, exp.Expression) else tree).sql(dialect="sqlite")


def _drop_where(tree: exp.Expression, ordered: bool) -> bool:
    where = tree.args.get("where")
    if where is None:
        return False
    where.pop()
    return True


def _where_or_true(tree: exp.Expression, ordered: bool) -> bool:
    where = tree.args.get("where")
    if where is None:
        return False
    where.set("this", exp.or_(exp.paren(where.this), sqlglot.parse_one("1 = 1")))
    return True


def _toggle_distinct(tree: exp.Expression, ordered: bool) -> bool:
    tree.set("distinct", None if tree.args.get("distinct") else exp.Distinct())
    return True


def _change_join(tree: exp.Expression, ordered: bool) -> bool:
    join = tree.find(exp.Join)
    if join is None:
        return False
    join.set("side", None if join.args.get("side") else "LEFT")
    join.set("kind", None)
    return True


_SQL_FLIPS = {exp.GT: exp.GTE, exp.GTE: exp.GT, exp.LT: exp.LTE, exp.LTE: exp.LT, exp.EQ: exp.NEQ, exp.NEQ: exp.EQ}


def _flip_comparison(tree: exp.Expression, ordered: bool) -> bool:
    for clause in (tree.args.get("where"), tree.args.get("having")):
        node = clause.find(*_SQL_FLIPS) if clause is not None else None
        if node is not None:
            node.replace(_SQL_FLIPS[type(node)](this=node.this.copy(), expression=node.expression.copy()))
            return True
    return False


def _perturb_literal(tree: exp.Expression, ordered: bool) -> bool:
    for clause in (tree.args.get("where"), tree.args.get("having")):
        literal = clause.find(exp.Literal) if clause is not None else None
        if literal is not None:
            if literal.is_number:
                literal.replace(exp.Literal.number(Decimal(literal.this) + 1))
            else:
                literal.replace(exp.Literal.string(literal.this + "x"))
            return True
    return False


_AGGREGATE_SWAPS = {exp.Min: exp.Max, exp.Max: exp.Min, exp.Sum: exp.Avg, exp.Avg: exp.Sum}


def _change_aggregate(tree: exp.Expression, ordered: bool) -> bool:
    for node in tree.find_all(exp.AggFunc):
        if type(node) in _AGGREGATE_SWAPS:
            node.replace(_AGGREGATE_SWAPS[type(node)](this=node.this.copy()))
            return True
        if isinstance(node, exp.Count) and not isinstance(node.this, (exp.Star, exp.Distinct)):
            node.set("this", exp.Distinct(expressions=[node.this.copy()]))
            return True
    return False


def _drop_conjunct(side: str) -> Callable[[exp.Expression, bool], bool]:
    def drop(tree: exp.Expression, ordered: bool) -> bool:
        where = tree.args.get("where")
        conjunction = where.find(exp.And) if where is not None else None
        if conjunction is None:
            return False
        conjunction.replace(conjunction.args[side].copy())
        return True

    return drop


def _and_to_or(tree: exp.Expression, ordered: bool) -> bool:
    where = tree.args.get("where")
    conjunction = where.find(exp.And) if where is not None else None
    if conjunction is None:
        return False
    conjunction.replace(exp.or_(conjunction.this.copy(), conjunction.expression.copy()))
    return True


def _negate_where(tree: exp.Expression, ordered: bool) -> bool:
    where = tree.args.get("where")
    if where is None:
        return False
    where.set("this", exp.not_(exp.paren(where.this.copy())))
    return True


def _limit_one(tree: exp.Expression, ordered: bool) -> bool:
    if tree.args.get("limit") is not None or not isinstance(tree, exp.Select):
        return False
    tree.set("limit", exp.Limit(expression=exp.Literal.number(1)))
    return True


def _flip_order(tree: exp.Expression, ordered: bool) -> bool:
    order = tree.args.get("order")
    if not ordered or order is None or not order.expressions:
        return False
    key = order.expressions[0]
    key.set("desc", not key.args.get("desc"))
    return True


def _drop_clause(name: str) -> Callable[[exp.Expression, bool], bool]:
    def drop(tree: exp.Expression, ordered: bool) -> bool:
        if name == "order" and not ordered or tree.args.get(name) is None:
            return False
        tree.args[name].pop()
        return True

    return drop


def _change_limit(tree: exp.Expression, ordered: bool) -> bool:
    limit = tree.args.get("limit")
    if limit is None or not isinstance(limit.expression, exp.Literal):
        return False
    limit.set("expression", exp.Literal.number(int(limit.expression.this) + 1))
    return True


_SQL_MUTANTS = (
    ("mutation/drop_where", "WHERE clause dropped", _drop_where),
    ("mutation/where_or_true", "OR 1 = 1 added to the WHERE", _where_or_true),
    ("mutation/toggle_distinct", "DISTINCT added or dropped", _toggle_distinct),
    ("mutation/change_join", "inner join made LEFT, or LEFT made inner", _change_join),
    ("mutation/flip_comparison", "first comparison flipped", _flip_comparison),
    ("mutation/perturb_literal", "first literal of the condition changed", _perturb_literal),
    ("mutation/change_aggregate", "an aggregate swapped", _change_aggregate),
    ("mutation/drop_condition", "the first AND's right condition dropped", _drop_conjunct("this")),
    ("mutation/drop_condition", "the first AND's left condition dropped", _drop_conjunct("expression")),
    ("mutation/and_to_or", "the first AND made OR", _and_to_or),
    ("mutation/negate_where", "the WHERE condition negated", _negate_where),
    ("mutation/limit_one", "LIMIT 1 added", _limit_one),
    ("mutation/flip_order", "the first ORDER BY key's direction flipped", _flip_order),
    ("mutation/drop_group_by", "GROUP BY dropped", _drop_clause("group")),
    ("mutation/drop_having", "HAVING dropped", _drop_clause("having")),
    ("mutation/drop_order_by", "ORDER BY dropped from an ordered answer", _drop_clause("order")),
    ("mutation/change_limit", "LIMIT one higher", _change_limit),
)


def _pretty(tree: exp.Expression, ordered: bool) -> str:
    return tree.sql(dialect="sqlite", pretty=True)


def _quoted(tree: exp.Expression, ordered: bool) -> str:
    return tree.sql(dialect="sqlite", identify=True)


def _reorder_conjuncts(tree: exp.Expression, ordered: bool) -> bool:
    where = tree.args.get("where")
    conjunction = where.find(exp.And) if where is not None else None
    if conjunction is None:
        return False
    conjunction.replace(exp.and_(conjunction.expression.copy(), conjunction.this.copy()))
    return True


def _swap_equality(tree: exp.Expression, ordered: bool) -> bool:
    equality = tree.find(exp.EQ)
    if equality is None:
        return False
    equality.replace(exp.EQ(this=equality.expression.copy(), expression=equality.this.copy()))
    return True


def _rename_aliases(tree: exp.Expression, ordered: bool) -> bool:
    aliases = [a for a in tree.expressions if isinstance(a, exp.Alias)]
    if not aliases:
        return False
    for alias in aliases:
        old, new = alias.alias, f"{alias.alias}_value"
        alias.set("alias", exp.to_identifier(new))
        for column in tree.find_all(exp.Column):
            if not column.table and column.name == old:
                column.set("this", exp.to_identifier(new))
    return True


def _cte(tree: exp.Expression, ordered: bool) -> str:
    return f"WITH answer AS ({tree.sql(dialect='sqlite')}) SELECT * FROM answer"


def _order_unordered(tree: exp.Expression, ordered: bool) -> str | None:
    if ordered:
        return None
    return f"SELECT * FROM ({tree.sql(dialect='sqlite')}) ORDER BY 1 DESC"


_SQL_VARIANTS = (
    ("variant/plain", "the gold query", lambda tree, ordered: True),
    ("variant/reformat", "pretty-printed", _pretty),
    ("variant/quoted_identifiers", "every identifier quoted", _quoted),
    ("variant/reorder_conditions", "AND conditions in the other order", _reorder_conjuncts),
    ("variant/swap_equality", "the sides of an equality swapped", _swap_equality),
    ("variant/rename_aliases", "column aliases renamed", _rename_aliases),
    ("variant/cte", "wrapped in a CTE", _cte),
    ("variant/extra_order_by", "an ORDER BY that an unordered reference ignores", _order_unordered),
)


_SQL_TIMEOUT_S = 5.0
_SQL_MAX_ROWS = 200_000


class _SqlOracle:
    """Runs trusted queries (the gold and rewrites of it) on the reference's database."""

    def __init__(self, reference: dict) -> None:
        self.db, self.ordered = reference["db"], bool(reference.get("ordered"))
        self.gold = self.rows(reference["gold"])

    def rows(self, sql: str) -> list[tuple] | None:
        uri = "file:" + urllib.parse.quote(str(self.db)) + "?mode=ro"
        try:
            con = sqlite3.connect(uri, uri=True)
        except sqlite3.Error:
            return None
        deadline = time.monotonic() + _SQL_TIMEOUT_S
        con.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
        try:
            return [tuple(r) for r in con.execute(sql).fetchmany(_SQL_MAX_ROWS)]
        except sqlite3.Error:
            return None
        finally:
            con.close()

    def passes(self, sql: str) -> bool | None:
        """Same result as the gold? A query that fails is a wrong answer; None if the gold fails."""
        if self.gold is None:
            return None
        got = self.rows(sql)
        if got is None:
            return False
        return got == self.gold if self.ordered else Counter(got) == Counter(self.gold)


def _sql_oracle(task: Task) -> _Oracle:
    return _sql_oracle_for(json.dumps(task.reference, sort_keys=True)).passes


@functools.lru_cache(maxsize=256)
def _sql_oracle_for(reference: str) -> _SqlOracle:
    """One oracle per reference, so the gold query runs once for all its candidates."""
    return _SqlOracle(json.loads(reference))


_GENERATORS: dict[str, tuple[Callable[[Task], Iterator[_Candidate]], Callable[[Task], _Oracle] | None]] = {
    "math": (_math_candidates, None),
    "code": (_code_candidates, _code_oracle),
    "sql": (_sql_candidates, _sql_oracle),
}
