"""Workflows: orchestration over train and evaluate, each usable from Python without the CLI.

    from rlvr.workflows import run_spurious, run_demo, run_pipeline, curate
    from rlvr.workflows import EvalJob, run_eval, DistillJob, run_distill, AuditJob, audit_verifier
    from rlvr.workflows import CompareJob, run_compare, GateJob, gate_candidate

- `spurious`: the training config again with random and format-only rewards, over seeds;
- `demo`: the whole story on the bundled model (base eval, curation, GRPO with controls, compare, report);
- `pipeline`: distill -> sft -> grpo -> eval -> compare -> gate stages in one run tree;
- `evaluation`, `distill`, `audit`, `comparison`, `gate`: `rlvr eval`, `rlvr distill`, `rlvr audit`,
  `rlvr compare`, `rlvr gate` as a function of a typed, frozen job (EvalJob, DistillJob, AuditJob,
  CompareJob, GateJob); the command line and the pipeline both build the job and call the function;
- `curation`: keep the prompts a model sometimes solves.

Names load on first use (the workflows import torch through the trainer).
"""

from __future__ import annotations

from rlvr._lazy import lazy_exports

_EXPORTS = {
    "run_spurious": "spurious", "format_spurious": "spurious",
    "Plan": "demo", "run_demo": "demo", "verdict_in_words": "demo",
    "load_pipeline": "pipeline", "run_pipeline": "pipeline",
    "format_yield": "distill", "select": "distill", "sft_rows": "distill",
    "DistillJob": "distill", "run_distill": "distill", "EvalJob": "evaluation", "run_eval": "evaluation",
    "AuditJob": "audit", "audit_verifier": "audit",
    "CompareJob": "comparison", "run_compare": "comparison", "GateJob": "gate", "gate_candidate": "gate",
    "curate": "curation", "pass_rates": "curation",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
