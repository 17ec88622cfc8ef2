"""Models: loading policies (alias, folder, GGUF, hub id) and sampling from them.

    from rlvr.models import load_policy, make_engine, SamplingParams
    engine = make_engine("hf", load_policy("smollm2-135m-instruct"))
    result = engine.generate(["What is 2 + 3?"], SamplingParams(n=4, max_new_tokens=32))

Names load on first use, so that reading the sampling settings (`rlvr --help` builds its
flags from `SamplingParams`) imports no torch.
"""

from __future__ import annotations

from rlvr._lazy import lazy_exports

_EXPORTS = {
    "Completion": "generation", "Decoding": "generation", "Engine": "generation", "FinishedFn": "generation",
    "GenerationResult": "generation",
    "ProgressFn": "generation", "SamplingParams": "generation", "setting_help": "generation",
    "stream_seeds": "generation",
    "EngineName": "engines", "check_engine": "engines", "make_engine": "engines",
    "HFEngine": "sampler",
    "VLLMEngine": "vllm_engine",
    "ALIASES": "loading", "Policy": "loading", "Prompt": "loading", "cache_dir": "loading",
    "cached_models": "loading", "check_device": "loading", "load_policy": "loading", "resolve_model": "loading",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
