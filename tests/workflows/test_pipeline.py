"""`rlvr pipeline`: distill -> sft -> eval -> grpo -> eval -> compare -> gate on a tiny model, resume, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from conftest import save_tiny_model
from rlvr._errors import ConfigError
from rlvr.cli import main
from rlvr.workflows.pipeline import load_pipeline

TRAIN_HELPERS = Path(__file__).parent / "train"


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TRAIN_HELPERS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TRAIN_HELPERS), os.environ.get("PYTHONPATH", "")]))
    save_tiny_model(tmp_path / "model")
    for name, ids in (("train", range(6)), ("heldout", range(20, 24))):
        rows = [{"id": f"{name}{i}", "prompt": f"What is {i} + 1 ?", "reference": str(i + 1),
                 "verifier": "rewards_for_tests:even_words"} for i in ids]
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    grpo = {"sampling": {"max_new_tokens": 5, "batch_size": 16}, "algo": {"group_size": 4},
            "optim": {"lr": 1e-3}, "data": {"train": "train.jsonl", "prompts_per_step": 2},
            "run": {"steps": 1}}
    (tmp_path / "grpo.yaml").write_text(yaml.safe_dump(grpo))
    monkeypatch.chdir(tmp_path)  # the grpo config names train.jsonl relative to here
    return tmp_path


def pipeline(workdir: Path, gate_rule: dict) -> Path:
    evaluation = {"tasks": ["heldout.jsonl"], "k": 2, "max_new_tokens": 5}
    config = {
        "output_dir": str(workdir / "pipe"),
        "model": str(workdir / "model"),
        "stages": [
            {"distill": {"tasks": "train.jsonl", "k": 4, "max_new_tokens": 5}},
            {"sft": {"overrides": ["optim.epochs=1", "optim.lr=1e-3"]}},
            {"eval": {"name": "sft", **evaluation}},
            {"grpo": {"config": "grpo.yaml"}},
            {"eval": {"name": "grpo", **evaluation}},
            {"compare": {"base": "sft", "trained": "grpo"}},
            {"gate": {"baseline": "sft", "candidate": "grpo", "rules": {"rules": [gate_rule]}}},
        ],
    }
    path = workdir / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_pipeline_threads_the_model_through_every_stage_and_resumes(workdir, capsys):
    path = pipeline(workdir, {"metric": "pass@1", "min": 0.0})
    assert main(["pipeline", str(path), "--allow-plugin", "rewards_for_tests"]) == 0
    root = workdir / "pipe"
    stages = [json.loads((root / f"{i:02d}-{k}" / "stage.json").read_text())
              for i, k in enumerate(["distill", "sft", "eval", "grpo", "eval", "compare", "gate"], 1)]
    distilled = stages[0]["outputs"]["dataset"]
    assert all(r["reward"] == 1.0 for r in map(json.loads, Path(distilled).read_text().splitlines()))
    assert stages[1]["spec"]["dataset"] == distilled  # sft trained on the distilled set
    sft_model = stages[1]["outputs"]["model"]
    assert (Path(sft_model) / "config.json").exists()
    assert stages[2]["spec"]["model"] == sft_model  # the eval sampled the SFT model
    assert stages[3]["spec"]["model"] == sft_model  # GRPO started from it
    grpo_model = stages[3]["outputs"]["model"]
    assert stages[4]["spec"]["model"] == grpo_model != sft_model
    assert stages[6]["outputs"]["shipped"] is True
    assert (root / "04-grpo" / "metrics.jsonl").exists() and (root / "04-grpo" / "report.html").exists()
    page = (root / "report.html").read_text()
    assert "ships" in page and "04-grpo/report.html" in page

    # A rerun reuses every finished stage: nothing is trained again.
    before = (root / "04-grpo" / "metrics.jsonl").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["pipeline", str(path), "--allow-plugin", "rewards_for_tests"]) == 0
    assert capsys.readouterr().out.count("(finished earlier, reused)") == 7
    assert (root / "04-grpo" / "metrics.jsonl").stat().st_mtime_ns == before


def test_a_failing_gate_stops_the_pipeline_with_status_1(workdir, capsys):
    path = pipeline(workdir, {"metric": "pass@1", "min": 1.1})  # no model reaches pass@1 > 1
    assert main(["pipeline", str(path), "--allow-plugin", "rewards_for_tests"]) == 1
    assert "does not ship" in capsys.readouterr().out
    assert "does not ship" in (workdir / "pipe" / "report.html").read_text()


@pytest.mark.parametrize("stages, message", [
    ([{"train": {}}], "unknown stage 'train'"),
    ([{"eval": {"name": "a", "tasks": "t.jsonl", "kk": 2}}], "unknown option 'kk'"),
    ([{"sft": {}}], "has no dataset"),
    ([{"eval": {"name": "a", "tasks": "t.jsonl"}}, {"compare": {"base": "a", "trained": "b"}}],
     "must name an earlier eval"),
    ([{"eval": {"name": "a", "tasks": "t.jsonl"}}, {"eval": {"name": "a", "tasks": "t.jsonl"}}], "not used by"),
    ([], "non-empty `stages:`"),
])
def test_config_errors_are_caught_before_anything_runs(tmp_path, stages, message):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "out"), "stages": stages}))
    with pytest.raises(ConfigError, match=message):
        load_pipeline(path)
    assert not (tmp_path / "out").exists()


# -- the eval stage is `rlvr eval`: one EvalJob, one workflow ---------------------------------------------------
def test_an_eval_stage_writes_what_rlvr_eval_writes_with_the_same_options(workdir):
    options = {"tasks": ["heldout.jsonl"], "k": 2, "max_new_tokens": 5, "limit": 3, "split": "train"}
    config = {"output_dir": str(workdir / "pipe"), "model": str(workdir / "model"),
              "stages": [{"eval": {"name": "base", **options}}]}
    (workdir / "eval-only.yaml").write_text(yaml.safe_dump(config))
    assert main(["pipeline", str(workdir / "eval-only.yaml"), "--allow-plugin", "rewards_for_tests"]) == 0
    assert main(["eval", "--model", str(workdir / "model"), "--tasks", "heldout.jsonl", "--k", "2",
                 "--max-new-tokens", "5", "--limit", "3", "--split", "train", "-o", "cli.json",
                 "--allow-plugin", "rewards_for_tests"]) == 0
    stage, cli = (json.loads(p.read_text()) for p in (workdir / "pipe" / "01-eval" / "eval.json", workdir / "cli.json"))
    assert len(stage["tasks"]) == 3  # limit and split reached the stage
    assert stage["settings"] == cli["settings"] and stage["samples"] == cli["samples"]
    timing = ("tokens_per_s", "wall_s", "verify_s", "generate_s")
    assert {k: v for k, v in stage["summary"].items() if k not in timing} == \
        {k: v for k, v in cli["summary"].items() if k not in timing}
