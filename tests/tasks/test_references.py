"""Unreadable references are found before any sampling: a task whose verifier cannot read its reference scores
0 whatever the completion, so `rlvr tasks show`, `rlvr eval`, `rlvr train` and `rlvr audit` name them first
(a warning; an error with --strict-references / data.strict_references=true)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rlvr._errors import DataError
from rlvr.cli import main
from rlvr.tasks import load_tasks
from rlvr.tasks.judge import check_references, unreadable_references
from rlvr.verifiers import get_verifier

ROWS = [
    {"id": "ok", "prompt": "What is 3 + 4 ?", "reference": "7", "verifier": "math"},
    {"id": "clock", "prompt": "What time is it?", "reference": "12:00 or noon", "verifier": "math"},
    {"id": "words", "prompt": "Name it.", "reference": "it is the answer 12", "verifier": "math"},
    {"id": "relation", "prompt": "Solve x + 1 > 3.", "reference": "x > 2", "verifier": "math"},
]


@pytest.fixture
def task_file(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return path


def test_the_math_verifier_says_why_a_reference_is_unreadable():
    math = get_verifier("math")
    assert math.check_reference("x > 2") is None and math.check_reference(r"\text{Evelyn}") is None
    assert math.check_reference(r"\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix}") is None
    reason = math.check_reference(r"\int_0^1 x \, dx")
    assert reason is not None and reason.endswith(".") and "\\int" in reason
    assert math.check_reference(True) is not None
    assert get_verifier("code").check_reference({"anything": 1}) is None  # the default cannot tell


def test_unreadable_references_are_listed_with_their_reason(task_file):
    found = unreadable_references(load_tasks(task_file))
    assert [task_id for task_id, _ in found] == ["clock", "words"]
    assert all(reason.endswith(".") for _, reason in found)


def test_a_warning_by_default_and_an_error_when_strict(task_file):
    tasks = load_tasks(task_file)
    with pytest.warns(UserWarning, match=r"tasks.jsonl: 2 of 4 tasks have a reference .*first: 'clock'"):
        check_references(tasks, str(task_file))
    with pytest.raises(DataError, match="2 of 4 tasks") as info:
        check_references(tasks, str(task_file), strict=True)
    assert "\n" not in str(info.value)
    readable = [t for t in tasks if t.id in ("ok", "relation")]
    assert check_references(readable, str(task_file), strict=True) == []


def test_tasks_show_lists_them(task_file, capsys):
    with pytest.warns(UserWarning):
        assert main(["tasks", "show", str(task_file)]) == 0
    out = capsys.readouterr().out
    assert "unreadable references: 2" in out and "  clock: " in out and "  words: " in out
    assert main(["tasks", "show", str(task_file), "--strict-references"]) == 1


def test_tasks_show_warns_on_stderr_as_eval_does(task_file, capsys):
    with pytest.warns(UserWarning, match=r"tasks.jsonl: 2 of 4 tasks have a reference .*first: 'clock' .*'words'"):
        assert main(["tasks", "show", str(task_file)]) == 0
    assert main(["tasks", "show", str(task_file), "--strict-references"]) == 1  # listed, and one line why
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["rlvr tasks show: 2 of 4 tasks have a reference their verifier cannot read (--strict-references)."]


def test_tasks_show_warning_reaches_stderr(task_file):
    """Out of pytest's warning capture: the warning is on stderr, the listing on stdout."""
    run = subprocess.run([sys.executable, "-c", "import sys; from rlvr.cli import main; sys.exit(main(sys.argv[1:]))",
                          "tasks", "show", str(task_file)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "2 of 4 tasks have a reference their verifier cannot read" in run.stderr and "'clock'" in run.stderr
    assert "unreadable references: 2" in run.stdout and "cannot read" not in run.stdout


@pytest.mark.parametrize("command", [
    "eval --model no-such-model --tasks {file} --k 1 --strict-references",
    "train model=no-such-model data.train={file} --strict-references",
    "train model=no-such-model data.train={file} data.strict_references=true",
])
def test_strict_references_stop_eval_and_train_before_the_model_loads(command, task_file, tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.chdir(tmp_path)
    assert main(command.format(file=task_file).split()) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlvr: error: ") and "2 of 4 tasks" in lines[0], err
    assert "'clock'" in lines[0] and "loading" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.jsonl"]  # nothing written


def test_eval_warns_without_the_flag(task_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match="--strict-references"):
        main(["eval", "--model", "no-such-model", "--tasks", str(task_file), "--k", "1"])  # then the model fails


def test_audit_names_unreadable_references_before_it_runs(tmp_path, capsys):
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"completion": "\\boxed{12:00}", "reference": "12:00 or noon", "should_pass": True,
                                 "tag": "legit/clock"}) + "\n")
    main(["audit", "math", "--cases", str(cases), "--processes", "1", "--min-coverage", "0"])
    err = capsys.readouterr().err
    assert "math cannot read 1 of " in err and "12:00 or noon" in err  # the built-in suite's all read
