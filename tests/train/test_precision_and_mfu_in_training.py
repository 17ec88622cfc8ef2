"""A tiny training run's sampling precision (auto resolved into config.yaml, the mismatch correction's default for
a bf16 sampler) and its MFU metrics, with the peak printed once at the start."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from conftest import save_tiny_model
from rlvr.models.precision import resolve_precision
from rlvr.train.config import load_config
from rlvr.train.trainer import train

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("precision")
    save_tiny_model(root / "model")
    tasks = [{"id": f"t{i}", "prompt": f"What is {i} + {i + 1} ?", "reference": str(2 * i + 1),
              "verifier": "rewards_for_tests:even_words"} for i in range(6)]
    (root / "train.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    (root / "heldout.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks[:2]))
    config = {"model": str(root / "model"), "sampling": {"max_new_tokens": 4, "batch_size": 8},
              "algo": {"group_size": 4}, "optim": {"lr": 1e-3, "micro_batch": 8},
              "data": {"train": str(root / "train.jsonl"), "prompts_per_step": 2, "verifier_workers": 1,
                       "dynamic_filter": True, "eval_k": 2},
              "run": {"steps": 1, "seed": 3}, "plugins": ["rewards_for_tests"]}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


@pytest.fixture(autouse=True)
def importable_rewards(monkeypatch, setup):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("RLVR_CACHE", str(setup / "cache"))  # the peak probe's cache: this module's own


def run(setup: Path, out: Path, overrides: list[str]) -> tuple[dict, dict, list[dict]]:
    train(load_config(setup / "config.yaml", [f"run.output_dir={out}", *overrides]), progress=False)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return yaml.safe_load((out / "config.yaml").read_text()), json.loads((out / "eval" / "final.json").read_text()), \
        metrics


def test_bf16_sampling_turns_the_correction_on_and_logs_mfu(setup, tmp_path, capsys):
    config, final, (step,) = run(setup, tmp_path / "bf16", ["sampling.precision=bf16", "optim.mixed_precision=fp32",
                                                            f"data.eval={setup / 'heldout.jsonl'}"])
    assert config["sampling"]["precision"] == "bf16"
    assert config["algo"]["mismatch"] == {"name": "tis", "cap": 2.0, "cap_min": 0.0}  # unset: TIS, cap 2
    assert step["mismatch/abs_log_ratio"] > 1e-5  # the bf16 sampler's gap to the float32 trainer, corrected
    assert final["settings"]["precision"] == "bf16"  # the eval file says what sampled
    for key in ("mfu/generate", "mfu/update"):
        assert 0 < step[key] < float("inf"), key
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert out.count("peak matrix-product rate of this host") == 1


def test_a_set_correction_is_kept_and_fp32_sampling_has_none(setup, tmp_path):
    config, _, (step,) = run(setup, tmp_path / "none", ["sampling.precision=bf16", "algo.mismatch=none",
                                                        f"data.eval={setup / 'heldout.jsonl'}"])
    assert config["algo"]["mismatch"] == "none" and "mismatch/abs_log_ratio" not in step
    config, final, (step,) = run(setup, tmp_path / "fp32", [f"data.eval={setup / 'heldout.jsonl'}"])
    assert config["sampling"]["precision"] == "fp32" and config["algo"]["mismatch"] == "none"
    assert final["settings"]["precision"] == "fp32"
    assert "mfu/generate" in step and "mismatch/abs_log_ratio" not in step


def test_auto_is_written_resolved(setup, tmp_path):
    config, _, _ = run(setup, tmp_path / "auto", ["sampling.precision=auto", f"data.eval={setup / 'heldout.jsonl'}"])
    expected = resolve_precision("auto", "cpu")  # bf16 on a CPU with AVX512-BF16 or AMX, else fp32
    assert config["sampling"]["precision"] == expected
    assert config["algo"]["mismatch"] == ({"name": "tis", "cap": 2.0, "cap_min": 0.0} if expected == "bf16"
                                          else "none")
