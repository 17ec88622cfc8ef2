"""The boundary at large k: crossover, solvability, support metrics and chance, on constructed eval files."""

from __future__ import annotations

import json

import pytest

from rlvr.cli import main
from rlvr.evaluate.boundary import boundary, crossover, format_boundary, solvability, support_metrics


def record(passed: list[int], n: int, neutral: list[int] | None = None) -> dict:
    return {"tasks": [{"id": f"t{i}", "n": n, "passed": c, "passed_neutral": (neutral or passed)[i]}
                      for i, c in enumerate(passed)]}


def test_curves_that_cross_at_a_known_k():
    # n = 4. Base: every task 1 of 4 right, pass@k = k/4. Trained: half the tasks always, half never: 0.5 at every k.
    result = boundary(record([1] * 20, 4), record([4, 0] * 10, 4), resamples=300, chance=False)
    r = result["readings"]["strict"]
    assert r["k"] == [1, 2, 4]
    assert r["base"] == pytest.approx([0.25, 0.5, 1.0]) and r["trained"] == pytest.approx([0.5, 0.5, 0.5])
    assert r["crossover"] == 2  # 0.25 < 0.5 at k = 1; 0.5 >= 0.5 at k = 2
    low, high = r["crossover_ci"]
    assert low <= 2 <= high
    assert "crossover (smallest k with base pass@k >= trained): 2" in format_boundary({"sets": {"x": result}})


def test_no_crossover_up_to_k_is_said_so():
    # Base: half the tasks 1 of 4, half never (pass@4 = 0.5); trained: every task 1 of 4 (pass@4 = 1).
    result = boundary(record([1, 0] * 10, 4), record([1] * 20, 4), resamples=300, chance=False)
    r = result["readings"]["strict"]
    assert r["crossover"] is None and r["crossover_none_frac"] > 0.9
    assert "none up to 4" in format_boundary({"sets": {"x": result}})
    assert crossover([0.2, 0.3], [0.6, 0.7]) is None
    assert crossover([0.5, 0.6], [0.4, 0.9]) == 1  # the trained model never led


def test_solvability_and_support_metrics_by_hand():
    # Base solves t0-t7 (8), trained t0-t5 and t8 (7): P = 6 both, S = 2 (t6, t7), E = 1 (t8), neither 1 (t9).
    base = [3, 3, 3, 3, 3, 3, 1, 1, 0, 0]
    trained = [8, 8, 8, 8, 8, 8, 0, 0, 2, 0]
    r = boundary(record(base, 8), record(trained, 8), resamples=100, chance=False)["readings"]["neutral"]
    table = r["solvability"]
    assert (table["both"], table["base_only"], table["trained_only"], table["neither"]) == (6, 2, 1, 1)
    assert table["base_only_ids"] == ["t6", "t7"] and table["trained_only_ids"] == ["t8"]
    srr, ndr = 6 / 8, 1 / 7
    assert r["support"] == pytest.approx({"SRR": srr, "NDR": ndr, "NSCR": (1 - 2) / 8,
                                          "SDS": 2 * srr * ndr / (srr + ndr)})
    assert support_metrics(0, 0, 0) == {"SRR": None, "NDR": None, "NSCR": None, "SDS": None}
    assert solvability([True, False], [False, False], ["a", "b"])["base_only_ids"] == ["a"]


def test_each_reading_has_its_own_boundary():
    # Strictly the base never answers; read neutrally it solved every task: the trained model shows no expansion.
    result = boundary(record([0] * 10, 8, neutral=[2] * 10), record([5] * 10, 8), resamples=100, chance=False)
    assert result["readings"]["strict"]["solvability"]["trained_only"] == 10
    assert result["readings"]["neutral"]["solvability"]["trained_only"] == 0
    assert result["readings"]["neutral"]["support"]["NDR"] == 0.0


def with_samples(references: list[str], answers: list[str], k: int) -> dict:
    """A math eval record: every task's k samples give the same bare answer."""
    verifier = {"name": "math", "answer": "bare"}
    tasks = [{"id": f"t{i}", "n": k, "passed": k * (a == r), "passed_neutral": k * (a == r), "reference": r,
              "verifier": verifier} for i, (r, a) in enumerate(zip(references, answers))]
    samples = [{"task_id": f"t{i}", "sample": j, "text": a, "passed": a == r}
               for i, (r, a) in enumerate(zip(references, answers)) for j in range(k)]
    return {"tasks": tasks, "samples": samples}


def test_chance_scores_samples_against_other_tasks_references():
    # A tiny answer space: every reference is 5, so any "5" is right for every task; chance = 1.
    same = with_samples(["5"] * 4, ["5"] * 4, 2)
    r = boundary(same, same, resamples=50)["readings"]["strict"]
    assert r["base_chance"] == pytest.approx([1.0, 1.0]) and r["base_above_chance"] == pytest.approx([0.0, 0.0])
    # Distinct references: right answers are wrong for any other task; chance = 0.
    distinct = with_samples(["1", "2", "3", "4"], ["1", "2", "3", "4"], 2)
    r = boundary(distinct, distinct, resamples=50)["readings"]["neutral"]
    assert r["trained_chance"] == pytest.approx([0.0, 0.0]) and r["trained_above_chance"] == pytest.approx([1.0, 1.0])


