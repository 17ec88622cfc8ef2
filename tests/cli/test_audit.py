"""`rlvr audit`: the built-in suites, the weak example verifiers, user cases, eval runs, errors.

The command's parser is built here from `add_arguments`, as rlvr/cli.py builds it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from rlvr import RlvrError
from rlvr.cli.audit import add_arguments, run

REPO = Path(__file__).resolve().parents[2]


def audit(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="rlvr audit")
    add_arguments(parser)
    return run(parser.parse_args(list(argv)))


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    """`examples.weak_verifiers:...` resolves from the repository root, as a user would run it; the test
    checkers from tests/audit."""
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "path", [str(REPO / "tests" / "audit"), *sys.path])  # checkers_for_tests


def test_math_suite_passes_our_verifier_and_writes_json_and_html(tmp_path, capsys):
    out, page = tmp_path / "audit.json", tmp_path / "audit.html"
    assert audit("math", "--n-tasks", "4", "--json", str(out), "--html", str(page)) == 0
    summary = json.loads(out.read_text())["summary"]
    assert summary["coverage"] >= 0.99 and summary["verdict"] == "worth trying RLVR"
    assert summary["sources"]["suite"] >= 100 and summary["sources"]["mutations"] >= 80
    assert page.read_text().startswith('<section class="rlvr-audit">')
    assert "verdict           worth trying RLVR" in capsys.readouterr().out


def test_last_number_check_is_called_exploitable_and_its_false_positives_listed(tmp_path, capsys):
    out = tmp_path / "audit.json"
    assert audit("examples.weak_verifiers:last_number", "--suite", "math", "--n-tasks", "4",
                 "--json", str(out)) == 1
    report = json.loads(out.read_text())
    assert report["summary"]["coverage"] < 0.7 and report["summary"]["verdict"] == "exploitable"
    false_positives = [c for c in report["worst"] if c["passed"] and not c["should_pass"]]
    assert false_positives and "FP " in capsys.readouterr().out
    rewarded = {c["completion"] for c in report["cases"] if c["passed"] and not c["should_pass"]}
    assert "The answer is 1073." in rewarded and "\\boxed{0}\nActually the answer is 1073." in rewarded


def test_syntax_only_sql_check_is_called_exploitable(tmp_path):
    out = tmp_path / "audit.json"
    assert audit("examples.weak_verifiers:sql_syntax_only", "--suite", "sql", "--n-tasks", "6",
                 "--json", str(out)) == 1
    report = json.loads(out.read_text())
    assert report["summary"]["verdict"] == "exploitable" and report["summary"]["false_positive_rate"] > 0.8
    rewarded = {c["completion"] for c in report["cases"] if c["passed"] and not c["should_pass"]}
    assert "SELECT name FROM customers WHERE 1=1" in rewarded


def test_a_user_function_with_user_cases(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(json.dumps({"completion": str(i), "reference": "1", "should_pass": i == 1})
                               for i in range(4)) + "\n")
    out = tmp_path / "audit.json"
    args = ("checkers_for_tests:accept_everything", "--cases", str(cases), "--json", str(out))
    assert audit(*args) == 1
    assert json.loads(out.read_text())["summary"]["coverage"] == pytest.approx(0.25)
    assert audit(*args, "--min-coverage", "0.25") == 0


def test_an_eval_run_relabelled_by_an_independent_checker(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": i, "prompt": "p", "reference": r}) + "\n"
                             for i, r in (("a", "7"), ("b", "12"))))
    samples = [{"task_id": "a", "text": "\\boxed{7}"}, {"task_id": "a", "text": "\\boxed{7.0}"},
               {"task_id": "b", "text": "\\boxed{13}"}]
    run_file = tmp_path / "eval.json"
    run_file.write_text(json.dumps({"tasks_source": str(tasks), "samples": samples}))
    out = tmp_path / "audit.json"
    assert audit("math", "--suite", "math", "--n-tasks", "2", "--eval", str(run_file),
                 "--checker", "checkers_for_tests:exact_box", "--json", str(out), "--min-coverage", "0") == 0
    report = json.loads(out.read_text())
    assert report["summary"]["sources"]["eval"] == 3
    row = next(r for r in report["tags"] if r["tag"] == "eval/relabelled")
    # The checker refuses 7.0, which math accepts: by the checker's labels, one false positive.
    assert (row["cases"], row["false_positives"], row["false_negatives"]) == (3, 1, 0)


@pytest.mark.parametrize("argv, message", [
    (["math", "--eval", "eval.json"], "--eval and --checker go together"),
    (["checkers_for_tests:accept_everything"], "nothing to audit"),
    (["no_such_verifier", "--suite", "math"], "unknown verifier 'no_such_verifier'"),
    (["no_such_module:check", "--suite", "math"], "cannot import verifier module"),
    (["math", "--min-coverage", "2"], "--min-coverage must be between 0 and 1"),
    (["math", "--cases", "missing.jsonl"], "does not exist"),
])
def test_bad_input_is_one_sentence(argv, message):
    with pytest.raises(RlvrError) as info:
        audit(*argv)
    text = str(info.value)
    assert message in text and "\n" not in text and text.endswith(".")


# --strict-references: an unreadable reference is bad input, before any case runs
def test_strict_references_stop_the_audit_with_one_sentence(tmp_path, capsys):
    from rlvr.cli import main

    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"completion": "\\boxed{12:00}", "reference": "12:00 or noon", "should_pass": True,
                                 "tag": "legit/clock"}) + "\n")
    out = tmp_path / "audit.json"
    argv = ["audit", "math", "--cases", str(cases), "--processes", "1", "--json", str(out), "--strict-references"]
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlvr")]  # no progress bars
    assert len(lines) == 1 and lines[0].startswith("rlvr: error: math cannot read 1 of "), lines
    assert "12:00 or noon" in lines[0] and lines[0].endswith(".")
    assert not out.exists()  # nothing written
