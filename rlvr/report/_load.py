"""Reading a run directory for the report: required files raise, optional ones come back with a problem line."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlvr._errors import ConfigError, DataError
from rlvr._io import read_text_file


# The files of a run directory the report reads; none of them may be the report's output.
RUN_FILES = ("metrics.jsonl", "config.yaml", "health.jsonl", "samples.jsonl", "eval/base.json", "eval/final.json",
             "spurious.json", "audit.json")


@dataclass
class Loaded:
    """An optional file: its data, or why there is none ("missing" when the file does not exist)."""

    data: Any = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.data is not None


@dataclass
class Run:
    """Everything the report shows, read once."""

    path: Path
    metrics: list[dict[str, Any]]
    config: Loaded = field(default_factory=Loaded)
    health: Loaded = field(default_factory=Loaded)
    samples: Loaded = field(default_factory=Loaded)
    base_eval: Loaded = field(default_factory=Loaded)
    final_eval: Loaded = field(default_factory=Loaded)
    spurious: Loaded = field(default_factory=Loaded)
    audit: Loaded = field(default_factory=Loaded)


def load_run(run_dir: str | Path) -> Run:
    """Read RUN_DIR; metrics.jsonl is required, every other file is optional."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ConfigError(f"run directory {path} does not exist; pass the directory that `rlvr train` wrote.")
    metrics_file = path / "metrics.jsonl"
    if not metrics_file.is_file():
        raise DataError(f"{path} has no metrics.jsonl; pass a run directory written by `rlvr train`.")
    metrics = [row for row in _read_jsonl(metrics_file) if isinstance(row.get("step"), (int, float))]
    if not metrics:
        raise DataError(f"{metrics_file} has no logged step yet; run at least one training step first.")
    metrics.sort(key=lambda row: row["step"])
    return Run(
        path=path,
        metrics=metrics,
        config=_optional(path / "config.yaml", lambda p: _mapping(yaml.safe_load(read_text_file(p, "run file")))),
        health=_optional(path / "health.jsonl", _read_jsonl),
        samples=_optional(path / "samples.jsonl", _read_jsonl),
        base_eval=_optional(path / "eval" / "base.json", _read_json),
        final_eval=_optional(path / "eval" / "final.json", _read_json),
        spurious=_optional(path / "spurious.json", _read_json),
        audit=_optional(path / "audit.json", _read_json),
    )


def _optional(path: Path, read: Any) -> Loaded:
    if not path.is_file():
        return Loaded(problem="missing")
    try:
        return Loaded(read(path))
    except (OSError, ValueError, RecursionError, yaml.YAMLError) as exc:
        return Loaded(problem=f"{path.name} could not be read: {_one_line(exc)}")


def _one_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _mapping(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("expected a mapping at the top level")
    return data


def _read_json(path: Path) -> dict[str, Any]:
    return _mapping(json.loads(read_text_file(path, "run file")))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """One object per line. A torn last line (a run killed mid-write) is skipped; a bad line elsewhere is an error."""
    lines = read_text_file(path, "run file").splitlines()
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):
                break
            raise DataError(f"{path} line {number} is not JSON ({exc.msg}); fix or remove that line.") from None
        except RecursionError:
            raise DataError(f"{path} line {number} nests arrays or objects too deeply to read; fix or remove "
                            "that line.") from None
        except ValueError as exc:  # an integer of more than 4,300 digits
            raise DataError(f"{path} line {number} cannot be read as JSON ({str(exc).split(':')[0]}); fix or "
                            "remove that line.") from None
        if not isinstance(row, dict):
            raise DataError(f"{path} line {number} is not a JSON object; fix or remove that line.")
        rows.append(row)
    return rows


def number(value: Any) -> float | None:
    """value as a finite float, or None (missing, text, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value) if math.isfinite(value) else None
    except OverflowError:  # an integer of hundreds of digits
        return None
