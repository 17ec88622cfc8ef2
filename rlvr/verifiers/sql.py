"""The `sql` verifier: run the model's query and the gold query, compare their results.

Reference (one of `gold` or `expected`):

    {"db": "path/to.sqlite", "gold": "SELECT ...", "ordered": false, "tables": ["a", "b"]}
    {"db": "path/to.sqlite", "expected": [[1, "x"], [2, "y"]]}

A path ending in `.duckdb` runs on DuckDB (`pip install duckdb`), anything else on SQLite.
Result rows compare as multisets (`Counter` of tuples) unless `"ordered": true`.

Comparison rules:
- columns compare by position: the same values in another column order are a mismatch,
  and column names (aliases) are ignored; the column counts must be equal;
- an int and a float are equal when numerically equal (`5` == `5.0`): SQLite's types follow
  incidental choices (`SUM(int)/COUNT(*)` vs `AVG`), not the meaning of the answer;
- a number and a string are never equal; NULL equals only NULL; NaN equals NaN;
- floats compare exactly unless `float_digits` rounds them first;
- DuckDB values are read the SQLite way: Decimal as float, dates, times and UUIDs as ISO text.

The model's query is untrusted. It must pass two independent layers, each enough by itself:
1. a sqlglot parse: exactly one statement, a SELECT (WITH and UNION allowed); no DDL, DML,
   ATTACH, PRAGMA, `Command` (e.g. `VACUUM INTO`), SELECT INTO or dangerous functions; with a
   table whitelist, only those tables (CTE names are not tables; table-valued functions such
   as `json_each` count by their name, and `pragma_*` ones are refused unless whitelisted);
2. the engine: SQLite opened read-only by URI (`file:...?mode=ro`; not `immutable=1`, which
   skips locking and the WAL, so a database being written would read torn or stale, and adds
   no protection), an authorizer admitting only SELECT, READ (of whitelisted tables; a view's
   tables must be whitelisted with it), FUNCTION (not `load_extension` and kin) and RECURSIVE,
   ATTACH limited to zero databases, extension loading off; DuckDB read-only with file access
   and extension loading off, and exactly one SELECT statement by its own parser (DuckDB
   checks the whitelist in layer 1 only).
A progress handler (SQLite) or a watchdog calling `interrupt()` (DuckDB) stops a query at
`query_timeout`, and at most `max_rows` rows are fetched. The gold query is trusted to be
correct but runs through the same engine layer; its results are cached per worker process.
"""

from __future__ import annotations

import datetime
import decimal
import math
import os
import re
import sqlite3
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import sqlglot
from sqlglot import exp

from rlvr._errors import ConfigError
from rlvr.verifiers.base import Verifier, register_verifier
from rlvr.verifiers.verdict import Verdict

_DUCKDB_SUFFIXES = (".duckdb", ".ddb")
_MAX_SQL_CHARS = 100_000
_MAX_VALUE_BYTES = 16 * 2**20  # SQLite's largest string or blob (its default is 1 GB)
_PROGRESS_EVERY = 1_000  # SQLite VM instructions between deadline checks (~10 µs of work)
_REFERENCE_KEYS = frozenset({"db", "gold", "expected", "ordered", "tables"})
# Callable from SQL in some builds, and able to load code or touch files: refused by both layers.
_DENIED_FUNCTIONS = frozenset({
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "lsdir", "zipfile",
    "sqlar_compress", "sqlar_uncompress", "eval", "shell", "system",
})
_FENCE = re.compile(r"```[ \t]*([A-Za-z]*)[^\n]*\n(.*?)```", re.DOTALL)
_SQL_FENCE_TAGS = frozenset({"", "sql", "sqlite", "duckdb"})

# Gold results per worker process: (engine, path, mtime, size, gold) -> (columns, rows).
_GOLD: dict[tuple, tuple[int, list[tuple]]] = {}
_GOLD_LOCK = threading.Lock()  # for callers that run checks in threads (isolated=False)
_MAX_GOLD_ROWS = 2_000_000  # evict the oldest entries beyond this many cached rows


