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

A task with an environment gives a multi-turn row: the episode's transcript, the task's "env" and
"episode_start" (where the sampled turns begin, after the opening messages); `rlvr sft` trains on every
assistant turn of it (rlvr/sft/trainer.py).

`rlvr distill` and the pipeline's distill stage both run a `DistillJob` through `run_distill`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from rlvr._errors import ConfigError, DataError
from rlvr.evaluate import EvalSettings, evaluate
from rlvr.models.generation import Engine
from rlvr.models.spec import EngineSpec
from rlvr.report import format_yield  # rendered in report/; still importable from here
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
            if task.env is None:
                rows.append({"messages": [*prompt, {"role": "assistant", "content": sample["text"]}],
                             "task_id": task.id, "reward": sample["reward"]})
            else:
                rows.append(_episode_row(task, sample))
    return rows


def _episode_row(task: Task, sample: dict[str, Any]) -> dict[str, Any]:
    """A multi-turn SFT row: the episode's whole transcript, its environment, and where the sampled turns start
    (after the opening messages the environment's reset gave), for `rlvr sft` to train every assistant turn."""
    from rlvr.envs import get_env

    turns = sample.get("turns") or []
    opening = len(get_env(task.env).reset(task.to_dict()))
    return {"messages": [{"role": t["role"], "content": t["text"]} for t in turns], "env": task.env,
            "episode_start": opening, "task_id": task.id, "reward": sample["reward"]}


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


@dataclass(frozen=True)
class DistillJob:
    """One distillation: sample the model of `engine` on the task files, keep the verified completions as the SFT
    dataset `output` (chat JSONL) and every sample, kept or not, in the eval record `output`.eval.json."""

    engine: EngineSpec
    tasks: tuple[str, ...]  # task files, read one after the other into one dataset
    output: str
    settings: EvalSettings = field(default_factory=EvalSettings)
    keep: Keep = "all"
    per_task: int | None = None  # None: the default of `keep` (DEFAULT_PER_TASK)
    split: str | None = None  # only tasks of this split

    @property
    def eval_output(self) -> str:
        return f"{self.output}.eval.json"


def check_distill(job: DistillJob) -> list[Task]:
    """The job's tasks, every option and both output paths checked: bad input fails before a model loads."""
    from rlvr._io import check_not_input, check_writable
    from rlvr.models import check_spec
    from rlvr.tasks import load_tasks
    from rlvr.tasks.judge import check_verifiers

    tasks: list[Task] = []
    for path in job.tasks:
        group = load_tasks(path, split=job.split)
        check_verifiers(group, path)
        tasks += group
    select([], job.keep, job.per_task)
    for output in (job.output, job.eval_output):
        check_writable(output, "--output")
        check_not_input(output, job.tasks, "--output")
    check_spec(job.engine)  # e.g. vllm without a GPU fails before the model loads
    return tasks


def run_distill(job: DistillJob, *, progress: bool = True) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Check, sample, verify, select; write the eval record, then the dataset; returns (rows, eval record).

    No kept completion is a DataError after the eval record is written (it shows why), with no dataset."""
    from rlvr._io import write_jsonl
    from rlvr.evaluate import write_eval
    from rlvr.models import open_engine

    tasks = check_distill(job)
    spec = job.engine
    print(f"loading {spec.model} ...", flush=True)
    _, engine = open_engine(spec)
    rows, record = distill(engine, tasks, job.settings, job.keep, job.per_task,
                           model_name=spec.model, tasks_source=", ".join(job.tasks), progress=progress)
    write_eval(record, job.eval_output)
    print(format_yield(record["distill"]))
    if not rows:
        raise DataError(f"no sampled completion passed its verifier (see {job.eval_output}); sample more with a "
                        "larger --k or --max-new-tokens (k, max_new_tokens in a pipeline), or use easier tasks.")
    write_jsonl(rows, job.output)
    return rows, record
