"""docs/extending.md, a new health rule: registered from outside the package, then warning over a logged run."""

from __future__ import annotations

from doc_examples import run_example


def test_a_health_rule_added_from_outside_the_package_warns_once_at_its_onset(tmp_path):
    out = run_example("health", tmp_path, "length_rule.py")
    assert out.returncode == 0, out.stderr
    # 40 + 30 * step passes 3 x 70 at step 6; the window of a 12-step run is 3 steps: one warning, at step 8.
    assert out.stdout.splitlines() == ["step 8: length_surge: completions average 280 tokens, 3x the first step's"]


def test_a_rule_under_a_taken_name_is_refused_in_one_sentence():
    import pytest

    from rlvr._errors import ConfigError
    from rlvr.monitor import RULES, HealthRule, register_health_rule

    before = list(RULES)
    rule = HealthRule("kl_blowup", "kl", lambda value, thresholds, first: value > 0, lambda value, thresholds: "")
    with pytest.raises(ConfigError, match="a health rule named 'kl_blowup' exists already"):
        register_health_rule(rule)
    with pytest.raises(ConfigError, match="expects a HealthRule"):
        register_health_rule("kl_blowup")  # type: ignore[arg-type]
    assert RULES == before
