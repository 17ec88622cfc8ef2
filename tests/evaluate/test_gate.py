"""The release gate on the regression example from the literature, and its error paths."""

from __future__ import annotations

import json

import pytest

from rlvr._errors import ConfigError
from rlvr.cli import main
from rlvr.evaluate.gate import metrics_of, parse_rules, run_gate

RULES = """
rules:
  - {metric: reasoning, min_delta: 0.0}
  - {metric: helpfulness, max_drop: 0.03}
  - {metric: false_refusals, max_rise: 0.02}
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "rules.yaml").write_text(RULES)
    # The example regression: reasoning +13 points, helpfulness -11, false refusals +9.
    (tmp_path / "base.json").write_text(json.dumps({"metrics": {"reasoning": 0.50, "helpfulness": 0.80,
                                                                "false_refusals": 0.05}}))
    (tmp_path / "cand.json").write_text(json.dumps({"metrics": {"reasoning": 0.63, "helpfulness": 0.69,
                                                                "false_refusals": 0.14}}))
    (tmp_path / "good.json").write_text(json.dumps({"metrics": {"reasoning": 0.63, "helpfulness": 0.79,
                                                                "false_refusals": 0.06}}))
    return tmp_path


def test_the_literature_regression_does_not_ship(files, capsys):
    assert main(["gate", str(files / "base.json"), str(files / "cand.json"), "--rules", str(files / "rules.yaml")]) == 1
    out = capsys.readouterr().out
    assert "PASS  reasoning" in out and "FAIL  helpfulness" in out and "FAIL  false_refusals" in out
    assert "does not ship" in out


def test_a_candidate_within_the_rules_ships(files, capsys):
    assert main(["gate", str(files / "base.json"), str(files / "good.json"), "--rules", str(files / "rules.yaml")]) == 0
    assert "ships: 3 of 3" in capsys.readouterr().out


def test_missing_metrics_fail_and_eval_files_are_read():
    rules = parse_rules({"rules": [{"metric": "pass@1", "max_drop": 0.01}, {"metric": "nope", "min": 0}]})
    base = metrics_of({"summary": {"pass@1": {"value": 0.30, "ci": [0.2, 0.4]}, "parseable": 0.9}})
    cand = metrics_of({"summary": {"pass@1": {"value": 0.295, "ci": [0.2, 0.4]}}})
    results = run_gate(rules, base, cand)
    assert [r["passed"] for r in results] == [True, False]
    assert "missing" in results[1]["detail"]


@pytest.mark.parametrize("data", [{}, {"rules": []}, {"rules": [{"metric": "x"}]},
                                  {"rules": [{"metric": "x", "max_drop": "a"}]},
                                  {"rules": [{"metric": "x", "max_drop": 1, "min": 0}]}])
def test_bad_rules_are_config_errors(data):
    with pytest.raises(ConfigError):
        parse_rules(data)


def test_metrics_of_a_multi_set_eval_file_are_named_by_set():
    from rlvr.evaluate.gate import metrics_of

    record = {"sets": {"heldout": {"summary": {"pass@1": {"value": 0.5}, "parseable": 0.9}},
                       "harder": {"summary": {"pass@1": {"value": 0.1}}}}}
    assert metrics_of(record) == {"heldout/pass@1": 0.5, "heldout/parseable": 0.9, "harder/pass@1": 0.1}


def test_the_format_neutral_reading_is_a_gate_metric():
    from rlvr.evaluate.gate import metrics_of

    record = {"summary": {"pass@1": {"value": 0.2}, "neutral": {"pass@1": {"value": 0.5}, "pass@4": {"value": 0.8}}}}
    assert metrics_of(record) == {"pass@1": 0.2, "neutral/pass@1": 0.5, "neutral/pass@4": 0.8}
    rules = parse_rules({"rules": [{"metric": "neutral/pass@1", "max_drop": 0.0}]})
    assert not run_gate(rules, metrics_of(record), {"neutral/pass@1": 0.4})[0]["passed"]
