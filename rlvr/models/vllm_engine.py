"""`VLLMEngine`: the sampler on vLLM, colocated with the trainer on one CUDA GPU.

    engine = VLLMEngine(policy, gpu_memory_utilization=0.3)
    result = engine.generate(prompts, SamplingParams(n=8, temperature=1.0, max_new_tokens=256))
    ...  # optimizer step on policy.model
    engine.push_weights()  # the next generate() samples from the updated weights

Same contract as `HFEngine`: prompts are encoded with `policy.encode` (both engines see the
same tokens), generation stops on `policy.eos_token_ids`, `Completion.logprobs` are those of
the sampled tokens under the temperature-scaled distribution *before* top-k/top-p truncation,
and finish_reason is "stop" when the last token is an EOS, else "length".

Written against vLLM's V1 engine, 0.10.2 and later (the versions TRL 1.16 targets: 0.22-0.31),
from its source: `LLM(..., logprobs_mode=...)` (added in 0.10.0, vllm#21398), `LLM.generate`
with `{"prompt_token_ids": ids}` prompts (TokensPrompt) and one `SamplingParams` per prompt,
`RequestOutput.outputs[i].token_ids/.logprobs/.finish_reason`. Not run on a GPU in this
repository's CI: tests/models/test_vllm_engine.py checks the mapping against a fake `vllm`
module, and its GPU test (skipped without vllm and CUDA) compares greedy outputs with HFEngine.

Where vLLM's semantics differ from HFEngine's, and what this engine does about it:
- logprobs: `logprobs_mode="processed_logprobs"` gives log-softmax(logits / T) *after* top-k /
  top-p truncation, i.e. renormalised over the kept tokens (vllm#42259, trl#6789). Without
  truncation (top_k=0, top_p=1, the default) that is exactly HFEngine's value. With
  truncation it is off by log(kept mass) per token, which would bias the GRPO ratio
  exp(logp - old_logp) (old_logp are these logprobs): those logprobs are recomputed instead
  with one teacher-forced forward pass of `policy.model`, as the trainer computes logp, and
  vLLM's own (the truncated distribution it sampled from) are kept as
  `Completion.sampler_logprobs`, which the trainer's mismatch correction (`algo.mismatch`) reads.
  (vLLM's default `logprobs_mode="raw_logprobs"` would give the model's log-softmax before
  temperature, top-k and top-p: neither what the trainer computes nor what was sampled.)
- vLLM refuses n > 1 with greedy sampling: at temperature 0 one completion per prompt is
  generated and copied n times (the copies would be identical anyway); `new_tokens` counts
  the tokens decoded, once per prompt, so tokens/s stays a real throughput.
- vLLM clamps temperatures in (0, 0.01) and rejects those above 2: both raise ConfigError.
- vLLM reports "length" when EOS is sampled as the last allowed token; HFEngine says "stop".
- Seeds: each request's seed is a hash of (`params.seed`, the prompt's tokens, which copy of an
  identical prompt it is in the call), as HFEngine keys its streams (vLLM gives sample j of a
  prompt seed + j), so a prompt's samples do not depend on the order or company of the
  prompts; reproducible up to batch-dependent GPU numerics, but not HFEngine's samples.
- `progress` is called once, at the end (vLLM decodes everything in one call); vLLM's own
  progress bar shows meanwhile.

Weights: vLLM loads the model from the policy's folder (or hub id) at construction, then
`push_weights()` copies the policy's current parameters into vLLM's model in place, as TRL's
GRPOTrainer does in `vllm_mode="colocate"`
(`llm.llm_engine.model_executor.driver_worker.model_runner.model.load_weights(...)`).
That object lives in this process only with VLLM_ENABLE_V1_MULTIPROCESSING=0, which the
engine sets. LoRA (peft) models are merged for the copy and unmerged after it.
Not supported: data-parallel ranks (one process only), vLLM's sleep mode.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping, Sequence

import torch

from rlvr._errors import ConfigError, ModelError
from rlvr.models.generation import (
    Completion,
    FinishedFn,
    GenerationResult,
    ProgressFn,
    SamplingParams,
    stream_seeds,
)
from rlvr.models.loading import Policy, Prompt
from rlvr.models.logprobs import sequence_logprobs
from rlvr.models.spec import GPU_MEMORY_SHARE

__all__ = ["VLLMEngine", "require_vllm"]

MIN_VERSION = (0, 10, 2)  # logprobs_mode exists from 0.10.0; TRL needs 0.10.2 for processed logprobs
# vLLM's limits on temperature (vllm/sampling_params.py: _MAX_TEMP clamp, "must be in [0, 2]").
_MIN_TEMPERATURE, _MAX_TEMPERATURE = 0.01, 2.0

WeightsLike = Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]


def require_vllm() -> Any:
    """Import vllm, or say in one sentence why this machine cannot run it."""
    if sys.modules.get("vllm") is None and importlib.util.find_spec("vllm") is None:
        raise ModelError("the vllm engine needs the vllm package: pip install vllm; needs a CUDA GPU.")
    if not torch.cuda.is_available():
        raise ModelError("the vllm engine needs a CUDA GPU and none is visible; use the hf engine on this machine.")
    try:
        import vllm
    except ImportError as exc:
        raise ModelError(f"vllm is installed but does not import ({exc}); reinstall it with pip install vllm.") from exc
    version = getattr(vllm, "__version__", "0")
    if _version_tuple(version) < MIN_VERSION:
        wanted = ".".join(map(str, MIN_VERSION))
        raise ModelError(f"vllm {version} is too old for the vllm engine; pip install 'vllm>={wanted}'.")
    return vllm


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())  # "0rc1" -> 0
        parts.append(int(digits or 0))
    return tuple(parts)


class VLLMEngine:
    """Batched sampling with vLLM on the trainer's GPU; see the module docstring for the contract.

    gpu_memory_utilization: share of the GPU's memory vLLM may take (its weights, activations
    and KV cache); the rest stays for the trainer's model, gradients and optimizer state.
    llm_kwargs: passed to `vllm.LLM` as they are (e.g. max_model_len=4096, enforce_eager=True).
    """

    def __init__(self, policy: Policy, gpu_memory_utilization: float = GPU_MEMORY_SHARE, **llm_kwargs: Any) -> None:
        if not 0 < gpu_memory_utilization <= 1:
            raise ConfigError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}.")
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ConfigError("the vllm engine runs in a single process; launch without data-parallel ranks "
                              "or use the hf engine.")
        source = getattr(policy.model, "name_or_path", "") or getattr(policy.model.config, "_name_or_path", "")
        if not source:
            raise ModelError("the vllm engine loads the model from its folder or hub id and this policy has "
                             "neither; save it with save_pretrained and load it from that folder.")
        # push_weights reaches vLLM's model object, which is in this process only without V1 multiprocessing.
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        self._vllm = require_vllm()
        self.policy = policy
        options = {
            "model": str(source),
            "dtype": str(policy.model.dtype).removeprefix("torch."),  # sample in the trainer's precision
            "gpu_memory_utilization": gpu_memory_utilization,
            # Temperature-scaled logprobs of the sampled tokens, as the trainer computes them.
            "logprobs_mode": "processed_logprobs",
            **llm_kwargs,
        }
        # What the eval files and the trainer's mismatch default read: bf16 when vLLM's model is bfloat16.
        self.precision = "bf16" if str(options["dtype"]) in ("bfloat16", "torch.bfloat16") else "fp32"
        self.llm = self._vllm.LLM(**options)
        self.push_weights()  # the policy in memory may already differ from the weights on disk

    # -- sampling -----------------------------------------------------------------------------
    def generate(
        self, prompts: Sequence[Prompt], params: SamplingParams, progress: ProgressFn | None = None,
        finished: FinishedFn | None = None, stop: Sequence[str] = (),
    ) -> GenerationResult:
        """vLLM schedules every request itself and returns them together: `finished` hears of all at the end.
        `stop` strings end a completion as in HFEngine (kept in its text and tokens; vLLM detokenizes to find them)."""
        _check_temperature(params.temperature)
        if isinstance(stop, str) or not all(isinstance(s, str) and s for s in stop):
            raise ConfigError(f"stop must be a list of non-empty strings, got {stop!r}.")
        encoded = [self.policy.encode(p) for p in prompts]
        start = time.perf_counter()
        if not encoded:
            return GenerationResult(completions=[], prompt_token_ids=[], new_tokens=0, seconds=0.0)
        greedy = params.temperature == 0
        samples = 1 if greedy else params.n  # vLLM refuses n > 1 with greedy sampling
        requests = [self._request(params, samples, seed, tuple(stop))
                    for seed in _prompt_seeds(params.seed, encoded, samples)]
        outputs = self.llm.generate(
            [{"prompt_token_ids": ids} for ids in encoded], sampling_params=requests, use_tqdm=progress is not None
        )
        if len(outputs) != len(encoded):
            raise ModelError(f"vLLM returned {len(outputs)} results for {len(encoded)} prompts.")
        completions = [self._completions(output, samples) for output in outputs]
        new_tokens = sum(len(c.token_ids) for group in completions for c in group)  # tokens vLLM decoded
        if not greedy and (params.top_k > 0 or params.top_p < 1):
            self._recompute_logprobs(encoded, completions, params.temperature)
        if samples < params.n:
            completions = [[_copy(group[0]) for _ in range(params.n)] for group in completions]
        if progress is not None:
            progress(len(encoded) * params.n, new_tokens)
        if finished is not None:
            finished(list(range(len(encoded))), completions)
        return GenerationResult(
            completions=completions, prompt_token_ids=encoded, new_tokens=new_tokens,
            seconds=time.perf_counter() - start,
        )

    def _request(self, params: SamplingParams, samples: int, seed: int, stop: tuple[str, ...] = ()) -> Any:
        strings = {"stop": list(stop), "include_stop_str_in_output": True} if stop else {}
        return self._vllm.SamplingParams(
            **strings,
            n=samples,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k,  # 0 = off, as here (vLLM >= 0.10 also accepts -1)
            max_tokens=params.max_new_tokens,
            seed=seed,
            logprobs=0,  # the sampled token's logprob only
            stop_token_ids=sorted(self.policy.eos_token_ids),
            detokenize=bool(stop),  # stop strings need vLLM's text; the text kept comes from policy.decode as in HFEngine
        )

    def _completions(self, output: Any, samples: int) -> list[Completion]:
        sequences = sorted(output.outputs, key=lambda o: o.index)
        if len(sequences) != samples:
            raise ModelError(f"vLLM returned {len(sequences)} completions for a prompt instead of {samples}.")
        eos = self.policy.eos_token_ids
        completions = []
        for seq in sequences:
            if seq.finish_reason not in ("stop", "length"):
                raise ModelError(f"vLLM ended a sequence with finish reason {seq.finish_reason!r}; "
                                 "check the vLLM log above for the cause.")
            ids = [int(t) for t in seq.token_ids]
            if seq.logprobs is None or len(seq.logprobs) != len(ids):
                raise ModelError("vLLM returned no logprob for some sampled tokens; it must run with logprobs=0.")
            logprobs = [float(step[t].logprob) for step, t in zip(seq.logprobs, ids)]
            stopped = bool(ids) and ids[-1] in eos
            finish = "stop" if stopped or seq.finish_reason == "stop" else "length"
            completions.append(Completion(self.policy.decode(ids[:-1] if stopped else ids), ids, logprobs, finish))
        return completions

    def _recompute_logprobs(self, prompts: list[list[int]], completions: list[list[Completion]],
                            temperature: float) -> None:
        """Replace vLLM's truncated-and-renormalised logprobs with the untruncated ones."""
        rows = [(p, c) for p, group in zip(prompts, completions) for c in group]
        values = sequence_logprobs(self.policy.model, [p for p, _ in rows], [c.token_ids for _, c in rows],
                                   temperature, device=self.policy.device)
        for (_, completion), logprobs in zip(rows, values):
            completion.sampler_logprobs = completion.logprobs  # what vLLM sampled from: renormalised
            completion.logprobs = logprobs

    # -- weights ------------------------------------------------------------------------------
    @torch.no_grad()
    def push_weights(self, weights: WeightsLike | None = None) -> int:
        """Copy weights into vLLM's model in place; returns how many tensors were copied.

        weights: a state dict or (name, tensor) pairs with Hugging Face names; by default the
        parameters of `policy.model` as they are now (LoRA adapters merged in).
        """
        target = _driver_model(self.llm)
        if weights is None:
            with _merged_adapters(self.policy.model) as model:
                items = list(_hf_named_weights(model))
                target.load_weights(items)  # inside the context: merged tensors are the adapter's views
        else:
            items = list(weights.items() if isinstance(weights, Mapping) else weights)
            target.load_weights(items)
        self.llm.reset_prefix_cache()  # cached prompt KV blocks were computed with the old weights
        return len(items)


