"""Optional metric loggers next to metrics.jsonl: TensorBoard, W&B (offline by default), MLflow.

    run: {loggers: [tensorboard, wandb]}

Each writes under the run directory (tensorboard/, wandb/, mlruns/), so a run stays
self-contained and nothing is sent anywhere unless the user configures it (W&B runs in
offline mode unless WANDB_MODE says otherwise). metrics.jsonl remains the source of truth.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Protocol

from rlvr._errors import ConfigError
from rlvr.rundir import RunDir


class MetricLogger(Protocol):
    def log(self, step: int, metrics: dict[str, float]) -> None: ...

    def close(self) -> None: ...


class _TensorBoard:
    def __init__(self, run_dir: Path, config: dict[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(RunDir(run_dir).tensorboard))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _WandB:
    def __init__(self, run_dir: Path, config: dict[str, Any]) -> None:
        import wandb

        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "rlvr"), dir=str(run_dir), config=config,
                              mode=os.environ.get("WANDB_MODE", "offline"), reinit="finish_previous")

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.run.log(metrics, step=step)

    def close(self) -> None:
        self.run.finish()


class _MLflow:
    def __init__(self, run_dir: Path, config: dict[str, Any]) -> None:
        import mlflow

        mlflow.set_tracking_uri(RunDir(run_dir).mlflow.resolve().as_uri())  # a local file store
        self.mlflow = mlflow
        self.run = mlflow.start_run()
        mlflow.log_params({k: str(v) for k, v in _flatten(config).items()})

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.mlflow.log_metrics({k.replace("/", "."): v for k, v in metrics.items()}, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


LOGGERS: dict[str, tuple[Callable[[Path, dict[str, Any]], MetricLogger], str]] = {
    "tensorboard": (_TensorBoard, "tensorboard"),
    "wandb": (_WandB, "wandb"),
    "mlflow": (_MLflow, "mlflow"),
}


def check_loggers(names: tuple[str, ...]) -> None:
    """Fail before any work when a configured logger is unknown or its package is missing."""
    import importlib.util

    for name in names:
        if name not in LOGGERS:
            raise ConfigError(f"run.loggers: unknown logger '{name}'; choose from {', '.join(LOGGERS)}.")
        package = LOGGERS[name][1]
        if importlib.util.find_spec(package) is None:
            raise ConfigError(f"run.loggers lists {name}, but {package} is not installed: pip install {package}.")


def open_loggers(names: tuple[str, ...], run_dir: Path, config: dict[str, Any]) -> list[MetricLogger]:
    check_loggers(names)
    return [LOGGERS[name][0](run_dir, config) for name in names]
