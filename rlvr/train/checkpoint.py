"""Checkpoints of a GRPO run: written atomically, resumed exactly.

    RUN_DIR/checkpoints/step-N/   model (Hugging Face folder, or the LoRA adapter), tokenizer,
                                  trainer_state.pt (step, layout, optimizer, scheduler, stream, RNG, health)
    RUN_DIR/checkpoints/latest    the name of the newest complete step-N folder

A checkpoint is built in a hidden staging folder and renamed into place, then `latest` is
rewritten atomically: a crash at any point leaves the previous checkpoint and pointer intact.
Resuming restores the global RNGs too, so a resumed run logs the same metrics as an
uninterrupted one; the log lines an interrupted run wrote after its checkpoint are dropped, and so is
a last line that a kill cut off mid-write. Weights that are not finite are never written.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlvr._errors import ConfigError, DataError
from rlvr._io import atomic_write
from rlvr.models import Policy
from rlvr.train.distributed import Dist
from rlvr.train.lora import load_adapter, save_adapter
from rlvr.train.sharding import Replicated

RUN_LOGS = ("metrics.jsonl", "samples.jsonl", "health.jsonl", "sync.jsonl")  # lines with their "step"


def save_checkpoint(run_dir: Path, step: int, policy: Policy, layout: Replicated, dist: Dist, *, lora: bool,
                    keep: int, state: dict[str, Any]) -> None:
    """Write checkpoints/step-STEP and point `latest` at it; keep the newest `keep` checkpoints.

    Called on every rank: sharded weights and optimizer state are gathered (or saved per rank)
    by all. `state` is the trainer's own resumable state (scheduler, stream, health).
    """
    root = run_dir / "checkpoints"
    target = root / f"step-{step}"
    staging = root / f".step-{step}.tmp"
    weights, optimizer = layout.full_state_dict(), layout.optimizer_state()
    bad = _first_nonfinite(policy.model.state_dict() if weights is None else weights) if dist.is_main else None
    if dist.sum(float(bad is not None)):  # every rank refuses together, before anything is written
        raise ConfigError(f"the weights at step {step} are not finite ({bad or 'on rank 0'}), so no checkpoint was "
                          "written; lower optim.lr and resume from the last checkpoint.")
    if dist.is_main:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    dist.barrier()
    layout.save_shards(staging)
    dist.barrier()
    if dist.is_main:
        full_state = {"step": step, "layout": layout.name, "optimizer": optimizer, **state}
        write_checkpoint(root, staging, target, policy, weights, full_state, lora=lora, keep=keep)
    dist.barrier()


def _first_nonfinite(weights: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding a NaN or an infinity, or None."""
    for name, tensor in weights.items():
        local = tensor.to_local() if hasattr(tensor, "to_local") else tensor  # a sharded DTensor: this shard
        if local.is_floating_point() and not bool(torch.isfinite(local).all()):
            return name
    return None


def write_checkpoint(root: Path, staging: Path, target: Path, policy: Policy, weights: dict[str, torch.Tensor] | None,
                     state: dict[str, Any], *, lora: bool, keep: int) -> None:
    """Rank 0's part: the model into `staging`, then renamed to `target`, `latest` updated, old ones removed."""
    if lora:  # the base weights never change: the adapter is all there is to save
        save_adapter(policy.model, staging)
    else:
        policy.model.save_pretrained(staging, state_dict=weights)
    policy.tokenizer.save_pretrained(staging)
    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    torch.save({**state, "rng": rng}, staging / "trainer_state.pt")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # a checkpoint is either complete or absent
    atomic_write(root / "latest", lambda f: f.write(target.name))  # a crash leaves the old pointer
    steps = sorted(int(p.name.split("-")[1]) for p in root.glob("step-*"))
    for old in steps[:-keep]:
        shutil.rmtree(root / f"step-{old}", ignore_errors=True)


def load_checkpoint(run_dir: Path, model: torch.nn.Module, layout: Replicated, *, lora: bool) -> dict[str, Any]:
    """Load the latest checkpoint's weights (or adapter), optimizer state and global RNG states.

    Returns trainer_state.pt for the trainer to restore the rest (step, scheduler, stream, health).
    """
    root = run_dir / "checkpoints"
    latest = root / (root / "latest").read_text().strip() if (root / "latest").exists() else None
    if latest is None or not latest.exists():
        raise ConfigError(f"nothing to resume in {run_dir}: no complete checkpoint.")
    from safetensors.torch import load_file

    state = torch.load(latest / "trainer_state.pt", weights_only=False)
    written_by = state.get("layout", "ddp")  # the optimizer state's format depends on it
    if written_by != layout.name:
        raise ConfigError(f"checkpoint {latest} was written by a {written_by} launch; resume it with the same "
                          f"accelerate recipe, not {layout.name}.")
    if lora:
        load_adapter(model, latest)
    elif (latest / "adapter_config.json").exists():
        raise ConfigError(f"checkpoint {latest} holds a LoRA adapter; resume it with lora.enabled=true.")
    else:
        weights = load_file(str(latest / "model.safetensors"))
        missing, unexpected = layout.load(latest, weights)
        tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
        if unexpected or set(missing) - tied:  # tied embeddings are saved once; nothing else may be missing
            raise ConfigError(f"checkpoint {latest} does not match the model ({(unexpected or missing)[0]}).")
    layout.load_optimizer(state["optimizer"])
    random.setstate(state["rng"]["python"])
    np.random.set_state(state["rng"]["numpy"])
    torch.set_rng_state(state["rng"]["torch"])
    return state


def drop_logs_after(run_dir: Path, step: int) -> None:
    """Steps logged after the checkpoint by the interrupted run are done again: drop their lines."""
    for name in RUN_LOGS:
        path = run_dir / name
        if path.exists():
            kept = [line for line, row_step in _log_lines(path) if row_step <= step]
            atomic_write(path, lambda f, kept=kept: f.writelines(line + "\n" for line in kept))


def _log_lines(path: Path) -> list[tuple[str, int]]:
    """(line, its step) for each line of a JSON-lines log. A last line that does not parse is what a kill
    between buffered writes leaves (the rest of the line never reached the file): it is left out."""
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()  # a cut may split a character
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append((line, int(json.loads(line)["step"])))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            if number == len(lines):
                break
            raise DataError(f"{path}, line {number}: not a log line with a step; restore the file or start the "
                            "run in a new run.output_dir.") from None
    return rows


def final_model(run_dir: str | Path) -> Path:
    """The folder holding a finished run's trained model: the merged LoRA model, else the last checkpoint."""
    run_dir = Path(run_dir)
    if (run_dir / "model" / "config.json").exists():
        return run_dir / "model"
    latest = run_dir / "checkpoints" / "latest"
    if not latest.exists():
        raise ConfigError(f"{run_dir} has no trained model: no model/ folder and no checkpoint.")
    return run_dir / "checkpoints" / latest.read_text().strip()
