"""`rlvr eval` as a function: sample K completions per task, verify them, write one eval file.

    from rlvr.workflows.evaluation import EvalJob, run_eval
    run_eval(EvalJob(EngineSpec(model="smollm2-135m-instruct"), tasks=("heldout.jsonl", "harder=hard.jsonl")))

The command line and the pipeline's eval stage both build an `EvalJob` and call `run_eval`, so an
eval stage samples, checks and writes exactly what `rlvr eval` does. Several task sets go one after
the other into one eval file, each named by its file's stem or by NAME= (`rlvr.evaluate.combine_sets`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from rlvr._errors import ConfigError
from rlvr.evaluate import EvalSettings
from rlvr.models.spec import EngineSpec

if TYPE_CHECKING:
    from rlvr.tasks import Task

TaskSets = dict[str, tuple[str, list["Task"]]]  # name -> (task file, its tasks)


@dataclass(frozen=True)
class EvalJob:
    """One evaluation: the model and its sampler, the task sets, how to sample and verify (`settings`), and
    where the eval file goes."""

    engine: EngineSpec
    tasks: tuple[str, ...]  # task files, each "FILE" or "NAME=FILE"
    output: str = "eval.json"
    settings: EvalSettings = field(default_factory=EvalSettings)
    split: str | None = None  # only tasks of this split
    limit: int = 0  # only the first N tasks of each set; 0: all
    strict_references: bool = False  # a reference the verifier cannot read: an error, not a warning


def check_eval(job: EvalJob) -> TaskSets:
    """The job's task sets, read and checked with every option and the output path, before a model loads."""
    from rlvr._io import check_not_input, check_writable
    from rlvr.evaluate.runner import set_name
    from rlvr.models import check_spec
    from rlvr.tasks import load_tasks
    from rlvr.tasks.judge import check_references, check_verifiers

    if isinstance(job.limit, bool) or not isinstance(job.limit, int) or job.limit < 0:
        raise ConfigError(f"--limit must be 0 (every task) or a positive number of tasks, got {job.limit}.")
    sets: TaskSets = {}
    for source in job.tasks:
        name, sep, path = source.partition("=")
        name, path = (name, path) if sep and not os.path.exists(source) else (set_name(source), source)
        if name in sets:
            raise ConfigError(f"two task sets are named '{name}'; name them: --tasks heldout=a.jsonl harder=b.jsonl.")
        tasks = load_tasks(path, split=job.split)
        check_verifiers(tasks, path)
        tasks = tasks[: job.limit] if job.limit else tasks
        check_references(tasks, path, strict=job.strict_references)
        sets[name] = (path, tasks)
    check_writable(job.output, "--output")
    check_not_input(job.output, [path for path, _ in sets.values()], "--output")
    check_spec(job.engine)  # e.g. vllm without a GPU fails before the model loads
    return sets


def run_eval(job: EvalJob, *, progress: bool = True, say: Callable[[str], Any] = print) -> dict[str, dict[str, Any]]:
    """Check, load the model, evaluate every set, write the eval file; returns the records by set name.

    `say` gets each set's header and summary."""
    from rlvr.evaluate import combine_sets, evaluate_sets, write_eval
    from rlvr.models import open_engine

    sets = check_eval(job)
    spec = job.engine
    print(f"loading {spec.model} ...", flush=True)
    _, engine = open_engine(spec)
    records = evaluate_sets(engine, sets, job.settings, model_name=spec.model, progress=progress, say=say)
    write_eval(combine_sets(records), job.output)
    return records