def test_cli_reads_old_and_new_files_and_writes_json(tmp_path, capsys):
    (tmp_path / "b.json").write_text(json.dumps({"tasks": [{"id": f"t{i}", "n": 4, "passed": 1} for i in range(20)]}))
    (tmp_path / "t.json").write_text(json.dumps(record([4, 0] * 10, 4)))
    assert main(["boundary", str(tmp_path / "b.json"), str(tmp_path / "t.json"), "--json",
                 str(tmp_path / "out.json"), "--resamples", "200"]) == 0
    out = capsys.readouterr().out
    assert "strict reading" in out and "neutral reading" in out and "support (Wu et al.)" in out
    saved = json.loads((tmp_path / "out.json").read_text())
    assert next(iter(saved["sets"].values()))["readings"]["strict"]["crossover"] == 2
    assert main(["boundary", str(tmp_path / "b.json"), str(tmp_path / "t.json"), "--resamples", "0"]) == 2


def test_base_likelihood_equals_a_direct_teacher_forced_computation():
    import torch

    from conftest import make_tiny_policy
    from rlvr.evaluate.boundary import base_likelihood, completion_logprob

    policy = make_tiny_policy(seed=1)
    prompt, text = "What is 3 + 4 ?", "7 is the final number"
    prompt_ids = policy.encode(prompt)
    completion = policy.tokenizer(text, add_special_tokens=False)["input_ids"] + [min(policy.eos_token_ids)]
    direct = []
    with torch.no_grad():  # one prefix at a time: log p(token t | prompt, tokens before t)
        for t, token in enumerate(completion):
            logits = policy.model(input_ids=torch.tensor([prompt_ids + completion[:t]])).logits[0, -1]
            direct.append(float(torch.log_softmax(logits.float(), dim=-1)[token]))
    assert completion_logprob(policy, prompt, text, stopped=True) == pytest.approx(sum(direct) / len(direct), abs=1e-5)

    # Which samples count, and the share of trained solutions inside the base's own range.
    def rec(texts: list[tuple[str, bool]]) -> dict:
        return {"tasks": [{"id": "a", "n": len(texts), "passed": 0}],
                "samples": [{"task_id": "a", "text": x, "passed": ok, "neutral": ok, "finish_reason": "stop"}
                            for x, ok in texts]}

    base = rec([("7", True), ("7 is the final number", True), ("8", False)])
    trained = rec([("7", True), ("a b c d 7", True)])
    result = base_likelihood(policy, {"a": prompt}, base, trained)
    values = {x: completion_logprob(policy, prompt, x, stopped=True)
              for x in ("7", "7 is the final number", "a b c d 7")}
    low, high = sorted([values["7"], values["7 is the final number"]])
    assert result["base"]["n"] == 2 and result["trained"]["n"] == 2
    inside = [low <= values[x] <= high for x in ("7", "a b c d 7")]
    assert result["inside_share"] == pytest.approx(sum(inside) / 2)


def test_cot_pass_at_k_is_a_third_reading_for_arithmetic_answers():
    base = with_samples(["7", "9"], ["7", "9"], 2)
    trained = with_samples(["7", "9"], ["7", "9"], 2)
    trained["samples"][0]["text"] = "3 + 4 = 8, so 7"  # right answer behind a false step
    trained["samples"][0]["neutral"] = True
    result = boundary(base, trained, resamples=50, chance=False)
    assert set(result["readings"]) == {"strict", "neutral", "cot"}
    cot = result["readings"]["cot"]
    assert cot["base"][0] == pytest.approx(1.0) and cot["trained"][0] == pytest.approx(0.75)
    assert "CoT-pass@k" in format_boundary({"sets": {"x": result}})
    # Not arithmetic (a code task): no CoT reading.
    code = {"tasks": [{"id": "a", "n": 1, "passed": 1, "verifier": "code", "reference": {}}],
            "samples": [{"task_id": "a", "text": "x = 1", "passed": True}]}
    assert "cot" not in boundary(code, code, resamples=10, chance=False)["readings"]


def test_cli_base_likelihood_needs_prompts_before_any_model_loads(tmp_path, capsys):
    from conftest import save_tiny_model

    def rec(with_prompts: bool) -> dict:
        tasks = [{"id": f"t{i}", "n": 2, "passed": 1, "passed_neutral": 1, "reference": str(i),
                  **({"prompt": f"What is {i} + 0 ?"} if with_prompts else {})} for i in range(3)]
        samples = [{"task_id": f"t{i}", "sample": j, "text": str(i) if j == 0 else "a b", "passed": j == 0,
                    "neutral": j == 0, "finish_reason": "stop"} for i in range(3) for j in range(2)]
        return {"tasks": tasks, "samples": samples}

    (tmp_path / "old.json").write_text(json.dumps(rec(False)))
    (tmp_path / "new.json").write_text(json.dumps(rec(True)))
    assert main(["boundary", str(tmp_path / "old.json"), str(tmp_path / "old.json"), "--base-model",
                 str(tmp_path / "no-model"), "--no-chance"]) == 2
    assert "give the task files with --tasks" in capsys.readouterr().err
    save_tiny_model(tmp_path / "model")
    assert main(["boundary", str(tmp_path / "new.json"), str(tmp_path / "new.json"), "--base-model",
                 str(tmp_path / "model"), "--no-chance", "--resamples", "20", "--json", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "base likelihood of correct completions" in out and "100% of the trained model's solutions" in out
    saved = next(iter(json.loads((tmp_path / "b.json").read_text())["sets"].values()))
    assert saved["base_likelihood"]["base"]["n"] == 3 and saved["base_likelihood"]["inside_share"] == 1.0
