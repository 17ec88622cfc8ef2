"""compare: each row of the interpretation table on constructed eval files; the paired bootstrap."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlvr.cli import main
from rlvr.evaluate.gains import compare, format_comparison


def record(passed: list[int], n: int = 8) -> dict:
    return {"tasks": [{"id": f"t{i}", "n": n, "passed": c} for i, c in enumerate(passed)]}


CASES = {
    # base: half the tasks solved 1/8, half never; trained: all solved 6/8 -> both rise.
    "capability_gain": ([1, 0] * 20, [6] * 40),
    # base: every task 1/8 (pass@8 = 1); trained: 8/8 -> pass@1 up, pass@8 flat at 1.
    "search_compression": ([1] * 40, [8] * 40),
    # base: every task 2/8 (pass@8 = 1); trained: half always, half never -> pass@8 falls to 0.5.
    "mode_collapse": ([2] * 40, [8, 0] * 20),
    "regression": ([6] * 40, [1] * 40),
    "no_change": ([3, 4] * 20, [4, 3] * 20),
}


@pytest.mark.parametrize("verdict", list(CASES))
def test_each_row_of_the_interpretation_table(verdict):
    base, trained = CASES[verdict]
    result = compare(record(base), record(trained), resamples=500)
    assert result["verdict"] == verdict
    assert result["verdict_words"] in format_comparison(result)


def test_compression_ratio_and_guard_for_zero_gap():
    result = compare(record([1] * 40), record([8] * 40), resamples=200)
    assert result["initial_gap"] == pytest.approx(1 - 1 / 8)
    assert result["compression_ratio"] == pytest.approx((1 - 1 / 8) / (1 - 1 / 8))
    zero_gap = compare(record([0] * 10), record([8] * 10), resamples=200)
    assert zero_gap["initial_gap"] == 0 and zero_gap["compression_ratio"] is None
    assert "undefined (no gap)" in format_comparison(zero_gap)


def test_transitions_name_the_newly_solved_tasks():
    result = compare(record([0, 0, 3, 3]), record([0, 2, 0, 3]), resamples=200)
    assert result["transitions"] == {"neither": 1, "base_only": 1, "trained_only": 1, "both": 1}
    assert result["trained_only_ids"] == ["t1"] and result["base_only_ids"] == ["t2"]
    assert len(result["curve"]["base"]) == 8 and result["curve"]["trained"][0] == pytest.approx(5 / 32)


def test_paired_bootstrap_intervals_cover_the_true_gain_in_simulation():
    # Tasks with true pass rates p; training adds 0.1 to every task's rate. The 95 % interval of the
    # compression gain should contain the true gain (0.1) in roughly 95 % of simulated evaluations.
    rng = np.random.default_rng(3)
    covered, trials = 0, 150
    for trial in range(trials):
        p = rng.uniform(0.1, 0.8, size=60)
        base = rng.binomial(8, p)
        trained = rng.binomial(8, np.clip(p + 0.1, 0, 1))
        result = compare(record(base.tolist()), record(trained.tolist()), resamples=400, seed=trial)
        low, high = result["compression_gain_ci"]
        covered += low <= 0.1 <= high
    assert 0.88 <= covered / trials <= 0.995


def test_files_without_common_tasks_are_rejected():
    with pytest.raises(Exception, match="share no task"):
        compare(record([1]), {"tasks": [{"id": "other", "n": 8, "passed": 1}]})


def test_cli(tmp_path, capsys):
    (tmp_path / "b.json").write_text(json.dumps(record([1] * 40)))
    (tmp_path / "t.json").write_text(json.dumps(record([8] * 40)))
    args = ["compare", str(tmp_path / "b.json"), str(tmp_path / "t.json"), "--json", str(tmp_path / "c.json")]
    assert main(args) == 0
    assert "mostly search compression" in capsys.readouterr().out
    assert json.loads((tmp_path / "c.json").read_text())["verdict"] == "search_compression"
    assert main(["compare", str(tmp_path / "missing.json"), str(tmp_path / "t.json")]) == 2


def test_format_share_credits_answers_that_were_right_but_unreadable():
    def with_samples(rows):  # rows: per task, list of (text, reason, passed)
        return {
            "tasks": [{"id": f"t{i}", "n": len(r), "passed": sum(p for _, _, p in r), "reference": "7"}
                      for i, r in enumerate(rows)],
            "samples": [{"task_id": f"t{i}", "text": text, "reason": reason, "passed": passed}
                        for i, r in enumerate(rows) for text, reason, passed in r],
        }

    # Base: half the samples say "3 + 4 is 7" (right, but not a bare number), half are wrong.
    base = with_samples([[("3 + 4 is 7", "parse_error", False), ("8", "mismatch", False)]] * 10)
    trained = with_samples([[("7", "ok", True), ("7", "ok", True)]] * 10)
    result = compare(base, trained, resamples=200)
    assert result["base_lenient_pass@1"] == pytest.approx(0.5)
    assert result["format_share"] == pytest.approx(0.5)
    assert "50% of the pass@1 gain" in format_comparison(result)
    assert result["neutral_source"] == {"base": "recomputed", "trained": "recomputed"}  # files from before it
    # Without samples (or numeric references) there is nothing to attribute.
    assert compare(record([1] * 4), record([8] * 4), resamples=50)["format_share"] is None


def sets(**records: dict) -> dict:
    return {"rlvr_eval_sets": 1, "model": "m", "sets": records}


def test_sets_side_by_side_flag_an_in_distribution_gain_with_a_shifted_loss(tmp_path, capsys):
    from rlvr.evaluate.gains import compare_sets, format_comparison_sets

    base = sets(heldout=record([1, 0] * 20), shifted=record([6] * 40))
    trained = sets(heldout=record([6] * 40), shifted=record([1] * 40))
    result = compare_sets(base, trained, resamples=300)
    assert result["sets"]["heldout"]["verdict"] == "capability_gain"
    assert result["sets"]["shifted"]["verdict"] == "regression"
    assert "entropy collapse" in result["warning"] and "heldout" in result["warning"]
    text = format_comparison_sets(result)
    assert "side by side" in text and "shifted" in text

    (tmp_path / "b.json").write_text(json.dumps(base))
    (tmp_path / "t.json").write_text(json.dumps(trained))
    args = ["compare", str(tmp_path / "b.json"), str(tmp_path / "t.json"), "--json", str(tmp_path / "c.json")]
    assert main(args) == 0
    assert "warning: pass rose on heldout but fell on shifted" in capsys.readouterr().out
    assert set(json.loads((tmp_path / "c.json").read_text())["sets"]) == {"heldout", "shifted"}


def test_sets_that_agree_raise_no_warning_and_unshared_sets_are_skipped():
    from rlvr.evaluate.gains import compare_sets

    result = compare_sets(sets(a=record([1] * 40), b=record([1] * 40), only_base=record([1] * 4)),
                          sets(a=record([8] * 40), b=record([7] * 40)), resamples=200)
    assert set(result["sets"]) == {"a", "b"} and result["warning"] is None
    with pytest.raises(Exception, match="share no task set"):
        compare_sets(sets(a=record([1] * 4), c=record([1] * 4)), sets(b=record([1] * 4), d=record([1] * 4)))


def two_readings(strict: list[int], neutral: list[int], n: int) -> dict:
    """An eval record whose tasks carry both readings' pass counts, as rlvr eval writes them."""
    return {"tasks": [{"id": f"t{i}", "n": n, "passed": s, "passed_neutral": u}
                      for i, (s, u) in enumerate(zip(strict, neutral))]}


