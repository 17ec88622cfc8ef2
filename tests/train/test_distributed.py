"""The trainer under `accelerate launch` with 2 CPU processes (gloo): ranks share work, stay in sync."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import make_tiny_policy

HERE = Path(__file__).parent


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate's launcher is not on PATH")
def test_two_cpu_processes_train_in_sync(tmp_path):
    tiny = make_tiny_policy()
    tiny.model.save_pretrained(tmp_path / "model")
    tiny.tokenizer.save_pretrained(tmp_path / "model")
    tasks = [{"id": f"t{i}", "prompt": f"What is {i} + {i + 1} ?", "reference": str(2 * i + 1),
              "verifier": "rewards_for_tests:even_words"} for i in range(8)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    config = {
        "model": str(tmp_path / "model"),
        "sampling": {"max_new_tokens": 6, "batch_size": 16},
        "algo": {"group_size": 4, "beta": 0.05},
        "optim": {"lr": 1e-3, "micro_batch": 3},
        "data": {"train": str(tmp_path / "train.jsonl"), "prompts_per_step": 4},
        "run": {"steps": 3, "checkpoint_every": 1, "output_dir": str(tmp_path / "run")},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(HERE), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no",
         "--dynamo_backend", "no", "-m", "rlvr.cli", "train", str(tmp_path / "config.yaml")],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert all(m["prompts/drawn"] == 4 for m in metrics)  # two prompts on each of two ranks
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert {s["rank"] for s in samples} == {0, 1} and len(samples) == 3 * 4 * 4
    sync = [json.loads(line) for line in (run / "sync.jsonl").read_text().splitlines()]
    assert [s["step"] for s in sync] == [1, 2, 3]
    assert all(len(s["checksums"]) == 2 and s["checksums"][0] == s["checksums"][1] for s in sync)
    assert any(m["rows/trained"] > 0 for m in metrics)  # the ranks really trained, not just agreed
