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
    assert "== what 2 GRPO steps bought" in out and "report:" in out
    assert "neutral pass@1" in out and "trained" in out and "conclusion:" in out
    if record["spurious"]["arms"][0]["barely_trained"]:  # the tiny model rarely earns a reward: no verdict words
        assert "conclusion: no verdict: the real arm barely trained" in out
        said = out[out.index("[5/6]"):].replace("no verdict", "")  # from the comparison on (stage 2 counts verdicts)
        for words in ("verdict", "regression", "no change", "capability gain", "search compression"):
            assert words not in said, words
    else:
        assert "verdict on heldout" in out and "verdict per seed" in out and "to decide at delta 0.05" in out
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


# -- the closing lines' decisions, without a model --------------------------------------------------------


def _eval(passed: list[int]) -> dict:
    return {"tasks": [{"id": f"t{i}", "n": 8, "passed": c, "passed_neutral": c} for i, c in enumerate(passed)]}


def _run(base: list[int], trained: list[int], informative: float = 0.5, rows: int = 400) -> dict:
    """One finished seed of an arm as `spurious.run_result` returns it, from two eval records."""
    from rlvr.evaluate.gains import compare_sets, pass_counts

    b, t = _eval(base), _eval(trained)
    return {"seed": 0, "run_dir": "x", "sets": compare_sets(b, t, resamples=200)["sets"], "counts": pass_counts(b, t),
            "trained": {"rows": rows, "informative_frac": informative, "mean_abs_advantage": 0.5}}


def _closing(real: dict, control: dict, base_rate: float = 0.2) -> str:
    from rlvr.evaluate.gains import compare_sets
    from rlvr.workflows.demo import verdict_in_words
    from rlvr.workflows.spurious import summarise_arms

    spurious = summarise_arms([{"name": "real", "reward": "r", "runs": [real]},
                               {"name": "random", "reward": "r", "runs": [control]}], base_rate, "given", 0, 8)
    comparison = compare_sets(_eval(real["counts"]["tasks"]["strict"]["base"]),
                              _eval(real["counts"]["tasks"]["strict"]["trained"]), resamples=200)
    record = {"plan": {"steps": 5}, "model": "m", "comparison": comparison, "spurious": spurious,
              "base_rate": base_rate, "report": None, "timings_s": {"total": 60.0}}
    return verdict_in_words(record, __import__("pathlib").Path("runs/demo"))


STILL = _run([2] * 200, [2] * 200)  # a control whose interval ends below 0.05
DEMO_BRANCHES = [
    (([2] * 200, [6] * 200), "conclusion: gain: the real arm raised format-neutral held-out pass@1 (+0.500",
     "points to the verifier's signal"),
    (([6] * 200, [2] * 200), "conclusion: loss: the real arm lowered format-neutral held-out pass@1 (-0.500",
     "nothing to attribute"),
    (([3, 4] * 100, [4, 3] * 100), "conclusion: no gain beyond 0.05: any gain the real arm made in format-neutral",
     "nothing to attribute"),
    (([1, 7] * 4, [7, 1] * 4), "conclusion: inconclusive: the interval of the real arm's change in format-neutral",
     "Nothing can yet be attributed"),
]


@pytest.mark.parametrize("counts, opening, attribution", DEMO_BRANCHES, ids=["gain", "loss", "no_gain", "inconclusive"])
def test_the_closing_lines_say_the_decision_never_a_null_from_the_mean(counts, opening, attribution):
    text = _closing(_run(*counts), STILL)
    assert opening in text and attribution in text
    assert "over 1 seed and" in text and "not spanning seeds" in text and "One seed is an anecdote" in text
    assert "did not raise" not in text and "there is no gain" not in text
    assert "to decide at delta 0.05 (the real arm, format-neutral pass@1):" in text
    assert "problems needed to detect 0.05 at 1 seed:" in text or "no number of problems at 1 seed" in text


def test_an_arm_that_barely_trained_gets_no_verdict_only_what_it_trained_on():
    # Gemma 3 270M: the base never wrote the format, the real arm trained 8 rows in 5 steps, and the demo
    # still printed "regression" and a null claim beside "GRPO had no signal".
    text = _closing(_run([1] * 29, [0] * 29, informative=0.025, rows=8), STILL, base_rate=0.0)
    assert "conclusion: no verdict: the real arm barely trained (8 rows with a gradient, informative groups 0.03)" \
        in text
    assert "GRPO had no signal" in text and "BARELY TRAINED: NO VERDICT" in text
    about_real = "\n".join(line for line in text.splitlines() if not line.startswith("    random"))
    for word in ("regression", "verdict on", "loss:", "gain:", "no gain", "inconclusive", "to decide at delta"):
        assert word not in about_real, word
