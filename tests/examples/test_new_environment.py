"""docs/extending.md, a new environment: a user's 20-line class trains end to end from `rlvr train`, on whole
episodes, and `rlvr eval` writes its episodes' turns. The module is allowed as any plugin (`plugins:` in the
config, `--allow-plugin` on the command line): a task file alone runs no code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from conftest import save_tiny_model
from doc_examples import MAX_LINES, examples


def rlvr(folder, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]),
           "TRANSFORMERS_VERBOSITY": "error"}
    return subprocess.run([sys.executable, "-m", "rlvr.cli", *args], cwd=folder, capture_output=True, text=True,
                          timeout=900, env=env)


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_user_environment_trains_end_to_end_and_eval_reads_its_episodes(tmp_path):
    code = examples()["environment"]
    assert len(code.splitlines()) <= MAX_LINES
    (tmp_path / "guess.py").write_text(code)
    save_tiny_model(tmp_path / "model", eos_logit=3.0)  # a random model that ends its turns by itself
    tasks = [{"id": f"g{i}", "prompt": f"What is {i} + 1 ?", "reference": str(i + 1),
              "env": {"name": "guess:Guess", "max_turns": 3, "max_tokens": 60}} for i in range(4)]
    (tmp_path / "guess.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    config = {"model": str(tmp_path / "model"), "sampling": {"max_new_tokens": 6, "batch_size": 16},
              "algo": {"group_size": 4}, "optim": {"lr": 1e-3, "micro_batch": 8},
              "data": {"train": "guess.jsonl", "prompts_per_step": 2, "verifier_workers": 1},
              "run": {"steps": 2, "seed": 3, "output_dir": "run"}, "plugins": ["guess"]}
    (tmp_path / "guess.yaml").write_text(yaml.safe_dump(config))

    trained = rlvr(tmp_path, "train", "guess.yaml")
    assert trained.returncode == 0, trained.stderr[-3000:]
    metrics, samples = read(tmp_path / "run" / "metrics.jsonl"), read(tmp_path / "run" / "samples.jsonl")
    assert [m["step"] for m in metrics] == [1, 2] and sum(m["rows/trained"] for m in metrics) > 0
    assert all(s["turns"][0] == {"role": "user", "text": tasks[0]["prompt"]} or s["turns"][0]["role"] == "user"
               for s in samples)
    assert any(sum(t["role"] == "assistant" for t in s["turns"]) > 1 for s in samples)  # several turns
    assert any(t["text"] in ("Higher.", "Lower.", "Say a number.") for s in samples for t in s["turns"])

    evaluated = rlvr(tmp_path, "eval", "--model", "run/checkpoints/step-2", "--tasks", "guess.jsonl", "--k", "2",
                     "--max-new-tokens", "6", "-o", "eval.json", "--allow-plugin", "guess")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    record = json.loads((tmp_path / "eval.json").read_text())
    assert len(record["samples"]) == 8 and all("turns" in s and s["stop"] for s in record["samples"])

    refused = rlvr(tmp_path, "eval", "--model", "run/checkpoints/step-2", "--tasks", "guess.jsonl", "--k", "1")
    assert refused.returncode == 2 and "guess" in refused.stderr and "allow" in refused.stderr
