"""docs/extending.md, a new command: added from outside the package to rlvr's command line, then run."""

from __future__ import annotations

import json

from doc_examples import run_example


def test_a_command_added_from_outside_the_package_runs_with_rlvrs_error_handling(tmp_path):
    rows = [{"id": f"t{i}", "prompt": f"What is {i} + 1 ?", "reference": str(i + 1),
             "split": "test" if i == 0 else "train"} for i in range(3)]
    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = run_example("command", tmp_path, "count_tasks.py", "count-tasks", "tasks.jsonl")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["test: 1 tasks", "train: 2 tasks"]

    out = run_example("command", tmp_path, "count_tasks.py", "count-tasks", "missing.jsonl")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("rlvr: error: ") and "missing.jsonl" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1

    out = run_example("command", tmp_path, "count_tasks.py", "--help")
    assert out.returncode == 0 and "count-tasks" in out.stdout and "eval" in out.stdout  # beside the built-ins


def test_a_command_missing_a_part_or_taking_a_built_in_name_is_refused_in_one_sentence():
    import types

    import pytest

    from rlvr._errors import ConfigError
    from rlvr.cli import register_command

    whole = types.SimpleNamespace(SUMMARY="s", EXAMPLE="e", add_arguments=lambda parser: None, run=lambda args: 0)
    with pytest.raises(ConfigError, match="has no run"):
        register_command("half", types.SimpleNamespace(SUMMARY="s", EXAMPLE="e", add_arguments=print))
    with pytest.raises(ConfigError, match="there is a command named 'eval' already"):
        register_command("eval", whole)
    with pytest.raises(ConfigError, match="a command name is a word"):
        register_command("two words", whole)
