"""Spurious-reward controls: the random verifier, the warning rules, and both arms end to end."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import save_tiny_model
from rlvr._errors import ConfigError
from rlvr.cli import main
from rlvr.train.config import load_config
from rlvr.verifiers import get_verifier
from rlvr.workflows.spurious import arms, format_part, format_spurious, summarise_arms

TRAIN_HELPERS = Path(__file__).parents[1] / "train"


# -- the random verifier ----------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_random_reward_has_rate_p_whatever_the_answer(p):
    v = get_verifier({"name": "random", "p": p, "seed": 3})
    right = [v.verify(f"attempt {i}: 42", "42").reward for i in range(3000)]
    wrong = [v.verify(f"attempt {i}: 41", "42").reward for i in range(3000)]
    for rewards in (right, wrong):
        assert abs(sum(rewards) / len(rewards) - p) < 0.03
    assert set(right) <= {0.0, 1.0}


def test_random_reward_is_deterministic_and_seeded():
    a, b = get_verifier({"name": "random", "p": 0.5, "seed": 0}), get_verifier({"name": "random", "p": 0.5, "seed": 1})
    texts = [f"text {i}" for i in range(200)]
    first = [a.verify(t, "1").reward for t in texts]
    assert first == [a.verify(t, "1").reward for t in texts]
    assert first != [b.verify(t, "1").reward for t in texts]
    assert {a.verify(t, "1").reason for t in texts} == {"ok", "random"}


def test_random_reward_rejects_a_rate_outside_0_1():
    with pytest.raises(ConfigError, match="p must be in"):
        get_verifier({"name": "random", "p": 1.5})


# -- arms and warnings ------------------------------------------------------------------------

COMPOSE = {"name": "compose", "parts": [
    {"name": "format", "verifier": {"name": "format", "answer": "bare", "pattern": "-?[0-9]+"}, "weight": 0.2},
    {"name": "correct", "verifier": {"name": "math", "answer": "bare"}, "weight": 0.8, "gate": True},
]}


def test_format_part_is_found_in_a_compose_reward():
    assert format_part(COMPOSE) == {"name": "format", "answer": "bare", "pattern": "-?[0-9]+"}
    assert format_part({"name": "math"}) is None
    assert format_part("") is None


def test_arms_match_the_base_rate_and_need_a_format_part():
    config = load_config(None, ["data.train=x.jsonl", "data.eval=y.jsonl", "run.seed=7"])
    plan = arms(config, 0.125, ("random",))
    assert [a.name for a in plan] == ["real", "random"]
    assert plan[1].reward == {"name": "random", "p": 0.125, "seed": 7}
    with pytest.raises(ConfigError, match="no `format` part"):
        arms(config, 0.1, ("random", "format"))
    with_format = arms(config, 0.1, ("format",), format_reward={"name": "format", "answer": "bare"})
    assert with_format[1].reward == {"name": "format", "answer": "bare"}
    with pytest.raises(ConfigError, match="unknown control"):
        arms(config, 0.1, ("shuffled",))


def _arm(name: str, base: float, trained: float, rows: int = 400, seeds: tuple[float, ...] = (0.0,),
         neutral: tuple[float, float] | None = None, informative: float = 0.5) -> dict:
    """An arm as run_spurious collects it: one run per seed (seed offsets shift the trained pass@1), with
    the per-task pass counts of 10 held-out tasks x 1,000 samples that give those pass rates."""
    def reading(b: float, t: float) -> dict:
        gain = t - b
        return {"base": {"pass@1": b, "pass@8": b}, "trained": {"pass@1": t, "pass@8": t},
                "compression_gain": gain, "compression_gain_ci": [gain - 0.01, gain + 0.01],
                "capability_gain": gain, "capability_gain_ci": [gain - 0.01, gain + 0.01], "verdict": "x"}

    runs = []
    for i, shift in enumerate(seeds):
        comparison = {"k": 8, **reading(base, trained + shift)}
        comparison["neutral"] = reading(*neutral) if neutral else reading(base, trained + shift)
        runs.append({"seed": i, "run_dir": f"{name}-{i}", "sets": {"heldout": comparison},
                     "counts": {"heldout": _counts(comparison)},
                     "trained": {"rows": rows, "informative_frac": informative, "mean_abs_advantage": 0.8}})
    return {"name": name, "reward": name, "runs": runs}


def _counts(comparison: dict) -> dict:
    """`gains.pass_counts` of one seed whose every task passes at the comparison's pass@1 rates."""
    ids = [f"t{i}" for i in range(10)]

    def passed(rate: float) -> list[int]:
        return [min(1000, max(0, round(rate * 1000)))] * len(ids)

    return {"ids": ids, "n_base": [1000] * 10, "n_trained": [1000] * 10,
            **{reading: {"base": passed(r["base"]["pass@1"]), "trained": passed(r["trained"]["pass@1"])}
               for reading, r in (("strict", comparison), ("neutral", comparison["neutral"]))}}


