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
from rlvr.rundir import RunDir, read_jsonl


def run_files(run_dir: str | Path) -> list[Path]:
    """The files of a run directory the report reads; none of them may be the report's output."""
    runs = RunDir(run_dir)
    return [runs.metrics, runs.config, runs.health, runs.samples, runs.base_eval, runs.final_eval, runs.spurious,
            runs.audit]


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
    runs = RunDir(path)
    metrics_file = runs.metrics
    if not metrics_file.is_file():
        raise DataError(f"{path} has no {RunDir.METRICS}; pass a run directory written by `rlvr train`.")
    metrics = [row for row in read_jsonl(metrics_file) if isinstance(row.get("step"), (int, float))]
    if not metrics:
        raise DataError(f"{metrics_file} has no logged step yet; run at least one training step first.")
    metrics.sort(key=lambda row: row["step"])
    return Run(
        path=path,
        metrics=metrics,
        config=_optional(runs.config, lambda p: _mapping(yaml.safe_load(read_text_file(p, "run file")))),
        health=_optional(runs.health, read_jsonl),
        samples=_optional(runs.samples, read_jsonl),
        base_eval=_optional(runs.base_eval, _read_json),
        final_eval=_optional(runs.final_eval, _read_json),
        spurious=_optional(runs.spurious, _read_json),
        audit=_optional(runs.audit, _read_json),
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


def number(value: Any) -> float | None:
    """value as a finite float, or None (missing, text, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value) if math.isfinite(value) else None
    except OverflowError:  # an integer of hundreds of digits
        return None
