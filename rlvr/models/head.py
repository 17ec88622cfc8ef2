"""The completion log-probabilities straight from the last hidden states: the vocabulary projection and the
log-softmax a block of positions at a time, so the (B, T, V) logits never exist (a fused, chunked head, as
Liger's fused linear cross-entropy).

For Gemma-3-270M (262k vocabulary) at 8 rows x 256 tokens the logits alone are 1 GiB in bf16 and their
gradient another; here each block holds at most 2**24 of them (benchmarks/update_memory.py).

    logp_t = log_softmax(h_t W^T / temperature)[token_t]        h (B, T, H), W (V, H)
    dL/dh_t = g_t (onehot - softmax)_t W / temperature,   dL/dW = sum_t g_t (onehot - softmax)_t^T h_t / temperature

Under bf16 autocast the products run in bf16 as the model's own `lm_head` would (the weight cast to bf16,
float32 accumulation), and the log-softmax in float32.

The fused path computes h W^T and nothing else, so it is only right for a model whose logits are exactly that.
Two guards: `fused_head` refuses the architectures known to change their logits after the projection (a config
key in LOGIT_TRANSFORMS set to anything but its neutral value), and `fused_head_mismatch`, run by the trainer on
a few rows of every run's first update batch, compares the fused log-probs with the model's own forward and
catches any other way a model has of scaling its logits.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import torch

from rlvr.models import logprobs
from rlvr.models.logprobs import block_logprob_grad, block_logprobs, completion_logprobs
from rlvr.models.sampler import cache_keyword

# Config keys (on the model's config or its text config) that transform the logits after the vocabulary
# projection in transformers' modeling code, with the number that leaves them unchanged (None: every number
# changes them):
#   logits_scaling                Granite, GraniteMoE(-Hybrid, -Shared), MiniCPM3: logits / s; HyperCLOVA X: * s
#   lm_head_multiplier            FalconH1: logits * m
#   logit_scale                   Cohere, Cohere2 (and their MoE/vision models): logits * s
#   final_logit_softcapping       Gemma2/3/3n/4, VaultGemma, NanoChat, Mistral-Large-4, Muse: c * tanh(logits / c)
#   softcap                       Jev: c * tanh(logits / c)
#   output_multiplier             MuseSpark / MuseGlimmer: logits * m before their soft-capping
#   logits_mup_width_multiplier   Inkling: hidden / m before the projection
LOGIT_TRANSFORMS: dict[str, float | None] = {
    "logits_scaling": 1.0,
    "lm_head_multiplier": 1.0,
    "logit_scale": 1.0,
    "final_logit_softcapping": None,
    "softcap": None,
    "output_multiplier": 1.0,
    "logits_mup_width_multiplier": 1.0,
}
# How far (mean |fused - plain| log-prob over the compared tokens, nats) the fused head may drift from the
# model's own head: float32 differs by summation order only (~1e-6 on the tiny test models);
# bf16 logits may differ by a rounding step (2**-8 of a logit) at a few tokens. A wrong scale costs nats.
MISMATCH_TOLERANCE = {torch.float32: 1e-3, torch.bfloat16: 5e-2}
ADD_ROWS = 4096  # rows of a gradient added at a time (_add_into)


def fused_head(model: torch.nn.Module) -> torch.nn.Linear | None:
    """The model's vocabulary projection when it is a plain bias-free linear layer applied to the decoder's
    last hidden state (Llama, Qwen, Gemma without logit soft-capping, ...); None otherwise."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    config = getattr(model, "config", None)
    if not isinstance(head, torch.nn.Linear) or head.bias is not None or not hasattr(model, "get_decoder"):
        return None
    if logit_transform(config) is not None:
        return None
    return head


