"""Evaluation: pass@k with confidence intervals, on any policy and task set."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rlvr.evaluate.passk import bootstrap_ci, pass_at_k, powers_of_two

if TYPE_CHECKING:
    from rlvr.evaluate.runner import (
        EvalSettings,
        combine_sets,
        eval_sets,
        evaluate,
        evaluate_sets,
        format_summary,
        write_eval,
    )

__all__ = [
    "EvalSettings",
    "bootstrap_ci",
    "combine_sets",
    "eval_sets",
    "evaluate",
    "evaluate_sets",
    "format_summary",
    "pass_at_k",
    "powers_of_two",
    "write_eval",
]

_RUNNER = {"EvalSettings", "combine_sets", "eval_sets", "evaluate", "evaluate_sets", "format_summary", "write_eval"}


def __getattr__(name: str) -> Any:
    # The runner imports torch (through the sampler); loading it on first use keeps
    # `rlvr --help` and the commands that live in this package quick to start.
    if name in _RUNNER:
        return getattr(importlib.import_module("rlvr.evaluate.runner"), name)
    raise AttributeError(f"module 'rlvr.evaluate' has no attribute {name!r}")
