"""`rlvr compare` with one pair per seed and the three-way decision, and `rlvr plan`, on eval files made here."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from rlvr.cli import main
from rlvr.cli.compare import DELTA_HELP
from rlvr.evaluate.decide import DELTA


def eval_file(path, passed: list[int], n: int = 8, neutral: list[int] | None = None) -> str:
    """An eval file as `rlvr eval` writes it: per-task pass counts (strict and neutral) and the samples."""
    neutral = passed if neutral is None else neutral
    tasks = [{"id": f"t{i}", "n": n, "passed": int(c), "passed_neutral": int(m)}
             for i, (c, m) in enumerate(zip(passed, neutral))]
    samples = [{"task_id": f"t{i}", "text": "7", "passed": j < c} for i, c in enumerate(passed) for j in range(n)]
    path.write_text(json.dumps({"tasks": tasks, "samples": samples, "settings": {"k": n}}))
    return str(path)


# (base pass counts, trained pass counts) over 8 samples, one seed: each branch of the decision.
BRANCHES = {
    "gain": ([2] * 40, [6] * 40),
    "loss": ([6] * 40, [2] * 40),
    "no_gain_beyond_delta": ([3, 4] * 100, [4, 3] * 100),  # +0.000 with an interval inside (-0.05, +0.05)
    "inconclusive": ([1, 7] * 4, [7, 1] * 4),             # +0.000 too, but 8 problems that disagree wildly
}
WORDS = {"gain": "gain: training raised", "loss": "loss: training lowered",
         "no_gain_beyond_delta": "no gain beyond 0.05: any gain training made",
         "inconclusive": "inconclusive: the interval of training's change"}


@pytest.mark.parametrize("decision", list(BRANCHES))
def test_compare_says_each_decision_in_its_words(decision, tmp_path, capsys):
    base, trained = BRANCHES[decision]
    args = ["compare", eval_file(tmp_path / "b.json", base), eval_file(tmp_path / "t.json", trained),
            "--resamples", "200", "--json", str(tmp_path / "c.json")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"decision (neutral): {WORDS[decision]}" in out and f"decision (strict): {WORDS[decision]}" in out
    assert "over 1 seed and" in out and "not spanning seeds" in out
    record = json.loads((tmp_path / "c.json").read_text())
    for reading in (record, record["neutral"]):  # per reading: the decision, interval, delta, components, MDE
        analysis = reading["gain_analysis"]
        assert reading["decision"] == analysis["decision"] == decision
        assert analysis["delta"] == DELTA and len(analysis["interval"]) == 2 and analysis["mde"] > 0
        assert analysis["components"]["seed"] is None and analysis["components"]["problem"] >= 0


def test_several_pairs_span_seeds_and_problems(tmp_path, capsys):
    rng = np.random.default_rng(0)
    p = rng.uniform(0.3, 0.6, size=30)
    base = eval_file(tmp_path / "base.json", rng.binomial(8, p).tolist())  # one base evaluation, shared
    files = []
    for seed in range(3):
        files += [base, eval_file(tmp_path / f"t{seed}.json", rng.binomial(8, p + 0.3).tolist())]
    assert main(["compare", *files, "--resamples", "200", "--delta", "0.1", "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "3 seeds (one pair of eval files each)" in out and "over 3 seeds and 30 problems" in out
    assert re.search(r"P\(trained > base\) \d\.\d\d \[\d\.\d\d, \d\.\d\d\]", out)
    record = json.loads((tmp_path / "c.json").read_text())
    neutral = record["sets"]["tasks"]["neutral"]
    assert record["seeds"] == 3 and record["delta"] == 0.1 and neutral["spans_seeds"]
    assert neutral["decision"] == "gain" and neutral["interval"][0] > 0  # a +0.3 gain over 3 seeds
    assert set(neutral["components"]) == {"seed", "problem", "seed_x_problem", "samples"}
    assert neutral["components"]["seed"] is not None and len(neutral["per_seed_gain"]) == 3
    assert len(record["per_seed"]) == 3  # each pair's own comparison, as `compare` with one pair writes it


def test_only_the_tasks_every_pair_holds_count(tmp_path, capsys):
    files = [eval_file(tmp_path / "b.json", [2] * 30), eval_file(tmp_path / "t0.json", [6] * 30),
             eval_file(tmp_path / "b1.json", [2] * 20), eval_file(tmp_path / "t1.json", [6] * 20)]
    assert main(["compare", *files, "--resamples", "50"]) == 0
    assert "(20 tasks, 10 not in every file left out)" in capsys.readouterr().out


def test_plan_says_where_the_variance_is_and_what_a_decision_needs(tmp_path, capsys):
    rng = np.random.default_rng(1)
    p = rng.uniform(0.3, 0.6, size=40)
    files = []
    for seed in range(2):
        files += [eval_file(tmp_path / f"b{seed}.json", rng.binomial(8, p).tolist()),
                  eval_file(tmp_path / f"t{seed}.json", rng.binomial(8, p + 0.05).tolist())]
    assert main(["plan", *files, "--delta", "0.05", "--power", "0.9", "--json", str(tmp_path / "plan.json")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"variance of the mean gain: seed \d+%, problem \d+%, seed x problem \d+%, samples \d+%", out)
    assert "minimum detectable effect at 90% power" in out
    assert re.search(r"seeds needed to detect 0\.05 at 40 problems: \d+|no number of seeds at 40 problems", out)
    assert re.search(r"samples per problem needed to detect 0\.05 at 2 seeds and 40 problems: \d+|no number of "
                     r"samples per problem at 2 seeds and 40 problems", out)
    assert "see `rlvr plan`" not in out  # plan does not send the reader to itself
    assert re.search(r"pass@8: (gain|loss|no gain|inconclusive)", out)  # pass@k decided beside pass@1
    record = json.loads((tmp_path / "plan.json").read_text())["sets"]["tasks"]
    analysis = record["neutral"]
    assert analysis["power"] == 0.9 and analysis["seeds"] == 2 and analysis["problems"] == 40
    assert record["pass@k"]["k"] == 8 and record["pass@k"]["neutral"]["components"]["samples"] == 0.0
    # With one pair the seed variance is unmeasured, and plan says so instead of guessing.
    assert main(["plan", *files[:2]]) == 0
    assert "seed-to-seed variance is unmeasured" in capsys.readouterr().out


def test_the_default_delta_in_the_help_is_the_one_decisions_use():
    assert f"(default {DELTA})" in DELTA_HELP