class _Fail(Exception):
    """A check ends here with reward 0.0: `reason` is the Verdict reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@register_verifier("sql")
@dataclass(frozen=True)
class SQLVerifier(Verifier):
    """Judge a SQL query by its result on a read-only database.

    query_timeout: seconds each query (the gold, then the answer) may run; keep it under half
                   of `time_limit`, which bounds the whole check.
    tables:        table whitelist for the answer; a reference's own "tables" narrows it further.
    extract:       "last_fence": the last ```sql (or untagged) fenced block, else the raw text;
                   "raw": the whole completion.
    float_digits:  round floats to this many decimals before comparing (None: exact).
    max_rows:      most rows fetched from a query; an answer with more is a mismatch.
    """

    query_timeout: float = 2.0
    tables: tuple[str, ...] | None = None
    extract: Literal["last_fence", "raw"] = "last_fence"
    float_digits: int | None = None
    max_rows: int = 100_000

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.query_timeout <= 0:
            raise ConfigError(f"verifier 'sql': query_timeout must be positive, got {self.query_timeout}.")
        if self.isolated and 2 * self.query_timeout >= self.time_limit:
            raise ConfigError(
                f"verifier 'sql': time_limit ({self.time_limit:g} s) must exceed twice query_timeout "
                f"({self.query_timeout:g} s), since the gold and the answer each get it; raise time_limit."
            )
        if self.tables is not None:
            if isinstance(self.tables, str) or not all(isinstance(t, str) for t in self.tables):
                raise ConfigError(f"verifier 'sql': tables must be a list of names, got {self.tables!r}.")
            object.__setattr__(self, "tables", tuple(self.tables))  # a list would make it unhashable
        digits = self.float_digits
        if digits is not None and (not isinstance(digits, int) or isinstance(digits, bool) or digits < 0):
            raise ConfigError(f"verifier 'sql': float_digits must be a non-negative integer or None, got {digits!r}.")
        if not isinstance(self.max_rows, int) or self.max_rows < 1:
            raise ConfigError(f"verifier 'sql': max_rows must be a positive integer, got {self.max_rows!r}.")

    def __setstate__(self, state: dict) -> None:
        # Unpickling happens as a worker starts, before it reports ready: loading sqlglot's
        # SQLite dialect here keeps it out of the first check's time limit.
        self.__dict__.update(state)
        sqlglot.parse("SELECT 1", read="sqlite")

    def check(self, completion: str, reference: Any) -> Verdict:
        try:
            ref = _Reference.parse(reference, self.tables)
            if ref.gold is not None:
                columns, gold = self._gold(ref)
            else:
                columns, gold = ref.columns, [_row(r, self.float_digits) for r in ref.expected]
            sql = _extract(completion, self.extract)
            names = _screen(sql, ref.dialect, ref.tables)
            got_columns, got = _run(ref, sql, self.query_timeout, self.max_rows, names, ref.tables)
        except _Fail as fail:
            return Verdict(0.0, fail.reason, fail.detail)
        if len(got) > self.max_rows:
            return Verdict(0.0, "mismatch", f"the answer returned more than {self.max_rows} rows; "
                                            f"the gold has {len(gold)}")
        if columns is not None and got_columns != columns:
            return Verdict(0.0, "mismatch", f"the gold has {columns} columns, the answer {got_columns}")
        got = [_row(r, self.float_digits) for r in got]
        difference = _difference(gold, got, ref.ordered)
        if difference:
            return Verdict(0.0, "mismatch", difference)
        return Verdict(1.0, "ok", f"{len(got)} rows match" + (" in order" if ref.ordered else ""))

    def _gold(self, ref: _Reference) -> tuple[int, list[tuple]]:
        stat = os.stat(ref.db)
        key = (ref.dialect, ref.db, stat.st_mtime_ns, stat.st_size, ref.gold)
        cached = _GOLD.get(key)
        if cached is not None:
            columns, rows = cached
        else:
            try:
                names = _names_of(ref.gold, ref.dialect)
                columns, rows = _run(ref, ref.gold, self.query_timeout, self.max_rows, names, None)
            except _Fail as fail:
                if fail.reason == "bad_reference":
                    raise
                detail = f"the gold query failed ({fail.reason}): {fail.detail}"
                raise _Fail("bad_reference", detail) from None
            if len(rows) <= self.max_rows:  # complete: cache it
                with _GOLD_LOCK:
                    while _GOLD and sum(len(r) for _, r in _GOLD.values()) + len(rows) > _MAX_GOLD_ROWS:
                        del _GOLD[next(iter(_GOLD))]
                    _GOLD[key] = (columns, rows)
        if len(rows) > self.max_rows:
            raise _Fail("bad_reference", f"the gold query returns more than max_rows={self.max_rows} rows")
        return columns, [_row(r, self.float_digits) for r in rows]


# ------------------------------------------------------------------------------------------
# The reference


@dataclass(frozen=True)
class _Reference:
    db: str  # absolute path
    dialect: Literal["sqlite", "duckdb"]
    gold: str | None
    expected: list[list] | None
    columns: int | None  # of `expected`; None when it has no rows
    ordered: bool
    tables: frozenset[str] | None  # lower-case whitelist

    @classmethod
    def parse(cls, reference: Any, option_tables: tuple[str, ...] | None) -> _Reference:
        def bad(detail: str) -> _Fail:
            return _Fail("bad_reference", detail)

        if not isinstance(reference, dict):
            raise bad(f"reference must be an object with 'db' and 'gold' or 'expected', "
                      f"got {type(reference).__name__}")
        unknown = sorted(set(reference) - _REFERENCE_KEYS)
        if unknown:
            keys = ", ".join(sorted(_REFERENCE_KEYS))
            raise bad(f"reference has unknown key {unknown[0]!r}; its keys are {keys}")
        db = reference.get("db")
        if not isinstance(db, str) or not db:
            raise bad("reference needs 'db', the path of a SQLite or DuckDB file")
        if not os.path.isfile(db):
            raise bad(f"database file {db!r} does not exist")
        gold, expected = reference.get("gold"), reference.get("expected")
        if (gold is None) == (expected is None):
            raise bad("reference needs exactly one of 'gold' (a query) and 'expected' (rows)")
        if gold is not None and (not isinstance(gold, str) or not gold.strip()):
            raise bad("reference 'gold' must be a non-empty SQL string")
        columns = None
        if expected is not None:
            if not isinstance(expected, list) or not all(isinstance(r, (list, tuple)) for r in expected):
                raise bad("reference 'expected' must be a list of rows, each a list of values")
            if len({len(r) for r in expected}) > 1:
                raise bad("reference 'expected' rows have different lengths")
            columns = len(expected[0]) if expected else None
        ordered = reference.get("ordered", False)
        if not isinstance(ordered, bool):
            raise bad(f"reference 'ordered' must be true or false, got {ordered!r}")
        tables = None if option_tables is None else frozenset(t.lower() for t in option_tables)
        if reference.get("tables") is not None:
            own = reference["tables"]
            if not isinstance(own, list) or not all(isinstance(t, str) for t in own):
                raise bad("reference 'tables' must be a list of table names")
            own = frozenset(t.lower() for t in own)
            tables = own if tables is None else tables & own  # both given: the stricter
        dialect = "duckdb" if db.lower().endswith(_DUCKDB_SUFFIXES) else "sqlite"
        return cls(os.path.abspath(db), dialect, gold, expected, columns, ordered, tables)


# ------------------------------------------------------------------------------------------
# Reading the answer, and layer 1: what the query is, by sqlglot's parse


def _extract(completion: str, mode: str) -> str:
    text = completion
    if mode == "last_fence":
        blocks = [m for m in _FENCE.finditer(completion) if m.group(1).lower() in _SQL_FENCE_TAGS]
        if blocks:
            if completion[blocks[-1].end():].count("```") % 2:
                raise _Fail("parse_error", "the last code fence is not closed (truncated answer?)")
            text = blocks[-1].group(2)
    text = text.strip()
    if not text:
        raise _Fail("no_answer", "no SQL in the completion")
    if len(text) > _MAX_SQL_CHARS:
        raise _Fail("parse_error", f"the query is longer than {_MAX_SQL_CHARS} characters")
    return text