# ---------------------------------------------------------------------------------------------
# Helpers


def _check_temperature(temperature: float) -> None:
    if 0 < temperature < _MIN_TEMPERATURE or temperature > _MAX_TEMPERATURE:
        raise ConfigError(f"the vllm engine samples at temperature 0 or in [{_MIN_TEMPERATURE}, {_MAX_TEMPERATURE}], "
                          f"got {temperature}; use the hf engine for other temperatures.")


def _prompt_seeds(seed: int, prompts: list[list[int]], samples: int) -> list[int]:
    """One seed per prompt, a hash of (seed, its tokens, its copy number): vLLM seeds sample j of a
    prompt with seed + j, so equal or consecutive per-prompt seeds would give different prompts the
    same noise; two prompts' hashed ranges overlap with probability ~2 * samples / 2**31."""
    return [row_seeds[0] % (2**31 - samples) for row_seeds in stream_seeds(seed, prompts, 1)]


def _copy(completion: Completion) -> Completion:
    kept = completion.sampler_logprobs
    return dataclasses.replace(completion, token_ids=list(completion.token_ids), logprobs=list(completion.logprobs),
                               sampler_logprobs=None if kept is None else list(kept))


def _driver_model(llm: Any) -> Any:
    try:
        return llm.llm_engine.model_executor.driver_worker.model_runner.model
    except AttributeError as exc:
        raise ModelError("cannot reach vLLM's model to update its weights (it must run in this process, "
                         "VLLM_ENABLE_V1_MULTIPROCESSING=0); use a vllm version from 0.10.2 to 0.31.") from exc


@contextmanager
def _merged_adapters(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """A peft model with its adapters merged into the base weights for the duration; others as they are."""
    if not hasattr(model, "merge_adapter"):
        yield model
        return
    model.merge_adapter()
    try:
        yield model
    finally:
        model.unmerge_adapter()


def _hf_named_weights(model: torch.nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """(checkpoint name, tensor) for every parameter: tied weights once, peft wrappers and adapters removed."""
    for name, param in model.named_parameters():
        if "lora_" in name:  # adapter matrices: already merged into the base weights
            continue
        yield name.removeprefix("base_model.model.").replace(".base_layer", ""), param.detach()
