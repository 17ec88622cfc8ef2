"""Log-probabilities of given tokens under a causal LM: the kernels the trainer, the fused head, the vllm
engine and the boundary's base likelihood share.

    scaled_log_softmax   log_softmax(logits / T) in float32, written once
    token_logprobs       log p(tokens) under logits / T, (B, T, V) -> (B, T), a block of positions at a time
                         (selective log-softmax: no (B, T, V) float32 copy in either pass)
    token_entropy        the policy's entropy at each position
    left_pad             prompts left-padded, completions right-padded: every completion starts in one column
    completion_logprobs  log p(completion tokens | prompt) at temperature T, teacher-forced through the
                         model: the one such forward pass, for a padded batch
    sequence_logprobs    the same for lists of token ids, a few rows at a time, without gradient

Shapes: B rows, P prompt columns (left-padded), T completion columns (right-padded), V the vocabulary.
"""

from __future__ import annotations

from typing import Any

import torch


# The float32 working set of the vocabulary maths: positions are taken so many at a time that their
# (positions, V) float32 block stays under 2**24 elements (64 MiB), whatever B, T and V are.
CHUNK_ELEMENTS = 1 << 24


def position_blocks(batch: int, length: int, vocab: int) -> list[tuple[int, slice]]:
    """(row, positions) blocks of a (B, T, V) computation, each of at most CHUNK_ELEMENTS values."""
    step = max(1, CHUNK_ELEMENTS // max(vocab, 1))
    return [(b, slice(t, t + step)) for b in range(batch) for t in range(0, length, step)]


def scaled_log_softmax(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """log_softmax(logits / temperature) in float32, (..., V) -> (..., V): the one place the package takes the
    sampling distribution's log-probabilities from logits (the trainer, the fused head, the vllm engine's
    recomputed log-probs and the boundary's base likelihood all come here)."""
    scaled = logits.float() if temperature == 1 else logits.float() / temperature  # x / 1 is x: the pass skipped
    return torch.log_softmax(scaled, dim=-1)


def block_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    """log p(tokens) of one block: logits (t, V) in any dtype, tokens (t,) -> (t,) float32."""
    return scaled_log_softmax(logits, temperature).gather(-1, tokens[:, None]).squeeze(-1)


def block_logprob_grad(logits: torch.Tensor, tokens: torch.Tensor, grad: torch.Tensor,
                       temperature: float) -> torch.Tensor:
    """grad (t,) times d log p(tokens) / d logits of one block: (onehot - softmax) * grad / temperature, (t, V)
    float32. The same operations, in the same order, as autograd's log_softmax backward, so a blocked
    gradient equals the plain (B, T, V) computation's bit for bit."""
    out = scaled_log_softmax(logits, temperature)  # (t, V)
    picked = torch.zeros_like(out).scatter_(-1, tokens[:, None], grad[:, None].float())
    return torch._log_softmax_backward_data(picked, out, -1, out.dtype).div_(temperature)


class _SelectiveLogSoftmax(torch.autograd.Function):
    """log p(token) = log_softmax(z)[token], z = logits / temperature, one block of positions at a time.

    Neither pass makes a (B, T, V) float32 copy: forward keeps nothing but the logits it was given, and
    backward recomputes each block's softmax to write d logp / d logits = (onehot - softmax) / temperature
    straight into the gradient, in the logits' own dtype.
    """

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, tokens: torch.Tensor, temperature: float) -> torch.Tensor:
        logp = torch.empty(tokens.shape, dtype=torch.float32, device=logits.device)  # (B, T)
        for b, cols in position_blocks(*logits.shape):
            logp[b, cols] = block_logprobs(logits[b, cols], tokens[b, cols], temperature)  # one (t, V) block at a time
        ctx.save_for_backward(logits, tokens)
        ctx.temperature = temperature
        return logp

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        logits, tokens = ctx.saved_tensors
        grad_logits = torch.empty_like(logits)
        for b, cols in position_blocks(*logits.shape):
            grad_logits[b, cols] = block_logprob_grad(logits[b, cols], tokens[b, cols], grad[b, cols], ctx.temperature)
        return grad_logits, None, None


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log p(tokens) under logits / temperature: logits (B, T, V), tokens (B, T) -> (B, T) float32.

    Computed in float32 over blocks of positions (selective log-softmax), so the update's peak memory does
    not grow with the vocabulary beyond the logits and their gradient.
    """
    return _SelectiveLogSoftmax.apply(logits, tokens, float(temperature))


def token_entropy(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Entropy of the policy at each position: (B, T, V) -> (B, T) float32.

    Without gradient (a metric, a mask) it is computed block by block; with gradient (an entropy bonus)
    autograd keeps what it needs.
    """
    def entropy(z: torch.Tensor) -> torch.Tensor:
        logp = scaled_log_softmax(z, temperature)
        return -(logp.exp() * logp).sum(-1)

    if torch.is_grad_enabled() and logits.requires_grad:
        return entropy(logits)
    out = torch.empty(logits.shape[:-1], dtype=torch.float32, device=logits.device)
    for b, cols in position_blocks(*logits.shape):
        out[b, cols] = entropy(logits[b, cols])
    return out


def left_pad(prompts: list[list[int]], completions: list[list[int]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Rows prompt + completion, prompts left-padded and completions right-padded so every completion starts in
    the same column: input_ids, attention, positions (B, P + T) and completion (B, T) long tensors."""
    width, span = max(len(p) for p in prompts), max(max(len(c) for c in completions), 1)
    input_ids = torch.full((len(prompts), width + span), pad_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    completion = torch.full((len(prompts), span), pad_id, dtype=torch.long)
    for r, (prompt, tokens) in enumerate(zip(prompts, completions)):
        input_ids[r, width - len(prompt) : width] = torch.tensor(prompt, dtype=torch.long)
        input_ids[r, width : width + len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        attention[r, width - len(prompt) : width + len(tokens)] = 1
        completion[r, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": input_ids, "attention": attention, "positions": positions, "completion": completion}


def completion_logprobs(model: Any, batch: dict[str, torch.Tensor], temperature: float,
                        compute_dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(completion tokens | prompt) at `temperature`, teacher-forced: (logits (B, T, V), logp (B, T)
    float32) of a `left_pad` batch (extra keys are ignored). Only the positions that predict completion tokens
    go through the vocabulary projection. compute_dtype: bf16 runs the forward under autocast (the logits are
    then bf16; their log-probs are still taken in float32); None runs it in the weights' dtype."""
    span = batch["completion"].shape[1]
    with torch.autocast(device_type=batch["input_ids"].device.type, dtype=torch.bfloat16,
                        enabled=compute_dtype is not None):
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention"],
                    position_ids=batch["positions"], logits_to_keep=span + 1)
    logits = out.logits[:, :-1]  # (B, T, V): position P-1+t predicts completion token t
    return logits, token_logprobs(logits, batch["completion"], temperature)


@torch.inference_mode()
def sequence_logprobs(model: Any, prompts: list[list[int]], completions: list[list[int]], temperature: float,
                      device: Any = "cpu", rows_per_batch: int = 8) -> list[list[float]]:
    """log p(each completion token | prompt and the tokens before it) under `model` at `temperature`:
    prompts[i] + completions[i] is one row; `rows_per_batch` rows go through `completion_logprobs` at a time."""
    out: list[list[float]] = []
    for begin in range(0, len(prompts), rows_per_batch):
        rows = completions[begin : begin + rows_per_batch]
        batch = {k: v.to(device) for k, v in left_pad(prompts[begin : begin + rows_per_batch], rows).items()}
        _, logp = completion_logprobs(model, batch, temperature)
        logp = logp.cpu()  # (b, T)
        out.extend(logp[r, : len(c)].tolist() for r, c in enumerate(rows))
    return out
