"""The run directory: the one place that names its files, appends to its logs and reads them back.

    RUN_DIR/config.yaml            the resolved config (`rlvr train`, `rlvr sft`)
    RUN_DIR/metrics.jsonl          one line per step
    RUN_DIR/samples.jsonl          every rollout: reward, reason, advantage
    RUN_DIR/health.jsonl           health warnings and notices
    RUN_DIR/sync.jsonl             the ranks' parameter checksums (several processes)
    RUN_DIR/eval/NAME.json         held-out evaluations: base.json before training, final.json after
    RUN_DIR/checkpoints/step-N/    a complete checkpoint; checkpoints/latest names the newest
    RUN_DIR/model/                 the merged LoRA model (GRPO) or the fine-tuned model (SFT)
    RUN_DIR/spurious.json          `rlvr spurious`'s controls, where the report looks for them
    RUN_DIR/audit.json             a verifier audit, where the report looks for it
    RUN_DIR/report.html            `rlvr report`'s default output
    RUN_DIR/tensorboard/, mlruns/  the optional metric loggers' own files

The torn-line rule, the one every reader of a log follows (`read_jsonl`): logs are appended a whole
line at a time, so the only damage a killed run leaves is a last line without its newline. When that
line does not parse as a JSON object it is dropped (the rest of it never reached the file); any other
line that does not parse (one before the last, or a last one that ends with its newline and so was
written whole) is a DataError naming the file and line. Blank lines are skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from rlvr._errors import ConfigError, DataError
from rlvr._io import atomic_write, check_input_file

__all__ = ["RunDir", "read_jsonl", "read_numbered_jsonl"]


class RunDir:
    """One run directory: its file names, its log appends and reads, its eval files and checkpoints."""

    CONFIG = "config.yaml"
    METRICS = "metrics.jsonl"
    SAMPLES = "samples.jsonl"
    HEALTH = "health.jsonl"
    SYNC = "sync.jsonl"
    LOGS = (METRICS, SAMPLES, HEALTH, SYNC)  # appended line by line, each line with its "step"
    EVAL = "eval"
    CHECKPOINTS = "checkpoints"
    LATEST = "latest"
    TRAINER_STATE = "trainer_state.pt"  # in each step-N folder: step, optimizer, scheduler, RNG, health
    WEIGHTS_ONLY = "weights_only"  # in a step-N folder written without the optimizer state: not resumable
    MODEL = "model"
    SPURIOUS = "spurious.json"
    AUDIT = "audit.json"
    REPORT = "report.html"
    TENSORBOARD = "tensorboard"
    MLFLOW = "mlruns"
    WRITTEN = (*LOGS, EVAL, CHECKPOINTS)  # what training appends to, replaces or clears: never an input

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- files ---------------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / self.METRICS

    @property
    def samples(self) -> Path:
        return self.path / self.SAMPLES

    @property
    def health(self) -> Path:
        return self.path / self.HEALTH

    @property
    def model(self) -> Path:
        return self.path / self.MODEL

    @property
    def spurious(self) -> Path:
        return self.path / self.SPURIOUS

    @property
    def audit(self) -> Path:
        return self.path / self.AUDIT

    @property
    def report(self) -> Path:
        return self.path / self.REPORT

    @property
    def tensorboard(self) -> Path:
        return self.path / self.TENSORBOARD

    @property
    def mlflow(self) -> Path:
        return self.path / self.MLFLOW

    def started(self) -> bool:
        """Whether a run has written here (its config or a logged step)."""
        return self.config.exists() or self.metrics.exists()

    # -- eval files ----------------------------------------------------------------------------
    @property
    def eval_dir(self) -> Path:
        return self.path / self.EVAL

    def eval_file(self, name: str) -> Path:
        """eval/NAME.json: "base" before training, "final" after."""
        return self.eval_dir / f"{name}.json"

    @property
    def base_eval(self) -> Path:
        return self.eval_file("base")

    @property
    def final_eval(self) -> Path:
        return self.eval_file("final")

    def eval_files(self) -> list[Path]:
        """Every eval/*.json, sorted by name."""
        return sorted(self.eval_dir.glob("*.json"))

    # -- checkpoints ---------------------------------------------------------------------------
    @property
    def checkpoints(self) -> Path:
        return self.path / self.CHECKPOINTS

    def checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step-{step}"

    def checkpoint_staging(self, step: int) -> Path:
        """The hidden folder a checkpoint is built in before it is renamed into place."""
        return self.checkpoints / f".step-{step}.tmp"

    @property
    def latest_pointer(self) -> Path:
        """checkpoints/latest: a file holding the name of the newest complete step-N folder."""
        return self.checkpoints / self.LATEST

    def has_checkpoint(self) -> bool:
        return self.latest_pointer.exists()

    def resumable(self) -> bool:
        """Whether the latest checkpoint holds the optimizer state an exact resume needs
        (`run.checkpoint_optimizer=false` writes the weights only)."""
        latest = self.latest_checkpoint()
        return latest is not None and not (latest / self.WEIGHTS_ONLY).exists()

    def latest_checkpoint(self) -> Path | None:
        """The folder `latest` names (it may have been removed by hand), or None without a pointer."""
        if not self.latest_pointer.exists():
            return None
        return self.checkpoints / self.latest_pointer.read_text().strip()

    def point_latest_at(self, step: int) -> None:
        """Rewrite `latest` atomically: a crash leaves the old pointer."""
        atomic_write(self.latest_pointer, lambda f: f.write(self.checkpoint(step).name))

    def checkpoint_steps(self) -> list[int]:
        """The steps of the step-N folders, oldest first."""
        return sorted(int(p.name.split("-")[1]) for p in self.checkpoints.glob("step-*"))

    def final_model(self) -> Path:
        """The folder holding a finished run's trained model: the merged LoRA model, else the last checkpoint."""
        if (self.model / "config.json").exists():
            return self.model
        latest = self.latest_checkpoint()
        if latest is None:
            raise ConfigError(f"{self.path} has no trained model: no {self.MODEL}/ folder and no checkpoint.")
        return latest

    # -- logs ----------------------------------------------------------------------------------
    def append(self, name: str, rows: Iterable[dict[str, Any]]) -> None:
        """Each row as one line of the log `name`, flushed line by line: a kill can leave only the last
        line torn, which `read_jsonl` drops."""
        with open(self.path / name, "a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
                f.flush()

    def read(self, name: str) -> list[dict[str, Any]]:
        """The rows of the log `name`, under the torn-line rule."""
        return read_jsonl(self.path / name)

    def drop_logs_after(self, step: int) -> None:
        """Steps logged after the checkpoint by an interrupted run are done again: drop their lines (and a
        torn last line) from every log, keeping the others byte for byte."""
        for name in self.LOGS:
            path = self.path / name
            if not path.exists():
                continue
            kept = []
            for number, line, row in _log_lines(path, "run log"):
                row_step = row.get("step")
                if isinstance(row_step, bool) or not isinstance(row_step, (int, float)):
                    raise DataError(f"{path}:{number}: not a log line with a step; restore the file or start the "
                                    "run in a new run.output_dir.")
                if row_step <= step:
                    kept.append(line)
            atomic_write(path, lambda f, kept=kept: f.writelines(line + "\n" for line in kept))


def read_jsonl(path: str | os.PathLike, what: str = "run log") -> list[dict[str, Any]]:
    """The JSON objects of a log, one a line, under the torn-line rule (see the module docstring).

    `what` names the file in the message when it cannot be read at all (missing, not a regular file).
    """
    return [row for _, _, row in _log_lines(Path(path), what)]


def read_numbered_jsonl(path: str | os.PathLike, what: str = "run log") -> list[tuple[int, dict[str, Any]]]:
    """`read_jsonl` with each object's line number, for a reader that checks the rows and names the line."""
    return [(number, row) for number, _, row in _log_lines(Path(path), what)]


def _log_lines(path: Path, what: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(line number, the line's text, its object) for each line that counts."""
    check_input_file(path, what)  # a FIFO would block the read, a device would never end
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}.") from None
    lines = data.split(b"\n")
    unterminated = lines.pop()  # b"" when the file ends with a newline
    out = []
    for number, raw in enumerate(lines, 1):
        if raw.strip():
            out.append(_parse_line(path, number, raw))
    if unterminated.strip():
        try:
            out.append(_parse_line(path, len(lines) + 1, unterminated))
        except DataError:
            pass  # torn: the rest of the line never reached the file
    return out


def _parse_line(path: Path, number: int, raw: bytes) -> tuple[int, str, dict[str, Any]]:
    where = f"{path}:{number}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not UTF-8 text (byte {exc.start}); fix or remove that line.") from None
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not JSON ({exc.msg}); fix or remove that line.") from None
    except RecursionError:
        raise DataError(f"{where}: nests arrays or objects too deeply to read; fix or remove that line.") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise DataError(f"{where}: cannot be read as JSON ({str(exc).split(':')[0]}); fix or remove that "
                        "line.") from None
    if not isinstance(row, dict):
        raise DataError(f"{where}: not a JSON object; fix or remove that line.")
    return number, text.rstrip("\r"), row
