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

from typing import Any

import torch

from rlvr.models.logprobs import block_logprob_grad, block_logprobs, completion_logprobs, position_blocks

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
    mask = micro.get("mask", torch.ones_like(plain)).bool() & plain.isfinite()
    gap = (fused - plain).abs()[mask]
    dtype = compute_dtype or model.get_output_embeddings().weight.dtype
    tolerance = MISMATCH_TOLERANCE.get(dtype, MISMATCH_TOLERANCE[torch.bfloat16])
    if gap.numel() and not gap.mean() <= tolerance:  # NaN counts as a mismatch
        return (f"its log-probs differ from {type(model).__name__}'s own by {gap.mean().item():.3g} nats a token "
                f"on average (at most {tolerance:g} allowed)")
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
