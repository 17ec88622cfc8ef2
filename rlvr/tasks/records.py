"""Task records: one problem, its reference answer and the verifier that judges it.

A task file is JSONL, one object a line, blank lines ignored:

    {"id": "mul-0001", "prompt": "What is 37 * 29? Put the final answer in \\boxed{}.",
     "reference": "1073", "verifier": "math", "split": "train", "meta": {"difficulty": 2}}

Loading is strict on purpose: a task file feeds both training and the held-out evaluation,
so a silently skipped or misread line would bias a result that nobody can then trace. Every
problem raises `DataError` with the file and line, and unknown keys are errors rather than
ignored (a typo such as "refrence" must not load as a task with no reference).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlvr._errors import DataError
from rlvr._io import atomic_write, check_input_file

_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")  # a UTF-16 surrogate escape, paired or not
_REQUIRED = ("id", "prompt", "reference")
_KEYS = ("id", "prompt", "reference", "verifier", "split", "meta", "env")


@dataclass(frozen=True)
class Task:
    """One problem.

    id:        unique within a task file; stable, so results can be joined across runs.
    prompt:    a string, or a list of chat messages `{"role": ..., "content": ...}`.
    reference: what the verifier compares against (its shape depends on the verifier).
    verifier:  a verifier name, or `{"name": ..., option: value, ...}`.
    split:     "train", "test", "val", ...; evaluation reads only its own split.
    meta:      free-form facts (difficulty, source row, ...), carried into samples and reports.
    env:       None for a single-turn completion (the default), or the environment the episode runs
               in: a name or `{"name": ..., option: value, ...}`, e.g. `{"name": "tools", "tools":
               ["calculator"], "max_turns": 4}` (see `rlvr.envs.get_env`; a "module:Class" path needs
               the same opt-in as a verifier plugin when it is built).
    """

    id: str
    prompt: str | list[dict]
    reference: Any
    verifier: str | dict = "math"
    split: str = "train"
    meta: dict = field(default_factory=dict)
    env: str | dict | None = None

    def __post_init__(self) -> None:
        where = f"task {self.id!r}" if isinstance(self.id, str) else "task"
        _check_fields(self.__dict__, where)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with every field, copied so that editing it cannot change the task."""
        return {
            "id": self.id,
            "prompt": copy.deepcopy(self.prompt),
            "reference": copy.deepcopy(self.reference),
            "verifier": copy.deepcopy(self.verifier),
            "split": self.split,
            "meta": copy.deepcopy(self.meta),
            **({} if self.env is None else {"env": copy.deepcopy(self.env)}),  # single-turn files stay as they were
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = "task") -> Task:
        """Build a Task from one parsed record; `where` (e.g. "tasks.jsonl:17") starts every error."""
        if not isinstance(d, dict):
            raise DataError(
                f"{where}: expected a JSON object, got {_json_type(d)}; write one task object a line."
            )
        unknown = [key for key in d if key not in _KEYS]
        if unknown:
            names = ", ".join(repr(key) for key in unknown)
            raise DataError(f"{where}: unknown key(s) {names}; a task has only the keys {', '.join(_KEYS)}.")
        missing = [key for key in _REQUIRED if key not in d]
        if missing:
            raise DataError(f"{where}: missing {missing[0]!r}; every task needs id, prompt and reference.")
        _check_fields(d, where)
        return cls(**copy.deepcopy(d))  # the task must not change when the caller edits `d`


def _check_fields(d: dict[str, Any], where: str) -> None:
    """Raise DataError for the first field of `d` with the wrong type."""
    if not isinstance(d["id"], str) or not d["id"].strip():
        raise DataError(
            f"{where}: 'id' must be a non-empty string, got {d['id']!r}; give each task a text id."
        )
    prompt_problem = _prompt_problem(d["prompt"])
    if prompt_problem:
        raise DataError(f"{where}: {prompt_problem}.")
    if d["reference"] is None:
        raise DataError(f"{where}: 'reference' is null; give the answer the verifier should expect.")
    verifier = d.get("verifier", "math")
    if isinstance(verifier, dict):
        if not isinstance(verifier.get("name"), str) or not verifier["name"]:
            raise DataError(f'{where}: a \'verifier\' object needs a "name" string, e.g. {{"name": "math"}}.')
    elif not isinstance(verifier, str) or not verifier:
        raise DataError(
            f"{where}: 'verifier' must be a name or an object with \"name\", got {_json_type(verifier)}; "
            'e.g. "math".'
        )
    split = d.get("split", "train")
    if not isinstance(split, str) or not split:
        raise DataError(f"{where}: 'split' must be a non-empty string such as \"train\", got {split!r}.")
    if not isinstance(d.get("meta", {}), dict):
        raise DataError(
            f"{where}: 'meta' must be an object, got {_json_type(d['meta'])}; e.g. {{\"difficulty\": 2}}."
        )
    env = d.get("env")
    if env is not None and not ((isinstance(env, str) and env) or (isinstance(env, dict) and isinstance(
            env.get("name"), str) and env["name"])):
        raise DataError(f"{where}: 'env' must be an environment name or an object with a \"name\" string, got "
                        f"{_json_type(env)}; e.g. {{\"name\": \"tools\", \"tools\": [\"calculator\"]}}.")


