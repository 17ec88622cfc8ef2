"""Models: loading policies (alias, folder, GGUF, hub id) and sampling from them."""

from rlvr.models.loading import ALIASES, Policy, Prompt, cache_dir, cached_models, load_policy, resolve_model
from rlvr.models.sampler import Completion, Engine, GenerationResult, HFEngine, SamplingParams

__all__ = [
    "ALIASES",
    "Completion",
    "Engine",
    "GenerationResult",
    "HFEngine",
    "Policy",
    "Prompt",
    "SamplingParams",
    "cache_dir",
    "cached_models",
    "load_policy",
    "resolve_model",
]
