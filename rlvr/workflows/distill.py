"""Rejection sampling: K completions per task, keep the verified-correct ones as an SFT dataset.

    rlvr distill --model smollm2-135m-instruct --tasks train.jsonl --k 16 -o sft.jsonl --keep shortest

Sampling and verification are `rlvr.evaluate.evaluate`, so the eval record written beside the
dataset (`sft.jsonl.eval.json`) holds every sample with its reward and reason, each marked
`kept` or not: the yield can be audited line by line. Only samples whose verdict `passed` are
kept; `keep` then chooses among a task's passing samples:

    all       every passing sample, duplicates included (they weight what the model finds often)
    shortest  the shortest (in tokens; ties: fewer characters, then sample order)
    diverse   distinct texts, picked greedily for dissimilarity: start from the shortest, then
              repeatedly take the text whose highest similarity to those already picked is
              lowest. Similarity is the Jaccard index of character 3-gram sets, which works
              for any language or tokenizer and needs no model.

`per_task` caps how many a task contributes (default: no cap for all, 1 for shortest, 4 for diverse).
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

from rlvr._errors import ConfigError
from rlvr.evaluate import EvalSettings, evaluate
from rlvr.models.generation import Engine
from rlvr.tasks import Task

Keep = Literal["all", "shortest", "diverse"]
KEEP_MODES: tuple[str, ...] = ("all", "shortest", "diverse")
DEFAULT_PER_TASK: dict[str, int | None] = {"all": None, "shortest": 1, "diverse": 4}


def select(samples: Sequence[dict[str, Any]], keep: Keep = "all", per_task: int | None = None) -> list[dict[str, Any]]:
    """The passing samples of one task that go into the dataset, in the order they are kept.

    samples: the task's sample records from an eval record (`text`, `passed`, `tokens`, `sample`).
    """
    if keep not in KEEP_MODES:
        raise ConfigError(f"keep must be one of {', '.join(KEEP_MODES)}, got {keep!r}.")
    limit = DEFAULT_PER_TASK[keep] if per_task is None else per_task
    if limit is not None and limit < 1:
        raise ConfigError(f"per_task must be at least 1, got {limit}.")
    passing = [s for s in samples if s["passed"]]
    if keep == "shortest":
        passing.sort(key=_length)
    elif keep == "diverse":
        passing = _diverse(passing, limit or len(passing))
    return passing[:limit]


def _length(sample: dict[str, Any]) -> tuple[int, int, int]:
    return sample["tokens"], len(sample["text"]), sample["sample"]


def _ngrams(text: str, n: int = 3) -> frozenset[str]:
    text = " ".join(text.split())  # whitespace runs do not make texts different
    return frozenset(text[i : i + n] for i in range(max(1, len(text) - n + 1)))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _diverse(samples: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Greedy farthest-point selection over distinct texts (see the module docstring)."""
    distinct: dict[str, dict[str, Any]] = {}
    for sample in sorted(samples, key=_length):  # the shortest copy of each text represents it
        distinct.setdefault(sample["text"].strip(), sample)
    pool = list(distinct.values())
    grams = {id(s): _ngrams(s["text"]) for s in pool}
    chosen = pool[:1]
    pool = pool[1:]
    while pool and len(chosen) < limit:
        # The candidate least similar to its nearest chosen text; min() keeps the shorter on ties.
        best = min(pool, key=lambda s: max(_jaccard(grams[id(s)], grams[id(c)]) for c in chosen))
        chosen.append(best)
        pool.remove(best)
    return chosen


def sft_rows(tasks: Sequence[Task], record: dict[str, Any], keep: Keep = "all",
             per_task: int | None = None) -> list[dict[str, Any]]:
    """Chat-format SFT examples from an eval record; marks each of its samples `kept` true or false."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for sample in record["samples"]:
        sample["kept"] = False
        by_task.setdefault(sample["task_id"], []).append(sample)
    rows = []
    for task in tasks:
        prompt = [{"role": "user", "content": task.prompt}] if isinstance(task.prompt, str) else task.prompt
        for sample in select(by_task.get(task.id, []), keep, per_task):
            sample["kept"] = True
            rows.append({"messages": [*prompt, {"role": "assistant", "content": sample["text"]}],
                         "task_id": task.id, "reward": sample["reward"]})
    return rows


def distill(engine: Engine, tasks: Sequence[Task], settings: EvalSettings, keep: Keep = "all",
            per_task: int | None = None, *, model_name: str = "", tasks_source: str = "",
            progress: bool = True) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Sample `settings.k` completions per task, verify, select; returns (SFT rows, eval record).

    The eval record carries a `distill` entry with the yield and each sample's `kept` flag.
    """
    select([], keep, per_task)  # bad options fail before any sampling
    record = evaluate(engine, tasks, settings, model_name=model_name, tasks_source=tasks_source, progress=progress)
    rows = sft_rows(tasks, record, keep, per_task)
    record["distill"] = {
        "keep": keep,
        "per_task": per_task if per_task is not None else DEFAULT_PER_TASK[keep],
        "tasks": len(tasks),
        "tasks_with_kept": len({r["task_id"] for r in rows}),
        "sampled": len(record["samples"]),
        "passed": sum(s["passed"] for s in record["samples"]),
        "kept": len(rows),
    }
    return rows, record


def format_yield(stats: dict[str, Any]) -> str:
    """One line: tasks with at least one kept completion, and completions kept of those sampled."""
    tasks, sampled = max(stats["tasks"], 1), max(stats["sampled"], 1)
    return (f"yield: {stats['tasks_with_kept']} of {stats['tasks']} tasks have a kept completion "
            f"({stats['tasks_with_kept'] / tasks:.1%}); kept {stats['kept']} of {stats['sampled']} sampled "
            f"completions ({stats['kept'] / sampled:.1%}; {stats['passed']} passed, keep={stats['keep']})")
