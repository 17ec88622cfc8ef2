"""The evaluator on a fake engine with known completions: counts, pass@k, reasons, the file."""

from __future__ import annotations

import json

import pytest

from rlvr.evaluate import EvalSettings, evaluate, format_summary, write_eval
from rlvr.models import Completion, GenerationResult, SamplingParams
from rlvr.tasks import Task


class ScriptedEngine:
    """Returns fixed completions per prompt (an injected fake, like httpx's mock transport)."""

    def __init__(self, script: dict[str, list[str]]):
        self.script = script
        self.calls = []

    def generate(self, prompts, params, progress=None):
        self.calls.append(params)
        completions = [
            [Completion(text, [1] * (i + 1), [-0.1] * (i + 1), "stop" if i % 2 else "length")
             for i, text in enumerate(self.script[p][: params.n])]
            for p in prompts
        ]
        if progress:
            progress(len(prompts) * params.n, 10)
        return GenerationResult(completions, [[0]] * len(prompts), new_tokens=10, seconds=0.5)


TASKS = [
    Task(id="t1", prompt="What is 2 + 2?", reference="4", verifier={"name": "math", "answer": "bare"}, split="test"),
    Task(id="t2", prompt="What is 3 + 3?", reference="6", verifier={"name": "math", "answer": "bare"}, split="test"),
]
SCRIPT = {
    "What is 2 + 2?": ["4", "5", "The answer is 4.", "I think it is four and then some\nmore"],
    "What is 3 + 3?": ["7", "7", "8", "9"],
}


@pytest.fixture(scope="module")
def record():
    engine = ScriptedEngine(SCRIPT)
    out = evaluate(engine, TASKS, EvalSettings(SamplingParams(n=4), bootstrap_resamples=200), model_name="scripted",
                   tasks_source="inline", progress=False)
    assert engine.calls[0].n == 4
    return out


def test_per_task_counts_and_pass_at_k(record):
    assert [(t["id"], t["n"], t["passed"]) for t in record["tasks"]] == [("t1", 4, 2), ("t2", 4, 0)]
    summary = record["summary"]
    assert summary["pass@1"]["value"] == pytest.approx((2 / 4 + 0) / 2)
    assert summary["pass@4"]["value"] == pytest.approx(0.5)
    assert set(k for k in summary if k.startswith("pass@")) == {"pass@1", "pass@2", "pass@4"}
    low, high = summary["pass@1"]["ci"]
    assert low <= summary["pass@1"]["value"] <= high


def test_format_failures_are_visible(record):
    summary = record["summary"]
    assert summary["parseable"] == pytest.approx(7 / 8)  # one multi-line ramble could not be read
    assert summary["reasons"]["ok"] == 2 and summary["reasons"]["mismatch"] == 5
    assert summary["truncated_frac"] == pytest.approx(0.5)


def test_every_sample_is_kept_with_its_verdict(record):
    samples = record["samples"]
    assert len(samples) == 8
    assert samples[0] == {
        "task_id": "t1", "sample": 0, "text": "4", "reward": 1.0, "passed": True, "neutral": True, "reason": "ok",
        "detail": samples[0]["detail"], "tokens": 1, "finish_reason": "length",
    }


def test_eval_file_round_trips_and_summary_prints(record, tmp_path):
    path = tmp_path / "sub" / "eval.json"
    write_eval(record, path)
    assert json.loads(path.read_text())["summary"]["pass@4"]["value"] == pytest.approx(0.5)
    assert [p.name for p in path.parent.iterdir()] == ["eval.json"]  # no temp file left behind
    table = format_summary(record)
    assert "pass@1" in table and "pass@4" in table and "parseable" in table


def test_the_neutral_reading_sits_beside_the_strict_one():
    # SmolLM2's habit: an empty box, then the number; and a sentence ending in the answer.
    script = {"What is 2 + 2?": ["\\boxed{} 4", "2 + 2 is 4", "4", "5"], "What is 3 + 3?": ["It is 7.", "7", "6", "x"]}
    settings = EvalSettings(SamplingParams(n=4), bootstrap_resamples=100)
    out = evaluate(ScriptedEngine(script), TASKS, settings, progress=False)
    assert [t["passed"] for t in out["tasks"]] == [1, 1]
    assert [t["passed_neutral"] for t in out["tasks"]] == [3, 1]
    assert [s["neutral"] for s in out["samples"]] == [True, True, True, False, False, False, True, False]
    assert out["summary"]["pass@1"]["value"] == pytest.approx(0.25)
    assert out["summary"]["neutral"]["pass@1"]["value"] == pytest.approx(0.5)
    assert out["tasks"][0]["verifier"] == {"name": "math", "answer": "bare"}
    text = format_summary(out)
    assert "strict" in text and "neutral" in text and "0.500" in text
