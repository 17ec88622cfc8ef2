"""`rlvr compare` and `rlvr gate` as functions of a typed job: the command and the pipeline's stage run the same
one, so they read, check, print and write alike."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import save_tiny_model
from rlvr._errors import ConfigError
from rlvr.cli import main
from rlvr.workflows import CompareJob, GateJob, gate_candidate, run_compare


def eval_file(path, passed: list[int], n: int = 8) -> str:
    path.write_text(json.dumps({"tasks": [{"id": f"t{i}", "n": n, "passed": c} for i, c in enumerate(passed)]}))
    return str(path)


def test_a_compare_job_prints_and_writes_what_rlvr_compare_does(tmp_path, capsys):
    base, trained = eval_file(tmp_path / "b.json", [1] * 40), eval_file(tmp_path / "t.json", [8] * 40)
    assert main(["compare", base, trained, "--resamples", "300", "--json", str(tmp_path / "cli.json")]) == 0
    printed = capsys.readouterr().out
    result = run_compare(CompareJob(base, trained, resamples=300, json=str(tmp_path / "job.json")))
    assert capsys.readouterr().out == printed and "mostly search compression" in printed
    assert (tmp_path / "job.json").read_text() == (tmp_path / "cli.json").read_text()
    assert result["sets"][next(iter(result["sets"]))]["verdict"] == "search_compression"


def test_a_compare_job_is_checked_whole_before_any_bootstrap(tmp_path):
    base = eval_file(tmp_path / "b.json", [1] * 4)
    with pytest.raises(ConfigError, match="has no partner"):  # an unpaired file, even before a missing one is read
        CompareJob(base, str(tmp_path / "missing.json"), more=(base,)).check()
    with pytest.raises(ConfigError, match="is the input file"):
        run_compare(CompareJob(base, base, json=base))
    assert json.loads((tmp_path / "b.json").read_text())["tasks"][0]["passed"] == 1  # the input is untouched


def test_a_gate_job_reads_its_rules_from_a_file_or_inline_alike(tmp_path, capsys):
    rules = {"rules": [{"metric": "pass@1", "max_drop": 0.02}, {"metric": "parseable", "min": 0.9}]}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"metrics": {"pass@1": 0.40, "parseable": 0.95}}))
    candidate = tmp_path / "candidate.json"
    candidate.write_text(json.dumps({"metrics": {"pass@1": 0.35, "parseable": 0.97}}))
    assert main(["gate", str(base), str(candidate), "--rules", str(tmp_path / "rules.yaml")]) == 1
    printed = capsys.readouterr().out
    from_file = gate_candidate(GateJob(str(base), str(candidate), rules=str(tmp_path / "rules.yaml")))
    inline = gate_candidate(GateJob(str(base), str(candidate), rules=rules, json=str(tmp_path / "gate.json")))
    assert capsys.readouterr().out == printed * 2 and "does not ship: 1 of 2 rules pass" in printed
    assert from_file == inline == json.loads((tmp_path / "gate.json").read_text())
    assert inline["shipped"] is False and [r["passed"] for r in inline["results"]] == [False, True]
    with pytest.raises(ConfigError, match="is the input file"):
        GateJob(str(base), str(candidate), rules=rules, json=str(candidate)).check()


@pytest.mark.parametrize("rules, message", [
    ("rules: [{metric: pass@1, min: 0.5}", r"stage 3 \(gate\): rules file .*rules.yaml is not valid YAML"),
    ({"rules": [{"metric": "pass@1"}]}, r"stage 3 \(gate\): rule 1 \(pass@1\) needs exactly one of"),
])
def test_a_pipeline_gate_reads_its_rules_as_rlvr_gate_does_before_any_stage_runs(tmp_path, capsys, rules, message):
    save_tiny_model(tmp_path / "model")
    (tmp_path / "tasks.jsonl").write_text(json.dumps({"id": "a", "prompt": "1 + 1 =", "reference": "2"}) + "\n")
    if isinstance(rules, str):
        (tmp_path / "rules.yaml").write_text(rules)
        rules = "rules.yaml"  # relative to the pipeline file's folder, as a stage's files are
    evaluation = {"tasks": "tasks.jsonl", "k": 2, "max_new_tokens": 4}
    config = {"output_dir": str(tmp_path / "out"), "model": str(tmp_path / "model"),
              "stages": [{"eval": {"name": "a", **evaluation}}, {"eval": {"name": "b", **evaluation}},
                         {"gate": {"baseline": "a", "candidate": "b", "rules": rules}}]}
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(config))
    assert main(["pipeline", str(tmp_path / "pipeline.yaml")]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()  # no stage ran: no model loaded, no folder made