# The essay's example, read neutrally: pass@1 0.40 -> 0.65, pass@8 0.75 -> 0.77 over 100 tasks of 8 samples.
ESSAY_BASE = [5] * 20 + [4] * 55 + [0] * 25  # 320 of 800 samples right; 75 tasks solved
ESSAY_TRAINED = [7] * 68 + [6] * 7 + [1] * 2 + [0] * 23  # 520 right; the 75 still solved, 2 more

READING_CASES = {
    # name: (base strict, base neutral, trained strict, trained neutral, n, verdict)
    "pure format gain": ([0] * 40, [6] * 40, [6] * 40, [6] * 40, 10, "format_only"),
    "format gain with accuracy loss": ([0] * 40, [14, 16] * 20, [8] * 40, [8] * 40, 50, "format_gain_accuracy_loss"),
    "essay: mostly compression": (ESSAY_BASE, ESSAY_BASE, ESSAY_TRAINED, ESSAY_TRAINED, 8, "search_compression"),
    "real boundary rise": ([1, 0] * 20, [1, 0] * 20, [6] * 40, [6] * 40, 8, "capability_gain"),
    "format loss": ([6] * 40, [6] * 40, [2] * 40, [6] * 40, 8, "format_loss"),
}


@pytest.mark.parametrize("case", list(READING_CASES))
def test_verdicts_are_decided_on_both_readings(case):
    base_s, base_n, trained_s, trained_n, n, verdict = READING_CASES[case]
    result = compare(two_readings(base_s, base_n, n), two_readings(trained_s, trained_n, n), resamples=1000)
    assert result["verdict"] == verdict
    text = format_comparison(result)
    assert result["verdict_words"] in text
    if verdict in ("format_only", "format_gain_accuracy_loss", "format_loss"):
        assert "capability gain" not in text  # never when the neutral reading did not rise
    assert result["neutral_source"] == {"base": "saved", "trained": "saved"}


