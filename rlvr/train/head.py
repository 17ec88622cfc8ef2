"""The completion log-probabilities straight from the last hidden states: the vocabulary projection and the
log-softmax a block of positions at a time, so the (B, T, V) logits never exist (a fused, chunked head, as
Liger's fused linear cross-entropy).

For Gemma-3-270M (262k vocabulary) at 8 rows x 256 tokens the logits alone are 1 GiB in bf16 and their
gradient another; here each block holds at most 2**24 of them (benchmarks/update_memory.py).

    logp_t = log_softmax(h_t W^T / temperature)[token_t]        h (B, T, H), W (V, H)
    dL/dh_t = g_t (onehot - softmax)_t W / temperature,   dL/dW = sum_t g_t (onehot - softmax)_t^T h_t / temperature

Under bf16 autocast the products run in bf16 as the model's own `lm_head` would (the weight cast to bf16,
float32 accumulation), and the log-softmax in float32.
"""

from __future__ import annotations

from typing import Any

import torch

from rlvr.train.grpo import block_logprob_grad, block_logprobs, position_blocks


def fused_head(model: torch.nn.Module) -> torch.nn.Linear | None:
    """The model's vocabulary projection when it is a plain bias-free linear layer applied to the decoder's
    last hidden state (Llama, Qwen, Gemma without logit soft-capping, ...); None otherwise."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    config = getattr(model, "config", None)
    if not isinstance(head, torch.nn.Linear) or head.bias is not None or not hasattr(model, "get_decoder"):
        return None
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
        return None
    return head


def head_logprobs(model: torch.nn.Module, micro: dict[str, torch.Tensor], temperature: float,
                  compute_dtype: torch.dtype | None) -> torch.Tensor:
    """log p(completion tokens) (b, T) float32 of a micro-batch (rlvr.train.rollouts.micro_batch), through
    the decoder and the fused head. compute_dtype: bf16 under the update's autocast, else None."""
    span = micro["completion"].shape[1]
    decoder = model.get_decoder()
    with torch.autocast(device_type=micro["input_ids"].device.type, dtype=torch.bfloat16,
                        enabled=compute_dtype is not None):
        hidden = decoder(input_ids=micro["input_ids"], attention_mask=micro["attention"],
                         position_ids=micro["positions"], use_cache=False).last_hidden_state
    hidden = hidden[:, -(span + 1) : -1]  # (b, T, H): position width-1+t predicts completion token t
    weight = model.get_output_embeddings().weight
    return _FusedHeadLogSoftmax.apply(hidden, weight, micro["completion"], float(temperature), compute_dtype)


class _FusedHeadLogSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, tokens: torch.Tensor, temperature: float,
                compute_dtype: torch.dtype | None) -> torch.Tensor:
        dtype = compute_dtype or weight.dtype
        w = weight.to(dtype)  # (V, H): the cast autocast would make, once
        logp = torch.empty(tokens.shape, dtype=torch.float32, device=hidden.device)  # (B, T)
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            for b, cols in position_blocks(*tokens.shape, w.shape[0]):
                logp[b, cols] = block_logprobs(hidden[b, cols].to(dtype) @ w.T, tokens[b, cols], temperature)
        ctx.save_for_backward(hidden, weight, tokens)
        ctx.temperature, ctx.dtype = temperature, dtype
        return logp

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None, None, None]:
        hidden, weight, tokens = ctx.saved_tensors
        w = weight.to(ctx.dtype)
        grad_hidden = torch.zeros_like(hidden)
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            for b, cols in position_blocks(*tokens.shape, w.shape[0]):
                h = hidden[b, cols].to(ctx.dtype)  # (t, H)
                dz = block_logprob_grad(h @ w.T, tokens[b, cols], grad[b, cols], ctx.temperature).to(ctx.dtype)
                grad_hidden[b, cols] = (dz @ w).to(hidden.dtype)  # (t, H)
                grad_weight += (dz.T @ h).float()  # (V, H)
        return grad_hidden, grad_weight.to(weight.dtype), None, None, None
