"""The trainer under `accelerate launch` with 2 CPU processes (gloo): ranks share work, stay in sync;
the recipes in examples/accelerate/: ddp.yaml runs, sharded launches (FSDP, DeepSpeed) are refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import save_tiny_model

HERE = Path(__file__).parent


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate's launcher is not on PATH")
def test_two_cpu_processes_train_in_sync(tmp_path):
    tiny_run(tmp_path, optim={"lr": 1e-3, "micro_batch": 3},
             run={"steps": 3, "checkpoint_every": 1, "output_dir": str(tmp_path / "run")})
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


ROOT = HERE.parent.parent


def tiny_run(tmp_path: Path, **sections: dict) -> Path:
    """A tiny model, 8 tasks and a 2-step config in tmp_path; returns the config file."""
    save_tiny_model(tmp_path / "model")
    tasks = [{"id": f"t{i}", "prompt": f"What is {i} + {i + 1} ?", "reference": str(2 * i + 1),
              "verifier": "rewards_for_tests:even_words"} for i in range(8)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    config = {
        "model": str(tmp_path / "model"),
        "sampling": {"max_new_tokens": 6, "batch_size": 16},
        "algo": {"group_size": 4, "beta": 0.05},
        "optim": {"lr": 1e-2, "micro_batch": 3},
        "data": {"train": str(tmp_path / "train.jsonl"), "prompts_per_step": 4},
        # seed 4: both steps draw groups with mixed rewards on both ranks, so both steps train
        "run": {"steps": 2, "checkpoint_every": 1, "seed": 4, "output_dir": str(tmp_path / "run")},
        **sections,
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path / "config.yaml"


def launch(config_file: str, train_config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(HERE), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        ["accelerate", "launch", "--config_file", str(ROOT / "examples" / "accelerate" / config_file),
         "-m", "rlvr.cli", "train", str(train_config)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate's launcher is not on PATH")
def test_ddp_recipe_trains_lora_in_sync(tmp_path):
    pytest.importorskip("peft")
    proc = launch("ddp.yaml", tiny_run(tmp_path, lora={"enabled": True, "r": 4, "alpha": 8}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert {s["rank"] for s in samples} == {0, 1} and all(m["prompts/drawn"] == 4 for m in metrics)
    sync = [json.loads(line) for line in (run / "sync.jsonl").read_text().splitlines()]
    assert [s["step"] for s in sync] == [1, 2]
    assert all(len(s["checksums"]) == 2 and s["checksums"][0] == s["checksums"][1] for s in sync)
    assert metrics[0]["rows/trained"] > 0 and metrics[-1]["kl"] > 0  # the adapters trained, identically
    assert (run / "checkpoints" / "step-2" / "adapter_model.safetensors").exists()
    assert (run / "model" / "model.safetensors").exists()  # rank 0 merged and saved the model


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate's launcher is not on PATH")
def test_fsdp_recipe_is_refused_rather_than_silently_replicated(tmp_path):
    proc = launch("fsdp.yaml", tiny_run(tmp_path))
    assert proc.returncode != 0
    assert "rlvr: error: rlvr train is data-parallel only and does not shard with FSDP" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_deepspeed_launch_is_refused(monkeypatch):
    from rlvr._errors import ConfigError
    from rlvr.train.distributed import Dist

    for name, stage in (("deepspeed_zero2.yaml", 2), ("deepspeed_zero3.yaml", 3)):
        recipe = yaml.safe_load((ROOT / "examples" / "accelerate" / name).read_text())
        assert recipe["distributed_type"] == "DEEPSPEED" and recipe["deepspeed_config"]["zero_stage"] == stage
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # what `accelerate launch` sets for those files
    with pytest.raises(ConfigError, match="does not shard with DeepSpeed"):
        Dist()