# Statements sqlglot knows (some only in some versions); none may appear anywhere in a query.
_STATEMENTS = tuple(getattr(exp, name) for name in (
    "Alter", "Analyze", "Attach", "Cache", "Command", "Comment", "Commit", "Copy", "Create", "Delete",
    "Describe", "Detach", "Drop", "Export", "Grant", "Insert", "Install", "Into", "Kill", "LoadData",
    "Merge", "Pragma", "Refresh", "Revoke", "Rollback", "Set", "Show", "Summarize", "Transaction",
    "TruncateTable", "Uncache", "Update", "Use",
) if hasattr(exp, name))


def _function_name(node: Any) -> str:
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


@dataclass(frozen=True)
class _Names:
    """What the engine layer must know of a query.

    sources: tables and table-valued functions it names; the first use of a table-valued
             function (json_each) registers it by writing the in-memory schema, which the
             authorizer refuses, so the engine layer touches each with `LIMIT 0` first.
    ctes:    CTE names, which are not tables, though SQLite's authorizer reports `count(*)`
             over a CTE as a read of a table of that name.
    """

    sources: frozenset[str] = frozenset()
    ctes: frozenset[str] = frozenset()


def _names(root: Any) -> _Names:
    return _Names(
        frozenset(_source_name(t) for t in root.find_all(exp.Table) if not _is_cte(t)),
        frozenset(c.alias_or_name.lower() for c in root.find_all(exp.CTE)),
    )


