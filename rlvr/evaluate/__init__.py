"""Evaluation: pass@k with confidence intervals on any policy and task set, what training bought
(strict and format-neutral readings), the reasoning boundary at large k, and the release gate.

    from rlvr.evaluate import EvalSettings, evaluate, compare
    record = evaluate(engine, tasks, EvalSettings())        # the eval record (write_eval saves it)
    result = compare(base_record, trained_record)           # search compression vs capability gain

Names load on first use: the runner imports torch (through the sampler), and `rlvr --help`
must not pay for it.
"""

from __future__ import annotations

from rlvr._lazy import lazy_exports

_EXPORTS = {
    "bootstrap_ci": "passk", "pass_at_k": "passk", "powers_of_two": "passk",
    "EvalSettings": "runner", "check_eval_record": "runner", "combine_sets": "runner", "eval_sets": "runner",
    "evaluate": "runner", "evaluate_sets": "runner", "format_summary": "runner", "set_name": "runner",
    "write_eval": "runner",
    "compare": "gains", "compare_sets": "gains", "format_comparison": "gains", "format_comparison_sets": "gains",
    "boundary_sets": "boundary", "format_boundary": "boundary",
    "Rule": "gate", "parse_rules": "gate", "run_gate": "gate",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
