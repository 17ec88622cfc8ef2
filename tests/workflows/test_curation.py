"""Curation keeps the prompts in the pass-rate band and reports every band."""

from __future__ import annotations

import json

import pytest

from rlvr._errors import ConfigError, DataError
from rlvr.cli import main
from rlvr.tasks import Task, load_tasks
from rlvr.workflows.curation import curate, pass_rates

RATES = {"a": 0.0, "b": 0.125, "c": 0.375, "d": 0.5, "e": 0.625, "f": 0.875, "g": 1.0}
TASKS = [Task(id=i, prompt="p", reference="1") for i in RATES]


def test_keeps_the_band_and_counts_every_band():
    kept, counts = curate(TASKS, RATES, 0.3, 0.7)
    assert [t.id for t in kept] == ["c", "d", "e"]
    assert kept[0].meta["pass_rate"] == 0.375
    assert list(counts.values()) == [1, 1, 3, 1, 1]


def test_bad_band_and_missing_rates():
    with pytest.raises(ConfigError):
        curate(TASKS, RATES, 0.8, 0.2)
    with pytest.raises(DataError, match="no pass rate for task 'a'"):
        curate(TASKS, {}, 0.3, 0.7)


def test_cli_curates_from_an_eval_file(tmp_path, capsys):
    tasks_file = tmp_path / "tasks.jsonl"
    tasks_file.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in TASKS))
    record = {"settings": {"k": 8}, "tasks": [{"id": i, "n": 8, "passed": round(r * 8)} for i, r in RATES.items()]}
    (tmp_path / "eval.json").write_text(json.dumps(record))
    assert pass_rates(record)["c"] == 0.375
    out = tmp_path / "kept.jsonl"
    assert main(["curate", "--tasks", str(tasks_file), "--from-eval", str(tmp_path / "eval.json"), "-o", str(out)]) == 0
    assert [t.id for t in load_tasks(out)] == ["c", "d", "e"]
    assert "kept 3 of 7" in capsys.readouterr().out
    assert main(["curate", "--tasks", str(tasks_file), "--from-eval", str(tmp_path / "eval.json"),
                 "--band", "0.9", "0.95", "-o", str(tmp_path / "none.jsonl")]) == 2
    assert not (tmp_path / "none.jsonl").exists()


def test_rates_by_mean_reward_keep_prompts_a_shaped_reward_can_teach():
    record = {"tasks": [{"id": "never", "n": 8, "passed": 0, "mean_reward": 0.0},
                        {"id": "format_only", "n": 8, "passed": 0, "mean_reward": 0.05},
                        {"id": "solved", "n": 8, "passed": 8, "mean_reward": 1.0}]}
    assert pass_rates(record) == {"never": 0.0, "format_only": 0.0, "solved": 1.0}
    assert pass_rates(record, by="reward") == {"never": 0.0, "format_only": 0.05, "solved": 1.0}
    with pytest.raises(ConfigError, match="'passed' or 'reward'"):
        pass_rates(record, by="mean")


def test_cli_curates_by_sampling_with_the_shared_sampler_options(tmp_path, capsys, monkeypatch):
    """--model samples with every sampler option eval and distill take (top-p, top-k, batch size too)."""
    from pathlib import Path

    from conftest import save_tiny_model

    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # rewards_for_tests
    model = save_tiny_model(tmp_path / "model")
    tasks = [{"id": f"t{i}", "prompt": f"Say {i}", "reference": str(i), "verifier": "rewards_for_tests:even_words"}
             for i in range(4)]
    tasks_file = tmp_path / "tasks.jsonl"
    tasks_file.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    out = tmp_path / "kept.jsonl"
    args = ["curate", "--allow-plugin", "rewards_for_tests", "--tasks", str(tasks_file),  # its tasks name rewards
            "--model", str(model), "--k", "4", "--max-new-tokens", "4",
            "--top-k", "20", "--top-p", "0.9", "--batch-size", "3", "--band", "0", "1", "-o", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "kept.jsonl.eval.json").read_text())
    assert {k: record["settings"][k] for k in ("k", "top_k", "top_p", "max_new_tokens")} == {
        "k": 4, "top_k": 20, "top_p": 0.9, "max_new_tokens": 4}
    assert len(load_tasks(out)) == 4
    assert main([*args[:-2], "--top-p", "0", "-o", str(tmp_path / "bad.jsonl")]) == 2  # before any model loads
    assert "top_p" in capsys.readouterr().err and not (tmp_path / "bad.jsonl").exists()
