"""Verify many groups of completions: the one grouped-verify path of the trainer and the evaluator.

    verdicts = judge(specs, references, texts)              # [group][sample] -> Verdict (strict)
    neutral = judge_neutral(specs, references, texts, verdicts)   # [group][sample] -> bool

Group g has one verifier spec and one reference, and texts[g] holds its completions. The checks
of all groups that share a verifier spec go out as one `verify_batch`, so the workers
(processes, threads or Ray tasks) stay busy across groups.

The strict reading is the task's own verifier. The neutral reading (`Verifier.neutral`) asks
whether the answer would be right if its format were ignored; a strictly correct sample is
neutrally correct, so only the strictly failed ones are read again, and verifiers whose format
is not separable (neutral() is the verifier itself) cost nothing more.
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Callable, Sequence

from rlvr._errors import DataError, RlvrError
from rlvr.envs import get_env
from rlvr.verifiers import Verdict, Verifier, get_verifier

__all__ = ["check_references", "check_verifiers", "judge", "judge_neutral", "unreadable_references"]

Spec = Any  # a verifier spec as a task file holds it: a name or {"name": ..., options}
Slot = tuple[int, int]  # (group, sample)


def check_verifiers(tasks: Sequence[Any], source: str = "") -> None:
    """Build each distinct verifier spec of `tasks` once, and each distinct environment a task names, so an
    unknown name, a module not allowed or a bad option fails before any model loads; DataError names the first
    task (and `source`, the file) using it."""
    seen: set[str] = set()
    for task in tasks:
        env = getattr(task, "env", None)
        for what, spec, build in (("verifier", task.verifier, get_verifier), ("environment", env, get_env)):
            key = what + json.dumps(spec, sort_keys=True, default=str)
            if key in seen or spec is None:
                continue
            seen.add(key)
            try:
                build(spec)
            except (RlvrError, TypeError, ValueError) as exc:
                where = f"{source}: task {task.id!r}" if source else f"task {task.id!r}"
                raise DataError(f"{where}: its {what} cannot be built: {str(exc).rstrip('.')}.") from None


def unreadable_references(tasks: Sequence[Any]) -> list[tuple[str, str]]:
    """(task id, reason) of each task whose verifier cannot read its reference (`Verifier.check_reference`):
    every completion of such a task scores 0, so its sampling would be wasted."""
    verifiers: dict[str, Verifier] = {}
    found = []
    for task in tasks:
        key = json.dumps(task.verifier, sort_keys=True, default=str)
        if key not in verifiers:
            verifiers[key] = get_verifier(task.verifier)
        reason = verifiers[key].check_reference(task.reference)
        if reason is not None:
            found.append((task.id, reason))
    return found


def check_references(tasks: Sequence[Any], source: str = "", strict: bool = False, flag: str = "--strict-references"
                     ) -> list[tuple[str, str]]:
    """Warn, before any sampling, about the tasks whose reference their verifier cannot read (naming the count
    and the first ids); with `strict`, raise DataError instead. Returns them."""
    found = unreadable_references(tasks)
    if found:
        first = "; ".join(f"{task_id!r} ({reason.rstrip('.')})" for task_id, reason in found[:3])
        where = f"{source}: " if source else ""
        message = (f"{where}{len(found)} of {len(tasks)} tasks have a reference their verifier cannot read, so every "
                   f"completion of them scores 0 (first: {first})")
        if strict:
            raise DataError(f"{message}; fix or drop those tasks.")
        warnings.warn(f"{message}; fix them, or set {flag} to make this an error.", UserWarning, stacklevel=2)
    return found


def judge(specs: Sequence[Spec], references: Sequence[Any], texts: Sequence[Sequence[str]], *, workers: int = 2,
          backend: str = "local", progress: Callable[[int], Any] | None = None) -> list[list[Verdict]]:
    """Strict verdicts, [group][sample]; `progress(n)` after each batch of n checks."""
    slots = [(g, j) for g in range(len(texts)) for j in range(len(texts[g]))]
    return _run(specs, references, texts, slots, lambda v: v, workers, backend, progress)


def judge_neutral(specs: Sequence[Spec], references: Sequence[Any], texts: Sequence[Sequence[str]],
                  strict: Sequence[Sequence[Verdict]], *, workers: int = 2, backend: str = "local") -> list[list[bool]]:
    """Whether each sample is right when read format-neutrally, [group][sample]."""
    failed = [(g, j) for g in range(len(texts)) for j in range(len(texts[g])) if not strict[g][j].passed]
    verdicts = _run(specs, references, texts, failed, lambda v: v.neutral(), workers, backend, None,
                    fallback=strict)
    return [[strict[g][j].passed or verdicts[g][j].passed for j in range(len(texts[g]))] for g in range(len(texts))]


def _run(specs: Sequence[Spec], references: Sequence[Any], texts: Sequence[Sequence[str]], slots: list[Slot],
         reading: Callable[[Verifier], Verifier], workers: int, backend: str,
         progress: Callable[[int], Any] | None, fallback: Sequence[Sequence[Verdict]] | None = None,
         chunk: int = 64) -> list[list[Verdict]]:
    """Verdicts of `slots` under `reading(verifier)`; other slots keep `fallback`'s verdict."""
    out: list[list[Verdict | None]] = [list(fallback[g]) if fallback else [None] * len(texts[g])
                                       for g in range(len(texts))]
    by_spec: dict[str, list[Slot]] = {}
    verifiers: dict[str, Verifier] = {}
    for g, j in slots:
        key = json.dumps(specs[g], sort_keys=True)
        if key not in verifiers:
            verifiers[key] = get_verifier(specs[g])
        by_spec.setdefault(key, []).append((g, j))
    for key, where in by_spec.items():
        strict = verifiers[key]
        verifier = reading(strict)
        if fallback is not None and verifier is strict:  # the same reading: the strict verdict stands
            continue
        # Chunks keep a progress bar moving; each chunk is checked `workers` at a time.
        for begin in range(0, len(where), chunk):
            part = where[begin : begin + chunk]
            pairs = [(texts[g][j], references[g]) for g, j in part]
            for (g, j), verdict in zip(part, verifier.verify_batch(pairs, workers=workers, backend=backend)):
                out[g][j] = verdict
            if progress is not None:
                progress(len(part))
    return out  # type: ignore[return-value]
