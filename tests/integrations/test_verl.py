"""verl's custom reward signature and routing."""

from __future__ import annotations

import inspect

import pytest

from rlvr._errors import ConfigError
from rlvr.integrations.verl import compute_score


def test_signature_matches_verl():
    params = list(inspect.signature(compute_score).parameters)
    assert params[:4] == ["data_source", "solution_str", "ground_truth", "extra_info"]


@pytest.mark.parametrize(
    ("data_source", "solution", "truth", "extra", "score"),
    [
        ("rlvr/math", "so \\boxed{4}", "4", None, 1.0),
        ("rlvr/math", "so \\boxed{5}", "4", None, 0.0),
        ("lighteval/MATH", "\\boxed{\\frac{1}{2}}", "0.5", None, 1.0),
        ("openai/gsm8k", "The answer is 72", "72", None, 1.0),
        ("anything", "72", "72", {"verifier": {"name": "math", "answer": "bare"}}, 1.0),
    ],
)
def test_routes_and_scores(data_source, solution, truth, extra, score):
    out = compute_score(data_source, solution, truth, extra_info=extra)
    assert out["score"] == score and out["acc"] == score
    assert set(out) == {"score", "acc", "parseable"} and all(isinstance(v, float) for v in out.values())


def test_unroutable_data_source_is_a_config_error():
    with pytest.raises(ConfigError, match="no rlvr verifier for data_source 'mystery'"):
        compute_score("mystery", "1", "1")
