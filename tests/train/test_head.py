"""The fused head against the model's own lm_head: the same log-probabilities and gradients, without logits."""

from __future__ import annotations

import copy

import pytest
import torch

from conftest import make_tiny_policy
from rlvr.train import grpo
from rlvr.train.grpo import token_logprobs
from rlvr.train.head import fused_head, head_logprobs
from rlvr.train.precision import autocast


def _micro(rows: int = 3, width: int = 6, span: int = 5) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 120, (rows, width + span), generator=generator)
    attention = torch.ones_like(ids)
    attention[0, :2] = 0  # a left-padded prompt
    return {"input_ids": ids, "attention": attention, "positions": (attention.cumsum(-1) - 1).clamp(min=0),
            "completion": ids[:, width:]}


def _plain(model, micro, temperature, bf16):
    span = micro["completion"].shape[1]
    with autocast(bf16, "cpu"):
        logits = model(input_ids=micro["input_ids"], attention_mask=micro["attention"],
                       position_ids=micro["positions"], logits_to_keep=span + 1).logits[:, :-1]
    return token_logprobs(logits, micro["completion"], temperature)


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("block", [1 << 24, 200])  # everything in one block, or one position per block
def test_fused_head_matches_the_models_own_head(monkeypatch, bf16, block):
    monkeypatch.setattr(grpo, "CHUNK_ELEMENTS", block)
    model = make_tiny_policy().model.train()
    assert fused_head(model) is not None
    other = copy.deepcopy(model)
    micro, weights = _micro(), torch.randn(3, 5, generator=torch.Generator().manual_seed(1))
    fused = head_logprobs(model, micro, 0.8, torch.bfloat16 if bf16 else None)
    plain = _plain(other, micro, 0.8, bf16)
    tolerance = 2e-2 if bf16 else 1e-5  # bf16: the same products in another order, 8 significant bits
    torch.testing.assert_close(fused, plain, rtol=0, atol=tolerance)
    (fused * weights).sum().backward()
    (plain * weights).sum().backward()
    for (name, a), b in zip(model.named_parameters(), other.parameters()):
        relative = ((a.grad - b.grad).norm() / b.grad.norm().clamp(min=1e-12)).item()
        assert relative <= (2e-2 if bf16 else 1e-5), (name, relative)


def test_a_head_with_a_bias_or_soft_capping_is_not_fused():
    model = make_tiny_policy().model
    model.config.final_logit_softcapping = 30.0
    assert fused_head(model) is None
