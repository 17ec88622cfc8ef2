"""Evaluation: pass@k with confidence intervals, on any policy and task set."""

from rlvr.evaluate.passk import bootstrap_ci, pass_at_k, powers_of_two
from rlvr.evaluate.runner import EvalSettings, evaluate, format_summary, write_eval

__all__ = [
    "EvalSettings",
    "bootstrap_ci",
    "evaluate",
    "format_summary",
    "pass_at_k",
    "powers_of_two",
    "write_eval",
]
