"""Checkpoints of a GRPO run: written atomically, resumed exactly.

    RUN_DIR/checkpoints/step-N/   model (Hugging Face folder, or the LoRA adapter), tokenizer,
                                  trainer_state.pt (step, layout, optimizer, scheduler, stream, RNG, health)
    RUN_DIR/checkpoints/latest    the name of the newest complete step-N folder

A checkpoint is built in a hidden staging folder and renamed into place, then `latest` is
rewritten atomically: a crash at any point leaves the previous checkpoint and pointer intact.
Resuming restores the global RNGs too, so a resumed run logs the same metrics as an
uninterrupted one; the log lines an interrupted run wrote after its checkpoint are dropped, and so is
a last line that a kill cut off mid-write (the torn-line rule of rlvr.rundir). Weights that are not
finite are never written.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlvr._errors import ConfigError
from rlvr.models import Policy
from rlvr.rundir import RunDir
from rlvr.train.runtime.distributed import Dist
from rlvr.train.runtime.lora import load_adapter, save_adapter
from rlvr.train.runtime.sharding import Replicated


def save_checkpoint(run_dir: Path, step: int, policy: Policy, layout: Replicated, dist: Dist, *, lora: bool,
                    keep: int, state: dict[str, Any], optimizer: bool = True) -> None:
    """Write checkpoints/step-STEP and point `latest` at it; keep the newest `keep` checkpoints.

    Called on every rank: sharded weights and optimizer state are gathered (or saved per rank)
    by all. `state` is the trainer's own resumable state (scheduler, stream, health). Without
    `optimizer` the folder holds the weights and that state but no optimizer state, and a
    `weights_only` marker: such a checkpoint is a trained model, not a point to resume from.
    """
    runs = RunDir(run_dir)
    staging = runs.checkpoint_staging(step)
    weights = layout.full_state_dict()
    optimizer_state = layout.optimizer_state() if optimizer else None
    bad = _first_nonfinite(policy.model.state_dict() if weights is None else weights) if dist.is_main else None
    if dist.sum(float(bad is not None)):  # every rank refuses together, before anything is written
        raise ConfigError(f"the weights at step {step} are not finite ({bad or 'on rank 0'}), so no checkpoint was "
                          "written; lower optim.lr and resume from the last checkpoint.")
    if dist.is_main:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    dist.barrier()
    if optimizer:
        layout.save_shards(staging)
    else:
        (staging / RunDir.WEIGHTS_ONLY).write_text("written with run.checkpoint_optimizer=false: not resumable\n")
    dist.barrier()
    if dist.is_main:
        full_state = {"step": step, "layout": layout.name, "optimizer": optimizer_state, **state}
        write_checkpoint(runs, step, policy, weights, full_state, lora=lora, keep=keep)
    dist.barrier()


def _first_nonfinite(weights: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding a NaN or an infinity, or None. Its least and greatest
    values tell (a NaN propagates into both): one pass and no copy, where isfinite(...).all() allocates a mask
    of every weight (0.04 s against 0.5 s for SmolLM2-135M's float32 weights)."""
    for name, tensor in weights.items():
        local = tensor.to_local() if hasattr(tensor, "to_local") else tensor  # a sharded DTensor: this shard
        if local.is_floating_point() and local.numel():
            least, greatest = torch.aminmax(local)
            if not bool(torch.isfinite(least) & torch.isfinite(greatest)):
                return name
    return None


def write_checkpoint(runs: RunDir, step: int, policy: Policy, weights: dict[str, torch.Tensor] | None,
                     state: dict[str, Any], *, lora: bool, keep: int) -> None:
    """Rank 0's part: the model into the staging folder, then renamed to step-STEP, `latest` updated, old
    ones removed."""
    staging, target = runs.checkpoint_staging(step), runs.checkpoint(step)
    if lora:  # the base weights never change: the adapter is all there is to save
        save_adapter(policy.model, staging)
    else:
        policy.model.save_pretrained(staging, state_dict=weights)
    policy.tokenizer.save_pretrained(staging)
    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    torch.save({**state, "rng": rng}, staging / RunDir.TRAINER_STATE)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # a checkpoint is either complete or absent
    runs.point_latest_at(step)  # a crash leaves the old pointer
    for old in runs.checkpoint_steps()[:-keep]:
        shutil.rmtree(runs.checkpoint(old), ignore_errors=True)


def load_checkpoint(run_dir: Path, model: torch.nn.Module, layout: Replicated, *, lora: bool) -> dict[str, Any]:
    """Load the latest checkpoint's weights (or adapter), optimizer state and global RNG states.

    Returns trainer_state.pt for the trainer to restore the rest (step, scheduler, stream, health).
    """
    runs = RunDir(run_dir)
    latest = runs.latest_checkpoint()
    if latest is None or not latest.exists():
        raise ConfigError(f"nothing to resume in {run_dir}: no complete checkpoint.")
    from safetensors.torch import load_file

    if not runs.resumable():
        raise ConfigError(f"checkpoint {latest} holds no optimizer state (run.checkpoint_optimizer=false): it "
                          "cannot be resumed exactly.")
    state = torch.load(latest / RunDir.TRAINER_STATE, weights_only=False)
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


def final_model(run_dir: str | Path) -> Path:
    """The folder holding a finished run's trained model: the merged LoRA model, else the last checkpoint."""
    return RunDir(run_dir).final_model()