def logit_transform(config: Any) -> str | None:
    """The config key by which a model changes its logits after the projection (LOGIT_TRANSFORMS), or None."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else None
    for where in (config, text):
        for key, neutral in LOGIT_TRANSFORMS.items():
            value = getattr(where, key, None)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value != neutral:
                return f"{key}={value}"
    return None


@torch.no_grad()
def fused_head_mismatch(model: torch.nn.Module, micro: dict[str, torch.Tensor], temperature: float,
                        compute_dtype: torch.dtype | None) -> str | None:
    """Why the fused head cannot stand in for `model`'s own head on this micro-batch, or None when the two
    agree: their completion log-probs are compared (the fused path failing to run at all is a reason too).
    compute_dtype as in head_logprobs; the tolerance is MISMATCH_TOLERANCE for the dtype the products run in."""
    try:
        fused = head_logprobs(model, micro, temperature, compute_dtype)
    except Exception as exc:  # a decoder that does not take these arguments: the model's own forward does
        return f"the fused head cannot run on {type(model).__name__} ({type(exc).__name__}: {exc})".split("\n")[0]
    _, plain = completion_logprobs(model, micro, temperature, compute_dtype)  # (b, T): the model's own head
    return _gap(model, micro, fused, plain, compute_dtype, f"{type(model).__name__}'s own")


@torch.no_grad()
def shared_prompt_mismatch(model: torch.nn.Module, micro: dict[str, torch.Tensor], temperature: float,
                           compute_dtype: torch.dtype | None) -> str | None:
    """Why `shared_prompt_logprobs` cannot stand in for `head_logprobs` on this micro-batch (a decoder that
    takes no cache, or attends differently when its prompt comes from one), or None when the two agree."""
    try:
        shared = shared_prompt_logprobs(model, micro, temperature, compute_dtype)
    except Exception as exc:
        return f"{type(model).__name__}'s decoder cannot continue from a shared prompt ({type(exc).__name__}: " \
               f"{exc})".split("\n")[0]
    return _gap(model, micro, shared, head_logprobs(model, micro, temperature, compute_dtype), compute_dtype,
                "those of each row's own forward pass")


def _gap(model: torch.nn.Module, micro: dict[str, torch.Tensor], got: torch.Tensor, want: torch.Tensor,
         compute_dtype: torch.dtype | None, what: str) -> str | None:
    """A reason when two (b, T) log-probs of the micro-batch's trained tokens differ beyond MISMATCH_TOLERANCE."""
    mask = micro.get("mask", torch.ones_like(want)).bool() & want.isfinite()
    gap = (got - want).abs()[mask]
    dtype = compute_dtype or model.get_output_embeddings().weight.dtype
    tolerance = MISMATCH_TOLERANCE.get(dtype, MISMATCH_TOLERANCE[torch.bfloat16])
    if gap.numel() and not gap.mean() <= tolerance:  # NaN counts as a mismatch
        return (f"its log-probs differ from {what} by {gap.mean().item():.3g} nats a token on average (at most "
                f"{tolerance:g} allowed)")
    return None


def head_logprobs(model: torch.nn.Module, micro: dict[str, torch.Tensor], temperature: float,
                  compute_dtype: torch.dtype | None) -> torch.Tensor:
    """log p(completion tokens) (b, T) float32 of a micro-batch (a `logprobs.left_pad` batch), through
    the decoder and the fused head. compute_dtype: bf16 under the update's autocast, else None."""
    span = micro["completion"].shape[1]
    decoder = model.get_decoder()
    with torch.autocast(device_type=micro["input_ids"].device.type, dtype=torch.bfloat16,
                        enabled=compute_dtype is not None):
        hidden = decoder(input_ids=micro["input_ids"], attention_mask=micro["attention"],
                         position_ids=micro["positions"], use_cache=False).last_hidden_state
    hidden = hidden[:, -(span + 1) : -1]  # (b, T, H): position width-1+t predicts completion token t
    weight = model.get_output_embeddings().weight
    return _FusedHeadLogSoftmax.apply(hidden, weight, micro["completion"], float(temperature), compute_dtype,
                                      _trained(micro))


