"""Sampling K completions for many prompts, behind one small engine interface.

The trainer and the evaluator call `engine.generate(prompts, params)` and never
`model.generate` themselves, so a faster engine (`VLLMEngine`, rlvr/models/vllm_engine.py)
can replace `HFEngine`; `open_engine(EngineSpec(engine="hf" | "vllm", ...))` (rlvr/models/engines.py) builds either.

`HFEngine` is a hand-written decoding loop rather than `model.generate`, for throughput
on small machines:
- each prompt is prefilled once and its KV cache repeated for its K samples;
- the opening that all prompts of a batch share (a few-shot prompt's examples, a multi-turn episode's
  opening under each later turn) is prefilled once and its cache copied to each prompt, when that saves
  more positions than the extra call costs (`SHARED_PREFIX_SAVING`; not past a sliding window);
- finished rows leave the batch (their cache rows are dropped), so no step is spent
  on padding after EOS: `model.generate` keeps decoding finished rows until all are done;
- prompts are sorted by length, so a batch holds prompts of similar length;
- a Llama-family model on the CPU decodes with rlvr's own step (rlvr/models/fast_decode.py: packed, fused
  products and a KV cache written in place); the prompts still go through transformers.
Per-token logprobs are those of the temperature-scaled distribution *before* top-k/top-p
truncation, which is what a trainer recomputes from logits / temperature. When top-k or top-p
truncates, `Completion.sampler_logprobs` also holds the sampled tokens' logprobs under the
distribution actually sampled from (renormalised over the kept tokens), which the trainer's
mismatch correction (`algo.mismatch`) compares with its own.

A seed pins the samples whatever the batch size (so "auto", which follows free memory, too),
the order of the prompts and the other prompts in the call: sample j of a prompt draws its
uniforms from its own random stream, seeded by (seed, the prompt's tokens, which copy of an
identical prompt it is in this call, j), as vLLM seeds each request. Up to floating point:
another batch shape can change the logits in their last bits, which flips a token only when
its uniform falls that close to a boundary of the cumulative distribution.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import time
from collections.abc import Iterator
from typing import Any, Literal, Sequence

import torch

from rlvr._errors import ConfigError, ModelError
from rlvr.models.attention import decoding
from rlvr.models.fast_decode import FastDecoder, sliding
from rlvr.models.generation import (
    Completion,
    FinishedFn,
    GenerationResult,
    ProgressFn,
    SamplingParams,
    stream_seeds,
)
from rlvr.models.loading import Policy, Prompt
from rlvr.models.logprobs import scaled_log_softmax


class HFEngine:
    """Batched sampling with a plain transformers model on CPU or one GPU.

    batch_size: rows (prompt x sample) decoded together; "auto" picks the largest that
    fits `memory_gb` (default: half of the free memory), at most 64 rows on CPU, 256 on GPU.
    precision: "fp32" samples from the policy's own model, in its own precision (no bf16 copy); "bf16" from a
    bfloat16 copy of its weights when they are not bfloat16 already (`self.model`), so no weight is cast
    again at any decoding step (autocast would cast every weight at every step). The copy is refreshed in
    place by `push_weights()` after each update, as VLLMEngine's model is. The logits are read in float32
    either way; the samples and their log-probabilities are those of a bf16 sampler.
    fast: decode a model whose layers rlvr/models/fast_decode.py knows with that step (the default; it keeps a
    packed copy of the model's matrices, made again after every `push_weights`); False keeps transformers' own step
    for every model (the benchmarks' reference, and tests).
    """

    def __init__(self, policy: Policy, batch_size: int | Literal["auto"] = "auto", memory_gb: float | None = None,
                 precision: Literal["fp32", "bf16"] = "fp32", fast: bool = True):
        if batch_size != "auto" and (not isinstance(batch_size, int) or batch_size < 1):
            raise ConfigError(f"batch size must be a positive integer or 'auto', got {batch_size!r}.")
        if precision not in ("fp32", "bf16"):
            raise ConfigError(f"unknown sampling precision '{precision}'; choose fp32 or bf16.")
        self.policy = policy
        self.batch_size = batch_size
        self.memory_gb = memory_gb
        self.precision = precision
        # The model decoded with: the policy's own, or its bf16 copy (the parameters cast, buffers kept as they
        # are: a rotary table stays float32, as in a model loaded in bf16).
        self._copy = precision == "bf16" and any(p.dtype != torch.bfloat16 for p in policy.model.parameters())
        self.model = _cast_copy(policy.model, torch.bfloat16) if self._copy else policy.model
        # Decoding steps of a Llama-family model on the CPU skip transformers' per-step machinery
        # (rlvr/models/fast_decode.py); `fast=False`, or any other model, decodes through transformers.
        self._fast = FastDecoder.for_model(self.model) if fast else None
        tokenizer = policy.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(policy.eos_token_ids, default=0)
        self.pad_id = int(pad)

    # -- public ---------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(
        self, prompts: Sequence[Prompt], params: SamplingParams, progress: ProgressFn | None = None,
        finished: FinishedFn | None = None, stop: Sequence[str] = (),
    ) -> GenerationResult:
        """K = params.n completions of each prompt; a completion ends at EOS, at `max_new_tokens`, or once its
        text contains one of the `stop` strings (kept in the text: a tool call's closing tag)."""
        if isinstance(stop, str) or not all(isinstance(s, str) and s for s in stop):
            raise ConfigError(f"stop must be a list of non-empty strings, got {stop!r}.")
        encoded = [self.policy.encode(p) for p in prompts]
        start = time.perf_counter()
        # Packed (again, after an update) before the batch size is chosen: the free memory counts the packed copy.
        fast = self._fast
        if fast is not None and not fast.ready(_free_memory_gb(self.policy.device) * 2**30):
            fast = None
        rows_per_batch = self._rows_per_batch(max((len(e) for e in encoded), default=1), params)
        seeds = stream_seeds(params.seed, encoded, params.n)  # [prompt][sample]
        results: list[list[Completion | None]] = [[None] * params.n for _ in prompts]
        # One new token against the cache: rlvr's attention (rlvr/models/attention.py); the head's input contiguous.
        with decoding(self.model), _contiguous_head(self.model):
            new_tokens = self._decode_all(encoded, rows_per_batch, seeds, results, params, stop, progress, finished,
                                          fast)
        return GenerationResult(
            completions=results,  # type: ignore[arg-type]
            prompt_token_ids=encoded,
            new_tokens=new_tokens,
            seconds=time.perf_counter() - start,
        )

    def _decode_all(self, encoded: list[list[int]], rows_per_batch: int, seeds: list[list[int]],
                    results: list[list[Completion | None]], params: SamplingParams, stop: Sequence[str],
                    progress: ProgressFn | None, finished: FinishedFn | None, fast: FastDecoder | None) -> int:
        """Decode every chunk of rows into `results`; returns the number of new tokens."""
        filled = [0] * len(encoded)  # samples of each prompt done so far: a chunk takes the next ones
        new_tokens = 0
        for chunk in _chunks(encoded, params.n, rows_per_batch):
            row_seeds = [seed for i, take in chunk for seed in seeds[i][filled[i] : filled[i] + take]]
            try:
                outputs = self._decode_chunk([encoded[i] for i, _ in chunk], [s for _, s in chunk], params,
                                             row_seeds, tuple(stop), fast)
            except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
                if isinstance(exc, RuntimeError) and not _is_oom(exc):
                    raise
                raise ModelError(
                    f"ran out of memory decoding {sum(s for _, s in chunk)} sequences of up to "
                    f"{max(len(encoded[i]) for i, _ in chunk) + params.max_new_tokens} tokens; "
                    "lower --batch-size or --max-new-tokens."
                ) from exc
            for (prompt_index, take), completions in zip(chunk, outputs):
                results[prompt_index][filled[prompt_index] : filled[prompt_index] + take] = completions
                filled[prompt_index] += take
                new_tokens += sum(len(c.token_ids) for c in completions)
            if progress is not None:
                progress(sum(s for _, s in chunk), sum(len(c.token_ids) for cs in outputs for c in cs))
            done = [i for i, _ in chunk if filled[i] == params.n]  # a prompt split over batches: once, at its last
            if finished is not None and done:
                finished(done, [results[i] for i in done])  # type: ignore[misc]
        return new_tokens

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"

    @torch.no_grad()
    def push_weights(self) -> int:
        """Copy the policy's current parameters into the bf16 copy, in place (no allocation); returns how many
        tensors were copied, 0 when sampling from the policy's own model (fp32, or bf16 weights)."""
        if self._fast is not None:
            self._fast.invalidate()
        if not self._copy:
            return 0
        pairs = list(zip(self.policy.model.parameters(), self.model.parameters()))
        for source, target in pairs:
            target.copy_(source)  # casts to bf16 as it copies
        return len(pairs)

    # -- batching -----------------------------------------------------------------------------
    def _rows_per_batch(self, longest_prompt: int, params: SamplingParams) -> int:
        if self.batch_size != "auto":
            return self.batch_size
        config = self.model.config
        layers = getattr(config, "num_hidden_layers", 32)
        kv_heads = getattr(config, "num_key_value_heads", None) or getattr(config, "num_attention_heads", 32)
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        itemsize = torch.finfo(self.model.dtype).bits // 8
        tokens = longest_prompt + params.max_new_tokens
        # KV cache (keys and values, every layer) + float32 logits + prefill activations (generous).
        per_row = 2 * layers * kv_heads * head_dim * itemsize * tokens
        per_row += 4 * config.vocab_size * 2 + 16 * config.hidden_size * itemsize * longest_prompt
        budget = (self.memory_gb or _free_memory_gb(self.policy.device) / 2) * 2**30
        # On a 2-core CPU throughput still grows from 32 to 64 rows (benchmarks/sampler_throughput.py) and from 64 to
        # 256: SmolLM2-135M in float32, 512 rows of 16 tokens took 18.8 s at 64 a batch, 11.9 s at 256, 11.8 s at 512
        # (a decoding step's products run at a larger share of the peak with more rows, and fewer batches each wait
        # for their longest row).
        cap = 256
        return max(1, min(cap, int(budget // per_row)))

    # -- the decoding loop --------------------------------------------------------------------
    def _decode_chunk(
        self, prompts: list[list[int]], samples: list[int], params: SamplingParams, row_seeds: list[int],
        stop: tuple[str, ...] = (), fast: FastDecoder | None = None,
    ) -> list[list[Completion]]:
        """Sample `samples[i]` completions for each `prompts[i]`; returns them grouped by prompt.

        row_seeds: the seed of each row's random stream, rows in order (prompt 0's samples first).
        fast: the decoding step to use after the prefill (rlvr/models/fast_decode.py); None: transformers' own.
        """
        model, device = self.model, self.policy.device
        from transformers import DynamicCache

        cache = DynamicCache(config=model.config)
        with_cache = {cache_keyword(model): cache}
        shared = _shared_prefix(prompts, model.config, max(len(p) for p in prompts) + params.max_new_tokens)
        if shared:  # the prompts' common opening, prefilled once and its cache copied to every prompt
            model(input_ids=torch.tensor([prompts[0][:shared]], device=device), use_cache=True, logits_to_keep=1,
                  **with_cache)
            cache.batch_select_indices(torch.zeros(len(prompts), dtype=torch.long, device=device))
        width = max(len(p) for p in prompts) - shared
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), shared + width), dtype=torch.long)
        attention[:, :shared] = 1
        for i, p in enumerate(prompts):  # the rest left-padded after it: every row's next token in the last column
            own = len(p) - shared
            input_ids[i, width - own :] = torch.tensor(p[shared:])
            attention[i, shared + width - own :] = 1
        input_ids, attention = input_ids.to(device), attention.to(device)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        out = model(
            input_ids=input_ids,
            attention_mask=attention,
            position_ids=positions[:, shared:],
            use_cache=True,
            logits_to_keep=1,
            **with_cache,
        )
        # Prefill once per prompt, then copy each prompt's cache for its samples.
        repeats = torch.tensor(samples, device=device)
        cache.batch_select_indices(torch.arange(len(prompts), device=device).repeat_interleave(repeats))
        logits = out.logits[:, -1, :].float().repeat_interleave(repeats, dim=0)  # (B, V)
        del out
        attention = attention.repeat_interleave(repeats, dim=0)
        next_position = positions[:, -1].repeat_interleave(repeats) + 1  # (B,)
        # The decoding steps: rlvr's own for a model it knows (its own copy of the cache), else transformers'.
        state = (fast.start(cache, attention, next_position) if fast is not None
                 else _TransformersStep(model, cache, attention, next_position))
        del cache, with_cache
        owner = torch.arange(len(prompts)).repeat_interleave(torch.tensor(samples))  # row -> prompt
        rows = len(owner)
        # Row r's uniform at step t is draw t of its own stream, drawn up front: (rows, max_new_tokens).
        uniforms = None if params.temperature == 0 else _uniforms(row_seeds, params.max_new_tokens)

        tokens: list[list[int]] = [[] for _ in range(rows)]
        logps: list[list[float]] = [[] for _ in range(rows)]
        kept_logps: list[list[float]] = [[] for _ in range(rows)]  # on the truncated support, when truncating
        finish: list[str] = ["length"] * rows
        active = torch.arange(rows)  # original row index of each live row
        eos = torch.tensor(sorted(self.policy.eos_token_ids) or [-1], device=device)
        for step in range(params.max_new_tokens):
            u = None if uniforms is None else uniforms[active, step]  # (b,)
            token, logp, kept_logp = _draw(logits, params, u)  # (b,), (b,), (b,) or None
            for row, t, lp in zip(active.tolist(), token.tolist(), logp.tolist()):
                tokens[row].append(t)
                logps[row].append(lp)
            if kept_logp is not None:
                for row, lp in zip(active.tolist(), kept_logp.tolist()):
                    kept_logps[row].append(lp)
            done = torch.isin(token, eos)
            if stop:
                done |= torch.tensor([_stopped(self.policy.tokenizer, tokens[row], stop) for row in active.tolist()],
                                     device=done.device)
            for row in active[done.cpu()].tolist():
                finish[row] = "stop"
            if done.all() or step == params.max_new_tokens - 1:
                break
            if done.any():  # finished rows leave the batch, cache included
                keep = refill(done)
                active, token = active[keep.cpu()], token[keep]
                state.keep(keep)
            logits = state.step(token)

        grouped: list[list[Completion]] = [[] for _ in prompts]
        for row in range(rows):
            ids = tokens[row]
            text_ids = ids[:-1] if finish[row] == "stop" and ids[-1] in self.policy.eos_token_ids else ids
            grouped[int(owner[row])].append(
                Completion(self.policy.decode(text_ids), ids, logps[row], finish[row],  # type: ignore[arg-type]
                           sampler_logprobs=kept_logps[row] if _truncates(params) else None)
            )
        return grouped


def refill(done: torch.Tensor) -> torch.Tensor:
    """The rows that decode on after the `done` ones leave, in their new order: the live rows among the first n
    (n live rows in all) stay where they are, and the live rows behind them fill the gaps, so a decoding state
    copies only the rows that moved (the rows' order within a batch changes none of their tokens)."""
    n = int((~done).sum())
    order = torch.arange(n, device=done.device)
    gaps = done[:n].nonzero().squeeze(-1)
    order[gaps] = (~done[n:]).nonzero().squeeze(-1) + n
    return order


class _TransformersStep:
    """transformers' own decoding step over its KV cache, behind the interface of rlvr/models/fast_decode.py's
    `DecodeState`: `step(token)` gives the next logits (rows, V), float32; `keep(rows)` drops finished rows."""

    def __init__(self, model: torch.nn.Module, cache: Any, attention: torch.Tensor, next_position: torch.Tensor):
        self.model, self.with_cache = model, {cache_keyword(model): cache}
        self.cache, self.attention, self.next_position = cache, attention, next_position

    def keep(self, rows: torch.Tensor) -> None:
        self.cache.batch_select_indices(rows)
        self.attention, self.next_position = self.attention[rows], self.next_position[rows]

    def step(self, token: torch.Tensor) -> torch.Tensor:
        self.attention = torch.cat([self.attention, self.attention.new_ones((len(token), 1))], dim=1)
        out = self.model(input_ids=token[:, None], attention_mask=self.attention,
                         position_ids=self.next_position[:, None], use_cache=True, **self.with_cache)
        self.next_position = self.next_position + 1
        return out.logits[:, -1, :].float()


@contextlib.contextmanager
def _contiguous_head(model: torch.nn.Module) -> Iterator[None]:
    """Within the block, the output head's input is made contiguous. A prefill keeps one position's logits
    (`logits_to_keep=1`): transformers hands the head a strided slice of the hidden states, (rows, 1, H), which
    torch multiplies as a batched product against a (V, H) weight copied once per row: 1.0 s for 16 rows of
    SmolLM2 in bf16 on the README's CPU, 6 ms contiguous (86 against 29 ms in float32). Same values."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if not isinstance(head, torch.nn.Module):
        yield
        return
    # A fresh tensor, not `.contiguous()`: a (1, 1, H) slice already counts as contiguous, strides and all.
    handle = head.register_forward_pre_hook(lambda _module, args: (args[0].new_empty(args[0].shape).copy_(args[0]),
                                                                   *args[1:]))
    try:
        yield
    finally:
        handle.remove()


def _cast_copy(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """A copy of `model` for inference whose floating-point parameters are `dtype`; its buffers are copied
    as they are. The parameters are cast one by one into the copy (the deep copy never duplicates them in
    their own precision), tied ones stay tied, and the copy's parameters come in the model's order, so
    `push_weights` pairs them by position."""
    cast = {id(p): torch.nn.Parameter(p.detach().to(dtype) if p.is_floating_point() else p.detach().clone(),
                                      requires_grad=False)
            for p in model.parameters()}
    return copy.deepcopy(model, memo=cast).eval()


# Prefilling a shared opening once pays when it saves at least this many positions ((prompts - 1) x its length):
# the extra forward call and the cache copies cost about 70 positions' prefill (SmolLM2-135M, float32, 2 CPU cores:
# 8 prompts sharing 8 tokens took 1.05x the time of prefilling them whole, 8 sharing 16 0.84x, 64 sharing 27 0.46x).
SHARED_PREFIX_SAVING = 96


def _shared_prefix(prompts: list[list[int]], config: Any, longest: int) -> int:
    """How many opening tokens all `prompts` share, to prefill once (0: too few to pay for the extra call). At least
    one token of each prompt stays out of it: its logits start the sampling. A model with sliding windows shares
    only when no sequence can outgrow the window (`longest` tokens): a layer whose cache keeps only the window is
    not continued past a copied prefix here."""
    window = getattr(config, "sliding_window", None)
    if len(prompts) < 2 or (sliding(config) and (window is None or longest >= window)):
        return 0
    shortest = min(len(p) for p in prompts) - 1
    first = prompts[0]
    shared = 0
    while shared < shortest and all(p[shared] == first[shared] for p in prompts):
        shared += 1
    return shared if (len(prompts) - 1) * shared >= SHARED_PREFIX_SAVING else 0


def _stopped(tokenizer: Any, ids: list[int], stop: tuple[str, ...]) -> bool:
    """Whether the text of a row's last tokens contains a stop string (checked after every token, so it is
    the token just drawn that completed it). A stop string of L characters spans at most L tokens."""
    tail = tokenizer.decode(ids[-(max(map(len, stop)) + 1):], skip_special_tokens=False)
    return any(s in tail for s in stop)


def _sample(
    logits: torch.Tensor, params: SamplingParams, uniforms: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one token per row; return (token, logprob under the tempered distribution).

    uniforms: (B,) in [0, 1), one per row, on the CPU; unused (None) when greedy.
    """
    token, logprob, _ = _draw(logits, params, uniforms)
    return token, logprob


def _truncates(params: SamplingParams) -> bool:
    return params.temperature > 0 and (params.top_k > 0 or params.top_p < 1.0)


def _draw(
    logits: torch.Tensor, params: SamplingParams, uniforms: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """`_sample`, plus the token's logprob under the truncated distribution it was drawn from
    (renormalised over the tokens top-k/top-p kept); None when nothing is truncated."""
    if params.temperature == 0:
        logprobs = scaled_log_softmax(logits, 1.0)
        token = logits.argmax(dim=-1)
        return token, logprobs.gather(-1, token[:, None]).squeeze(-1), None
    logprobs = scaled_log_softmax(logits, params.temperature)  # (B, V): the trainer's own distribution
    filtered = logprobs
    if params.top_k > 0:
        kth = torch.topk(filtered, min(params.top_k, filtered.shape[-1]), dim=-1).values[:, -1:]
        filtered = filtered.masked_fill(filtered < kth, -math.inf)
    if params.top_p < 1.0:
        sorted_lp, order = torch.sort(filtered, descending=True, dim=-1)
        cumulative = sorted_lp.exp().cumsum(-1)
        drop_sorted = cumulative - sorted_lp.exp() > params.top_p  # keep the smallest prefix reaching top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        filtered = filtered.masked_fill(drop, -math.inf)
    # Inverse-CDF sampling: one uniform per row against the cumulative distribution. Same law as
    # torch.multinomial, several times faster on CPU over a 50k vocabulary.
    # The uniforms come from seeded CPU generators; the (B, V) distribution stays on its device.
    assert uniforms is not None
    cdf = torch.softmax(filtered, dim=-1).cumsum(-1)  # (B, V)
    u = uniforms[:, None].to(cdf.device) * cdf[:, -1:]
    token = torch.searchsorted(cdf, u, side="right").clamp_(max=cdf.shape[-1] - 1).squeeze(-1)
    kept = None
    if _truncates(params):  # log q(token) = log p(token) - log(kept mass)
        kept = (logprobs.gather(-1, token[:, None]) - torch.logsumexp(filtered, dim=-1, keepdim=True)).squeeze(-1)
    return token, logprobs.gather(-1, token[:, None]).squeeze(-1), kept


def _uniforms(row_seeds: list[int], steps: int) -> torch.Tensor:
    """The first `steps` draws of each row's stream, on the CPU: (rows, steps).

    Drawn up front (one call per row, not per row and step); a prefix of a longer draw, so
    max_new_tokens does not change the early tokens.
    """
    generator = torch.Generator(device="cpu")
    table = torch.empty((len(row_seeds), steps))
    for r, seed in enumerate(row_seeds):
        torch.rand(steps, generator=generator.manual_seed(seed), out=table[r])
    return table


def _chunks(encoded: list[list[int]], n: int, rows_per_batch: int) -> list[list[tuple[int, int]]]:
    """Group (prompt index, sample count) pairs into batches of at most `rows_per_batch` rows.

    Prompts go longest first, so the biggest batch runs (and fails, if memory is short) first,
    and prompts in one batch have similar lengths (little padding).
    """
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    chunks: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    room = rows_per_batch
    for index in order:
        left = n
        while left:
            take = min(left, room)
            current.append((index, take))
            left -= take
            room -= take
            if room == 0:
                chunks.append(current)
                current, room = [], rows_per_batch
    if current:
        chunks.append(current)
    return chunks


def _free_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free / 2**30
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) / 2**20
    except (OSError, KeyError, ValueError):
        return 8.0


def cache_keyword(model: torch.nn.Module) -> str:
    """The name under which `forward` takes the KV cache: transformers 5.x renamed `past_key_values` to
    `cache` (the old name warns, and goes in 5.40); 4.56+ knows only `past_key_values`."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a PEFT wrapper passes it on
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _is_oom(exc: RuntimeError) -> bool:
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
