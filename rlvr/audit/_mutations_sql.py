"""SQL mutations, from the gold query by sqlglot rewrites (see mutations.py).

Wrong: drop the WHERE, OR 1=1, add or drop DISTINCT, change a join, flip a comparison, perturb
a literal, change an aggregate, drop GROUP BY or ORDER BY, change LIMIT. Legitimate: reformatted,
quoted identifiers, reordered conditions, swapped equality sides, renamed aliases, a CTE, an
ORDER BY an unordered reference ignores, fenced with prose. The oracle runs the gold query and
the rewrites of it (trusted material only) in a read-only sqlite connection.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal

import sqlglot
from sqlglot import exp

from rlvr.audit._candidate import Candidate, Oracle
from rlvr.tasks import Task

__all__ = ["sql_candidates", "sql_oracle"]


def sql_candidates(task: Task) -> Iterator[Candidate]:
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
            yield Candidate(query, False, tag, note, query)
    for tag, note, rewrite in _SQL_VARIANTS:
        query = _rewritten(gold, rewrite, ordered)
        if query is not None:
            yield Candidate(query, True, tag, note, query)
    yield Candidate(f"Here is the query:\n```sql\n{reference['gold']}\n```\nIt answers the question.", True,
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


def sql_oracle(task: Task) -> Oracle:
    return _sql_oracle_for(json.dumps(task.reference, sort_keys=True)).passes


@functools.lru_cache(maxsize=256)
def _sql_oracle_for(reference: str) -> _SqlOracle:
    """One oracle per reference, so the gold query runs once for all its candidates."""
    return _SqlOracle(json.loads(reference))
