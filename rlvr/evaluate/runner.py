"""Evaluate a policy on tasks: sample K completions per task, verify, report pass@k.

The eval file (`rlvr eval -o eval.json`) keeps everything needed to audit a number:
settings, the summary with confidence intervals, per-task pass counts, and every
sample with its text, reward and the verifier's reason.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

from tqdm.auto import tqdm

from rlvr._errors import ConfigError, DataError
from rlvr._io import write_json
from rlvr.evaluate.passk import powers_of_two, summarise
from rlvr.models.episodes import sample_tasks
from rlvr.models.generation import DEFAULT_K, Completion, Engine, SamplingParams
from rlvr.tasks import Task
from rlvr.tasks.judge import judge, judge_neutral

EVAL_FORMAT = 1
EVAL_SETS_FORMAT = 1


@dataclass(frozen=True)
class EvalSettings:
    """What `evaluate` samples (one `SamplingParams`, whose n is K) and how it verifies and summarises."""

    sampling: SamplingParams = field(default_factory=lambda: SamplingParams(n=DEFAULT_K))
    bootstrap_resamples: int = 2000
    verifier_workers: int = 2
    verifier_backend: Literal["local", "ray"] = "local"  # "ray": checks run as Ray tasks (rlvr[ray])

    def __post_init__(self) -> None:
        if isinstance(self.verifier_workers, bool) or not isinstance(self.verifier_workers, int) \
                or self.verifier_workers < 1:
            raise ConfigError(f"verifier workers must be an integer >= 1, got {self.verifier_workers!r}.")
        if isinstance(self.bootstrap_resamples, bool) or not isinstance(self.bootstrap_resamples, int) \
                or self.bootstrap_resamples < 1:
            raise ConfigError(f"bootstrap resamples must be an integer >= 1, got {self.bootstrap_resamples!r}.")

    @property
    def k(self) -> int:
        return self.sampling.n

    def record(self) -> dict[str, Any]:
        """The eval file's `settings`: flat, K named `k`, as every version has written it."""
        sampling = asdict(self.sampling)
        return {"k": sampling.pop("n"), **sampling, "bootstrap_resamples": self.bootstrap_resamples,
                "verifier_workers": self.verifier_workers, "verifier_backend": self.verifier_backend}

    @classmethod
    def from_record(cls, settings: Mapping[str, Any]) -> EvalSettings:
        """The settings an eval file was made with (its `settings` object)."""
        sampling = {f.name: settings[f.name] for f in fields(SamplingParams) if f.name in settings}
        sampling["n"] = settings.get("k", 8)
        own = {f.name: settings[f.name] for f in fields(cls) if f.name != "sampling" and f.name in settings}
        return cls(sampling=SamplingParams(**sampling), **own)


def evaluate(
    engine: Engine,
    tasks: Sequence[Task],
    settings: EvalSettings,
    *,
    model_name: str = "",
    tasks_source: str = "",
    progress: bool = True,
) -> dict[str, Any]:
    """Run the evaluation and return the eval record (see `write_eval`)."""
    start = time.perf_counter()
    params = settings.sampling
    bar = tqdm(total=len(tasks) * params.n, desc="generate", unit="sample", disable=not progress, dynamic_ncols=True)
    tokens_seen = 0

    def on_batch(samples: int, new_tokens: int) -> None:
        nonlocal tokens_seen
        tokens_seen += new_tokens
        bar.update(samples)
        bar.set_postfix_str(f"{tokens_seen / max(time.perf_counter() - start, 1e-9):.0f} tok/s")

    generation = sample_tasks(engine, tasks, params, progress=on_batch)  # episodes where a task names an env
    bar.close()

    verify_start = time.perf_counter()
    texts = [[c.text for c in cs] for cs in generation.completions]
    specs, references = [t.verifier for t in tasks], [t.reference for t in tasks]
    check = dict(workers=settings.verifier_workers, backend=settings.verifier_backend)
    bar = tqdm(total=sum(len(t) for t in texts), desc="verify", unit="check", disable=not progress,
               dynamic_ncols=True)
    verdicts = judge(specs, references, texts, progress=bar.update, **check)
    bar.close()
    neutral = judge_neutral(specs, references, texts, verdicts, **check)
    verify_s = time.perf_counter() - verify_start

    samples, per_task = [], []
    for task, completions, task_verdicts, task_neutral in zip(tasks, generation.completions, verdicts, neutral):
        per_task.append({"id": task.id, "split": task.split, "n": len(task_verdicts),
                         "passed": sum(v.passed for v in task_verdicts), "passed_neutral": sum(task_neutral),
                         "mean_reward": sum(v.reward for v in task_verdicts) / len(task_verdicts),
                         "reference": task.reference, "verifier": task.verifier, "prompt": task.prompt,
                         "meta": task.meta})
        for j, (completion, verdict) in enumerate(zip(completions, task_verdicts)):
            samples.append({
                "task_id": task.id, "sample": j, "text": completion.text, "reward": verdict.reward,
                "passed": verdict.passed, "neutral": task_neutral[j], "reason": verdict.reason,
                "detail": verdict.detail, "tokens": len(completion.token_ids),
                "finish_reason": completion.finish_reason,
                **({} if completion.episode is None else _episode_fields(completion)),
            })

    flat = [v for vs in verdicts for v in vs]
    summary: dict[str, Any] = {
        "tasks": len(tasks),
        "k": params.n,
        **summarise([t["n"] for t in per_task], [t["passed"] for t in per_task], powers_of_two(params.n),
                    resamples=settings.bootstrap_resamples, seed=params.seed),
        # The format-neutral reading: the same samples, right if their answer is right in any format.
        "neutral": summarise([t["n"] for t in per_task], [t["passed_neutral"] for t in per_task],
                             powers_of_two(params.n), resamples=settings.bootstrap_resamples, seed=params.seed),
        "mean_reward": sum(v.reward for v in flat) / len(flat),
        "parseable": sum(v.parsed for v in flat) / len(flat),
        "truncated_frac": sum(s["finish_reason"] == "length" for s in samples) / len(samples),
        "reasons": dict(Counter(v.reason for v in flat).most_common()),
        "new_tokens": generation.new_tokens,
        "tokens_per_s": generation.tokens_per_s,
        "generate_s": generation.seconds,
        "verify_s": verify_s,
        "wall_s": time.perf_counter() - start,
    }
    return {
        "rlvr_eval": EVAL_FORMAT,
        "model": model_name,
        "tasks_source": tasks_source,
        # The sampler's precision (fp32 or bf16, `auto` resolved) beside the sampling settings: a bf16 sampler's
        # pass rates are its own, not the float32 model's.
        "settings": {**settings.record(),
                     **({"precision": engine.precision} if hasattr(engine, "precision") else {})},
        "summary": summary,
        "tasks": per_task,
        "samples": samples,
    }