def test_the_essay_example_is_mostly_compression_with_ratio_071():
    result = compare(two_readings(ESSAY_BASE, ESSAY_BASE, 8), two_readings(ESSAY_TRAINED, ESSAY_TRAINED, 8),
                     resamples=1000)
    neutral = result["neutral"]
    assert neutral["base"]["pass@1"] == pytest.approx(0.40) and neutral["trained"]["pass@1"] == pytest.approx(0.65)
    assert neutral["base"]["pass@8"] == pytest.approx(0.75) and neutral["trained"]["pass@8"] == pytest.approx(0.77)
    assert neutral["compression_ratio"] == pytest.approx(0.25 / 0.35) and round(neutral["compression_ratio"], 2) == 0.71
    assert "mostly search compression" in result["verdict_words"]
    assert neutral["transitions"]["trained_only"] == 2


def test_the_format_decomposition_adds_up():
    # Base: strict 0, neutral 0.3; trained: strict 0.16, neutral 0.16 (the demo's shape).
    result = compare(two_readings([0] * 40, [15] * 40, 50), two_readings([8] * 40, [8] * 40, 50), resamples=200)
    f = result["format"]
    assert f["format"] == pytest.approx(0.3) and f["accuracy"] == pytest.approx(-0.14)
    assert f["unread_after"] == pytest.approx(0.0) and f["strict_gain"] == pytest.approx(0.16)
    assert f["strict_gain"] == pytest.approx(f["format"] + f["accuracy"] - f["unread_after"])
    assert "format +0.300" in format_comparison(result) and "accuracy -0.140" in format_comparison(result)


def test_transitions_are_counted_on_each_reading():
    # t0: solved only neutrally before, strictly after; t1: never solved strictly, neutrally both times.
    result = compare(two_readings([0, 0], [2, 3], 4), two_readings([3, 0], [3, 3], 4), resamples=100)
    assert result["transitions"]["trained_only"] == 1 and result["trained_only_ids"] == ["t0"]
    assert result["neutral"]["transitions"] == {"neither": 0, "base_only": 0, "trained_only": 0, "both": 2}
