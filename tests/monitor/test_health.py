"""Health rules on constructed metric logs, and `rlvr health` on a run directory."""

from __future__ import annotations

import json

import pytest

from rlvr.cli import main
from rlvr.monitor import HealthThresholds, read_metrics, replay

HEALTHY = {"reward/std": 0.4, "entropy": 1.5, "kl": 0.01, "len/truncated_frac": 0.1, "groups/informative_frac": 0.8}


def log(changes_from_step: int, steps: int, **changes: float) -> list[dict]:
    return [{"step": s, **HEALTHY, **(changes if s >= changes_from_step else {})} for s in range(1, steps + 1)]


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"reward/std": 0.0}, "reward_variance_collapse"),
        ({"entropy": 0.01}, "entropy_collapse"),
        ({"entropy": 0.6}, "entropy_decline"),
        ({"kl": 5.0}, "kl_blowup"),
        ({"len/truncated_frac": 0.9}, "truncation_surge"),
        ({"groups/informative_frac": 0.05}, "uninformative_groups"),
    ],
)
def test_each_rule_fires_once_at_its_onset(changes, rule):
    thresholds = HealthThresholds(window=3)
    warnings = replay(log(4, 12, **changes), thresholds)
    fired = [w for w in warnings if w.rule == rule]
    assert len(fired) == 1
    assert fired[0].step == (4 if rule == "kl_blowup" else 6)  # KL at once, others after `window` steps


def test_a_healthy_run_has_no_warnings():
    assert replay(log(1, 20), HealthThresholds()) == []


def test_a_short_blip_is_not_reported():
    rows = log(1, 10)
    rows[4]["reward/std"] = 0.0
    assert replay(rows, HealthThresholds(window=3)) == []


def test_cli_replays_a_run_directory(tmp_path, capsys):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log(3, 10, entropy=0.01)))
    assert main(["health", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "entropy_collapse" in out and "10 steps read" in out
    assert main(["health", str(tmp_path), "--strict"]) == 1
    assert main(["health", str(tmp_path), "--set", "min_entropy=0.001"]) == 0
    assert "entropy_collapse" not in capsys.readouterr().out.split("steps read")[-1].split("step")[0]


def test_missing_or_bad_metrics_log_is_one_sentence(tmp_path, capsys):
    assert main(["health", str(tmp_path)]) == 2
    assert "no metrics log" in capsys.readouterr().err
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n{bad\n')
    with pytest.raises(Exception, match="metrics.jsonl:2"):
        read_metrics(tmp_path)


@pytest.mark.parametrize("changes, rule", [({"entropy": 0.01}, "entropy_collapse"),
                                           ({"entropy": 0.6}, "entropy_decline")])
def test_entropy_warnings_name_the_config_keys_that_keep_entropy_up(changes, rule):
    (warning,) = [w for w in replay(log(4, 12, **changes), HealthThresholds(window=3)) if w.rule == rule]
    for remedy in ("algo.entropy_coef=0.001", "algo.entropy_control=clip_cov", "algo.top_entropy_fraction=0.2"):
        assert remedy in warning.message
