"""Each distinct prompt through the decoder once (head.shared_prompt_logprobs): the log-probabilities and gradients
of a forward pass per row, from fewer FLOPs."""

from __future__ import annotations

import copy

import pytest
import torch

from conftest import grouped_micro, make_tiny_policy
from rlvr.models.head import head_logprobs, shared_prompt_logprobs, shared_prompt_mismatch


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("lengths", [((5, 2, 4), (3, 5)), ((1, 1), (1,))])  # T = 1: the prompts' pass alone
def test_shared_prompts_give_each_rows_own_logprobs_and_gradients(bf16, lengths):
    model = make_tiny_policy().model.train()
    other = copy.deepcopy(model)
    micro = grouped_micro(lengths)
    dtype = torch.bfloat16 if bf16 else None
    weights = torch.randn(micro["mask"].shape, generator=torch.Generator().manual_seed(1)) * micro["mask"]
    shared = shared_prompt_logprobs(model, micro, 0.8, dtype)
    plain = head_logprobs(other, micro, 0.8, dtype)
    mask = micro["mask"].bool()
    tolerance = 2e-2 if bf16 else 1e-5  # bf16: the same products in other shapes, 8 significant bits
    torch.testing.assert_close(shared[mask], plain[mask], rtol=0, atol=tolerance)
    (shared * weights).sum().backward()
    (plain * weights).sum().backward()
    for (name, a), b in zip(model.named_parameters(), other.parameters()):
        relative = ((a.grad - b.grad).norm() / b.grad.norm().clamp(min=1e-12)).item()
        assert relative <= (2e-2 if bf16 else 1e-5), (name, relative)


def test_the_first_batch_check_passes_a_decoder_that_continues_from_a_cache_and_names_one_that_cannot():
    model = make_tiny_policy().model
    micro = grouped_micro()
    assert shared_prompt_mismatch(model, micro, 1.0, None) is None

    class NoCache(torch.nn.Module):  # a decoder whose forward takes no past_key_values
        def __init__(self, decoder):
            super().__init__()
            self.decoder = decoder

        def forward(self, input_ids, attention_mask, position_ids, use_cache=False):
            return self.decoder(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                use_cache=False)

    broken = copy.deepcopy(model)
    broken.get_decoder = lambda: NoCache(model.get_decoder())
    reason = shared_prompt_mismatch(broken, micro, 1.0, None)
    assert reason is not None and "shared prompt" in reason