def shared_prompt_logprobs(model: torch.nn.Module, micro: dict[str, torch.Tensor], temperature: float,
                           compute_dtype: torch.dtype | None) -> torch.Tensor:
    """head_logprobs with each distinct prompt of the micro-batch through the decoder once: the rows' prompts
    (`micro["prompt_index"]`, the group each row was sampled for) run as one batch that fills a key/value
    cache, the cache is indexed out to the rows (autograd sums the rows' gradients back into each prompt's
    keys and values), and only the completion tokens run per row. The same arithmetic as K forward passes
    over the same prompt, without K - 1 of them: a group of K samples of a P-token prompt saves (K - 1) P
    tokens of forward and backward.

    The last prompt position predicts completion token 0, and completion token t - 1 predicts token t, so the
    rows' pass feeds completion tokens 0 .. T - 2."""
    ids, attention, positions = micro["input_ids"], micro["attention"], micro["positions"]
    span = micro["completion"].shape[1]
    width = ids.shape[1] - span  # where every completion starts (prompts are left-padded to it)
    prompt_of, rows = micro["prompt_index"], torch.arange(ids.shape[0], device=ids.device)
    _, inverse = torch.unique(prompt_of, return_inverse=True)  # row -> its distinct prompt
    first = torch.full((int(inverse.max()) + 1,), ids.shape[0], dtype=torch.long, device=ids.device)
    first = first.scatter_reduce(0, inverse, rows, "amin")  # a row holding each distinct prompt
    from transformers import DynamicCache

    decoder = model.get_decoder()
    cache = DynamicCache(config=model.config)
    with_cache = {cache_keyword(decoder): cache}
    with torch.autocast(device_type=ids.device.type, dtype=torch.bfloat16, enabled=compute_dtype is not None):
        prompts = decoder(input_ids=ids[first, :width], attention_mask=attention[first, :width],
                          position_ids=positions[first, :width], use_cache=True, **with_cache)
        hidden = prompts.last_hidden_state[inverse, -1:]  # (b, 1, H): predicts completion token 0
        if span > 1:
            cache.batch_select_indices(inverse)  # (distinct prompts, ...) -> (b, ...), differentiably
            fed = slice(width, width + span - 1)  # completion tokens 0 .. T - 2, after the cached prompt
            follow = decoder(input_ids=ids[:, fed], attention_mask=attention[:, : width + span - 1],
                             position_ids=positions[:, fed], use_cache=True, **with_cache).last_hidden_state
            hidden = torch.cat([hidden, follow], dim=1)  # (b, T, H)
    weight = model.get_output_embeddings().weight
    return _FusedHeadLogSoftmax.apply(hidden, weight, micro["completion"], float(temperature), compute_dtype,
                                      _trained(micro))


# Inside `accumulating`: whether one is open, and the head weight's cast (a weak reference to the weight, its
# storage and version, the cast).
_BLOCK: dict[str, Any] = {"active": False, "cast": None}


@contextlib.contextmanager
def accumulating(model: torch.nn.Module) -> Iterator[None]:
    """The update's micro-batches (forward passes and `.backward()`, before the optimizer moves a weight) run inside
    this; the head's weight gradient is then added straight into `.grad`. SmolLM2's (49152, 576) head makes every
    (V, H) matrix a fresh 113 MB allocation, and each cost 0.03-0.15 s here, several a micro-batch:

    - the fused head casts its weight to the compute dtype once for the whole block, not in every forward and
      again in every backward;
    - its backward adds the weight's gradient into `weight.grad` itself (the first micro-batch's product becomes
      it; later ones add a bf16 product into the float32 gradient in place) and hands autograd no (V, H) gradient
      to cast and add;
    - an input embedding that is the head's own weight (tied: SmolLM2, Gemma, Qwen2.5's small models) gives its
      gradient as the rows it read (`nn.Embedding(sparse=True)`), which autograd adds into that dense `.grad` in
      place, where a dense embedding gradient zero-fills a whole (V, H) matrix for every forward pass (two a
      micro-batch with shared prompts). `.grad` stays dense, so clipping and AdamW see what they saw; the sums run
      in another order (float32 rounding).

    Only for `.backward()` into the parameters' `.grad` (the trainer's update): `torch.autograd.grad` inside the
    block would not see the head weight's gradient."""
    embedding = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    tied = (isinstance(embedding, torch.nn.Embedding) and isinstance(head, torch.nn.Linear)
            and embedding.weight is head.weight and not embedding.sparse)
    if tied:
        embedding.sparse = True
    _BLOCK.update(active=True, cast=None)
    try:
        yield
    finally:
        _BLOCK.update(active=False, cast=None)
        if tied:
            embedding.sparse = False
            grad = head.weight.grad
            if grad is not None and grad.is_sparse:  # only the embedding's rows reached it (no fused head ran)
                head.weight.grad = grad.to_dense()


