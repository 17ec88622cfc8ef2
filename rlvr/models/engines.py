"""The sampler by name: "hf" (HFEngine, rlvr/models/sampler.py) or "vllm" (VLLMEngine, rlvr/models/vllm_engine.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from rlvr._errors import ConfigError

if TYPE_CHECKING:
    from rlvr.models.loading import Policy
    from rlvr.models.sampler import HFEngine
    from rlvr.models.vllm_engine import VLLMEngine

EngineName = Literal["hf", "vllm"]
# The precision of the sampler's matrix products: fp32, or bf16 (hf: autocast over the model's float32 weights;
# vllm: the model in bfloat16). The trainer's log-probabilities then differ from the sampler's by that rounding,
# the gap algo.mismatch corrects.
SamplingPrecision = Literal["fp32", "bf16"]


def check_engine(name: str) -> None:
    """Fail now, before a model is loaded, when the engine cannot run on this machine."""
    if name not in ("hf", "vllm"):
        raise ConfigError(f"unknown sampling engine '{name}'; choose hf or vllm.")
    if name == "vllm":
        from rlvr.models.vllm_engine import require_vllm

        require_vllm()


def make_engine(name: EngineName, policy: Policy, *, batch_size: int | Literal["auto"] = "auto",
                gpu_memory_utilization: float = 0.3, precision: SamplingPrecision = "fp32") -> HFEngine | VLLMEngine:
    """The sampler by name: "hf" (HFEngine, CPU or GPU) or "vllm" (VLLMEngine, colocated on a CUDA GPU).

    batch_size applies to hf (vLLM schedules its own batches), gpu_memory_utilization to vllm; precision:
    "fp32" samples in the policy's own precision, "bf16" in bfloat16 (SamplingPrecision).
    """
    check_engine(name)
    if precision not in ("fp32", "bf16"):
        raise ConfigError(f"unknown sampling precision '{precision}'; choose fp32 or bf16.")
    if name == "vllm":
        from rlvr.models.vllm_engine import VLLMEngine

        extra = {"dtype": "bfloat16"} if precision == "bf16" else {}
        return VLLMEngine(policy, gpu_memory_utilization=gpu_memory_utilization, **extra)
    from rlvr.models.sampler import HFEngine

    return HFEngine(policy, batch_size=batch_size, bf16=precision == "bf16")
