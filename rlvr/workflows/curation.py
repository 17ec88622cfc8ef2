"""Offline curation: keep the prompts a model sometimes solves.

A prompt the base model always solves (pass rate 1) or never solves (0) gives groups of
equal rewards, hence zero advantage and no gradient. GRPO learns from the middle band;
the default 0.3-0.7 is the sweet spot reported for GRPO-style training.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from rlvr._errors import ConfigError, DataError
from rlvr.tasks import Task


def pass_rates(eval_record: dict[str, Any], by: str = "passed") -> dict[str, float]:
    """Per-task pass rate from an eval record (`rlvr eval -o eval.json`).

    by="reward" takes the mean reward instead: with a shaped reward (format credit, partial
    credit) a prompt nobody solves can still give groups of unequal rewards, hence a gradient.
    """
    if by == "reward":
        return {t["id"]: t["mean_reward"] for t in eval_record["tasks"] if t["n"]}
    if by != "passed":
        raise ConfigError(f"curation reads pass rates by 'passed' or 'reward', not {by!r}.")
    return {t["id"]: t["passed"] / t["n"] for t in eval_record["tasks"] if t["n"]}


def curate(tasks: Sequence[Task], rates: dict[str, float], low: float = 0.3, high: float = 0.7
           ) -> tuple[list[Task], dict[str, int]]:
    """Tasks whose pass rate lies in [low, high], each with meta["pass_rate"], and a count per band."""
    if not 0.0 <= low <= high <= 1.0:
        raise ConfigError(f"the band must satisfy 0 <= low <= high <= 1, got {low}-{high}.")
    missing = [t.id for t in tasks if t.id not in rates]
    if missing:
        raise DataError(f"no pass rate for task '{missing[0]}' (and {len(missing) - 1} more); "
                        "evaluate the same task file first.")
    counts = {"never (0)": 0, f"rarely (0-{low})": 0, f"in band [{low}, {high}]": 0, f"often ({high}-1)": 0,
              "always (1)": 0}
    kept = []
    for task in tasks:
        rate = rates[task.id]
        if low <= rate <= high:
            counts[f"in band [{low}, {high}]"] += 1
            kept.append(replace(task, meta={**task.meta, "pass_rate": rate}))
        elif rate == 0:
            counts["never (0)"] += 1
        elif rate == 1:
            counts["always (1)"] += 1
        elif rate < low:
            counts[f"rarely (0-{low})"] += 1
        else:
            counts[f"often ({high}-1)"] += 1
    return kept, counts
