"""The sql verifier: result equivalence, and attacks that must earn 0.0 and leave the database intact."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import time

import pytest

import rlvr.verifiers.sql as sql_module  # registers "sql"
from rlvr import ConfigError
from rlvr.verifiers import get_verifier
from rlvr.verifiers.sql import _Fail, _names_of, _run_sqlite, _screen

TIMEOUT = 1.0  # query_timeout of the verifiers under test
WHITELIST = ("employees", "departments")

SCHEMA = """
CREATE TABLE departments (id INTEGER PRIMARY KEY, name TEXT, budget REAL);
CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT, dept_id INTEGER, salary INTEGER,
                        city TEXT, manager_id INTEGER);
CREATE TABLE secrets (token TEXT);
CREATE VIEW paris_staff AS SELECT name FROM employees WHERE city = 'Paris';
CREATE INDEX employees_by_dept ON employees (dept_id);
INSERT INTO departments VALUES (1, 'Sales', 100000.0), (2, 'Engineering', 250000.0), (3, 'HR', 50000.0);
INSERT INTO employees VALUES
    (1, 'Ann', 1, 5000, 'Paris', NULL), (2, 'Bob', 1, 7000, 'Paris', 1),
    (3, 'Ann', 2, 9000, 'Berlin', NULL), (4, 'Dan', 2, 9000, 'Berlin', 3),
    (5, 'Eve', 2, 6000, 'Paris', 3), (6, 'Fay', 3, 4000, 'Rome', NULL),
    (7, 'Gus', 1, 6000, 'Berlin', 1);
