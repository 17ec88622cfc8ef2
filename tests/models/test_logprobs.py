"""The selective log-softmax against the plain one: the same values and gradients, bit for bit, any block size."""

from __future__ import annotations

import pytest
import torch

from rlvr.models import logprobs
from rlvr.models.logprobs import token_entropy, token_logprobs


def plain_logprobs(logits, tokens, temperature):
    return torch.log_softmax(logits.float() / temperature, dim=-1).gather(-1, tokens[..., None]).squeeze(-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("chunk", [1 << 24, 7 * 50, 50])  # everything at once, 7 positions, 1 position a block
def test_values_and_gradients_equal_the_plain_log_softmax(monkeypatch, dtype, temperature, chunk):
    monkeypatch.setattr(logprobs, "CHUNK_ELEMENTS", chunk)
    generator = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(3, 11, 50, generator=generator)).to(dtype)
    tokens = torch.randint(0, 50, (3, 11), generator=generator)
    weights = torch.randn(3, 11, generator=generator)
    ours_in = logits.clone().requires_grad_(True)
    plain_in = logits.clone().requires_grad_(True)
    ours, plain = token_logprobs(ours_in, tokens, temperature), plain_logprobs(plain_in, tokens, temperature)
    assert ours.dtype == torch.float32
    assert torch.equal(ours, plain)
    (ours * weights).sum().backward()
    (plain * weights).sum().backward()
    assert torch.equal(ours_in.grad, plain_in.grad)  # a training run does not change by a bit


def test_a_sliced_non_contiguous_logits_view_works():
    logits = torch.randn(2, 6, 9)[:, :-1]  # as the trainer slices the model's output
    tokens = torch.randint(0, 9, (2, 5))
    assert torch.equal(token_logprobs(logits, tokens), plain_logprobs(logits, tokens, 1.0))


def test_entropy_block_by_block_equals_the_whole(monkeypatch):
    logits = torch.randn(2, 4, 30)
    whole = token_entropy(logits)
    monkeypatch.setattr(logprobs, "CHUNK_ELEMENTS", 30)
    with torch.no_grad():
        torch.testing.assert_close(token_entropy(logits), whole)
