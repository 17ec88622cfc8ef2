"""Code mutations, from a canonical solution (task meta "solution", as the built-in and HumanEval
tasks carry; see mutations.py).

Wrong: return a constant, drop a branch, flip a comparison, hard-code the prompt's visible
examples. Legitimate: reformatted, renamed variables, fenced with prose, a wrong draft before
the final fence, wrapped in a helper. The oracle runs a candidate against the reference's own
tests in a plain subprocess: only code derived from the trusted solution, never model text.
"""

from __future__ import annotations

import ast
import copy
import json
import secrets
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from rlvr.audit._candidate import Candidate, Oracle
from rlvr.tasks import Task

__all__ = ["code_candidates", "code_oracle"]


def code_candidates(task: Task) -> Iterator[Candidate]:
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


def _code_mutants(tree: ast.Module, entry: str, visible: list, constant: Any) -> Iterator[Candidate]:
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
            yield Candidate(code, False, tag, note, code)


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


def _code_variants(solution: str, tree: ast.Module, entry: str, constant: Any) -> Iterator[Candidate]:
    yield Candidate(solution, True, "variant/plain", "the canonical solution", solution)
    reformatted = ast.unparse(tree) + "\n"
    yield Candidate(reformatted, True, "variant/reformat", "reformatted, comments dropped", reformatted)
    renamed = _renamed_locals(tree, entry)
    if renamed is not None:
        yield Candidate(renamed, True, "variant/rename_variables", "local variables renamed", renamed)
    yield Candidate(f"Here is my solution:\n```python\n{solution}```\nIt handles the edge cases.", True,
                     "variant/fenced", "in a fence with prose", solution)
    draft = _edited(tree, entry, lambda f: _replace_body(f, constant))
    if draft is not None:
        yield Candidate(f"A first draft:\n```python\n{draft}```\nThat is wrong; the fix:\n```python\n{solution}```",
                         True, "variant/draft_then_final", "a wrong draft, then the final fence", solution)
    wrapped = _wrapped(tree, entry)
    yield Candidate(wrapped, True, "variant/helper", "the work done in a helper function", wrapped)


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


def code_oracle(task: Task) -> Oracle:
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
