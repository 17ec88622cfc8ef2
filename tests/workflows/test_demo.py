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


# A reward a tiny random model earns half the time (a coin, beside the demo's format part), so that its
# groups differ and GRPO has a signal; the demo's own reward is never earned by it.
COIN = {"name": "compose", "parts": [
    {"name": "format", "verifier": {"name": "format", "answer": "bare", "pattern": "-?[0-9]+"}, "weight": 0.2},
    {"name": "coin", "verifier": {"name": "random", "p": 0.5, "seed": 0}, "weight": 0.8},
]}


def test_demo_runs_every_stage(tiny_model, tmp_path, capsys, monkeypatch):
    import rlvr.workflows.demo as demo

    monkeypatch.setattr(demo, "REWARD", COIN)
    plan = Plan(steps=2, train_tasks=8, prompts_per_step=2, group_size=4, eval_k=2, harder_tasks=4, max_new_tokens=6,
                seeds=2)
    record = run_demo(str(tiny_model), tmp_path, plan, progress=False)
    out = capsys.readouterr().out
    assert record["prompt"]["chosen"] == "plain"
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
    else:  # one seed's numbers carry no verdict word; the decisions span the seeds
        closing = out[out.index("== what 2 GRPO steps"):]
        assert "seed 0 alone (an illustration: one seed decides nothing)" in closing
        assert "verdict on" not in closing and "verdict per seed" not in closing
        assert "  decisions over seeds and problems, at delta 0.05:" in closing and "accuracy: " in closing
        assert "over 2 seeds and" in closing and "decided" not in closing  # an inconclusive line is no decision made
        assert "search: " in closing and "pass@2" in closing and "to decide at delta 0.05" in closing
    assert "2 seeds (one pair of eval files each)" in out  # stage 5 compares every seed, not the first
    assert "{" not in out[out.index("== what 2 GRPO steps"):]  # every placeholder of the closing lines is filled
    assert re.search(r"= format [+-]\d\.\d{3} .* accuracy [+-]\d\.\d{3}", out)


def test_a_model_that_never_earns_the_reward_is_not_trained_and_gets_no_verdict(tiny_model, tmp_path, capsys):
    # The tiny model never writes a bare number: neither the plain nor the few-shot prompt gives a group with
    # unequal rewards, so the demo says so and trains nothing (Gemma 3's base trained 8 rows and got a verdict).
    plan = Plan(steps=2, train_tasks=8, prompts_per_step=2, group_size=4, eval_k=2, max_new_tokens=6, seeds=2)
    record = run_demo(str(tiny_model), tmp_path, plan, progress=False)
    out = capsys.readouterr().out
    assert record["prompt"] == {"chosen": None, "tried": {
        "plain": {"base_rate": 0.0, "kept": 0, "of": 8}, "3-shot": {"base_rate": 0.0, "kept": 0, "of": 5}}}
    assert "cannot be trained on this task as set" in out and "plain prompt: base reward 0.000" in out
    assert "3-shot prompt: base reward 0.000" in out and "[3/6]" not in out
    assert not (tmp_path / "grpo.yaml").exists() and not (tmp_path / "real").exists()
    for word in ("gain", "loss", "inconclusive", "verdict on", "conclusion"):
        assert word not in out[out.index("cannot be trained"):], word
    assert json.loads((tmp_path / "demo.json").read_text())["spurious"] is None


def test_the_few_shot_prompt_is_chosen_when_only_it_gives_a_signal(tiny_model, tmp_path, capsys, monkeypatch):
    # The base model earns the reward only when the prompt starts with worked examples (here: the coin pays on
    # few-shot prompts only). The demo measures both, trains and evaluates on the few-shot prompt, and says so.
    import rlvr.evaluate.runner as runner
    from dataclasses import replace

    real_evaluate = runner.evaluate

    def evaluate(engine, tasks, *args, **kwargs):
        tasks = [replace(t, verifier=COIN) if "\n\n" in t.prompt else t for t in tasks]
        return real_evaluate(engine, tasks, *args, **kwargs)

    monkeypatch.setattr(runner, "evaluate", evaluate)
    plan = Plan(steps=1, train_tasks=8, prompts_per_step=2, group_size=4, eval_k=2, max_new_tokens=6, seeds=1)
    record = run_demo(str(tiny_model), tmp_path, plan, progress=False)
    out = capsys.readouterr().out
    assert record["prompt"]["chosen"] == "3-shot" and record["prompt"]["tried"]["plain"]["kept"] == 0
    assert record["prompt"]["tried"]["3-shot"]["kept"] >= 2
    train = [json.loads(line) for line in (tmp_path / "tasks" / "train.jsonl").read_text().splitlines()]
    examples = "".join(f"{t['prompt']}\n{t['reference']}\n\n" for t in train[:3])
    for name in ("train_curated", "heldout"):  # trained and evaluated on the same few-shot prompt
        rows = [json.loads(line) for line in (tmp_path / "tasks" / f"{name}.jsonl").read_text().splitlines()]
        assert rows and all(r["prompt"].startswith(examples) for r in rows), name
    assert not {t["id"] for t in train[:3]} & {json.loads(line)["id"] for line in
                                              (tmp_path / "tasks" / "train_curated.jsonl").read_text().splitlines()}
    assert "prompt: 3-shot (the plain prompt gave 0 of 8 prompts a signal" in out


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
