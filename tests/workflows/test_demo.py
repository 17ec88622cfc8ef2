"""`rlvr demo` end to end on a tiny model with a tiny plan: every stage writes what it promises."""

from __future__ import annotations

import json
import re

import pytest

from conftest import save_tiny_model
from rlvr.cli import main
from rlvr.workflows.demo import Plan, run_demo


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "model"
    save_tiny_model(folder)
    return folder


def test_demo_runs_every_stage(tiny_model, tmp_path, capsys):
    plan = Plan(steps=2, train_tasks=8, prompts_per_step=2, group_size=4, eval_k=2, harder_tasks=4, max_new_tokens=6,
                seeds=2)
    record = run_demo(str(tiny_model), tmp_path, plan, progress=False)
    out = capsys.readouterr().out
    for name in ("train", "heldout", "harder", "train_curated"):
        assert (tmp_path / "tasks" / f"{name}.jsonl").exists()
    for arm in ("real", "random", "format", "real-seed1", "random-seed1", "format-seed1"):
        metrics = (tmp_path / arm / "metrics.jsonl").read_text().splitlines()
        assert len(metrics) == 2
        assert set(json.loads((tmp_path / arm / "eval" / "final.json").read_text())["sets"]) == {"heldout", "harder"}
    assert set(record["comparison"]["sets"]) == {"heldout", "harder"}
    assert 0.0 <= record["base_rate"] <= 1.0
    assert [a["name"] for a in record["spurious"]["arms"]] == ["real", "random", "format"]
    assert record["spurious"]["random_p"] == 0.5 and record["spurious"]["seeds"] == [0, 1]
    for arm in record["spurious"]["arms"]:  # what each arm trained on, per seed
        assert [s["seed"] for s in arm["seeds"]] == [0, 1] and arm["rows_trained"] >= 0
    assert json.loads((tmp_path / "demo.json").read_text())["timings_s"]["total"] > 0
    assert (tmp_path / "report.html").exists() and record["report"] == str(tmp_path / "report.html")
    assert "rlvr train" in (tmp_path / "grpo.yaml").read_text()  # the config says how to rerun it
    assert "== what 2 GRPO steps bought" in out and "verdict on heldout" in out and "report:" in out
    assert "neutral pass@1" in out and "verdict per seed" in out and "trained" in out and "conclusion:" in out
    assert "{" not in out[out.index("== what 2 GRPO steps"):]  # every placeholder of the closing lines is filled
    assert re.search(r"= format [+-]\d\.\d{3} .* accuracy [+-]\d\.\d{3}", out)


def test_demo_replaces_only_an_earlier_demo(tiny_model, tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("x")
    assert main(["demo", "--model", str(tiny_model), "--output-dir", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").read_text() == "x"
    assert main(["demo", "--model", str(tmp_path / "no-such-model"), "--output-dir", str(tmp_path / "d")]) == 2
    assert not (tmp_path / "d").exists()
    from rlvr.workflows.demo import prepare as _prepare

    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "demo.json").write_text("{}")
    (earlier / "old.txt").write_text("x")
    _prepare(earlier)
    assert earlier.exists() and not any(earlier.iterdir())
