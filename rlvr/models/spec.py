"""Which model to sample from, and on what: `EngineSpec`, the one definition of the engine options.

    spec = EngineSpec(model="smollm2-135m-instruct", engine="vllm", gpu_memory_utilization=0.5)
    policy, engine = open_engine(spec)  # rlvr/models/engines.py

Each option is defined here once, with its default and the sentence `--help` shows for it; the
commands' flags (`rlvr eval --engine ...`), the pipeline's stage options and the training config's
`sampling:` keys are read into this one object, so every command that samples honours the same
`engine` the same way. Import-light on purpose (no torch): building the command line reads these fields.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Mapping

from rlvr._errors import ConfigError
from rlvr.models.loading import DType

DEFAULT_MODEL = "smollm2-135m-instruct"  # the model every command and config starts from
# vllm: the share of the GPU's memory vLLM takes; the rest stays for the trainer's weights, gradients, optimizer.
GPU_MEMORY_SHARE = 0.3

EngineName = Literal["hf", "vllm"]
# The precision of the sampler's matrix products: fp32 (the weights' own), bf16 (hf: a bfloat16 copy of the
# weights, refreshed by push_weights() after each update; vllm: the model in bfloat16), or auto: bf16 where the
# hardware multiplies it natively, else fp32 (rlvr/models/precision.py). The trainer's log-probabilities then
# differ from a bf16 sampler's by that rounding, the gap algo.mismatch corrects.
SamplingPrecision = Literal["auto", "fp32", "bf16"]
# The default: switching it to "auto" samples in bf16 on hardware that has it (and changes seeded numbers there).
DEFAULT_PRECISION: SamplingPrecision = "fp32"
BatchSize = int | Literal["auto"]


def _option(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class EngineSpec:
    """A policy to load and the sampler to put on it; checked (one sentence) when built, before anything loads."""

    model: str = _option(DEFAULT_MODEL, "the model: an alias, a local HF folder, a .gguf file or a hub id")
    dtype: DType = _option("auto", "precision of the loaded weights; auto: bfloat16 on a GPU or a CPU that has "
                                   "fast bfloat16, else float32")
    device: str = _option("auto", "where the model runs: cpu, cuda, cuda:1, ...; auto: cuda when there is one")
    engine: EngineName = _option("hf", "the sampler: hf (transformers, CPU or GPU) or vllm (one CUDA GPU, "
                                       "pip install vllm)")
    batch_size: BatchSize = _option("auto", "hf: rows decoded together; auto: as many as half the free memory "
                                            "holds")
    precision: SamplingPrecision = _option(DEFAULT_PRECISION, "the sampler's matrix products: fp32 (the weights' "
                                                              "own precision), bf16 (a bfloat16 copy of the "
                                                              "weights) or auto (bf16 where the hardware has it)")
    gpu_memory_utilization: float = _option(GPU_MEMORY_SHARE, "vllm: the share of the GPU's memory vLLM may take")

    def __post_init__(self) -> None:
        for name, problem in _problems(vars(self)):
            raise ConfigError(f"{name} {problem}.")


def engine_spec(values: Mapping[str, Any], name: Callable[[str], str] = str) -> EngineSpec:
    """An EngineSpec from `values` (option -> value; a missing option takes its default), each bad value one
    sentence naming the option as the user wrote it: `name("gpu_memory_utilization")` is
    "--gpu-memory-utilization" for a flag, "sampling.gpu_memory_utilization" for a config key."""
    known = {f.name for f in dataclasses.fields(EngineSpec)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown engine option {name(unknown[0])}; the options are "
                          f"{', '.join(name(k) for k in sorted(known))}.")
    for option, problem in _problems(values):
        raise ConfigError(f"{name(option)} {problem}.")
    return EngineSpec(**values)


def _problems(values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(option, what is wrong with it) for each bad option in `values`, in field order."""
    hints = typing.get_type_hints(EngineSpec)
    for f in dataclasses.fields(EngineSpec):
        if f.name not in values:
            continue
        value = values[f.name]
        choices = typing.get_args(hints[f.name]) if typing.get_origin(hints[f.name]) is Literal else ()
        if choices and value not in choices:
            allowed = " or ".join(choices) if len(choices) == 2 else "one of " + ", ".join(choices)
            yield f.name, f"must be {allowed}, got {value!r}"
        elif f.name in ("model", "device") and (not isinstance(value, str) or not value):
            yield f.name, f"must be a non-empty name, got {value!r}"
        elif f.name == "batch_size" and value != "auto" and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1):
            yield f.name, f"must be a positive integer or 'auto', got {value!r}"
        elif f.name == "gpu_memory_utilization" and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or not 0 < value <= 1):
            yield f.name, f"must be in (0, 1], got {value!r}"
