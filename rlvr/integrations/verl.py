"""rlvr verifiers as a verl custom reward function.

In a verl config:

    custom_reward_function:
      path: /path/to/site-packages/rlvr/integrations/verl.py
      name: compute_score

verl calls `compute_score(data_source, solution_str, ground_truth, extra_info=None)` once per
sample. The verifier is chosen by, in order: `extra_info["verifier"]` (a name or a spec dict),
a `data_source` of the form "rlvr/<verifier>", or the routing table below (math datasets).
The returned dict has "score" (the reward) plus numeric keys verl logs: "acc", "parseable".
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from rlvr._errors import ConfigError
from rlvr.verifiers import Verifier, get_verifier

# data_source values used by verl's example datasets, and the verifier that judges them.
ROUTES: dict[str, str | dict] = {
    "openai/gsm8k": {"name": "math", "answer": "boxed_or_bare"},
    "lighteval/MATH": "math",
    "DigitalLearningGmbH/MATH-lighteval": "math",
    "math": "math",
}


@lru_cache(maxsize=64)
def _verifier(spec_json: str) -> Verifier:
    return get_verifier(json.loads(spec_json))


def route(data_source: str, extra_info: dict | None = None) -> str | dict:
    """The verifier spec for one sample."""
    if extra_info and extra_info.get("verifier"):
        return extra_info["verifier"]
    if data_source.startswith("rlvr/"):
        return data_source.removeprefix("rlvr/")
    if data_source in ROUTES:
        return ROUTES[data_source]
    raise ConfigError(
        f"no rlvr verifier for data_source '{data_source}'; name one as data_source 'rlvr/<verifier>' "
        "or in extra_info['verifier']."
    )


def compute_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None, **kwargs: Any
) -> dict[str, float]:
    """verl's reward signature. Bad routing raises (a config error); bad model output scores 0.

    >>> compute_score("rlvr/math", "so \\\\boxed{4}", "4")["score"]
    1.0
    """
    spec = route(data_source, extra_info)
    verdict = _verifier(json.dumps(spec, sort_keys=True)).verify(solution_str, ground_truth)
    return {"score": verdict.reward, "acc": float(verdict.passed), "parseable": float(verdict.parsed)}
