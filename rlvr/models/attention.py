"""The sampler's attention for one new token against the KV cache.

transformers' `sdpa` hands a decoding step (one query token against T cached ones) to torch's fused CPU
kernel, whose per-(row, head) blocking costs far more than the arithmetic: 2.4 ms a layer at 64 rows on the
2-core AMD EPYC of the README, a third of a bf16 decoding step. Two matrix products over the key/value heads
(the query's heads grouped onto them, so grouped-query attention copies no key or value) do the same work
in a fraction of the time: 1.4x the bf16 sampler's tokens/s there. The scores are soft-maxed in float32; the
products run in the weights' precision, as transformers' `eager` attention does. In float32 the two took the
same time, so a float32 model keeps sdpa (and its samples).

Registered as `rlvr_decode` with transformers' attention and mask interfaces: its masks are `sdpa`'s (the
same causal, padding and sliding-window masks), and everything that is not a plain decoding step (a prompt,
dropout, soft-capping, attention sinks, a position bias) goes to `sdpa` unchanged. The sampler switches a
model on the CPU to it only for its own forward passes (`decoding`); the trainer never sees it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

NAME = "rlvr_decode"
_PLAIN = {"softcap", "s_aux", "sinks", "position_bias"}  # keyword arguments that send a step to sdpa


def decode_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                     **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' attention signature: query (B, H, q, d), key and value (B, H_kv, T, d); returns
    ((B, q, H, d_v), None)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, q_length, dim = query.shape
    kv_heads = key.shape[1]
    mask_ok = attention_mask is None or (attention_mask.dim() == 4 and attention_mask.shape[1] == 1
                                         and attention_mask.shape[2] == 1)
    if (q_length != 1 or query.dtype == torch.float32 or dropout or heads % kv_heads or not mask_ok
            or torch.is_grad_enabled() or any(kwargs.get(name) is not None for name in _PLAIN)):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    scale = dim**-0.5 if scaling is None else scaling
    grouped = query.reshape(batch, kv_heads, heads // kv_heads, dim)  # (B, H_kv, G, d): G query heads a kv head
    scores = torch.matmul(grouped, key.transpose(-1, -2)).float() * scale  # (B, H_kv, G, T)
    if attention_mask is not None:  # (B, 1, 1, T)
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, -torch.inf)
        else:
            scores = scores + attention_mask.float()
    probs = torch.softmax(scores, dim=-1).to(value.dtype)
    out = torch.matmul(probs, value)  # (B, H_kv, G, d_v)
    return out.reshape(batch, 1, heads, value.shape[-1]), None


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
def decoding(model: torch.nn.Module) -> Iterator[None]:
    """Within the block, a model on the CPU that uses `sdpa` attends with `decode_attention` (prompts still go
    to sdpa); any other implementation (eager, flash, flex), and any model on another device (a GPU's sdpa has
    fused decoding kernels; the speed-up was measured on the CPU only), is left as it is. Restored on the way
    out."""
    config = getattr(model, "config", None)
    device = next(model.parameters(), torch.empty(0, device="meta")).device
    if (config is None or getattr(config, "_attn_implementation", None) != "sdpa" or device.type != "cpu"
            or not _register()):
        yield
        return
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = "sdpa"
