"""Audit cases: a completion, its reference, and whether a sound verifier must pass it.

A case file is JSONL, one object a line; blank lines and lines starting with `#` (a header
saying where the cases came from) are skipped:

    {"completion": "so \\\\boxed{1073}", "reference": "1073", "should_pass": true, "tag": "legit/boxed"}
    {"completion": "\\\\boxed{1073} or \\\\boxed{1074}", "reference": "1073", "should_pass": false,
     "tag": "hack/several_answers", "note": "two boxes: one of them is right"}

`tag` groups cases in the report ("hack/...", "legit/...", "mutation/...", "variant/..."
by convention); `note` says why the case exists; `meta` is free-form and carried through.
Loading is strict, like task files: a case with a typo in `should_pass` must not load as a
case that silently expects the opposite. Every problem raises `DataError` naming file:line.

Cases also come from an eval run (`cases_from_eval`): the model's real completions,
labelled by a second, independent checker.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlvr._errors import DataError
from rlvr._io import check_input_file, write_jsonl

if TYPE_CHECKING:
    from rlvr.tasks import Task
    from rlvr.verifiers import Verifier

_REQUIRED = ("completion", "reference", "should_pass")
_KEYS = (*_REQUIRED, "tag", "note", "meta")


@dataclass(frozen=True)
class AuditCase:
    """One judgement a verifier must get right.

    completion:  the text a policy might produce.
    reference:   what the verifier compares against (its shape depends on the verifier).
    should_pass: True for a correct answer in a legitimate form, False for a wrong one or a hack.
    tag:         the group the report breaks coverage down by, e.g. "hack/several_answers".
    note:        why the case exists; shown next to a case the verifier gets wrong.
    meta:        free-form facts about the case's origin (source file and row, task id, ...).
    """

    completion: str
    reference: Any
    should_pass: bool
    tag: str = "user"
    note: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, d: Any, where: str = "case") -> AuditCase:
        """Build a case from one parsed record; `where` (e.g. "cases.jsonl:17") starts every error."""
        if not isinstance(d, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(d).__name__}; write one case object a line.")
        unknown = [key for key in d if key not in _KEYS]
        if unknown:
            raise DataError(f"{where}: unknown key {unknown[0]!r}; a case has only the keys {', '.join(_KEYS)}.")
        missing = [key for key in _REQUIRED if key not in d]
        if missing:
            raise DataError(f"{where}: missing {missing[0]!r}; every case needs completion, reference and should_pass.")
        if not isinstance(d["completion"], str):
            raise DataError(f"{where}: 'completion' must be a string, got {type(d['completion']).__name__}.")
        if not isinstance(d["should_pass"], bool):
            raise DataError(f"{where}: 'should_pass' must be true or false, got {d['should_pass']!r}.")
        for key in ("tag", "note"):
            if key in d and not isinstance(d[key], str):
                raise DataError(f"{where}: {key!r} must be a string, got {type(d[key]).__name__}.")
        if "meta" in d and not isinstance(d["meta"], dict):
            raise DataError(f"{where}: 'meta' must be an object, got {type(d['meta']).__name__}.")
        return cls(d["completion"], d["reference"], d["should_pass"], d.get("tag") or "user",
                   d.get("note", ""), dict(d.get("meta", {})))

    def to_dict(self) -> dict[str, Any]:
        row = {"completion": self.completion, "reference": self.reference, "should_pass": self.should_pass,
               "tag": self.tag}
        if self.note:
            row["note"] = self.note
        if self.meta:
            row["meta"] = self.meta
        return row


def _regular(path: Path, what: str) -> Path:
    """`path`, unless it exists and is not a regular file (a FIFO would block the read forever)."""
    if path.exists() or path.is_symlink():
        check_input_file(path, what)
    return path


def load_cases(path: str | Path, default_tag: str | None = None) -> list[AuditCase]:
    """Read a JSONL case file; `default_tag` replaces a missing tag (the file name by default)."""
    path = Path(path)
    try:
        lines = _regular(path, "case file").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"case file {path} does not exist; give the path of a JSONL file of audit cases.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read case file {path}: {exc}.") from None
    tag = default_tag if default_tag is not None else f"user/{path.stem}"
    cases = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}).") from None
        if isinstance(record, dict) and "tag" not in record:
            record = {**record, "tag": tag}
        cases.append(AuditCase.from_dict(record, where))
    if not cases:
        raise DataError(f"case file {path} holds no cases; write one JSON object a line.")
    return cases


def write_cases(cases: Sequence[AuditCase], path: str | Path) -> None:
    """Write cases as JSONL (for example, a generated suite to edit and feed back with --cases)."""
    write_jsonl([case.to_dict() for case in cases], path)


# ------------------------------------------------------------------------------------------
# Cases from an eval run, labelled by an independent checker


def read_eval_samples(path: str | Path) -> list[dict]:
    """The samples of an eval file written by `rlvr eval` (each with task_id and text)."""
    path = Path(path)
    try:
        record = json.loads(_regular(path, "eval file").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"eval file {path} does not exist; write one with `rlvr eval -o {path}`.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read eval file {path}: {exc}.") from None
    samples = record.get("samples") if isinstance(record, dict) else None
    if not isinstance(samples, list):
        raise DataError(f"{path} is not an eval file from `rlvr eval`: it has no 'samples' list.")
    for i, sample in enumerate(samples):
        if not (isinstance(sample, dict) and isinstance(sample.get("task_id"), str)
                and isinstance(sample.get("text"), str)):
            raise DataError(f"{path}: sample {i} needs a string 'task_id' and a string 'text'.")
    return samples


def cases_from_eval(path: str | Path, tasks: Sequence[Task], checker: Verifier, checker_name: str = "",
                    workers: int = 1) -> list[AuditCase]:
    """The eval run's completions as cases, `should_pass` decided by `checker`.

    The eval file keeps task ids but not references, so `tasks` must be the task file the
    eval ran on. The checker should be independent of the verifier under audit (another
    implementation, or a stricter one): where the two agree by construction, this source
    measures nothing. Its labels are estimates, and the report keeps them under their own tag.
    """
    samples = read_eval_samples(path)
    by_id = {task.id: task for task in tasks}
    missing = sorted({s["task_id"] for s in samples} - set(by_id))
    if missing:
        raise DataError(
            f"{path}: task {missing[0]!r} of the eval is not in the task file; "
            "pass --tasks with the file the eval ran on."
        )
    pairs = [(s["text"], by_id[s["task_id"]].reference) for s in samples]
    labels = checker.verify_batch(pairs, workers=workers)
    name = checker_name or checker.name
    return [
        AuditCase(text, reference, label.passed, "eval/relabelled",
                  f"checker {name} says {label.reason}",
                  {"task_id": s["task_id"], "sample": s.get("sample"), "eval_reward": s.get("reward")})
        for s, (text, reference), label in zip(samples, pairs, labels)
    ]