def _cast_weight(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`weight` in `dtype`; inside `accumulating`, the same cast for as long as the weight is unchanged."""
    if weight.dtype == dtype:
        return weight.detach()
    if not _BLOCK["active"]:
        return weight.detach().to(dtype)
    key = (weight.data_ptr(), weight._version, dtype)
    cached = _BLOCK["cast"]
    if cached is not None and cached[0]() is weight and cached[1] == key:
        return cached[2]
    cast = weight.detach().to(dtype)
    _BLOCK["cast"] = (weakref.ref(weight), key, cast)
    return cast


def _trained(micro: dict[str, torch.Tensor]) -> torch.Tensor:
    """(b, T) bool: the completion positions whose log-probs are read, the micro-batch's `mask` (the trained
    tokens) where it has one, else every completion token (its attention)."""
    if "mask" in micro:
        return micro["mask"] > 0
    return micro["attention"][:, -micro["completion"].shape[1]:] > 0


class _FusedHeadLogSoftmax(torch.autograd.Function):
    """log p(tokens) from hidden states (B, T, H) and the head's weight (V, H), at the positions `valid` (B, T) bool
    only (the trained tokens: padding and environment tokens never reach the vocabulary projection; elsewhere
    log p reads 0). The valid positions of all rows are taken together, CHUNK_ELEMENTS // V at a time, so the
    products are as large as the memory bound allows and the weight's gradient is accumulated once a block,
    not once a row."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, tokens: torch.Tensor, temperature: float,
                compute_dtype: torch.dtype | None, valid: torch.Tensor) -> torch.Tensor:
        dtype = compute_dtype or weight.dtype
        w = _cast_weight(weight, dtype)  # (V, H): the cast autocast would make, once
        where = valid.nonzero(as_tuple=True)
        h, picked = hidden[where], tokens[where]  # (N, H), (N,)
        values = torch.empty(picked.shape, dtype=torch.float32, device=hidden.device)
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            for block in _blocks(len(picked), w.shape[0]):
                values[block] = block_logprobs(h[block].to(dtype) @ w.T, picked[block], temperature)
        logp = torch.zeros(tokens.shape, dtype=torch.float32, device=hidden.device)  # (B, T)
        logp[where] = values
        ctx.save_for_backward(hidden, weight, tokens, valid)
        ctx.temperature, ctx.dtype = temperature, dtype
        # Inside `accumulating`, the weight's gradient goes into its .grad (the leaf parameter, held here).
        ctx.into_grad = weight if _BLOCK["active"] and weight.is_leaf and weight.requires_grad else None
        return logp

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, None, None, None, None]:
        hidden, weight, tokens, valid = ctx.saved_tensors
        w = _cast_weight(weight, ctx.dtype)
        where = valid.nonzero(as_tuple=True)
        h, picked, g = hidden[where], tokens[where], grad[where]
        grad_h = torch.empty_like(h)  # (N, H)
        into, wanted = ctx.into_grad, ctx.needs_input_grad[1]
        grad_weight = None  # (V, H): the first block's product, the others added into it (no zero fill)
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            for block in _blocks(len(picked), w.shape[0]):
                x = h[block].to(ctx.dtype)  # (n, H)
                dz = block_logprob_grad(x @ w.T, picked[block], g[block], ctx.temperature).to(ctx.dtype)  # (n, V)
                grad_h[block] = (dz @ w).to(hidden.dtype)
                if not wanted:
                    continue
                product = dz.T @ x  # (V, H) in the compute dtype, accumulated in float32 inside the product
                if into is not None and into.grad is not None:
                    _add_into(into.grad, product)
                elif into is not None:
                    into.grad = product.to(into.dtype)
                elif grad_weight is None:
                    grad_weight = product.to(torch.float32)
                else:
                    _add_into(grad_weight, product)
        if wanted and into is not None and into.grad is None:  # no trained position: a zero gradient all the same
            into.grad = torch.zeros_like(into)
        elif wanted and into is None and grad_weight is None:
            grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        grad_hidden = torch.zeros_like(hidden)
        grad_hidden[where] = grad_h
        return grad_hidden, None if grad_weight is None else grad_weight.to(weight.dtype), None, None, None, None


def _add_into(target: torch.Tensor, source: torch.Tensor) -> None:
    """target += source, ADD_ROWS rows at a time: adding a bf16 matrix into a float32 one casts it to float32
    first, and a whole (V, H) cast is a fresh allocation (page faults) where a block's is reused."""
    for start in range(0, target.shape[0], ADD_ROWS):
        target[start : start + ADD_ROWS].add_(source[start : start + ADD_ROWS])


def _blocks(positions: int, vocab: int) -> list[slice]:
    """Slices of `positions` whose (n, V) float32 block stays under CHUNK_ELEMENTS values (logprobs.position_blocks'
    bound, over the flattened positions)."""
    step = max(1, logprobs.CHUNK_ELEMENTS // max(vocab, 1))
    return [slice(s, s + step) for s in range(0, positions, step)]