def _names_of(sql: str, dialect: str) -> _Names:
    """The names in a trusted (gold) query; none if sqlglot cannot parse it."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except Exception:  # noqa: BLE001 - the engine will report what is wrong with the gold
        return _Names()
    sources: set[str] = set()
    ctes: set[str] = set()
    for statement in statements:
        names = _names(statement)
        sources |= names.sources
        ctes |= names.ctes
    return _Names(frozenset(sources), frozenset(ctes))


def _screen(sql: str, dialect: str, tables: frozenset[str] | None) -> _Names:
    """Layer 1: raise _Fail unless `sql` is one SELECT within the whitelist; return its names."""
    try:
        parsed = sqlglot.parse(sql, read=dialect)
    except Exception as exc:  # noqa: BLE001 - SqlglotError, RecursionError, or a sqlglot bug
        raise _Fail("parse_error", f"sqlglot cannot parse the query: {str(exc)[:300]}") from None
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]  # `;` or `-- x;`
    if not statements:
        raise _Fail("no_answer", "the query is empty (only comments or semicolons)")
    if len(statements) > 1:
        kinds = ", ".join(type(s).__name__.upper() for s in statements)
        raise _Fail("forbidden", f"one statement only: got {len(statements)} ({kinds})")
    root = statements[0]
    if not isinstance(root, (exp.Select, exp.SetOperation)):
        if isinstance(root, (*_STATEMENTS, exp.Query, exp.Values)):
            raise _Fail("forbidden", f"a SELECT statement only: got {type(root).__name__.upper()}")
        raise _Fail("parse_error", f"not a SQL statement (sqlglot reads it as {type(root).__name__})")
    for node in root.walk():
        if isinstance(node, _STATEMENTS):
            raise _Fail("forbidden", f"no {type(node).__name__.upper()} inside a SELECT")
        if isinstance(node, exp.Func) and _function_name(node) in _DENIED_FUNCTIONS:
            raise _Fail("forbidden", f"function {_function_name(node)}() is not allowed")
        if not isinstance(node, exp.Table) or _is_cte(node):
            continue
        if node.catalog or node.db.lower() not in ("", "main"):
            raise _Fail("forbidden", f"table {node.sql(dialect=dialect)} is outside the main database")
        name = _source_name(node)
        if tables is not None and name not in tables:
            raise _Fail("forbidden", f"table {name!r} is not in the table whitelist")
        if tables is None and name.startswith("pragma_"):  # `pragma_table_info(...)` or bare
            raise _Fail("forbidden", f"{name} runs a PRAGMA; it is allowed only when in a table whitelist")
    return _names(root)


def _source_name(table: Any) -> str:
    """A table's name, or a table-valued function's (sqlglot gives those an empty table name)."""
    if table.name == "" and isinstance(table.this, exp.Func):
        return _function_name(table.this)
    return table.name.lower()


def _is_cte(table: Any) -> bool:
    """Whether an unqualified table name refers to a CTE visible where it appears."""
    if table.db:
        return False
    name, node = table.name.lower(), table.parent
    while node is not None:
        if isinstance(node, exp.Query) and any(c.alias_or_name.lower() == name for c in node.ctes):
            return True
        node = node.parent
    return False


# ------------------------------------------------------------------------------------------
# Layer 2: the engine, read-only, with an authorizer and a deadline


class QueryRefused(Exception):
    """`read_only_query` refused or failed a query: `reason` is the short code a Verdict would carry."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def read_only_query(db: str, sql: str, *, tables: frozenset[str] | None = None, timeout: float = 5.0,
                    max_rows: int = 10_000) -> tuple[int, list[tuple]]:
    """(number of columns, up to max_rows + 1 rows) of one read-only SELECT on the database file `db`, through
    the verifier's two guards (the statement screen, then a read-only connection with an authorizer), limited
    to `tables` (lower-case names) when given; QueryRefused says why not. The sql tool's way in."""
    dialect: Literal["sqlite", "duckdb"] = "duckdb" if db.lower().endswith((".duckdb", ".ddb")) else "sqlite"
    try:
        names = _screen(sql, dialect, tables)
        ref = _Reference(os.path.abspath(db), dialect, None, None, None, False, tables)
        return _run(ref, sql, timeout, max_rows, names, tables)
    except _Fail as exc:
        raise QueryRefused(exc.reason, exc.detail) from None


