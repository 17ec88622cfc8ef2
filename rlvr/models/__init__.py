"""Models: loading policies (alias, folder, GGUF, hub id) and sampling from them.

    from rlvr.models import EngineSpec, SamplingParams, open_engine
    policy, engine = open_engine(EngineSpec(model="smollm2-135m-instruct", engine="hf"))
    result = engine.generate(["What is 2 + 3?"], SamplingParams(n=4, max_new_tokens=32))

The log-probability kernels every caller shares are in logprobs.py (`log_softmax(logits / T)` once, the
selective log-softmax, and `completion_logprobs`: log p(completion | prompt) teacher-forced with left
padding, for the trainer, the vllm engine's recomputed log-probs and the boundary's base likelihood);
the fused head, which takes them straight from the last hidden states, is head.py.

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
    "DEFAULT_MODEL": "spec", "EngineName": "spec", "EngineSpec": "spec",
    "check_engine": "engines", "check_spec": "engines", "make_engine": "engines", "open_engine": "engines",
    "HFEngine": "sampler",
    "VLLMEngine": "vllm_engine",
    "ALIASES": "loading", "Policy": "loading", "Prompt": "loading", "cache_dir": "loading",
    "cached_models": "loading", "check_device": "loading", "load_policy": "loading", "resolve_model": "loading",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
