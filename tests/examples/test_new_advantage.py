"""docs/extending.md, a new advantage estimator: registered from a file of the user's own, then one training
step of a tiny model with it, chosen and configured by name like a built-in one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from conftest import save_tiny_model
from doc_examples import run_example

REWARDS = Path(__file__).resolve().parents[1] / "train"  # rewards_for_tests: varied scores for a random model


@pytest.fixture
def setup(tmp_path, monkeypatch):
    save_tiny_model(tmp_path / "model")
    tasks = [{"id": f"t{i}", "prompt": f"What is {i} + {i + 1} ?", "reference": str(2 * i + 1),
              "verifier": "rewards_for_tests:even_words"} for i in range(4)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    config = {"model": str(tmp_path / "model"), "sampling": {"max_new_tokens": 6, "batch_size": 16},
              "algo": {"group_size": 4}, "optim": {"lr": 1e-3, "micro_batch": 8},
              "data": {"train": str(tmp_path / "train.jsonl"), "prompts_per_step": 2, "verifier_workers": 1,
                       "dynamic_filter": True},
              "run": {"steps": 1, "seed": 3, "output_dir": str(tmp_path / "run")}, "plugins": ["rewards_for_tests"]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REWARDS), os.environ.get("PYTHONPATH", "")]))
    return tmp_path


def test_an_advantage_estimator_added_from_outside_the_package_trains_a_step(setup):
    out = run_example("advantage", setup, "centred.py", "config.yaml", "algo.advantage.scale=0.5")
    assert out.returncode == 0, out.stderr
    run = setup / "run"
    assert yaml.safe_load((run / "config.yaml").read_text())["algo"]["advantage"] == {"name": "centred",
                                                                                     "scale": 0.5}
    (step,) = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert step["rows/trained"] > 0 and step["loss"] == step["loss"]  # the step trained, on a finite loss
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for first in range(0, len(samples), 4):  # one group each; the advantages are the estimator's, 0.5 (r - mean r)
        group = samples[first:first + 4]
        mean = sum(s["reward"] for s in group) / len(group)
        assert [s["advantage"] for s in group] == pytest.approx([0.5 * (s["reward"] - mean) for s in group])


def test_its_options_are_checked_like_a_built_in_one(setup):
    out = run_example("advantage", setup, "centred.py", "config.yaml", "algo.advantage.scale=-1")
    assert out.returncode != 0 and not (setup / "run").exists()  # refused before anything is written
    assert "ConfigError: algo.advantage.scale must be >= 0, got -1.0." in out.stderr