def _prompt_problem(prompt: Any) -> str | None:
    """What is wrong with a prompt (a non-empty string or a list of chat messages), or None."""
    hint = 'give a non-empty string or a list of {"role": ..., "content": ...} messages'
    if isinstance(prompt, str):
        return None if prompt.strip() else f"'prompt' is empty; {hint}"
    if not isinstance(prompt, list):
        return f"'prompt' is {_json_type(prompt)}; {hint}"
    if not prompt:
        return f"'prompt' is an empty list; {hint}"
    for i, message in enumerate(prompt):
        ok = (
            isinstance(message, dict)
            and isinstance(message.get("role"), str)
            and isinstance(message.get("content"), str)
        )
        if not ok:
            return f'\'prompt\' message {i} is not a {{"role": str, "content": str}} object; {hint}'
    return None


def _json_type(value: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


# ------------------------------------------------------------------------------------------
# JSONL files


def load_tasks(path: str | os.PathLike, split: str | None = None) -> list[Task]:
    """Read a JSONL task file, keeping only `split` when given.

    The whole file is checked, whatever the split, so a broken line is found the first time
    the file is used rather than the first time someone evaluates on that split.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"task file {path} does not exist; check the path or create it with write_tasks().")
    if path.is_dir():
        raise DataError(f"task file {path} is a directory; give the path of a .jsonl file.")
    check_input_file(path, "task file")  # a FIFO would block the read forever
    with path.open("rb") as f:
        parsed = ((lineno, _parse_line(raw, f"{path}:{lineno}", lineno == 1)) for lineno, raw in enumerate(f, start=1))
        tasks = check_unique_ids(((lineno, task) for lineno, task in parsed if task is not None),
                                 lambda lineno: f"{path}:{lineno}", "first used on line", "make every id unique.")
    return _select_split(tasks, split, path)


def check_unique_ids(located: Iterable[tuple[int, Task]], where: Callable[[int], str], first: str,
                     fix: str) -> list[Task]:
    """The tasks of `located` ((position, task) pairs) in order; a repeated id raises DataError.

    A lazy `located` is checked as it is read, so a duplicate is reported before any later
    record is parsed. The message reads "{where(position)}: duplicate id 'x', {first} {earlier
    position}; {fix}", e.g. "tasks.jsonl:7: duplicate id 'x', first used on line 2; ...".
    """
    tasks: list[Task] = []
    first_at: dict[str, int] = {}
    for position, task in located:
        if task.id in first_at:
            raise DataError(f"{where(position)}: duplicate id {task.id!r}, {first} {first_at[task.id]}; {fix}")
        first_at[task.id] = position
        tasks.append(task)
    return tasks


def _parse_line(raw: bytes, where: str, first: bool) -> Task | None:
    """One line of a task file as a Task, None for a blank line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not valid UTF-8 (byte {exc.start}); save the file as UTF-8.") from None
    if first:
        text = text.removeprefix("\ufeff")  # a byte-order mark some editors add
    if not text.strip():
        return None
    try:
        record = json.loads(text)
        if _SURROGATE.search(text):  # "\ud800" alone parses, then breaks the tokenizer and UTF-8 output
            json.dumps(record, ensure_ascii=False).encode("utf-8")
        return Task.from_dict(record, where)
    except DataError:
        raise
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{where}: invalid JSON ({exc.msg} at column {exc.colno}); write one JSON object a line."
        ) from None
    except RecursionError:
        raise DataError(f"{where}: the task nests lists or objects too deeply to read; flatten it.") from None
    except UnicodeEncodeError:
        raise DataError(f"{where}: the task holds a lone UTF-16 surrogate escape (such as \\ud800), which is "
                        "not text; remove it or give the full surrogate pair.") from None
    except ValueError as exc:  # json's limit of 4,300 digits on an integer
        raise DataError(f"{where}: cannot read the line ({str(exc).split(':')[0]}); write the number as a "
                        "string.") from None


def _select_split(tasks: list[Task], split: str | None, path: Path) -> list[Task]:
    if not tasks:
        raise DataError(f"task file {path} holds no tasks; write at least one task object a line.")
    if split is None:
        return tasks
    chosen = [task for task in tasks if task.split == split]
    if not chosen:
        present = ", ".join(sorted({task.split for task in tasks}))
        raise DataError(f"task file {path} has no tasks in split {split!r}; its splits are: {present}.")
    return chosen


def write_tasks(tasks: Iterable[Task], path: str | os.PathLike) -> Path:
    """Write tasks as JSONL, atomically: readers see the old file or the whole new one, never half.

    The lines go to a temporary file in the same folder, which then replaces `path` in one
    `os.replace`; on any error the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    lines = _task_lines(list(tasks))
    return atomic_write(path, lambda f: f.writelines(lines), sync=True)


def _task_lines(tasks: list[Task]) -> list[str]:
    """Serialise before touching the disk, so a bad task cannot leave a partial file behind."""
    seen: set[str] = set()
    lines = []
    for task in tasks:
        if not isinstance(task, Task):
            raise DataError(
                f"write_tasks() takes Task objects, got {type(task).__name__}; build them with Task(...)."
            )
        if task.id in seen:
            raise DataError(f"task id {task.id!r} appears twice; make every id unique before writing.")
        seen.add(task.id)
        try:
            lines.append(json.dumps(task.to_dict(), ensure_ascii=False, allow_nan=False) + "\n")
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"task {task.id!r} cannot be written as JSON ({exc}); use plain JSON values."
            ) from None
    return lines