@pytest.mark.parametrize("real, control, warns", [
    (0.40, 0.02, False),   # the control stays put: the gain is the verifier's
    (0.40, 0.08, True),    # more than 5 points
    (0.06, 0.04, True),    # under 5 points but more than half the real gain
    (0.06, 0.02, False),
    (-0.02, 0.03, False),  # the real run lost; a small control drift is not a warning
])
def test_warning_rules(real, control, warns):
    record = summarise_arms([_arm("real", 0.1, 0.1 + real), _arm("random", 0.1, 0.1 + control)], 0.2, "given", 0, 8)
    assert bool(record["warnings"]) is warns
    assert record["arms"][1]["gain_pass@1"] == pytest.approx(control)
    assert record["set"] == "heldout"
    if warns:
        assert "side effect" in record["conclusion"]


# -- end to end on a tiny model ---------------------------------------------------------------


@pytest.fixture()
def tiny_run(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TRAIN_HELPERS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TRAIN_HELPERS), os.environ.get("PYTHONPATH", "")]))
    save_tiny_model(tmp_path / "model")

    def tasks(name: str, ids: range) -> Path:
        rows = [{"id": f"{name}{i}", "prompt": f"What is {i} + 1 ?", "reference": str(i + 1),
                 "verifier": "rewards_for_tests:even_words"} for i in ids]
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return tmp_path / f"{name}.jsonl"

    config = {
        "model": str(tmp_path / "model"),
        "sampling": {"max_new_tokens": 5, "batch_size": 16},
        "algo": {"group_size": 4},
        "optim": {"lr": 1e-3},
        "data": {"train": str(tasks("train", range(8))), "eval": [str(tasks("heldout", range(20, 26))),
                                                                 str(tasks("shifted", range(40, 44)))],
                 "eval_k": 4, "prompts_per_step": 2},
        "run": {"steps": 2, "seed": 5, "output_dir": str(tmp_path / "run")},
        "plugins": ["rewards_for_tests"],  # the task files name its functions
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def test_spurious_runs_every_arm_end_to_end(tiny_run, capsys):
    status = main(["spurious", str(tiny_run / "config.yaml"), "--format-reward", "{name: format, answer: bare}",
                   "--random-p", "matched", "--rate-prompts", "4"])
    out = capsys.readouterr().out
    root = tiny_run / "run-spurious"
    record = json.loads((root / "spurious.json").read_text())
    assert status == (1 if record["warnings"] else 0)
    assert [a["name"] for a in record["arms"]] == ["real", "random", "format"]
    assert record["base_rate_source"] == "measured" and record["base_rate_rollouts"] == 16
    assert 0.0 < record["base_rate"] < 1.0  # even_words on gibberish passes some rollouts and fails others
    for arm in ("real", "random", "format"):
        run = root / arm
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [m["step"] for m in metrics] == [1, 2]
        saved = yaml.safe_load((run / "config.yaml").read_text())
        assert saved["run"]["seed"] == 5 and saved["run"]["steps"] == 2
        final = json.loads((run / "eval" / "final.json").read_text())
        assert set(final["sets"]) == {"heldout", "shifted"}
    # The controls train on the random / format reward, and share the real arm's base evaluation.
    random_cfg = yaml.safe_load((root / "random" / "config.yaml").read_text())
    assert random_cfg["data"]["reward"] == {"name": "random", "p": round(record["base_rate"], 6), "seed": 5}
    samples = [json.loads(line) for line in (root / "random" / "samples.jsonl").read_text().splitlines()]
    assert {s["reason"] for s in samples} <= {"ok", "random"}
    assert (root / "random" / "eval" / "base.json").read_bytes() == (root / "real" / "eval" / "base.json").read_bytes()
    assert json.loads((root / "real" / "spurious.json").read_text()) == record
    assert "conclusion:" in out and "random" in out and "format" in out

    # A second call reuses the finished arms instead of training again.
    assert main(["spurious", str(tiny_run / "config.yaml"), "--random-p", "matched", "--base-rate",
                 str(record["base_rate"]), "--format-reward", "{name: format, answer: bare}"]) == status
    assert "reusing the finished run" in capsys.readouterr().out


def test_spurious_needs_held_out_tasks(tiny_run, capsys):
    assert main(["spurious", str(tiny_run / "config.yaml"), "data.eval=", "--random-p", "matched", "--base-rate",
                 "0.5"]) == 2
    assert "set data.eval" in capsys.readouterr().err


def test_spurious_rejects_a_bad_format_reward_before_training(tiny_run, capsys):
    assert main(["spurious", str(tiny_run / "config.yaml"), "--format-reward", "{name: nope}"]) == 2
    assert not (tiny_run / "run-spurious").exists()
    assert "nope" in capsys.readouterr().err


def test_a_stale_base_eval_in_the_run_directory_is_measured_again(tiny_run):
    from rlvr.train.trainer import train

    config = load_config(tiny_run / "config.yaml", ["data.eval=" + str(tiny_run / "heldout.jsonl")])
    stale = {"model": "other", "tasks_source": str(tiny_run / "heldout.jsonl"),
             "settings": {"k": 99}, "summary": {}, "tasks": [], "samples": []}
    (tiny_run / "run" / "eval").mkdir(parents=True)
    (tiny_run / "run" / "eval" / "base.json").write_text(json.dumps(stale))
    train(config, progress=False)
    base = json.loads((tiny_run / "run" / "eval" / "base.json").read_text())
    assert base["settings"]["k"] == 4 and len(base["tasks"]) == 6  # measured for this run, not the stale file


# -- controls that train, both readings, seeds --------------------------------------------------


def test_a_control_with_too_few_trained_rows_is_too_weak_to_conclude():
    # The demo's old failure: the random control at p = 0.01 trained 56 rows against the real arm's 496.
    record = summarise_arms([_arm("real", 0.0, 0.4, rows=496), _arm("random", 0.0, 0.01, rows=56)], 0.01, "given",
                            0, 8)
    assert record["arms"][1]["too_weak"] and not record["arms"][0]["too_weak"]
    assert record["conclusion"].startswith("too weak to conclude")
    assert "56 rows" in record["conclusion"] and "496" in record["conclusion"]
    assert "verifier's signal" not in record["conclusion"]
    assert "TOO WEAK TO CONCLUDE" in format_spurious(record)
    # Trained on half as many rows or more: the same gains support the conclusion.
    strong = summarise_arms([_arm("real", 0.0, 0.4, rows=496), _arm("random", 0.0, 0.01, rows=248)], 0.01, "given",
                            0, 8)
    assert not strong["arms"][1]["too_weak"] and "verifier's signal" in strong["conclusion"]


def test_gains_are_read_on_both_readings_and_a_format_gain_is_no_capability():
    # Strict 0 -> 0.6 but read neutrally 0.6 -> 0.6: the real arm only learned the format.
    record = summarise_arms([_arm("real", 0.0, 0.6, neutral=(0.6, 0.6)), _arm("random", 0.0, 0.0)], None, "given",
                            0, 8, random_p=0.5)
    real = record["arms"][0]
    assert real["strict"]["gain_pass@1"]["mean"] == pytest.approx(0.6)
    assert real["neutral"]["gain_pass@1"]["mean"] == pytest.approx(0.0)
    # Read neutrally nothing moved: a decision on the interval, not a null read off the mean.
    assert record["conclusion"].startswith("no gain beyond 0.05: any gain the real arm made in format-neutral")
    assert "nothing to attribute" in record["conclusion"] and "verifier's signal" not in record["conclusion"]
    # A format-only control that reproduces the strict gain is a warning, named by its reading.
    record = summarise_arms([_arm("real", 0.0, 0.6, neutral=(0.6, 0.6)), _arm("format", 0.0, 0.55, neutral=(0.6, 0.6))],
                            None, "given", 0, 8)
    assert record["warnings"] == ["the format control moved held-out strict pass@1 by +0.550 (more than 0.05; "
                                  "decision: gain, interval [+0.539, +0.561])"]


def test_seeds_give_per_seed_gains_a_mean_and_an_interval_over_seeds_and_problems():
    record = summarise_arms([_arm("real", 0.1, 0.5, seeds=(0.0, 0.1, -0.1)), _arm("random", 0.1, 0.1, seeds=(0, 0, 0))],
                            None, "given", 0, 8, random_p=0.5)
    gain = record["arms"][0]["neutral"]["gain_pass@1"]
    assert gain["seeds"] == pytest.approx([0.4, 0.5, 0.3]) and gain["mean"] == pytest.approx(0.4)
    # Every problem moves alike within a seed here, so the problems add nothing and the interval is the
    # seed part alone: t(0.975, 2 df) * sd / sqrt(n), what a t-interval over the seeds would give.
    half = 4.303 * 0.1 / 3 ** 0.5
    assert gain["interval"] == pytest.approx([0.4 - half, 0.4 + half], abs=1e-3)
    assert gain["decision"] == "gain" and gain["analysis"]["spans_seeds"]
    assert "verifier's signal" in record["conclusion"] and "3 seeds and 10 problems" in record["conclusion"]
    text = format_spurious(record)
    assert text.count("\nreal ") == 3 and "across seeds" in text
    one = summarise_arms([_arm("real", 0.1, 0.5), _arm("random", 0.1, 0.1)], None, "given", 0, 8)
    assert not one["arms"][0]["neutral"]["gain_pass@1"]["analysis"]["spans_seeds"]
    assert "One seed is an anecdote" in one["conclusion"] and "On this one seed" in one["conclusion"]
    assert "not spanning seeds" in one["conclusion"]
    assert "it comes from" not in one["conclusion"]  # one seed points, it does not conclude


def test_the_random_arm_defaults_to_p_one_half(tiny_run, capsys):
    assert main(["spurious", str(tiny_run / "config.yaml"), "--random-p", "1.5"]) == 2
    assert "--random-p must be a probability" in capsys.readouterr().err
    assert main(["spurious", str(tiny_run / "config.yaml"), "--seeds", "0"]) == 2
    assert not (tiny_run / "run-spurious").exists()
    config = load_config(tiny_run / "config.yaml")
    assert arms(config, 0.5, ("random",))[1].reward == {"name": "random", "p": 0.5, "seed": 5}


def test_spurious_with_two_seeds_end_to_end(tiny_run, capsys):
    status = main(["spurious", str(tiny_run / "config.yaml"), "run.steps=1", "--seeds", "2"])
    record = json.loads((tiny_run / "run-spurious" / "spurious.json").read_text())
    assert status == (1 if record["warnings"] else 0)
    assert record["seeds"] == [5, 6] and record["random_p"] == 0.5 and record["base_rate"] is None
    root = tiny_run / "run-spurious"
    for arm in ("real", "random"):
        assert yaml.safe_load((root / f"{arm}-seed6" / "config.yaml").read_text())["run"]["seed"] == 6
        row = next(a for a in record["arms"] if a["name"] == arm)
        assert [s["seed"] for s in row["seeds"]] == [5, 6]
        assert row["rows_trained"] == sum(s["rows"] for s in row["seeds"])
        assert all(0 <= s["informative_frac"] <= 1 for s in row["seeds"])
    random_cfg = yaml.safe_load((root / "random-seed6" / "config.yaml").read_text())
    assert random_cfg["data"]["reward"] == {"name": "random", "p": 0.5, "seed": 6}
    assert (root / "random-seed6" / "eval" / "base.json").read_bytes() == \
        (root / "real-seed6" / "eval" / "base.json").read_bytes()
    assert "across seeds" in capsys.readouterr().out


def test_the_demo_shape_seeds_that_disagree_and_a_format_arm_that_moves_only_strict():
    # Measured in `rlvr demo` (2 seeds): the real arm's neutral gains +0.254 and -0.095; the format-only arm
    # raised strict pass@1 (+0.125, +0.082) while its neutral pass@1 fell; the random arm stayed near 0.
    real = _arm("real", 0.0, 0.483, seeds=(0.0, -0.392), neutral=None)
    for run, n in zip(real["runs"], (0.254, -0.095)):
        run["sets"]["heldout"]["neutral"]["compression_gain"] = n
        run["counts"]["heldout"]["neutral"] = {"base": [300] * 10, "trained": [300 + round(n * 1000)] * 10}
    fmt = _arm("format", 0.0, 0.125, seeds=(0.0, -0.043), neutral=(0.237, 0.129))
    record = summarise_arms([real, _arm("random", 0.0, -0.004), fmt], None, "given", 0, 8, random_p=0.5)
    gain = record["arms"][0]["neutral"]["gain_pass@1"]
    assert gain["interval"][0] == -1.0 and gain["interval"][1] == 1.0  # two seeds this far apart: clipped to [-1, 1]
    assert gain["decision"] == "inconclusive" and gain["seeds"] == pytest.approx([0.254, -0.095])
    conclusion = record["conclusion"]
    assert conclusion.startswith("inconclusive: the interval of the real arm's change in format-neutral held-out "
                                 "pass@1 admits both no gain and a gain above 0.05 (+0.080, interval [-1.000, +1.000] "
                                 "over 2 seeds and 10 problems)")
    assert "Strict reading: the format control moved held-out strict pass@1 by +0.104" in conclusion
    assert "verifier's signal" not in conclusion and "side effect" not in conclusion


# -- --seeds auto ------------------------------------------------------------------------------


def _seed_with_counts(rng: np.random.Generator, base: float, trained: float) -> dict:
    """One seed of the real arm as `run_result` returns it (only what `--seeds auto` reads): 40 problems."""
    from rlvr.evaluate.gains import pass_counts

    def record(rate: float) -> dict:
        return {"tasks": [{"id": f"t{j}", "n": 8, "passed": int(c), "passed_neutral": int(c)}
                          for j, c in enumerate(rng.binomial(8, rate, size=40))]}

    return {"counts": pass_counts(record(base), record(trained))}


def test_seeds_auto_trains_the_real_arm_until_its_decision():
    from rlvr.workflows.spurious import _real_arm_until_decided

    rng = np.random.default_rng(0)
    trained: list[int] = []

    def train_seed(i: int) -> dict:
        trained.append(i)
        return _seed_with_counts(rng, 0.2, 0.8)

    runs, sequential = _real_arm_until_decided(train_seed, 6, 0.05)
    assert len(runs) == len(trained) == sequential["seeds_used"] < 6 and sequential["stopped"]
    assert sequential["looks"] == 5 and "Bonferroni" in sequential["method"] and "0.0100" in sequential["method"]
    # Nothing to find and few problems: the maximum is spent and the record says no decision was reached.
    runs, sequential = _real_arm_until_decided(lambda i: _seed_with_counts(rng, 0.5, 0.5), 3, 0.05)
    assert len(runs) == 3 and not sequential["stopped"]


def test_spurious_seeds_auto_end_to_end(tiny_run, capsys):
    main(["spurious", str(tiny_run / "config.yaml"), "run.steps=1", "--seeds", "auto", "--max-seeds", "2"])
    record = json.loads((tiny_run / "run-spurious" / "spurious.json").read_text())
    assert record["seeds"] == [5, 6] and record["sequential"]["max_seeds"] == 2
    assert record["sequential"]["looks"] == 1 and record["sequential"]["seeds_used"] == 2
    assert {a["name"]: [s["seed"] for s in a["seeds"]] for a in record["arms"]} == {"real": [5, 6], "random": [5, 6]}
    real = record["arms"][0]["neutral"]["gain_pass@1"]
    assert real["analysis"]["spans_seeds"] and real["analysis"]["problems"] == 6
    assert "across seeds and problems" in capsys.readouterr().out


# -- the label-free majority arm --------------------------------------------------------------


def test_majority_arm_trains_on_the_group_reward_and_every_other_arm_does_not(tmp_path, monkeypatch):
    import rlvr.train.trainer
    import rlvr.workflows.spurious as spurious

    config = load_config(None, ["data.train=x.jsonl", "data.eval=y.jsonl", "data.reward={name: math}"])
    plan = arms(config, 0.5, ("random", "majority"))
    assert [(a.name, a.group_reward) for a in plan] == [("real", ""), ("random", ""), ("majority", "majority")]
    assert plan[2].reward == {"name": "math"}  # its verdicts (pass_rate) stay the real reward's
    trained = {}
    monkeypatch.setattr(rlvr.train.trainer, "train", lambda c, progress: trained.setdefault(
        Path(c.run.output_dir).name, c.data))
    monkeypatch.setattr(spurious, "run_result", lambda seed, run_dir: {})
    monkeypatch.setattr(spurious, "summarise_arms", lambda results, *args, **kwargs: {"arms": results})
    spurious.run_spurious(replace(config, data=replace(config.data, group_reward="majority")), tmp_path,
                          controls=("random", "majority"), progress=False)
    assert {name: data.group_reward for name, data in trained.items()} == {
        "real": "majority", "random": "", "majority": "majority"}  # a control never inherits the real arm's


def test_the_majority_flag_adds_the_arm(tmp_path, monkeypatch):
    import rlvr.workflows.spurious as spurious

    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"data": {"train": "x.jsonl", "eval": "y.jsonl"}}))
    asked = {}

    def fake_run(config, root, **options):
        asked.update(options)
        return {"warnings": []}

    monkeypatch.setattr(spurious, "run_spurious", fake_run)
    monkeypatch.setattr(spurious, "format_spurious", lambda record: "")
    assert main(["spurious", str(tmp_path / "config.yaml"), "--majority", "--output-dir", str(tmp_path)]) == 0
    assert asked["controls"] == ("random", "majority")
    assert main(["spurious", str(tmp_path / "config.yaml"), "--majority", "--format"]) == 0
    assert asked["controls"] == ("random", "format", "majority")
