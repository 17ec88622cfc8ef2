"""Models: loading policies (alias, folder, GGUF, hub id) and sampling from them."""

from rlvr.models.loading import ALIASES, Policy, Prompt, cache_dir, cached_models, load_policy, resolve_model
from rlvr.models.sampler import Completion, Engine, GenerationResult, HFEngine, SamplingParams, make_engine
from rlvr.models.vllm_engine import VLLMEngine

__all__ = [
    "ALIASES",
    "Completion",
    "Engine",
    "GenerationResult",
    "HFEngine",
    "Policy",
    "Prompt",
    "SamplingParams",
    "VLLMEngine",
    "cache_dir",
    "cached_models",
    "load_policy",
    "make_engine",
    "resolve_model",
]