def _episode_fields(completion: Completion) -> dict[str, Any]:
    """An episode's sample keeps its transcript ("turns", observations included); "tokens" counts what the
    policy wrote, "context_tokens" the whole episode after the prompt."""
    episode = completion.episode or {}
    return {"turns": episode["turns"], "turn_rewards": episode["turn_rewards"], "stop": episode["stop"],
            **({"error": episode["error"]} if "error" in episode else {}),
            "tokens": sum(completion.mask or ()), "context_tokens": len(completion.token_ids)}


def write_eval(record: dict[str, Any], path: str | os.PathLike) -> None:
    """Write the eval record atomically: a crash never leaves a half-written file."""
    write_json(record, path)


def check_eval_record(record: Any, path: str | os.PathLike, *, need_samples: bool = False) -> dict[str, Any]:
    """`record` if it has the shape of an eval file (one set or several), else DataError naming `path`
    and the offending key; read by compare, curate --from-eval and the like before they use it.

    Refused too: a repeated task id, an `n` above MAX_SAMPLES_PER_TASK, a task with more saved samples
    than its `n`, and, with `need_samples` (compare and boundary, which read the samples again), an
    empty `samples` list under tasks that claim samples. A file with no `samples` key (written without
    them) is read from its pass counts alone, as is any file by curate --from-eval."""
    hint = "give an eval file written by `rlvr eval`"
    if not isinstance(record, dict):
        raise DataError(f"{path} is not an eval file: it holds a JSON {type(record).__name__}, not an object; {hint}.")
    if "sets" in record:
        if not isinstance(record["sets"], dict) or not record["sets"]:
            raise DataError(f"{path}: 'sets' must be an object of named eval records; {hint}.")
        for name, sub in record["sets"].items():
            check_eval_record(sub, f"{path} (set {name!r})", need_samples=need_samples)
        return record
    tasks = record.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise DataError(f"{path}: 'tasks' must be a non-empty list of per-task records; {hint}.")
    for i, task in enumerate(tasks):
        problem = _task_record_problem(task)
        if problem:
            raise DataError(f"{path}: tasks[{i}] {problem}; {hint}.")
    settings = record.get("settings", {})
    if not isinstance(settings, dict) or not _count(settings.get("k", 1)):
        raise DataError(f"{path}: 'settings' must be an object whose 'k' is a positive integer; {hint}.")
    if not isinstance(record.get("samples", []), list):
        raise DataError(f"{path}: 'samples' must be a list; {hint}.")
    problem = _counts_problem(tasks, record.get("samples"), need_samples)
    if problem:
        raise DataError(f"{path}: {problem}; {hint}.")
    return record


MAX_SAMPLES_PER_TASK = 1_000_000  # an `n` above this is a corrupt file, not an evaluation (boundary would spin)


