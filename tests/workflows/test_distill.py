"""Rejection sampling: only verified completions are kept, shortest / diverse selection, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from rewards_for_tests import even_words

from conftest import make_tiny_policy
from rlvr.cli import main
from rlvr.evaluate import EvalSettings
from rlvr.models import HFEngine, SamplingParams
from rlvr.tasks import Task
from rlvr.verifiers import allow_plugins
from rlvr.workflows.distill import distill, select, sft_rows

HERE = Path(__file__).parent
SETTINGS = EvalSettings(SamplingParams(n=8, max_new_tokens=5, seed=1), verifier_workers=1)


@pytest.fixture(autouse=True)
def importable_rewards(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))


def make_tasks() -> list[Task]:
    tasks = [Task(id=f"t{i}", prompt=f"What is {i} + {i} ?", reference=str(2 * i),
                  verifier="rewards_for_tests:even_words") for i in range(4)]
    # A chat prompt keeps its messages in the dataset.
    chat = [{"role": "system", "content": "Reply with only the final number ."},
            {"role": "user", "content": "What is 7 + 1 ?"}]
    return [*tasks, Task(id="chat", prompt=chat, reference="8", verifier="rewards_for_tests:even_words")]


@pytest.fixture(scope="module")
def sampled():
    """One sampling run of the tiny model; every selection below reads the same record."""
    allow_plugins("rewards_for_tests")  # the tasks name its functions (conftest forbids it again after the test)
    tasks = make_tasks()
    rows, record = distill(HFEngine(make_tiny_policy(), batch_size=16), tasks, SETTINGS, "all", progress=False)
    return tasks, rows, record


def sample(i: int, text: str, passed: bool = True, tokens: int | None = None) -> dict:
    return {"sample": i, "text": text, "passed": passed, "reward": float(passed),
            "tokens": len(text.split()) if tokens is None else tokens}


def test_keep_all_writes_exactly_the_passing_completions(sampled):
    tasks, rows, record = sampled
    passing = [s for s in record["samples"] if s["passed"]]
    assert 0 < len(passing) < len(record["samples"])  # the reward splits the samples: the filter is tested
    assert len(rows) == len(passing) == record["distill"]["kept"] == record["distill"]["passed"]
    assert all(even_words(r["messages"][-1]["content"], None) == 1.0 and r["reward"] == 1.0 for r in rows)
    assert sorted((r["task_id"], r["messages"][-1]["content"]) for r in rows) == sorted(
        (s["task_id"], s["text"]) for s in passing)
    assert all(s["kept"] == s["passed"] for s in record["samples"])  # the record says which samples were kept


def test_rows_are_chat_examples_and_chat_prompts_keep_their_messages(sampled):
    tasks, rows, _ = sampled
    by_id = {t.id: t for t in tasks}
    for row in rows:
        task = by_id[row["task_id"]]
        *prompt, answer = row["messages"]
        expected = [{"role": "user", "content": task.prompt}] if isinstance(task.prompt, str) else task.prompt
        assert prompt == expected and answer["role"] == "assistant"


def test_shortest_keeps_the_shortest_passing_sample_of_each_task(sampled):
    tasks, _, record = sampled
    rows = sft_rows(tasks, record, "shortest")
    for task in tasks:
        passing = [s for s in record["samples"] if s["task_id"] == task.id and s["passed"]]
        kept = [r for r in rows if r["task_id"] == task.id]
        assert len(kept) == min(1, len(passing))
        if passing:
            chosen = next(s for s in passing if s["text"] == kept[0]["messages"][-1]["content"])
            assert chosen["tokens"] == min(s["tokens"] for s in passing)
    assert sum(s["kept"] for s in record["samples"]) == len(rows)


def test_shortest_and_per_task_on_a_table():
    samples = [sample(0, "the answer is 12"), sample(1, "12", passed=False), sample(2, "so 12"),
               sample(3, "12 .."), sample(4, "twelve", tokens=2)]
    assert [s["sample"] for s in select(samples, "shortest")] == [2]
    # Ties on tokens go to fewer characters (4 is last), then to sample order (2 before 3).
    assert [s["sample"] for s in select(samples, "shortest", per_task=3)] == [2, 3, 4]
    assert [s["sample"] for s in select(samples, "all", per_task=2)] == [0, 2]
    assert select([sample(0, "x", passed=False)], "all") == []


def test_diverse_keeps_distinct_dissimilar_texts():
    samples = [sample(0, "The answer is 12."), sample(1, "The answer is 12."), sample(2, "12"),
               sample(3, "The answer is  12."), sample(4, "Twelve, since 5 + 7 = 12."),
               sample(5, "The answer is 12!"), sample(6, "wrong", passed=False)]
    kept = select(samples, "diverse", per_task=3)
    texts = [s["text"] for s in kept]
    assert len(set(texts)) == len(texts) == 3 and "wrong" not in texts
    assert texts[0] == "12"  # the shortest starts the selection
    assert "Twelve, since 5 + 7 = 12." in texts  # far from the others, so picked before a near-duplicate
    # Without a cap: every distinct passing text once (the double-space variant is a distinct text).
    everything = select(samples, "diverse", per_task=100)
    assert sorted(s["text"] for s in everything) == sorted({s["text"] for s in samples if s["passed"]})


def test_diverse_on_real_samples_has_no_duplicate_text(sampled):
    tasks, _, record = sampled
    rows = sft_rows(tasks, record, "diverse", per_task=3)
    for task in tasks:
        texts = [r["messages"][-1]["content"] for r in rows if r["task_id"] == task.id]
        assert len(texts) == len(set(texts)) <= 3


def test_bad_keep_options_fail_before_sampling():
    from rlvr._errors import ConfigError

    with pytest.raises(ConfigError, match="keep must be one of"):
        select([], "longest")
    with pytest.raises(ConfigError, match="per_task must be at least 1"):
        select([], "all", per_task=0)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny") / "model"
    tiny = make_tiny_policy()
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    return folder


def write_tasks(path: Path, tasks: list[Task]) -> Path:
    path.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in tasks))
    return path


def test_cli_writes_dataset_eval_record_and_prints_the_yield(model_dir, tmp_path, capsys):
    tasks = write_tasks(tmp_path / "tasks.jsonl", make_tasks())
    out = tmp_path / "sft.jsonl"
    assert main(["distill", "--model", str(model_dir), "--tasks", str(tasks), "--k", "6", "--max-new-tokens", "5",
                 "--keep", "shortest", "-o", str(out), "--verifier-workers", "1",
                 "--allow-plugin", "rewards_for_tests"]) == 0
    printed = capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    record = json.loads((tmp_path / "sft.jsonl.eval.json").read_text())
    stats = record["distill"]
    assert stats["sampled"] == 5 * 6 == len(record["samples"]) and stats["kept"] == len(rows)
    assert f"yield: {stats['tasks_with_kept']} of 5 tasks" in printed and f"kept {len(rows)} of 30" in printed
    assert len({r["task_id"] for r in rows}) == len(rows) == stats["tasks_with_kept"]  # shortest: one per task
    assert not list(tmp_path.glob(".sft.jsonl*"))  # no temporary file left behind


def test_cli_errors_are_one_sentence(model_dir, tmp_path, capsys):
    assert main(["distill", "--model", str(model_dir), "--tasks", str(tmp_path / "nope.jsonl"), "-o",
                 str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlvr: error: ") and "nope.jsonl" in err[0]
    # Nothing passes: the eval record is written for the audit, the empty dataset is not.
    never = [Task(id="n", prompt="What is 1 + 1 ?", reference="2", verifier="rewards_for_tests:never")]
    tasks = write_tasks(tmp_path / "never.jsonl", never)
    out = tmp_path / "none.jsonl"
    assert main(["distill", "--model", str(model_dir), "--tasks", str(tasks), "--k", "2", "--max-new-tokens", "3",
                 "-o", str(out), "--verifier-workers", "1", "--allow-plugin", "rewards_for_tests"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlvr: ")]  # not the progress
    assert len(err) == 1 and "no sampled completion passed" in err[0]
    assert not out.exists() and (tmp_path / "none.jsonl.eval.json").exists()


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["distill", "--help"])
    assert "rlvr distill --model" in capsys.readouterr().out
