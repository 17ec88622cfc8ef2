"""Where the policy's weights, gradients and optimizer state live: replicated, FSDP2, or DeepSpeed ZeRO.

    accelerate launch --config_file examples/accelerate/fsdp.yaml -m rlvr.cli train CONFIG

accelerate only starts the processes; the recipe reaches the trainer as environment variables
(ACCELERATE_USE_FSDP and FSDP_*, ACCELERATE_USE_DEEPSPEED and ACCELERATE_DEEPSPEED_*), which
`layout_for_launch` reads. It returns one of three layouts with the same small interface:

    Replicated   every rank holds everything; one all-reduce sums the gradients (ddp.yaml)
    FSDP         torch's FSDP2 `fully_shard`: each decoder layer and the rest shard over ranks
    DeepSpeed    a DeepSpeed engine, ZeRO stage 2 (optimizer state and gradients) or 3 (+ weights)

Sharding changes three things in the GRPO loop, and only three:
- Sampling and evaluation run inside `gathered()`: every rank holds the full weights while it
  decodes (TRL does the same with ZeRO-3 by default), so ranks decode their own prompts at their
  own pace with no collectives, and rank 0 can evaluate alone. The memory saving holds for the
  update, where activations, gradients and optimizer state dominate.
- Every forward and backward of the update is a collective, so every rank runs the same number
  of micro-batches; a rank with less work runs zero-weight ones (`micro_batch_count`).
- FSDP and DeepSpeed average gradients over ranks while the trainer's loss weights already make
  the full-batch sum (distributed.py), so the loss is multiplied by the world size.
Checkpoints stay Hugging Face folders with the full weights, gathered on rank 0 whatever
`fsdp_state_dict_type` says, so `rlvr eval` and resuming read them as they are. FSDP's optimizer
state is gathered too; DeepSpeed's is saved in its own per-rank format under `deepspeed/`.
Every rank loads the whole model before it is sharded (`fsdp_cpu_ram_efficient_loading` and
`zero3_init_flag` are not used).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

import torch

from rlvr._errors import ConfigError
from rlvr.train.runtime.distributed import Dist

_TRUE = ("true", "1", "yes")


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _trainable(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


class Replicated:
    """A full copy of everything on every rank (one process, or ddp.yaml)."""

    name = "ddp"
    sharded = False

    def __init__(self, dist: Dist) -> None:
        self.dist = dist
        self.model: Any = None
        self.optimizer: Any = None
        self.max_grad_norm = 1.0

    # -- setup: shard the modules before the optimizer exists, then hand the optimizer over ------
    def shard(self, model: torch.nn.Module, reference: Any) -> Any:
        """Lay the policy (and the frozen KL reference) out over the ranks; returns the reference to call."""
        self.model = model
        return reference

    def attach(self, optimizer: torch.optim.Optimizer, max_grad_norm: float) -> None:
        self.optimizer, self.max_grad_norm = optimizer, max_grad_norm

    @property
    def module(self) -> Any:
        """What the update's forward pass calls."""
        return self.model

    # -- the update ---------------------------------------------------------------------------
    def micro_batch_count(self, local: int) -> int:
        """How many micro-batches this rank runs: its own count, or every rank's largest when sharded."""
        return local

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        loss.backward()

    def step(self) -> float:
        """Reduce the gradients, clip them, take the optimizer step; returns the gradient norm before clipping.
        A norm that is not finite (every rank sees the same one) takes no step: the trainer counts it."""
        parameters = _trainable(self.model)
        self.dist.sum_gradients(parameters)
        norm = torch.nn.utils.clip_grad_norm_(parameters, self.max_grad_norm)
        if torch.isfinite(norm):
            self.optimizer.step()
        return float(norm)

    # -- sampling -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def gathered(self) -> Iterator[None]:
        """Full weights on every rank for the duration, so forward passes need no other rank."""
        yield

    # -- checkpoints (every rank calls these; gathering sharded state is collective) ------------
    def full_state_dict(self) -> dict[str, torch.Tensor] | None:
        """The full weights on rank 0 (None elsewhere); None on every rank when the model holds them itself."""
        return None

    def optimizer_state(self) -> Any:
        """The optimizer state for trainer_state.pt (on rank 0)."""
        return self.optimizer.state_dict()

    def save_shards(self, folder: Path) -> None:
        """Per-rank state written by every rank into the checkpoint folder (DeepSpeed's optimizer)."""

    def load(self, folder: Path, weights: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
        """Load a checkpoint's full weights; returns (missing, unexpected) keys."""
        missing, unexpected = self.model.load_state_dict(weights, strict=False)
        return list(missing), list(unexpected)

    def load_optimizer(self, state: Any) -> None:
        self.optimizer.load_state_dict(state)


class Sharded(Replicated):
    """What FSDP and DeepSpeed share: every rank runs as many micro-batches as the busiest one."""

    sharded = True

    def micro_batch_count(self, local: int) -> int:
        return self.dist.max(local)


class FSDP(Sharded):
    """FSDP2 (`torch.distributed.fsdp.fully_shard`), configured by accelerate's FSDP_* variables."""

    name = "FSDP"

    def __init__(self, dist: Dist) -> None:
        super().__init__(dist)
        if _env("FSDP_VERSION", "1") != "2":
            raise ConfigError("rlvr train shards with FSDP2 only; set fsdp_version: 2 in the accelerate config "
                              "(examples/accelerate/fsdp.yaml).")
        self.wrap = _env("FSDP_AUTO_WRAP_POLICY", "TRANSFORMER_BASED_WRAP").upper()
        if self.wrap not in ("TRANSFORMER_BASED_WRAP", "NO_WRAP"):
            raise ConfigError(f"fsdp_auto_wrap_policy {self.wrap} is not supported by rlvr train; use "
                              "TRANSFORMER_BASED_WRAP (one shard group per decoder layer) or NO_WRAP.")
        self.layer_classes = {c.strip() for c in _env("FSDP_TRANSFORMER_CLS_TO_WRAP").split(",") if c.strip()}
        self.reshard = _env("FSDP_RESHARD_AFTER_FORWARD", "true").lower() in _TRUE
        self.offload = _env("FSDP_OFFLOAD_PARAMS", "false").lower() in _TRUE
        self.checkpointing = _env("FSDP_ACTIVATION_CHECKPOINTING", "false").lower() in _TRUE
        self.bf16 = _mixed_precision() == "bf16"
        self.modules: list[Any] = []  # every FSDP unit of the policy

    def shard(self, model: torch.nn.Module, reference: Any) -> Any:
        from torch.distributed.fsdp import CPUOffloadPolicy, FSDPModule, MixedPrecisionPolicy, fully_shard

        options: dict[str, Any] = {"reshard_after_forward": self.reshard}
        if self.bf16:  # bf16 compute, float32 master weights and gradient reduction
            options["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        if self.offload and torch.cuda.is_available():
            options["offload_policy"] = CPUOffloadPolicy()
        if self.checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        classes = self.layer_classes or set(getattr(model, "_no_split_modules", None) or ())
        if self.wrap == "TRANSFORMER_BASED_WRAP" and not classes:
            raise ConfigError(f"{type(model).__name__} names no decoder layer class to shard by; set "
                              "fsdp_transformer_layer_cls_to_wrap in the accelerate config.")
        for module in (model, reference):
            if module is None:
                continue
            if self.wrap == "TRANSFORMER_BASED_WRAP":
                for layer in [m for m in module.modules() if type(m).__name__ in classes]:
                    fully_shard(layer, **options)
            fully_shard(module, **options)
        self.model = model
        self.modules = [m for m in model.modules() if isinstance(m, FSDPModule)]
        return reference

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        (loss * self.dist.world).backward()

    def step(self) -> float:
        parameters = _trainable(self.model)
        norm = torch.nn.utils.clip_grad_norm_(parameters, self.max_grad_norm)
        norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # the global norm, the same on every rank
        if torch.isfinite(norm):
            self.optimizer.step()
        return float(norm)

    @contextlib.contextmanager
    def gathered(self) -> Iterator[None]:
        for module in self.modules:
            module.unshard()
            module.set_reshard_after_forward(False, recurse=False)
        try:
            yield
        finally:
            for module in self.modules:
                module.reshard()
                module.set_reshard_after_forward(self.reshard, recurse=False)

    def full_state_dict(self) -> dict[str, torch.Tensor] | None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        weights = get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return weights if self.dist.is_main else None

    def optimizer_state(self) -> Any:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        return get_optimizer_state_dict(self.model, self.optimizer,
                                        options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def load(self, folder: Path, weights: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        keys = set_model_state_dict(self.model, weights, options=StateDictOptions(full_state_dict=True, strict=False))
        return list(keys.missing_keys), list(keys.unexpected_keys)

    def load_optimizer(self, state: Any) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(self.model, self.optimizer, optim_state_dict=state,
                                 options=StateDictOptions(full_state_dict=True))


class DeepSpeed(Sharded):
    """A DeepSpeed engine with ZeRO stage 1, 2 or 3, configured by accelerate's ACCELERATE_DEEPSPEED_* variables."""

    name = "DeepSpeed"

    def __init__(self, dist: Dist) -> None:
        super().__init__(dist)
        # DeepSpeed still calls collectives that torch marks deprecated, with a warning at every call.
        warnings.filterwarnings("ignore", message=r".*is deprecated\. Please use `torch\.distributed",
                                category=FutureWarning)
        try:
            import deepspeed  # noqa: F401
        except ImportError as exc:
            raise ConfigError("this launch uses DeepSpeed, which is not installed: run "
                              "`pip install 'rlvr[deepspeed]'`.") from exc
        if _env("ACCELERATE_DEEPSPEED_CONFIG_FILE"):
            raise ConfigError("rlvr train builds the DeepSpeed config from the accelerate config's deepspeed_config "
                              "fields; remove deepspeed_config_file and set zero_stage and the offload devices there.")
        if _env("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "1") not in ("", "1"):
            raise ConfigError("set gradient_accumulation_steps: 1 in the accelerate config; rlvr train accumulates "
                              "over a whole step by itself (optim.micro_batch sets the rows per forward).")
        try:
            self.stage = int(_env("ACCELERATE_DEEPSPEED_ZERO_STAGE", "2"))
        except ValueError:
            self.stage = -1
        if self.stage not in (1, 2, 3):
            raise ConfigError(f"zero_stage must be 1, 2 or 3, got {_env('ACCELERATE_DEEPSPEED_ZERO_STAGE')!r}.")
        self.offload_optimizer = _env("ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE", "none").lower()
        self.offload_param = _env("ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE", "none").lower()
        self.bf16 = _mixed_precision() == "bf16"
        self.engine: Any = None
        self.reference_engine: Any = None
        self.hidden: int | None = None

    def _config(self, micro_batch: int, stage: int, hidden: int | None = None) -> dict[str, Any]:
        zero: dict[str, Any] = {"stage": stage}
        if hidden:  # bucket sizes scaled to the model, as transformers' "auto" values do; DeepSpeed's
            # defaults (5e8 elements) allocate a 2 GB float32 reduce buffer whatever the model's size.
            zero["reduce_bucket_size"] = hidden * hidden
            if stage == 3:
                zero["stage3_prefetch_bucket_size"] = int(0.9 * hidden * hidden)
                zero["stage3_param_persistence_threshold"] = 10 * hidden
        extra: dict[str, Any] = {}
        if self.offload_optimizer not in ("", "none"):
            zero["offload_optimizer"] = {"device": self.offload_optimizer}
            extra["zero_force_ds_cpu_optimizer"] = False  # the trainer's torch AdamW steps on the host
        if stage == 3 and self.offload_param not in ("", "none"):
            zero["offload_param"] = {"device": self.offload_param}
        return {
            "train_micro_batch_size_per_gpu": micro_batch, "gradient_accumulation_steps": 1,
            "zero_optimization": zero, "bf16": {"enabled": self.bf16},
            "zero_allow_untested_optimizer": True,  # the trainer's own torch AdamW
            "steps_per_print": 2**31 - 1, "wall_clock_breakdown": False, **extra,
        }

    def shard(self, model: torch.nn.Module, reference: Any) -> Any:
        self.model = model
        self.hidden = getattr(getattr(model, "config", None), "hidden_size", None)
        if reference is not None and self.stage == 3:  # shard the frozen copy too (no optimizer)
            import deepspeed

            self.reference_engine, *_ = deepspeed.initialize(model=reference, config=self._config(1, 3, self.hidden))
            self.reference_engine.eval()
            return self.reference_engine
        if reference is not None and self.bf16:
            reference.to(torch.bfloat16)
        return reference

    def attach(self, optimizer: torch.optim.Optimizer, max_grad_norm: float) -> None:
        import deepspeed

        config = {**self._config(1, self.stage, self.hidden), "gradient_clipping": max_grad_norm}
        self.engine, self.optimizer, _, _ = deepspeed.initialize(model=self.model, optimizer=optimizer, config=config)
        self.max_grad_norm = max_grad_norm

    @property
    def module(self) -> Any:
        return self.engine

    def zero_grad(self) -> None:
        self.engine.zero_grad()

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        # The micro-batches of one step accumulate; the engine reduces and steps at the boundary.
        self.engine.set_gradient_accumulation_boundary(last)
        self.engine.backward(loss * self.dist.world)

    def step(self) -> float:
        self.engine.set_gradient_accumulation_boundary(True)
        self.engine.step()
        norm = self.engine.get_global_grad_norm()
        return float(norm) if norm is not None else 0.0

    @contextlib.contextmanager
    def gathered(self) -> Iterator[None]:
        if self.stage < 3:  # the weights are whole on every rank already
            yield
            return
        import deepspeed

        # As TRL's unwrap_model_for_generation: gather every weight, and take ZeRO-3's hooks off the
        # modules meanwhile (the per-module fetch and release hooks, and the start-of-forward hook that
        # compares step counters across ranks), so a forward pass is purely local.
        offload = self.engine.optimizer.parameter_offload
        start_of_forward = offload.module._forward_pre_hooks[offload.fwd_pre_hook.id]
        with deepspeed.zero.GatheredParameters(list(self.model.parameters())):
            for parameter in self.model.parameters():
                parameter.ds_active_sub_modules.clear()
            for hook in [*offload.forward_hooks, *offload.backward_hooks, offload.fwd_pre_hook]:
                hook.remove()
            offload.forward_hooks, offload.backward_hooks = [], []
            try:
                yield
            finally:
                offload.fwd_pre_hook = offload.module.register_forward_pre_hook(start_of_forward)
                offload._register_deepspeed_module(offload.module)

    def full_state_dict(self) -> dict[str, torch.Tensor] | None:
        if self.stage == 3:
            weights = self.engine._zero3_consolidated_16bit_state_dict()  # collective; whole on rank 0
            return weights if self.dist.is_main else None
        return None  # the module holds the whole weights

    def optimizer_state(self) -> Any:
        return None  # partitioned per rank: save_shards writes it

    def save_shards(self, folder: Path) -> None:
        self.engine.save_checkpoint(str(folder / "deepspeed"), tag="state", save_latest=False)

    def load(self, folder: Path, weights: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
        if not (folder / "deepspeed").is_dir():
            raise ConfigError(f"checkpoint {folder} was not written by a DeepSpeed run; resume it with the "
                              "launch that wrote it.")
        self.engine.load_checkpoint(str(folder / "deepspeed"), tag="state", load_optimizer_states=True,
                                    load_lr_scheduler_states=False)
        return [], []

    def load_optimizer(self, state: Any) -> None:
        """Loaded with the weights by `load`."""


def _mixed_precision() -> str:
    value = _env("ACCELERATE_MIXED_PRECISION", "no").lower()
    if value not in ("no", "bf16"):
        raise ConfigError(f"mixed_precision {value} is not supported by rlvr train with FSDP or DeepSpeed; use bf16 "
                          "or no.")
    return value


def layout_for_launch(dist: Dist, *, lora: bool, engine: str) -> Replicated:
    """The layout the launcher asked for (environment variables), checked against the training config."""
    if _env("ACCELERATE_USE_FSDP").lower() in _TRUE:
        kind: type[Replicated] = FSDP
    elif _env("ACCELERATE_USE_DEEPSPEED").lower() in _TRUE:
        kind = DeepSpeed
    else:
        return Replicated(dist)
    if lora:
        raise ConfigError(f"LoRA training is not sharded with {kind.name}; its adapters are small, so launch it with "
                          "examples/accelerate/ddp.yaml.")
    if engine != "hf":
        raise ConfigError(f"sampling.engine={engine} does not run under {kind.name} yet; use sampling.engine=hf "
                          "or launch with examples/accelerate/ddp.yaml.")
    return kind(dist)
