"""Rebuild `math_verify_cases.jsonl` from the test files of the math-verify project.

    pip download --no-binary :all: --no-deps math-verify==0.9.0 && tar xzf math_verify-0.9.0.tar.gz
    python tests/audit/data/extract_math_verify_cases.py math_verify-0.9.0/tests \
        > tests/audit/data/math_verify_cases.jsonl

The sdist's `tests/` are the files of github.com/huggingface/Math-Verify at that release.
Only the (gold, prediction, expected) rows are taken: every `pytest.mark.parametrize` table
whose names include gold, pred and expected (or result), and the literal
`compare_strings(gold, pred, ...) == expected` asserts (test_precision). Rows are read with
`ast.literal_eval`, never executed, except that an f-string row (test_float_precision) is
formatted the way the test formats it. Extra parameters (precision, strict,
allow_set_relation_comp) and the test's `match_types` go into `meta`, so a reader can see
what math-verify was asked. Not taken: parser unit tests without a gold/prediction pair
(test_configs, test_gamma_func, test_string_extraction, test_timeout, test_raise_on_error,
the sympy-level asserts of test_precision). GitHub main has since added one more table,
test_trailing_punctuation (13 rows); those rows are appended to the fixture by hand, with
meta.origin saying so, since the release does not have them.
"""

from __future__ import annotations

import ast
import json
import math
import sys
from pathlib import Path

_GOLD, _PRED, _EXPECTED = ("gold",), ("pred",), ("expected", "result")


def _names(node: ast.expr) -> list[str]:
    text = ast.literal_eval(node)
    return [name.strip() for name in (text.split(",") if isinstance(text, str) else text)]


def _value(node: ast.expr) -> object:
    if isinstance(node, ast.JoinedStr):  # f"{math.sqrt(17):.15f}": format it as the test does
        return eval(compile(ast.Expression(node), "<row>", "eval"), {"math": math})  # noqa: S307 - trusted test file
    return ast.literal_eval(node)


def _match_types(function: ast.FunctionDef) -> list[str] | None:
    for call in ast.walk(function):
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "compare_strings":
            for keyword in call.keywords:
                if keyword.arg == "match_types":
                    return ast.literal_eval(keyword.value)
    return None


def _rows_of_table(path: Path, function: ast.FunctionDef, decorator: ast.Call) -> list[dict]:
    names = _names(decorator.args[0])
    rows = []
    for element in decorator.args[1].elts:
        values = [_value(v) for v in element.elts]
        # test_open_thoughts.py has one row of six values, two rows run together; pytest would
        # refuse it, so it is split into the two (gold, pred, expected) rows it evidently holds.
        chunks = [values[i : i + len(names)] for i in range(0, len(values), len(names))]
        for chunk in chunks:
            row = dict(zip(names, chunk))
            rows.append(_record(path, function, row, split=len(chunks) > 1))
    return rows


def _record(path: Path, function: ast.FunctionDef, row: dict, split: bool = False) -> dict:
    gold = row.pop("gold")
    pred = row.pop("pred")
    expected = row.pop("expected", row.pop("result", None))
    meta = {"source": f"tests/{path.name}::{function.name}", "match_types": _match_types(function), **row}
    if split:
        meta["note"] = "split from a six-value row"
    return {"completion": pred, "reference": gold, "should_pass": bool(expected),
            "tag": f"math_verify/{function.name}", "meta": meta}


def _inline_asserts(path: Path, function: ast.FunctionDef) -> list[dict]:
    """`assert compare_strings("gold", "pred", ..., precision=4) == 1` written out in a test body."""
    rows = []
    for node in ast.walk(function):
        if not (isinstance(node, ast.Compare) and isinstance(node.left, ast.Call)):
            continue
        call = node.left
        if getattr(call.func, "id", "") != "compare_strings" or len(call.args) < 2:
            continue
        row = {"gold": _value(call.args[0]), "pred": _value(call.args[1]),
               "expected": ast.literal_eval(node.comparators[0])}
        row.update({k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg != "match_types"})
        rows.append(_record(path, function, row))
    return rows


def extract(folder: Path) -> list[dict]:
    rows: list[dict] = []
    for path in sorted(folder.glob("test_*.py")):
        for function in ast.parse(path.read_text()).body:
            if not isinstance(function, ast.FunctionDef):
                continue
            tables = [d for d in function.decorator_list
                      if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "parametrize"]
            for decorator in tables:
                names = _names(decorator.args[0])
                if "gold" in names and "pred" in names and ({"expected", "result"} & set(names)):
                    rows += _rows_of_table(path, function, decorator)
            if not tables:
                rows += _inline_asserts(path, function)
    return rows


HEADER = """\
# The (gold, prediction, expected) rows of math-verify's own test suite, as audit cases:
# completion = math-verify's prediction, reference = its gold, should_pass = its expected value.
# Source: math-verify 0.9.0 (PyPI sdist; the tests/ folder of github.com/huggingface/Math-Verify
# at that release), files tests/test_*.py; rebuilt by extract_math_verify_cases.py in this
# folder. Copyright 2024 The HuggingFace Team, Apache-2.0 (MIT header in test_all.py).
# meta.source names the test, meta.match_types what math-verify extracted with; other meta
# keys are the test's extra parameters (precision = its float_rounding).
# The last 13 rows (test_trailing_punctuation, meta.origin set) are newer than 0.9.0: they were
# transcribed from tests/test_all.py on GitHub main (commit cf14bc47e798) and appended by hand.
"""


def main() -> None:
    rows = extract(Path(sys.argv[1]))
    sys.stdout.write(HEADER)
    for row in rows:
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
