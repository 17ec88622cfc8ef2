"""Health rules on constructed metric logs, and `rlvr health` on a run directory."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from rlvr.cli import main
from rlvr.monitor import HealthMonitor, HealthThresholds, read_metrics, replay
from rlvr.monitor.health import windows

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
        ({"update/nonfinite_steps": 1}, "nonfinite_updates"),  # a skipped update (issue 22)
    ],
)
def test_each_rule_fires_once_at_its_onset(changes, rule):
    thresholds = HealthThresholds(window=3)
    warnings = replay(log(4, 12, **changes), thresholds)
    fired = [w for w in warnings if w.rule == rule]
    assert len(fired) == 1
    assert fired[0].step == (4 if rule in ("kl_blowup", "nonfinite_updates") else 6)  # these at once, others after


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


# ---------------------------------------------------------------------------------------------
# Windows that scale with the run's length; the reward-metric divergence; resumable state

# The demo's real arm: entropy 2.38 -> 0.26 in 8 steps (-89 %), below half its start for the last 3.
DEMO_ENTROPY = [2.38, 2.05, 1.71, 1.52, 1.30, 1.02, 0.61, 0.26]


def series(**columns: list[float]) -> list[dict]:
    steps = len(next(iter(columns.values())))
    return [{"step": s + 1, **{k.replace("__", "/"): v[s] for k, v in columns.items() if v[s] is not None}}
            for s in range(steps)]


def noisy(level: float, spread: float, steps: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(level * (1 + rng.uniform(-spread, spread, steps)))


@pytest.mark.parametrize(
    ("total", "window", "expected"),
    [(8, 5, (3, 4)), (16, 5, (4, 8)), (20, 5, (5, 10)), (200, 5, (5, 20)), (None, 5, (5, 20)), (12, 3, (3, 6)),
     (4, 5, (3, 3)), (100, 2, (2, 8))],
)
def test_windows_are_a_quarter_of_a_short_run_and_the_configured_window_of_a_long_one(total, window, expected):
    assert windows(HealthThresholds(window=window), total) == expected


@pytest.mark.parametrize(
    ("entropy", "total", "fires_at"),
    [
        (DEMO_ENTROPY, None, 8),  # planned length read from the log: 8 steps, a 3-step window
        (DEMO_ENTROPY, 8, 8),
        (DEMO_ENTROPY, 100, None),  # the same 8 steps of a planned 100-step run: the 5-step window is kept
        ([1.5] * 9 + [0.6] * 31, None, 14),  # a long run keeps the old behaviour: 5 steps below half, then fire
        ([2.0, 1.8, 1.5, 0.9, 0.8, 0.7, 0.7, 0.6, 0.5, 0.5, 0.5, 0.4], None, 6),  # 12 steps: fires after 3
        (noisy(1.5, 0.3, 8, seed=0), None, None),  # noisy but flat, short
        (noisy(1.5, 0.3, 60, seed=1), None, None),  # noisy but flat, long
        ([1.5, 1.4, 0.6, 1.5, 0.6, 1.4, 0.6, 1.5], None, None),  # single-step dips below half never last
        ([1.5, 1.4, 1.3, 0.7, 0.7, 1.4, 1.5, 1.5], 8, None),  # two steps below half: shorter than the window
    ],
)
def test_entropy_decline_fires_in_short_runs_and_not_on_noise(entropy, total, fires_at):
    fired = [w.step for w in replay(series(entropy=entropy), HealthThresholds(), total) if w.rule == "entropy_decline"]
    assert fired == ([] if fires_at is None else [fires_at])


REWARD_UP = [0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.55]
NEUTRAL_DOWN = [0.60, 0.56, 0.52, 0.48, 0.44, 0.40, 0.36, 0.32]


@pytest.mark.parametrize(
    ("reward", "neutral", "fires_at"),
    [
        (REWARD_UP, NEUTRAL_DOWN, 5),  # 8 steps: a 4-step trend window, the condition held 3 steps
        (REWARD_UP, [0.60, None, 0.52, None, 0.44, None, 0.36, None], 7),  # pass_rate/neutral every other step
        (REWARD_UP * 5, NEUTRAL_DOWN * 5, 7),  # 40 steps: a 5-step hold; once, the sawtooth's resets do not refire
        (REWARD_UP, [v + 0.3 for v in REWARD_UP], None),  # both rise: learning the task
        (REWARD_UP, [0.6] * 8, None),  # the metric flat: no divergence
        ([0.5] * 8, NEUTRAL_DOWN, None),  # both fall or reward flat: a regression, not a divergence
        (noisy(0.4, 0.3, 60, seed=2), noisy(0.5, 0.3, 60, seed=3), None),  # noise in both, long run
        (REWARD_UP, [0.6, None, None, None, None, None, None, 0.3], None),  # too few neutral points to judge
    ],
)
def test_reward_rising_while_the_neutral_pass_rate_falls_is_a_divergence(reward, neutral, fires_at):
    rows = series(reward__mean=reward, pass_rate__neutral=neutral)
    fired = [w for w in replay(rows, HealthThresholds()) if w.rule == "reward_metric_divergence"]
    assert [w.step for w in fired] == ([] if fires_at is None else [fires_at])
    if fired:
        assert "reward rose" in fired[0].message and "pass rate fell" in fired[0].message and fired[0].value < 0


def test_a_resumed_monitor_continues_where_the_checkpoint_left_it():
    rows = series(entropy=DEMO_ENTROPY, reward__mean=REWARD_UP, pass_rate__neutral=NEUTRAL_DOWN)
    whole = HealthMonitor(HealthThresholds(), total_steps=8)
    for row in rows:
        whole.observe(row["step"], row)
    first, second = HealthMonitor(HealthThresholds(), total_steps=8), HealthMonitor(HealthThresholds(), total_steps=8)
    for row in rows[:4]:
        first.observe(row["step"], row)
    second.restore(pickle.loads(pickle.dumps(first.state())))  # the checkpoint is a pickle (torch.save)
    for row in rows[4:]:
        second.observe(row["step"], row)
    assert [w.rule for w in whole.warnings] == ["reward_metric_divergence", "entropy_decline"]
    assert first.warnings + second.warnings == whole.warnings
    old = HealthMonitor(HealthThresholds())  # a checkpoint written before the trend rules
    old.restore({"streak": {"entropy_collapse": 2}, "first": {"entropy": 1.5}})
    assert old.streak["entropy_collapse"] == 2 and old.streak["reward_metric_divergence"] == 0


def test_cli_reads_the_planned_length_from_the_run_config(tmp_path, capsys):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in series(entropy=DEMO_ENTROPY)))
    assert main(["health", str(tmp_path)]) == 0  # no config: 8 logged steps, a short run
    assert "entropy_decline" in capsys.readouterr().out
    (tmp_path / "config.yaml").write_text("run:\n  steps: 100\n")  # stopped at step 8 of 100
    assert main(["health", str(tmp_path)]) == 0
    assert "entropy_decline" not in capsys.readouterr().out
    (tmp_path / "config.yaml").write_text("run:\n  steps: 8\n")
    assert main(["health", str(tmp_path), "--strict"]) == 1
