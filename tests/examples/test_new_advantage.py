"""docs/extending.md, a new advantage estimator: registered from a file of the user's own, then one training
step of a tiny model with it, chosen and configured by name like a built-in one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from conftest import write_tiny_run
from doc_examples import run_example

REWARDS = Path(__file__).resolve().parents[1] / "train"  # rewards_for_tests: varied scores for a random model


@pytest.fixture
def setup(tmp_path, monkeypatch):
    write_tiny_run(tmp_path, sampling={"max_new_tokens": 6, "batch_size": 16}, data={"dynamic_filter": True})
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
