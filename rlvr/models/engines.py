"""The one factory of samplers: `open_engine(spec)` loads the policy an `EngineSpec` names and puts the sampler
it names on it: "hf" (HFEngine, rlvr/models/sampler.py) or "vllm" (VLLMEngine, rlvr/models/vllm_engine.py).

Every command, workflow and the trainer open their sampler here (tests/test_architecture.py checks that no
module outside rlvr/models/ builds one), so `engine: vllm` means the same everywhere and fails the same way,
in one sentence, before any model loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from rlvr._errors import ConfigError
from rlvr.models.spec import EngineName, EngineSpec, SamplingPrecision

if TYPE_CHECKING:
    from rlvr.models.loading import Policy
    from rlvr.models.sampler import HFEngine
    from rlvr.models.vllm_engine import VLLMEngine


def check_engine(name: str) -> None:
    """Fail now, before a model is loaded, when the engine cannot run on this machine."""
    if name not in ("hf", "vllm"):
        raise ConfigError(f"unknown sampling engine '{name}'; choose hf or vllm.")
    if name == "vllm":
        from rlvr.models.vllm_engine import require_vllm

        require_vllm()


def check_spec(spec: EngineSpec) -> None:
    """Fail now, in one sentence, when the spec's engine or device cannot run on this machine: before any
    model loads, and before a command writes anything."""
    from rlvr.models.loading import check_device

    check_engine(spec.engine)
    check_device(spec.device)


def open_engine(spec: EngineSpec, policy: Policy | None = None) -> tuple[Policy, HFEngine | VLLMEngine]:
    """(the policy, its sampler), both as `spec` says; checked first (`check_spec`), so nothing loads in vain.

    policy: sample from this policy, already loaded (the trainer's, after LoRA; SFT's, which it trains), instead
    of loading `spec.model`; the spec's model, dtype and device are then the ones it was loaded with.
    """
    check_engine(spec.engine)
    if policy is None:
        from rlvr.models.loading import load_policy

        check_spec(spec)
        policy = load_policy(spec.model, dtype=spec.dtype, device=spec.device)
    return policy, make_engine(spec.engine, policy, batch_size=spec.batch_size,
                               gpu_memory_utilization=spec.gpu_memory_utilization, precision=spec.precision)


def make_engine(name: EngineName, policy: Policy, *, batch_size: int | Literal["auto"] = EngineSpec.batch_size,
                gpu_memory_utilization: float = EngineSpec.gpu_memory_utilization,
                precision: SamplingPrecision = EngineSpec.precision) -> HFEngine | VLLMEngine:
    """The sampler by name: "hf" (HFEngine, CPU or GPU) or "vllm" (VLLMEngine, colocated on a CUDA GPU).

    batch_size applies to hf (vLLM schedules its own batches), gpu_memory_utilization to vllm; precision:
    "fp32" samples in the policy's own precision, "bf16" in bfloat16, "auto" in bf16 where the policy's device
    multiplies it natively (SamplingPrecision); the engine's `precision` is the resolved one.
    """
    from rlvr.models.precision import resolve_precision

    check_engine(name)
    resolved = resolve_precision(precision, policy.device)  # ConfigError for an unknown one
    if name == "vllm":
        from rlvr.models.vllm_engine import VLLMEngine

        extra = {"dtype": "bfloat16"} if resolved == "bf16" else {}
        return VLLMEngine(policy, gpu_memory_utilization=gpu_memory_utilization, **extra)
    from rlvr.models.sampler import HFEngine

    return HFEngine(policy, batch_size=batch_size, precision=resolved)