def _run(ref: _Reference, sql: str, timeout: float, max_rows: int, names: _Names,
         tables: frozenset[str] | None) -> tuple[int, list[tuple]]:
    """(number of columns, up to max_rows + 1 rows) of `sql` on the reference's database."""
    if ref.dialect == "duckdb":
        return _run_duckdb(ref.db, sql, timeout, max_rows)
    return _run_sqlite(ref.db, sql, timeout, max_rows, names, tables)


def _connect_sqlite(path: str) -> sqlite3.Connection:
    uri = "file:" + urllib.parse.quote(path) + "?mode=ro"  # quoted: a '?' or '#' in the path is literal
    try:
        con = sqlite3.connect(uri, uri=True, timeout=1.0, isolation_level=None)
        con.execute("SELECT count(*) FROM sqlite_master").fetchall()  # is it a database at all?
    except sqlite3.Error as exc:
        raise _Fail("bad_reference", f"cannot open {path!r} as a SQLite database: {exc}") from None
    if hasattr(con, "setlimit"):  # Python >= 3.11
        con.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, _MAX_VALUE_BYTES)
    if hasattr(con, "enable_load_extension"):  # absent when Python's sqlite3 cannot load any
        con.enable_load_extension(False)
    if hasattr(con, "setconfig"):  # Python >= 3.12
        con.setconfig(sqlite3.SQLITE_DBCONFIG_DEFENSIVE, True)
    return con


