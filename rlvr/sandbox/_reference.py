"""The reference tests, compiled in the parent for the judge.

The reference is trusted, so its parsing and rewriting happen here: this keeps `ast` out of
the judge and decides, before any child starts, which of the tests' names come from the
candidate and which are the judge's own."""

from __future__ import annotations

import ast
import builtins
import functools
import marshal
import sys
import threading
from dataclasses import dataclass

from rlvr.sandbox._child import _ASSERT_HELPER


class BadTests(ValueError):
    """The reference tests (or prelude) are not valid Python: a bad reference, not a wrong answer."""


@dataclass(frozen=True)
class _PreparedTests:
    """Reference code compiled in the parent (it is trusted; this keeps `ast` out of the judge)."""

    prelude: bytes  # marshalled code objects
    tests: bytes
    wanted: tuple[str, ...]  # free names of the tests the candidate may supply...
    # ...except those the judge imports: (name, module, reserved) for each name used as `name.attr`
    # (see _module_names); a reserved name is never the candidate's, even where nothing imports.
    modules: tuple[tuple[str, str, bool], ...]


# Names tests written after `import numpy as np` (and the like) use without the import.
_MODULE_ALIASES = {
    "np": "numpy",
    "pd": "pandas",
    "plt": "matplotlib.pyplot",
    "nx": "networkx",
    "sns": "seaborn",
    "tf": "tensorflow",
    "jnp": "jax.numpy",
}
_STDLIB = frozenset(sys.stdlib_module_names)

# CPython 3.11 keeps the AST converters' recursion depth in state that threads share (gh-106905): two
# threads converting ASTs at once can fail with "SystemError: AST constructor recursion depth mismatch",
# which failed a correct HumanEval solution when verify_batch ran checks on two threads. One at a time.
_AST_LOCK = threading.Lock()


@functools.lru_cache(maxsize=512)
def _prepare_tests(tests: str, prelude: str, entry_point: str | None) -> _PreparedTests:
    with _AST_LOCK:
        return _compile_tests(tests, prelude, entry_point)


def _compile_tests(tests: str, prelude: str, entry_point: str | None) -> _PreparedTests:
    try:
        tree = ast.parse(tests, "<tests>")
        prelude_tree = ast.parse(prelude, "<prompt>")
        if entry_point and "check" not in _bound_names(tree):
            raise BadTests("the HumanEval-style test does not define check(candidate)")
        bound_by_prelude = _bound_names(prelude_tree) - {entry_point}  # the prompt's stub is not a helper
        # Before the rewrite, which adds a call to the judge's own helper: that name must never
        # be looked up in the candidate (it would replace the helper with the candidate's).
        free = _free_names(tree) - bound_by_prelude - set(dir(builtins)) - {_ASSERT_HELPER}
        # Tests often use `math` or `np` without importing them (MBPP's do); the judge imports its
        # own rather than borrow whatever the candidate bound to the name (a patched math, or a
        # `class np` whose isclose returns True). Only names used as `name.attr` count: a module
        # is never called, so `statistics(xs)` is the candidate's function.
        modules = _module_names((free & _attribute_bases(tree)) - {entry_point}, humaneval=bool(entry_point))
        if entry_point:
            wanted = free & {entry_point}
            strays = sorted(free - wanted - {name for name, _, _ in modules})
            if strays:
                raise BadTests(
                    f"the HumanEval-style test uses {', '.join(strays)[:200]}, which neither it nor the prompt "
                    f"defines; only {entry_point} may come from the candidate, so give the reference's prompt"
                )
        else:
            wanted = free - {name for name, _, reserved in modules if reserved}
        tests_code = compile(_rewrite_asserts(tree, tests), "<tests>", "exec")
        prelude_code = compile(prelude_tree, "<prompt>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        if isinstance(exc, BadTests):
            raise
        raise BadTests(f"the reference code does not compile: {type(exc).__name__}: {exc}") from None
    return _PreparedTests(marshal.dumps(prelude_code), marshal.dumps(tests_code), tuple(sorted(wanted)), modules)


def _module_names(names: set[str], humaneval: bool) -> tuple[tuple[str, str, bool], ...]:
    """(name, module, reserved) for the free names the tests use as `name.attr`.

    The judge binds each name to its own import of `module` wherever that imports in the
    sandbox: any module, standard or installed, and for a conventional alias (`np`) the module it
    stands for. Where nothing imports, a reserved name makes the reference bad (it can only mean
    a module, and a module the candidate cannot import either would have to be its fake), and
    another is the candidate's (`Solution.twoSum`: its class). Reserved: a standard module's
    name, an alias, and every name in a HumanEval test, where the candidate gives only the
    function under test."""
    return tuple(
        sorted(
            (name, _MODULE_ALIASES.get(name, name), humaneval or name in _MODULE_ALIASES or name in _STDLIB)
            for name in names
        )
    )


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name the code binds anywhere (assignments, defs, imports, arguments, handlers)."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound


def _attribute_bases(tree: ast.AST) -> set[str]:
    """Names the code uses as `name.attr`, the way a module is used."""
    return {
        node.value.id for node in ast.walk(tree) if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    }


def _free_names(tree: ast.AST) -> set[str]:
    """Names the tests read but never bind: these come from the candidate."""
    loaded = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return loaded - _bound_names(tree)


def _rewrite_asserts(tree: ast.Module, source: str) -> ast.Module:
    """`assert got == expected` -> a helper that says both values when they differ; other
    asserts without a message get their own source text as the message."""

    def has_call(node):
        return any(isinstance(sub, ast.Call) for sub in ast.walk(node))

    class Rewriter(ast.NodeTransformer):
        def visit_Assert(self, node):
            text = (ast.get_source_segment(source, node) or "assert").replace("\n", " ")[:300]
            test = node.test
            if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
                left, right = test.left, test.comparators[0]
                got_is_right = has_call(right) and not has_call(left)
                helper = ast.Name(_ASSERT_HELPER, ast.Load())
                args = [left, right, ast.Constant(text), ast.Constant(got_is_right)]
                node.test = ast.Call(helper, args, [])
            if node.msg is None:
                node.msg = ast.Constant(f"failed: {text}")
            return node

    return ast.fix_missing_locations(Rewriter().visit(tree))
