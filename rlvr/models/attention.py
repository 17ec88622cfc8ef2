"""Attention without copies of the keys and values per query head, for the sampler's decoding steps and the
update's short passes.

transformers' `sdpa` hands a decoding step (one query token against T cached ones, a padding mask) to torch's
fused CPU kernel after copying every key and value head once per query head it serves (it groups the heads inside
the kernel only without a mask): 2.4 ms a layer at 64 rows on the 2-core AMD EPYC of the README, a third of a bf16
decoding step. A bf16 decoding step here groups the query heads onto the key/value heads instead: inside torch's
fused kernel (`enable_gqa`, torch 2.5+; `fused_attention`), else with two matrix products over the key/value heads,
which gave 1.4x the bf16 sampler's tokens/s on the AMD host. On the 2-core Intel Xeon with AMX of the README, at 64
rows x 96 positions over 30 layers' caches, a layer took 0.60 ms through transformers' call, 0.65 ms as the two
products and 0.46 ms in the fused kernel grouped. The scores are soft-maxed in float32; the products run in the
weights' precision, as transformers' `eager` attention does. In float32 the two products took the same time as sdpa
on the AMD host, so a float32 model keeps sdpa (and its samples).

The update's forward passes (gradients on, and the reference's without them) take the same two products when
their scores are few (at most `TRAIN_SCORES` a layer: short micro-batches, such as GRPO's on a CPU), and autograd
differentiates them: torch's fused CPU kernel spent 4 ms on the backward of a (16 rows, 9 heads, 61 positions)
layer on the 2-core Intel Xeon of the README. Their scores are kept for the backward (float32, as eager attention
keeps them), which is why long passes stay with sdpa's kernel, which keeps none.

Registered as `rlvr_decode` with transformers' attention and mask interfaces: its masks are `sdpa`'s (the
same causal, padding and sliding-window masks), and everything else (a prompt without gradients, a float32
model, dropout, soft-capping, attention sinks, a position bias) goes to `sdpa` unchanged. The sampler (its
decoding steps) and the trainer (its update) switch a model on the CPU to it only inside `grouped`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

NAME = "rlvr_decode"
_PLAIN = {"softcap", "s_aux", "sinks", "position_bias"}  # keyword arguments that send a step to sdpa
# The update's passes attend with the two products up to this many scores a layer (rows x heads x queries x keys):
# 4M float32 scores, 16 MB a layer kept for the backward.
TRAIN_SCORES = 2**22
_EVERY_PASS = [False]  # inside grouped(model, every_pass=True): short passes without gradients too (the update's)


_GROUPS_IN_KERNEL = torch.__version__ >= "2.5"  # sdpa's `enable_gqa`; read once: a version parse costs 8 us a call


def fused_attention(dtype: torch.dtype) -> bool:
    """Whether a decoding step in `dtype` attends with torch's fused kernel, the query heads grouped onto the key/value
    heads inside it (`enable_gqa`, torch 2.5+): in bf16 (and fp16), where that took 0.46 ms a layer at 64 rows x 96
    positions against the two products' 0.65 (30 layers' caches, the 2-core Intel Xeon with AMX of the README). A
    float32 step keeps the two products (the fused call saved 2.5 % of a float32 decoding loop there) and the
    samples they gave."""
    return dtype != torch.float32 and _GROUPS_IN_KERNEL


def decode_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                     **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' attention signature: query (B, H, q, d), key and value (B, H_kv, T, d); returns
    ((B, q, H, d_v), None)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, q_length, dim = query.shape
    kv_heads, length = key.shape[1], key.shape[2]
    if torch.is_grad_enabled() or _EVERY_PASS[0]:  # the update: any number of queries, while the scores stay few
        ours = batch * heads * q_length * length <= TRAIN_SCORES
    else:  # sampling: decoding steps only (a prompt's prefill keeps sdpa, and the samples it gave)
        ours = q_length == 1
    mask_ok = attention_mask is None or (attention_mask.dim() == 4 and attention_mask.shape[1] == 1
                                         and attention_mask.shape[2] == q_length and attention_mask.shape[3] == length)
    causal = attention_mask is None and q_length > 1  # sdpa's reading of no mask: causal, queries = keys
    is_causal = kwargs.get("is_causal")
    if causal and (length != q_length or not (getattr(module, "is_causal", True) if is_causal is None else is_causal)):
        ours = False
    kind = query.device.type  # under bf16 autocast the products run in bf16 whatever the rotary embedding gave
    low = query.dtype != torch.float32 or (torch.is_autocast_enabled(kind)
                                           and torch.get_autocast_dtype(kind) == torch.bfloat16)
    if (not ours or not low or dropout or heads % kv_heads or not mask_ok
            or any(kwargs.get(name) is not None for name in _PLAIN)):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    scale = dim**-0.5 if scaling is None else scaling
    if q_length == 1 and not torch.is_grad_enabled() and fused_attention(query.dtype):  # a bf16 decoding step
        out = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask,
                                                               scale=scale, enable_gqa=True)
        return out.transpose(1, 2).contiguous(), None
    groups = heads // kv_heads
    # (B, H_kv, G q, d): the G query heads of each kv head, their q positions in a row
    grouped = query.reshape(batch, kv_heads, groups * q_length, dim)
    scores = torch.matmul(grouped, key.transpose(-1, -2)).float() * scale  # (B, H_kv, G q, T)
    scores = scores.view(batch, kv_heads, groups, q_length, length)
    # A masked score is the lowest float, not -inf: a query that sees no key at all (a left-padding position)
    # then averages every value instead of giving NaN, which its gradient would carry into the real rows.
    lowest = torch.finfo(torch.float32).min
    if attention_mask is not None:  # (B, 1, q, T)
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask[:, :, None], lowest)
        else:
            scores = scores + attention_mask.float()[:, :, None].clamp(min=lowest)
    elif causal:
        above = torch.ones(q_length, length, dtype=torch.bool, device=scores.device).triu(1)
        scores = scores.masked_fill(above, lowest)
    probs = torch.softmax(scores, dim=-1).to(value.dtype).view(batch, kv_heads, groups * q_length, length)
    out = torch.matmul(probs, value)  # (B, H_kv, G q, d_v)
    return out.view(batch, heads, q_length, value.shape[-1]).transpose(1, 2).contiguous(), None


def _register() -> bool:
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, sdpa_mask
    except ImportError:  # a transformers without the interfaces: the sampler keeps the model's own attention
        return False
    if NAME not in ALL_MASK_ATTENTION_FUNCTIONS._global_mapping:
        AttentionInterface.register(NAME, decode_attention)
        AttentionMaskInterface.register(NAME, sdpa_mask)
    return True


@contextlib.contextmanager
def grouped(model: torch.nn.Module, every_pass: bool = False) -> Iterator[None]:
    """Within the block, a model on the CPU that uses `sdpa` attends with `decode_attention` (what it does not take
    still goes to sdpa); any other implementation (eager, flash, flex), and any model on another device (a GPU's
    sdpa has fused kernels; the speed-up was measured on the CPU only), is left as it is. Restored on the way
    out. every_pass: short passes without gradients take the products too (the trainer's update, whose reference
    and first-pass log-probs must match the trained pass's arithmetic); the sampler's prompts keep sdpa."""
    config = getattr(model, "config", None)
    device = next(model.parameters(), torch.empty(0, device="meta")).device
    if (config is None or getattr(config, "_attn_implementation", None) not in ("sdpa", NAME) or device.type != "cpu"
            or not _register()):
        yield
        return
    before = config._attn_implementation, _EVERY_PASS[0]
    config._attn_implementation, _EVERY_PASS[0] = NAME, before[1] or every_pass
    try:
        yield
    finally:
        config._attn_implementation, _EVERY_PASS[0] = before


decoding = grouped  # the sampler's name for it
