"""Audit cases: strict JSONL loading with file:line errors, and cases relabelled from an eval run."""

from __future__ import annotations

import json

import pytest

from rlvr import DataError
from rlvr.audit import AuditCase, cases_from_eval, load_cases, write_cases
from rlvr.tasks import Task
from rlvr.verifiers import allow_plugins, get_verifier


@pytest.fixture(autouse=True)
def _trust_test_modules():
    """The "module:function" paths below name the checks of checkers_for_tests.py: the tests opt in, as a user
    would."""
    allow_plugins("checkers_for_tests")


def write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_load_skips_comments_and_blank_lines_and_defaults_the_tag(tmp_path):
    path = write(tmp_path / "mine.jsonl", [
        "# where these cases came from",
        json.dumps({"completion": "\\boxed{2}", "reference": "2", "should_pass": True, "tag": "legit/x"}),
        "",
        json.dumps({"completion": "2", "reference": "2", "should_pass": False, "note": "no box",
                    "meta": {"row": 7}}),
    ])
    first, second = load_cases(path)
    assert (first.tag, first.should_pass) == ("legit/x", True)
    assert (second.tag, second.note, second.meta) == ("user/mine", "no box", {"row": 7})


@pytest.mark.parametrize("line, message", [
    ("{not json", "not valid JSON"),
    (json.dumps({"completion": "x", "reference": "1"}), "missing 'should_pass'"),
    (json.dumps({"completion": "x", "reference": "1", "should_pass": "yes"}), "must be true or false"),
    (json.dumps({"completion": "x", "reference": "1", "should_pass": True, "refrence": 2}), "unknown key 'refrence'"),
    (json.dumps({"completion": 3, "reference": "1", "should_pass": True}), "'completion' must be a string"),
    (json.dumps([1, 2]), "expected a JSON object"),
])
def test_a_bad_line_names_file_and_line(tmp_path, line, message):
    good = json.dumps({"completion": "x", "reference": "1", "should_pass": True})
    path = write(tmp_path / "cases.jsonl", [good, line])
    with pytest.raises(DataError) as info:
        load_cases(path)
    assert f"{path}:2:" in str(info.value) and message in str(info.value)


def test_missing_and_empty_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_cases(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="holds no cases"):
        load_cases(write(tmp_path / "empty.jsonl", ["# only a header"]))


def test_write_then_load_round_trips(tmp_path):
    cases = [AuditCase("a", {"db": "x", "gold": "SELECT 1"}, False, "hack/y", "why", {"k": 1})]
    write_cases(cases, tmp_path / "out.jsonl")
    assert load_cases(tmp_path / "out.jsonl") == cases


def eval_file(tmp_path, samples):
    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"rlvr_eval": 1, "tasks_source": "", "samples": samples, "tasks": []}))
    return path


def test_eval_samples_become_cases_labelled_by_the_checker(tmp_path):
    tasks = [Task("a", "What is 3 + 4?", "7"), Task("b", "What is 2 * 6?", "12")]
    path = eval_file(tmp_path, [
        {"task_id": "a", "sample": 0, "text": "7", "reward": 1.0},
        {"task_id": "a", "sample": 1, "text": "The answer is 7.", "reward": 1.0},
        {"task_id": "b", "sample": 0, "text": "13", "reward": 0.0},
    ])
    checker = get_verifier("checkers_for_tests:exact_text", isolated=False)
    cases = cases_from_eval(path, tasks, checker, "exact_text")
    assert [(c.completion, c.reference, c.should_pass) for c in cases] == [
        ("7", "7", True), ("The answer is 7.", "7", False), ("13", "12", False)]
    assert {c.tag for c in cases} == {"eval/relabelled"} and cases[1].meta["eval_reward"] == 1.0


def test_eval_sample_of_an_unknown_task_is_a_data_error(tmp_path):
    path = eval_file(tmp_path, [{"task_id": "zzz", "text": "1"}])
    with pytest.raises(DataError, match="'zzz'.*--tasks"):
        cases_from_eval(path, [Task("a", "p", "1")], get_verifier("math", isolated=False))


def test_a_file_without_samples_is_not_an_eval_file(tmp_path):
    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"summary": {}}))
    with pytest.raises(DataError, match="no 'samples' list"):
        cases_from_eval(path, [], get_verifier("math", isolated=False))
