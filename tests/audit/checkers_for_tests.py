"""Check functions the audit tests pass by "module:function" (worker processes import them)."""

from __future__ import annotations

import os


def exact_text(completion: str, reference: object) -> float:
    """An independent, strict checker: the whole completion is the reference, nothing else."""
    return float(completion.strip() == str(reference))


def passes_once(completion: str, reference: object) -> float:
    """1.0 on the first call for a marker path (the reference), 0.0 on every later call, in any
    process: a verdict that a cached second run would repeat and a fresh one does not."""
    if not (isinstance(reference, str) and os.path.isabs(reference)):
        return 0.0  # not a marker path (the audit's warm-up check, say)
    try:
        fd = os.open(reference, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return 0.0
    os.close(fd)
    return 1.0


def accept_everything(completion: str, reference: object) -> float:
    return 1.0


def exact_box(completion: str, reference: object) -> float:
    """A strict independent checker for eval runs: exactly `\\boxed{reference}` and nothing else."""
    return float(completion.strip() == f"\\boxed{{{reference}}}")
