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

trainer_state.pt is read with torch's weights-only unpickler: tensors, numbers, strings and the containers of
them, nothing that names code (a pickle can name any function to call while it loads, and a checkpoint folder is
data that travels). Its numpy RNG state is written as a tensor for that reason; the numpy array that checkpoints
of earlier versions hold is allowed by name (numpy's array reconstruction, as transformers' Trainer allows it).
A DeepSpeed run's own optimizer shards (deepspeed/ in a checkpoint) are read by DeepSpeed's loader, which
unpickles them: resume a DeepSpeed run only from checkpoints you wrote.
"""

from __future__ import annotations

import contextlib
import pickle
import random
import re
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
    rng = {"python": random.getstate(), "numpy": numpy_rng_state(), "torch": torch.get_rng_state()}
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
    state = read_trainer_state(latest / RunDir.TRAINER_STATE)
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
    set_numpy_rng_state(state["rng"]["numpy"])
    torch.set_rng_state(state["rng"]["torch"])
    return state


def numpy_rng_state() -> tuple:
    """numpy's global RNG state with its key array as a tensor (the weights-only unpickler reads it by itself)."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    return kind, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(gauss)


def set_numpy_rng_state(saved: tuple) -> None:
    """Undo `numpy_rng_state`; also takes np.random.get_state() itself (earlier versions' checkpoints)."""
    kind, keys, *rest = saved
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else keys
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))


def read_trainer_state(path: Path, mmap: bool = False) -> dict[str, Any]:
    """A checkpoint's trainer_state.pt through torch's weights-only unpickler (see the module docstring); a file
    that names anything else is refused with one sentence, before anything of it runs. With `mmap` its tensors
    are mapped, not read (a check of the file before the model loads)."""
    try:
        with _numpy_arrays_allowed():
            return torch.load(path, weights_only=True, map_location="cpu", mmap=mmap)
    except pickle.UnpicklingError as exc:
        named = re.search(r"GLOBAL ([\w.]+)", str(exc))  # torch's message names what the file asked for
        what = f" (it names {named.group(1)})" if named else ""
        raise ConfigError(f"{path} holds more than tensors and plain values{what}, so rlvr will not load it: a "
                          "pickle can run code while it loads. Resume only checkpoints that rlvr train wrote.") from exc
    except (OSError, RuntimeError, EOFError) as exc:
        raise ConfigError(f"{path} cannot be read ({exc}); the checkpoint is damaged.") from exc


@contextlib.contextmanager
def _numpy_arrays_allowed():
    """Allow, for one load, the names a pickled numpy array of plain numbers needs (earlier checkpoints' numpy RNG
    state): numpy's array reconstruction, the array and dtype types."""
    multiarray = getattr(np, "_core", None) or np.core
    names = [multiarray.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]
    scoped = getattr(torch.serialization, "safe_globals", None)  # torch 2.5+; 2.4 has only the global list
    if scoped is None:
        torch.serialization.add_safe_globals(names)
        yield
        return
    with scoped(names):
        yield


def final_model(run_dir: str | Path) -> Path:
    """The folder holding a finished run's trained model: the merged LoRA model, else the last checkpoint."""
    return RunDir(run_dir).final_model()