INSERT INTO secrets VALUES ('hunter2');
"""


def _make_db(path) -> str:
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    con.commit()
    con.close()
    return str(path)


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    return _make_db(tmp_path_factory.mktemp("sql") / "company.sqlite")


def _snapshot(db: str) -> tuple[str, list[str]]:
    """The database's sha256 and the files beside it: an attack may change neither."""
    with open(db, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return digest, sorted(os.listdir(os.path.dirname(db)))


@pytest.fixture(scope="module")
def verifier():
    return get_verifier("sql", isolated=False, query_timeout=TIMEOUT)


@pytest.fixture(scope="module")
def whitelisted():
    return get_verifier("sql", isolated=False, query_timeout=TIMEOUT, tables=WHITELIST)


# ------------------------------------------------------------------------------------------
# Equivalence: (gold, completion, reward, reason); "ordered" golds end in " -- ordered".

SALES = "SELECT e.name FROM employees e JOIN departments d ON e.dept_id = d.id WHERE d.name = 'Sales'"
EQUIVALENCE = [
    # rows in another order: multisets are equal
    ("SELECT name, salary FROM employees WHERE dept_id = 1",
     "SELECT name, salary FROM employees WHERE dept_id = 1 ORDER BY salary DESC", 1.0, "ok"),
    # columns in another order: compared by position (decided), so a mismatch
    ("SELECT name, salary FROM employees WHERE dept_id = 1",
     "SELECT salary, name FROM employees WHERE dept_id = 1", 0.0, "mismatch"),
    # aliases do not matter
    ("SELECT name, salary FROM employees", "SELECT name AS who, salary AS pay FROM employees", 1.0, "ok"),
    # a different but equivalent query
    (SALES, "SELECT name FROM employees WHERE dept_id IN (SELECT id FROM departments WHERE name = 'Sales')",
     1.0, "ok"),
    (SALES, ("WITH s AS (SELECT id FROM departments WHERE name = 'Sales') "
             "SELECT name FROM employees, s WHERE dept_id = s.id"), 1.0, "ok"),
    ("SELECT name FROM employees WHERE city = 'Paris' OR salary > 8000",
     ("SELECT name FROM employees WHERE city = 'Paris' UNION ALL "
      "SELECT name FROM employees WHERE salary > 8000 AND city <> 'Paris'"), 1.0, "ok"),
    ("SELECT name FROM employees WHERE city = 'Paris'", "SELECT name FROM paris_staff", 1.0, "ok"),
    # DISTINCT drops the duplicate 'Paris' rows the gold keeps
    ("SELECT city FROM employees", "SELECT DISTINCT city FROM employees", 0.0, "mismatch"),
    ("SELECT name FROM employees", "SELECT name FROM employees GROUP BY name", 0.0, "mismatch"),
    # a filter replaced by a tautology
    ("SELECT name FROM employees WHERE salary > 6000", "SELECT name FROM employees WHERE 1=1", 0.0, "mismatch"),
    ("SELECT name FROM employees WHERE salary > 6000", "SELECT name FROM employees WHERE salary >= 6000",
     0.0, "mismatch"),
    # int vs float: AVG gives 6000.0, integer SUM/COUNT gives 6000; equal (decided)
    ("SELECT AVG(salary) FROM employees WHERE dept_id = 1",
     "SELECT SUM(salary) / COUNT(*) FROM employees WHERE dept_id = 1", 1.0, "ok"),
    # ... but a number and a string are not equal
    ("SELECT AVG(salary) FROM employees WHERE dept_id = 1", "SELECT '6000'", 0.0, "mismatch"),
    # NULL stays NULL
    ("SELECT manager_id FROM employees", "SELECT COALESCE(manager_id, 0) FROM employees", 0.0, "mismatch"),
    ("SELECT manager_id FROM employees", "SELECT manager_id FROM employees ORDER BY manager_id", 1.0, "ok"),
    # float sums are compared exactly unless float_digits is set
    ("SELECT 0.1 + 0.2", "SELECT 0.3", 0.0, "mismatch"),
    # empty results: equal, unless the column count differs
    ("SELECT name FROM employees WHERE salary > 99999", "SELECT name FROM employees WHERE 0", 1.0, "ok"),
    ("SELECT name FROM employees WHERE salary > 99999", "SELECT name, city FROM employees WHERE 0",
     0.0, "mismatch"),
    ("SELECT name FROM employees", "SELECT name, id FROM employees", 0.0, "mismatch"),
    # ordered references compare rows in order
    ("SELECT name FROM employees ORDER BY salary DESC, id -- ordered",
     "SELECT name FROM employees ORDER BY salary DESC, id", 1.0, "ok"),
    ("SELECT name FROM employees ORDER BY salary DESC, id -- ordered",
     "SELECT name FROM employees ORDER BY salary ASC, id", 0.0, "mismatch"),
    ("SELECT name FROM employees ORDER BY salary DESC, id -- ordered", "SELECT name FROM employees",
     0.0, "mismatch"),
    # reading the query out of the completion
    (SALES, "Join the tables.\n```sql\nSELECT name FROM employees WHERE dept_id = 1\n```", 1.0, "ok"),
    (SALES, ("```sql\nSELECT name FROM employees\n```\nNo, only Sales:\n```SQL\n"
             "SELECT name FROM employees WHERE dept_id = 1;\n```"), 1.0, "ok"),
    (SALES, "```\nSELECT name FROM employees WHERE dept_id = 1\n```", 1.0, "ok"),
    (SALES, "SELECT name FROM employees WHERE dept_id = 1", 1.0, "ok"),
    (SALES, "```sql\nSELECT name FROM employees WHERE dept_id = 1\n```\n```sql\nSELECT name FROM", 0.0,
     "parse_error"),  # a truncated final fence does not fall back to the earlier one
    (SALES, "```python\nprint(1)\n```", 0.0, "parse_error"),
    (SALES, "```sql\nSELECT name FROM employees WHERE dept_id = 1\n```\nOutput:\n```text\nAnn\n```", 1.0, "ok"),
    (SALES, "The Sales people are Ann, Bob and Gus.", 0.0, "parse_error"),
    (SALES, "SELEC name FROM employees", 0.0, "parse_error"),
    (SALES, "   ", 0.0, "no_answer"),
    (SALES, "```sql\n\n```", 0.0, "no_answer"),
    (SALES, "-- nothing here\n;", 0.0, "no_answer"),
    (SALES, "SELECT nosuch FROM employees", 0.0, "runtime_error"),
]


@pytest.mark.parametrize("gold, completion, reward, reason", EQUIVALENCE)
def test_equivalence(verifier, db, gold, completion, reward, reason):
    ordered = gold.endswith(" -- ordered")
    verdict = verifier.verify(completion, {"db": db, "gold": gold, "ordered": ordered})
    assert (verdict.reward, verdict.reason) == (reward, reason), verdict


EXPECTED = [["Engineering", 3], ["HR", 1], ["Sales", 3]]
BY_DEPT = "SELECT d.name, COUNT(*) FROM employees e JOIN departments d ON e.dept_id = d.id GROUP BY d.name"


@pytest.mark.parametrize("expected, completion, ordered, reward, reason", [
    (EXPECTED, BY_DEPT, False, 1.0, "ok"),
    (EXPECTED, BY_DEPT + " ORDER BY 2 DESC", False, 1.0, "ok"),
    (EXPECTED, BY_DEPT + " ORDER BY 2 DESC, 1", True, 0.0, "mismatch"),
    (EXPECTED, BY_DEPT + " ORDER BY 1", True, 1.0, "ok"),
    (EXPECTED, BY_DEPT + " HAVING COUNT(*) > 1", False, 0.0, "mismatch"),
    ([[6000.0]], "SELECT SUM(salary) / COUNT(*) FROM employees WHERE dept_id = 1", False, 1.0, "ok"),
    ([[None]], "SELECT MAX(manager_id) FROM employees WHERE dept_id = 3", False, 1.0, "ok"),
    ([], "SELECT name FROM employees WHERE 0", False, 1.0, "ok"),
    ([], "SELECT name FROM employees", False, 0.0, "mismatch"),
])
def test_expected_rows(verifier, db, expected, completion, ordered, reward, reason):
    verdict = verifier.verify(completion, {"db": db, "expected": expected, "ordered": ordered})
    assert (verdict.reward, verdict.reason) == (reward, reason), verdict


def test_mismatch_detail_names_counts_and_a_differing_row(verifier, db):
    verdict = verifier.verify("SELECT DISTINCT city FROM employees", {"db": db, "gold": "SELECT city FROM employees"})
    assert "the gold has 7 rows, the answer 3" in verdict.detail
    assert "missing from the answer: (" in verdict.detail


def test_float_digits_rounds_before_comparing(db):
    rounding = get_verifier("sql", isolated=False, float_digits=9)
    assert rounding.verify("SELECT 0.3", {"db": db, "gold": "SELECT 0.1 + 0.2"}).passed
    assert not rounding.verify("SELECT 0.3001", {"db": db, "gold": "SELECT 0.1 + 0.2"}).passed


def test_raw_extraction_does_not_look_for_fences(db):
    raw = get_verifier("sql", isolated=False, extract="raw")
    reference = {"db": db, "gold": "SELECT 1"}
    assert raw.verify("SELECT 1", reference).passed
    assert raw.verify("```sql\nSELECT 1\n```", reference).reason == "parse_error"


def test_too_many_rows_is_a_mismatch_and_a_huge_gold_a_bad_reference(db):
    small = get_verifier("sql", isolated=False, max_rows=3)
    verdict = small.verify("SELECT name FROM employees", {"db": db, "gold": "SELECT 1"})
    assert (verdict.reason, verdict.detail) == ("mismatch", "the answer returned more than 3 rows; the gold has 1")
    assert small.verify("SELECT 1", {"db": db, "gold": "SELECT name FROM employees"}).reason == "bad_reference"


@pytest.mark.parametrize("reference", [
    {"db": "/nonexistent/company.sqlite", "gold": "SELECT 1"},
    {"db": "{db}?mode=rw", "gold": "SELECT 1"},  # a URI trick in the path is just a missing file
    {"db": "{db}", "gold": "SELECT 1", "expected": [[1]]},
    {"db": "{db}"},
    {"db": "{db}", "gold": "SELECT 1", "order": True},  # a typo must not silently mean unordered
    {"db": "{db}", "gold": "SELECT 1", "ordered": "yes"},
    {"db": "{db}", "gold": "SELECT 1", "tables": "employees"},
    {"db": "{db}", "expected": [1, 2]},
    {"db": "{db}", "expected": [[1], [1, 2]]},
    {"db": "{db}", "gold": "SELECT nosuch FROM employees"},
    {"db": "{db}", "gold": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"},
    {"db": "{db}", "gold": "DROP TABLE employees"},  # a gold runs through the engine layer too
    "SELECT 1",
])
def test_bad_references(verifier, db, reference):
    if isinstance(reference, dict):
        reference = {k: v.format(db=db) if isinstance(v, str) else v for k, v in reference.items()}
    before = _snapshot(db)
    verdict = verifier.verify("SELECT 1", reference)
    assert (verdict.reward, verdict.reason) == (0.0, "bad_reference"), verdict
    assert _snapshot(db) == before


def test_a_file_that_is_not_a_database_is_a_bad_reference(verifier, tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("not a database")
    verdict = verifier.verify("SELECT 1", {"db": str(path), "gold": "SELECT 1"})
    assert verdict.reason == "bad_reference" and "cannot open" in verdict.detail


def test_gold_results_are_cached_until_the_database_changes(verifier, tmp_path):
    path = _make_db(tmp_path / "cached.sqlite")
    reference = {"db": path, "gold": "SELECT COUNT(*) FROM employees"}
    assert verifier.verify("SELECT 7", reference).passed
    assert any(key[1] == path for key in sql_module._GOLD)
    con = sqlite3.connect(path)
    con.execute("INSERT INTO employees (name) VALUES ('Hal')")
    con.commit()
    con.close()
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even on coarse clocks
    assert verifier.verify("SELECT 8", reference).passed
    assert not verifier.verify("SELECT 7", reference).passed


@pytest.mark.parametrize("options", [
    {"query_timeout": 0},
    {"query_timeout": 3.0},  # twice that exceeds the default time_limit of 5 s
    {"tables": "employees"},
    {"float_digits": -1},
    {"max_rows": 0},
    {"extract": "first_fence"},
])
def test_bad_options_raise_at_construction(options):
    with pytest.raises(ConfigError):
        get_verifier("sql", **options)


def test_whitelist_from_the_reference_narrows_the_option(verifier, whitelisted, db):
    reference = {"db": db, "gold": "SELECT 1", "tables": ["departments"]}
    assert verifier.verify("SELECT COUNT(*) > 0 FROM departments", reference).passed
    assert verifier.verify("SELECT COUNT(*) > 0 FROM employees", reference).reason == "forbidden"
    assert whitelisted.verify("SELECT COUNT(*) > 0 FROM departments", reference).passed
    both = {"db": db, "gold": "SELECT 1", "tables": ["departments", "secrets"]}
    assert whitelisted.verify("SELECT COUNT(*) > 0 FROM secrets", both).reason == "forbidden"


def test_whitelisted_views_and_table_functions_run(db):
    allowed = get_verifier("sql", isolated=False, tables=("paris_staff", "json_each", "pragma_table_info"))
    paris = {"db": db, "expected": [["Ann"], ["Bob"], ["Eve"]]}
    # SQLite reports reads inside a view and inside a CTE alike, so a view needs its tables too
    assert allowed.verify("SELECT name FROM paris_staff", paris).reason == "forbidden"
    with_table = get_verifier("sql", isolated=False, tables=("paris_staff", "employees"))
    assert with_table.verify("SELECT name FROM paris_staff", paris).passed
    assert allowed.verify("SELECT value FROM json_each('[1, 2]')", {"db": db, "expected": [[1], [2]]}).passed
    columns = [["id"], ["name"], ["dept_id"], ["salary"], ["city"], ["manager_id"]]
    assert allowed.verify("SELECT name FROM pragma_table_info('employees')", {"db": db, "expected": columns}).passed


# ------------------------------------------------------------------------------------------
# Attacks: (name, completion, whitelist needed). Every one earns 0.0 and leaves the database
# byte-for-byte unchanged and no new file beside it: the files that ATTACH, VACUUM INTO and
# writefile name are in {dir}, the database's folder. {db} and {dir} are filled in per test.

ATTACKS = [
    ("create table", "CREATE TABLE pwned (x)", False),
    ("create temp table", "CREATE TEMP TABLE pwned AS SELECT * FROM employees", False),
    ("create view", "CREATE VIEW pwned AS SELECT 1", False),
    ("drop table", "DROP TABLE employees", False),
    ("alter table", "ALTER TABLE employees ADD COLUMN pwned INTEGER", False),
    ("insert", "INSERT INTO employees (name) VALUES ('Mallory')", False),
    ("update", "UPDATE employees SET salary = 0", False),
    ("delete", "DELETE FROM employees", False),
    ("replace", "REPLACE INTO departments VALUES (1, 'Pwned', 0)", False),
    ("upsert", "INSERT INTO departments VALUES (1, 'x', 0) ON CONFLICT(id) DO UPDATE SET name = 'x'", False),
    ("with ... delete", "WITH c AS (SELECT 1) DELETE FROM employees", False),
    ("select into", "SELECT * INTO backup FROM employees", False),
    ("multi-statement", "SELECT 1; DROP TABLE employees", False),
    ("multi-statement, fenced", "```sql\nSELECT name FROM employees;\nDELETE FROM employees;\n```", False),
    ("block comment then statement", "SELECT 1 /* harmless */; DROP TABLE employees", False),
    ("line comment then statement", "SELECT 1 -- harmless\n; DROP TABLE employees", False),
    ("comment before statement", "/* SELECT 1; */ DELETE FROM employees", False),
    ("statement after comment line", "SELECT 1;\n-- the rest is a comment?\nDROP TABLE employees", False),
    ("attach new file", "ATTACH DATABASE '{dir}/attached.db' AS pwned", False),
    ("attach new file by uri", "ATTACH DATABASE 'file:{dir}/attached_uri.db?mode=rwc' AS pwned", False),
    ("attach the db writable", "ATTACH 'file:{db}?mode=rw' AS w; DELETE FROM w.employees", False),
    ("attach the db writable, alone", "ATTACH 'file:{db}?mode=rw' AS w", False),
    ("detach", "DETACH DATABASE main", False),
    ("vacuum into", "VACUUM INTO '{dir}/copy.db'", False),
    ("vacuum", "VACUUM", False),
    ("pragma write", "PRAGMA writable_schema = ON", False),
    ("pragma journal", "PRAGMA journal_mode = DELETE", False),
    ("pragma read", "PRAGMA table_info(employees)", False),
    ("pragma table function", "SELECT name FROM pragma_table_info('employees')", False),
    ("pragma table function, nested", "SELECT (SELECT COUNT(*) FROM pragma_database_list)", False),
    ("pragma table function, bare", "SELECT * FROM pragma_table_list", False),
    ("load_extension", "SELECT load_extension('/tmp/evil.so')", False),
    ("load_extension, upper case", "SELECT LOAD_EXTENSION('/tmp/evil.so', 'init')", False),
    ("fts3_tokenizer", "SELECT fts3_tokenizer('simple')", False),
    ("writefile", "SELECT writefile('{dir}/written.txt', 'data')", False),
    ("transaction", "BEGIN IMMEDIATE", False),
    ("savepoint", "SAVEPOINT s", False),
    ("reindex", "REINDEX", False),
    ("analyze", "ANALYZE", False),
    ("explain", "EXPLAIN SELECT 1", False),
    ("explain a write", "EXPLAIN DELETE FROM employees", False),
    ("not whitelisted", "SELECT token FROM secrets", True),
    ("not whitelisted, qualified", "SELECT token FROM main.secrets", True),
    ("not whitelisted, in a subquery", "SELECT (SELECT token FROM secrets) FROM employees", True),
    ("schema table", "SELECT sql FROM sqlite_master", True),
    ("cte shadowing a whitelisted name", "WITH employees AS (SELECT * FROM secrets) SELECT * FROM employees", True),
    ("cte name from another scope",
     "SELECT * FROM secrets, (WITH secrets AS (SELECT 1 AS x) SELECT x FROM secrets)", True),
    ("json_each not whitelisted", "SELECT value FROM json_each('[1]')", True),
]
TIMEOUT_ATTACKS = [
    ("recursive cte", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"),
    ("cartesian bomb", "SELECT count(*) FROM " + ", ".join(f"employees e{i}" for i in range(12))),
    ("cartesian bomb, sorted",
     "SELECT e0.name FROM " + ", ".join(f"employees e{i}" for i in range(10)) + " ORDER BY random() LIMIT 1"),
]


def _fill(sql: str, db: str) -> str:
    return sql.format(db=db, dir=os.path.dirname(db))


@pytest.mark.parametrize("name, attack, needs_whitelist", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_earns_nothing_and_changes_nothing(verifier, whitelisted, db, name, attack, needs_whitelist):
    before = _snapshot(db)
    for v in (whitelisted,) if needs_whitelist else (verifier, whitelisted):
        verdict = v.verify(_fill(attack, db), {"db": db, "gold": "SELECT 1"})
        assert verdict.reward == 0.0 and verdict.reason in ("forbidden", "parse_error"), verdict
        assert _snapshot(db) == before


@pytest.mark.parametrize("name, attack, needs_whitelist", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_layer1_alone_rejects_each_attack(db, name, attack, needs_whitelist):
    """The sqlglot screen, with no engine behind it."""
    sql = sql_module._extract(_fill(attack, db), "last_fence")
    with pytest.raises(_Fail) as failed:
        _screen(sql, "sqlite", frozenset(WHITELIST))
    assert failed.value.reason in ("forbidden", "parse_error")


# EXPLAIN only describes a statement (an EXPLAIN of a write is still refused by the authorizer).
ENGINE_ATTACKS = [a for a in ATTACKS if a[0] != "explain"]


@pytest.mark.parametrize("name, attack, needs_whitelist", ENGINE_ATTACKS, ids=[a[0] for a in ENGINE_ATTACKS])
def test_layer2_alone_rejects_each_attack(db, name, attack, needs_whitelist):
    """The engine (read-only URI, authorizer, limits), as if the sqlglot screen had let it through."""
    sql = sql_module._extract(_fill(attack, db), "last_fence")
    before = _snapshot(db)
    with pytest.raises(_Fail):
        _run_sqlite(db, sql, TIMEOUT, 100, _names_of(sql, "sqlite"), frozenset(WHITELIST))
    assert _snapshot(db) == before


def test_the_connection_itself_is_read_only_and_attaches_nothing(tmp_path):
    """Below the authorizer: the URI's mode=ro and the ATTACH limit, each enough by itself."""
    con = sql_module._connect_sqlite(_make_db(tmp_path / "plain.sqlite"))  # a copy: this test writes if it fails
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            con.execute("DELETE FROM employees")
        with pytest.raises(sqlite3.OperationalError, match="too many attached"):
            con.execute("ATTACH DATABASE ':memory:' AS scratch")
    finally:
        con.close()


def test_layer2_names_the_refused_action(db):
    with pytest.raises(_Fail) as failed:
        _run_sqlite(db, "ATTACH 'file:x.db?mode=rwc' AS x", TIMEOUT, 100, _names_of("", "sqlite"), None)
    assert failed.value.reason == "forbidden"
    assert failed.value.detail == "the database refused: ATTACH file:x.db?mode=rwc"
    with pytest.raises(_Fail) as failed:
        _run_sqlite(db, "SELECT token FROM secrets", TIMEOUT, 100, _names_of("", "sqlite"), frozenset(WHITELIST))
    assert "'secrets', which is not in the whitelist" in failed.value.detail


@pytest.mark.parametrize("name, attack", TIMEOUT_ATTACKS, ids=[a[0] for a in TIMEOUT_ATTACKS])
def test_runaway_queries_stop_at_the_query_timeout(whitelisted, db, name, attack):
    before = _snapshot(db)
    start = time.monotonic()
    verdict = whitelisted.verify(attack, {"db": db, "gold": "SELECT 1"})
    elapsed = time.monotonic() - start
    assert (verdict.reward, verdict.reason) == (0.0, "timeout"), verdict
    assert elapsed < TIMEOUT + 1.0, f"{name} ran {elapsed:.2f} s"
    assert _snapshot(db) == before


def test_an_oversized_value_is_refused(verifier, db):
    verdict = verifier.verify("SELECT length(randomblob(100000000))", {"db": db, "gold": "SELECT 1"})
    assert (verdict.reward, verdict.reason) == (0.0, "runtime_error"), verdict


def test_checks_in_worker_processes(db):
    """The default, isolated verifier: registration, pickling and the deadline in a worker."""
    isolated = get_verifier("sql", query_timeout=TIMEOUT)
    reference = {"db": db, "gold": SALES}
    before = _snapshot(db)
    verdicts = isolated.verify_batch([
        ("SELECT name FROM employees WHERE dept_id = 1", reference),
        ("SELECT name FROM employees; DELETE FROM employees", reference),
        (TIMEOUT_ATTACKS[0][1], reference),
    ])
    assert [v.reason for v in verdicts] == ["ok", "forbidden", "timeout"]
    assert "query_timeout" in verdicts[2].detail  # stopped by the query deadline, not by killing the worker
    assert _snapshot(db) == before


# ------------------------------------------------------------------------------------------
# DuckDB


@pytest.fixture(scope="module")
def duck_db(tmp_path_factory) -> str:
    duckdb = pytest.importorskip("duckdb")
    path = str(tmp_path_factory.mktemp("duck") / "company.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE employees (id INTEGER, name TEXT, salary DECIMAL(10, 2), hired DATE)")
    con.execute("INSERT INTO employees VALUES (1, 'Ann', 5000.50, '2020-01-01'), (2, 'Bob', 7000, '2021-02-03'), "
                "(3, 'Ann', 7000, '2022-03-04')")
    con.execute("CREATE TABLE secrets (token TEXT)")
    con.close()
    return path


@pytest.mark.parametrize("completion, reward, reason", [
    ("SELECT name FROM employees ORDER BY id DESC", 1.0, "ok"),
    ("SELECT DISTINCT name FROM employees", 0.0, "mismatch"),
    ("FROM employees SELECT name", 1.0, "ok"),
    ("DROP TABLE employees", 0.0, "forbidden"),
    ("SELECT 1; DELETE FROM employees", 0.0, "forbidden"),
    ("COPY employees TO '{dir}/leak.csv'", 0.0, "forbidden"),
    ("SELECT * FROM read_csv('/etc/passwd')", 0.0, "forbidden"),
    ("ATTACH '{dir}/attached.duckdb' AS x", 0.0, "forbidden"),
    ("INSTALL httpfs", 0.0, "forbidden"),
    ("SET enable_external_access = true", 0.0, "forbidden"),
    ("SELECT token FROM secrets", 0.0, "forbidden"),
])
def test_duckdb(whitelisted, duck_db, completion, reward, reason):
    before = _snapshot(duck_db)
    verdict = whitelisted.verify(_fill(completion, duck_db), {"db": duck_db, "gold": "SELECT name FROM employees"})
    assert (verdict.reward, verdict.reason) == (reward, reason), verdict
    assert _snapshot(duck_db) == before


def test_duckdb_values_normalise_like_sqlite(verifier, duck_db):
    expected = [["Ann", 5000.5, "2020-01-01"], ["Bob", 7000, "2021-02-03"], ["Ann", 7000.0, "2022-03-04"]]
    assert verifier.verify("SELECT name, salary, hired FROM employees", {"db": duck_db, "expected": expected}).passed


def test_duckdb_engine_layer_alone_refuses_writes_and_files(duck_db):
    before = _snapshot(duck_db)
    for sql in ("DELETE FROM employees", "COPY employees TO '{dir}/leak.csv'", "SELECT 1; DROP TABLE employees"):
        with pytest.raises(_Fail):
            sql_module._run_duckdb(duck_db, _fill(sql, duck_db), TIMEOUT, 100)
    assert _snapshot(duck_db) == before


def test_duckdb_runaway_query_is_interrupted(verifier, duck_db):
    start = time.monotonic()
    verdict = verifier.verify(TIMEOUT_ATTACKS[0][1], {"db": duck_db, "gold": "SELECT 1"})
    assert verdict.reason == "timeout" and time.monotonic() - start < TIMEOUT + 1.0, verdict


def test_duckdb_missing_is_a_bad_reference(verifier, duck_db, monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb", None)  # makes `import duckdb` raise ImportError
    verdict = verifier.verify("SELECT 1", {"db": duck_db, "gold": "SELECT 1"})
    assert verdict.reason == "bad_reference" and "pip install duckdb" in verdict.detail
