"""Two deliberately weak verifiers, to see what `rlvr audit` says about checks like them.

    rlvr audit examples.weak_verifiers:last_number --suite math
    rlvr audit examples.weak_verifiers:sql_syntax_only --suite sql

Both are common in the wild. `last_number` rewards any text whose last number equals the
reference, so "1073 or 1074" fails but "1074 or 1073" passes, a wrong box followed by the
right number passes, and "1,073" or "\\frac{1}{2}" fail. `sql_syntax_only` rewards any query
that parses as a SELECT, whatever it returns. Do not train against either.
"""

from __future__ import annotations

import re
from fractions import Fraction

import sqlglot
from sqlglot import exp

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_SQL_FENCE = re.compile(r"```(?:sql)?\s*\n(.*?)```", re.DOTALL)


def last_number(completion: str, reference: object) -> float:
    """1.0 when the last number in the completion equals the reference (a number or "p/q")."""
    numbers = _NUMBER.findall(completion)
    if not numbers:
        return 0.0
    try:
        return float(Fraction(numbers[-1]) == Fraction(str(reference).strip()))
    except (ValueError, ZeroDivisionError):
        return 0.0


def sql_syntax_only(completion: str, reference: object) -> float:
    """1.0 when the completion (or its last ```sql fence) parses as a single SELECT."""
    fences = _SQL_FENCE.findall(completion)
    query = (fences[-1] if fences else completion).strip()
    if not query:
        return 0.0
    try:
        statements = sqlglot.parse(query, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return 0.0
    statements = [s for s in statements if s is not None]
    return float(len(statements) == 1 and isinstance(statements[0], (exp.Select, exp.SetOperation)))