def _authorizer(tables: frozenset[str] | None, ctes: frozenset[str], denied: list[str]):
    # The last argument SQLite passes names the view *or CTE* a read happens in: a CTE can take
    # any name, so it proves nothing, and a whitelisted view needs its tables whitelisted too.
    def authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, _inside: str | None):
        if action in (sqlite3.SQLITE_SELECT, _SQLITE_RECURSIVE):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            table = (arg1 or "").lower()
            if db not in (None, "main"):
                denied.append(f"read from database {db!r}")
            elif tables is None or table in tables or (arg2 == "" and table in ctes):  # count(*) of a CTE
                return sqlite3.SQLITE_OK
            else:
                denied.append(f"read of table {arg1!r}, which is not in the whitelist")
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() not in _DENIED_FUNCTIONS:
                return sqlite3.SQLITE_OK
            denied.append(f"function {arg2}()")
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_PRAGMA and tables is not None and f"pragma_{arg1}".lower() in tables:
            return sqlite3.SQLITE_OK  # a whitelisted pragma_* table-valued function
        denied.append(f"{_ACTION_NAMES.get(action, action)} {arg1 or ''}".strip())
        return sqlite3.SQLITE_DENY

    return authorize


_SQLITE_RECURSIVE = getattr(sqlite3, "SQLITE_RECURSIVE", 33)  # named in Python's sqlite3 since 3.11
_ACTION_NAMES = {
    getattr(sqlite3, name): name.removeprefix("SQLITE_")
    for name in ("SQLITE_ALTER_TABLE", "SQLITE_ANALYZE", "SQLITE_ATTACH", "SQLITE_CREATE_INDEX",
                 "SQLITE_CREATE_TABLE", "SQLITE_CREATE_TEMP_TABLE", "SQLITE_CREATE_TRIGGER",
                 "SQLITE_CREATE_VIEW", "SQLITE_CREATE_VTABLE", "SQLITE_DELETE", "SQLITE_DETACH",
                 "SQLITE_DROP_TABLE", "SQLITE_DROP_VIEW", "SQLITE_INSERT", "SQLITE_PRAGMA",
                 "SQLITE_REINDEX", "SQLITE_SAVEPOINT", "SQLITE_TRANSACTION", "SQLITE_UPDATE")
    if hasattr(sqlite3, name)
}


def _run_sqlite(path: str, sql: str, timeout: float, max_rows: int, names: _Names,
                tables: frozenset[str] | None) -> tuple[int, list[tuple]]:
    con = _connect_sqlite(path)
    try:
        deadline = time.monotonic() + timeout
        con.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_EVERY)
        # Register table-valued functions before the authorizer is on (see _Names), with our
        # own statement: a name is a quoted identifier here, never a piece of the model's SQL.
        for name in sorted(names.sources):
            try:
                con.execute('SELECT * FROM "' + name.replace('"', '""') + '" LIMIT 0').fetchall()
            except sqlite3.Error:
                pass  # a missing table or a timeout: the query itself will say so
        denied: list[str] = []
        con.set_authorizer(_authorizer(tables, names.ctes, denied))
        try:
            cursor = con.execute(sql)
            if cursor.description is None:  # it ran, read-only, but was no query (REINDEX of nothing)
                raise _Fail("forbidden", "the statement returns no result columns; it is not a SELECT")
            columns, rows = len(cursor.description), _fetch(cursor, max_rows)
        except (sqlite3.Error, sqlite3.Warning, ValueError) as exc:
            if denied:
                raise _Fail("forbidden", f"the database refused: {denied[0]}") from None
            if time.monotonic() > deadline:
                raise _Fail("timeout", f"the query ran past query_timeout={timeout:g} s") from None
            raise _Fail("runtime_error", f"{type(exc).__name__}: {str(exc)[:300]}") from None
        return columns, rows
    finally:
        con.close()


