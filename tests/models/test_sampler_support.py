"""The sampler's logprobs over the support it sampled from (`Completion.sampler_logprobs`), which the
trainer's mismatch correction compares with its own; `Completion.logprobs` stay untruncated."""

from __future__ import annotations

import math

import pytest
import torch

from rlvr.models import HFEngine, SamplingParams
from rlvr.models.sampler import _draw, _sample

LOGITS = torch.tensor([[0.0, 1.0, 2.0, 3.0]]).repeat(64, 1)


@pytest.mark.parametrize("params, kept", [
    (SamplingParams(top_k=2), [2, 3]),
    (SamplingParams(top_p=0.8), [2, 3]),  # the smallest prefix reaching 0.8: tokens 3 and 2
    (SamplingParams(top_k=3, top_p=0.8, temperature=2.0), [1, 2, 3]),  # flatter at T = 2: p = .45, .28, .17
])
def test_renormalised_logprob_is_the_full_one_minus_the_log_kept_mass(params, kept):
    uniforms = torch.rand(len(LOGITS), generator=torch.Generator().manual_seed(0))
    token, logp, kept_logp = _draw(LOGITS, params, uniforms)
    full = torch.log_softmax(LOGITS[0] / params.temperature, -1)
    kept_mass = full[kept].exp().sum()
    assert set(token.tolist()) <= set(kept)
    assert torch.allclose(logp, full[token])  # unchanged: what a trainer recomputes
    assert torch.allclose(kept_logp, full[token] - kept_mass.log())
    assert torch.allclose(torch.logsumexp(full[kept] - kept_mass.log(), 0), torch.tensor(0.0), atol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(_sample(LOGITS, params, uniforms), (token, logp)))


def test_nothing_truncated_means_no_second_list():
    token, logp, kept_logp = _draw(LOGITS, SamplingParams(temperature=0.7), torch.rand(len(LOGITS)))
    assert kept_logp is None
    assert _draw(LOGITS, SamplingParams(temperature=0, top_k=2), None)[2] is None  # greedy samples nothing


def test_hfengine_records_both_lists(tiny_policy):
    prompts = ["What is 3 + 4 ?", "a b c"]
    plain = HFEngine(tiny_policy, batch_size=4).generate(prompts, SamplingParams(n=2, max_new_tokens=5, seed=1))
    assert all(c.sampler_logprobs is None for g in plain.completions for c in g)
    truncated = HFEngine(tiny_policy, batch_size=4).generate(
        prompts, SamplingParams(n=2, top_k=5, max_new_tokens=5, seed=1))
    for group in truncated.completions:
        for c in group:
            assert len(c.sampler_logprobs) == len(c.logprobs) == len(c.token_ids)
            # top-5 of the vocabulary keeps part of the mass: each token is likelier under the truncated law
            assert all(q > p and q <= 0.0 for q, p in zip(c.sampler_logprobs, c.logprobs))
            assert not any(math.isnan(q) for q in c.sampler_logprobs)