def _counts_problem(tasks: list[dict[str, Any]], samples: list[Any] | None, need_samples: bool) -> str | None:
    """What is wrong with the task ids and sample counts of a shape-checked eval record, or None."""
    seen: set[str] = set()
    for task in tasks:
        if task["id"] in seen:
            return f"task id '{task['id']}' appears twice"
        seen.add(task["id"])
        if task["n"] > MAX_SAMPLES_PER_TASK:
            return f"task '{task['id']}' claims n = {task['n']:,} samples, more than {MAX_SAMPLES_PER_TASK:,}"
    if not samples:
        if need_samples and samples == []:
            return "'samples' is empty though its tasks claim samples"
        return None
    n = {t["id"]: t["n"] for t in tasks}
    saved = Counter(s.get("task_id") if isinstance(s, dict) else None for s in samples)
    for task_id, count in saved.items():
        if task_id in n and count > n[task_id]:
            return f"task '{task_id}' has {count} saved samples but n = {n[task_id]}"
    return None


def _task_record_problem(task: Any) -> str | None:
    if not isinstance(task, dict):
        return "is not an object"
    if not isinstance(task.get("id"), str):
        return "has no string 'id'"
    n = task.get("n")
    if not _count(n) or n < 1:
        return f"('{task['id']}') has no positive integer 'n'"
    for key in ("passed", "passed_neutral"):
        if key in task or key == "passed":
            if not _count(task.get(key)) or task[key] > n:
                return f"('{task['id']}') has no integer '{key}' from 0 to n"
    if "mean_reward" in task and not _number(task["mean_reward"]):
        return f"('{task['id']}') has a 'mean_reward' that is not a number"
    return None


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def set_name(source: str) -> str:
    """The default name of a task set: its file name without the extension."""
    return Path(source).stem if source else "tasks"


def evaluate_sets(
    engine: Engine,
    sets: Mapping[str, tuple[str, Sequence[Task]]],
    settings: EvalSettings,
    *,
    model_name: str = "",
    progress: bool = True,
    say: Callable[[str], Any] = print,
) -> dict[str, dict[str, Any]]:
    """Evaluate named task sets ({name: (path, tasks)}) one after the other; returns the records by name
    (`combine_sets` makes them one eval file). `say` gets a header per set and each set's summary."""
    records = {}
    for name, (path, tasks) in sets.items():
        if len(sets) > 1:
            say(f"task set {name}: {path}")
        records[name] = evaluate(engine, tasks, settings, model_name=model_name, tasks_source=path, progress=progress)
        say(format_summary(records[name]))
    return records


def combine_sets(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One eval file over named task sets (held-out, harder, another family, ...); one set stays
    a plain eval record, so single-set files read as they always did."""
    if len(records) == 1:
        return next(iter(records.values()))
    models = {r["model"] for r in records.values()}
    return {"rlvr_eval_sets": EVAL_SETS_FORMAT, "model": models.pop() if len(models) == 1 else "",
            "sets": records}


def eval_sets(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The named eval records of an eval file: several for a multi-set file, one otherwise."""
    if "sets" in record:
        return record["sets"]
    return {set_name(record.get("tasks_source", "")): record}


def format_summary(record: dict[str, Any]) -> str:
    """The table printed at the end of `rlvr eval`."""
    s = record["summary"]
    lines = [
        f"{record['model'] or 'model'} on {record['tasks_source'] or 'tasks'}: "
        f"{s['tasks']} tasks x {s['k']} samples",
        "",
        f"{'metric':<12}{'strict':>8}   95% CI          {'neutral':>8}   95% CI   (bootstrap over tasks)",
    ]
    neutral = s.get("neutral", {})
    for key, value in s.items():
        if key.startswith("pass@"):
            low, high = value["ci"]
            line = f"{key:<12}{value['value']:>8.3f}   [{low:.3f}, {high:.3f}]"
            if key in neutral:
                n = neutral[key]
                line += f"  {n['value']:>8.3f}   [{n['ci'][0]:.3f}, {n['ci'][1]:.3f}]"
            lines.append(line)
    lines += [
        *([] if not neutral else ["strict: the task's verifier; neutral: the answer read in any format "
                                  "(a box, a tag, a bare answer, else the last number): attribution only"]),
        f"{'parseable':<12}{s['parseable']:>8.3f}   share of samples with a readable answer",
        f"{'mean reward':<12}{s['mean_reward']:>8.3f}",
        f"{'truncated':<12}{s['truncated_frac']:>8.3f}   hit max_new_tokens",
        "",
        "verdicts: " + ", ".join(f"{reason} {count}" for reason, count in s["reasons"].items()),
        f"time: {s['wall_s']:.1f} s (generate {s['generate_s']:.1f} s at {s['tokens_per_s']:.0f} tokens/s, "
        f"verify {s['verify_s']:.1f} s)",
    ]
    return "\n".join(lines)