def _fetch(cursor: Any, max_rows: int) -> list[tuple]:
    """Up to max_rows + 1 rows: one more than allowed tells the caller there were too many."""
    rows: list[tuple] = []
    while len(rows) <= max_rows:
        batch = cursor.fetchmany(min(1000, max_rows + 1 - len(rows)))
        if not batch:
            break
        rows.extend(tuple(r) for r in batch)
    return rows


_DUCKDB_CONFIG = {
    "enable_external_access": False,  # no files other than the database, no ATTACH, no COPY
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,  # SET cannot undo the above
    "threads": 1,
}


def _run_duckdb(path: str, sql: str, timeout: float, max_rows: int) -> tuple[int, list[tuple]]:
    try:
        import duckdb
    except ImportError:
        raise _Fail("bad_reference", f"{path!r} is a DuckDB database: pip install duckdb") from None
    try:
        con = duckdb.connect(path, read_only=True, config=_DUCKDB_CONFIG)
    except duckdb.Error as exc:
        raise _Fail("bad_reference", f"cannot open {path!r} as a DuckDB database: {exc}") from None
    watchdog = threading.Timer(timeout, con.interrupt)
    try:
        statements = con.extract_statements(sql)
        kinds = [s.type.name for s in statements]
        if kinds != ["SELECT"]:
            raise _Fail("forbidden", f"the database parsed {len(kinds)} statements ({', '.join(kinds)}); "
                                     "one SELECT only")
        watchdog.start()
        cursor = con.execute(sql)
        return len(cursor.description or ()), _fetch(cursor, max_rows)
    except duckdb.InterruptException:
        raise _Fail("timeout", f"the query ran past query_timeout={timeout:g} s") from None
    except duckdb.Error as exc:
        reason = "forbidden" if isinstance(exc, duckdb.PermissionException) else "runtime_error"
        raise _Fail(reason, f"{type(exc).__name__}: {str(exc)[:300]}") from None
    finally:
        watchdog.cancel()
        con.close()


# ------------------------------------------------------------------------------------------
# Comparing results


class _NaN:
    """Stands for every float NaN, so that NaN rows compare equal (float('nan') != itself)."""

    def __repr__(self) -> str:
        return "NaN"


_NAN = _NaN()


def _value(value: Any, digits: int | None) -> Any:
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float):
        if math.isnan(value):
            return _NAN
        return round(value, digits) if digits is not None and math.isfinite(value) else value
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return tuple(_value(v, digits) for v in value)
    if isinstance(value, dict):
        return tuple((k, _value(v, digits)) for k, v in value.items())
    return value


def _row(row: Any, digits: int | None) -> tuple:
    return tuple(_value(v, digits) for v in row)


def _difference(gold: list[tuple], got: list[tuple], ordered: bool) -> str:
    """Empty when the results match; else row counts and a first differing row."""
    counts = f"the gold has {len(gold)} rows, the answer {len(got)}"
    if ordered:
        if gold == got:
            return ""
        i = next((i for i, (a, b) in enumerate(zip(gold, got)) if a != b), min(len(gold), len(got)))
        first_gold = repr(gold[i])[:200] if i < len(gold) else "(none)"
        first_got = repr(got[i])[:200] if i < len(got) else "(none)"
        return f"{counts}; row {i} differs: gold {first_gold}, answer {first_got}"
    missing, extra = Counter(gold) - Counter(got), Counter(got) - Counter(gold)
    if not missing and not extra:
        return ""
    parts = [counts]
    if missing:
        parts.append(f"missing from the answer: {repr(next(iter(missing)))[:200]}")
    if extra:
        parts.append(f"not in the gold: {repr(next(iter(extra)))[:200]}")
    return "; ".join(parts)
