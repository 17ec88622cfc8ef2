"""The update's optimizer and memory: torch's fused AdamW where it runs, trained weights in memory of their own."""

from __future__ import annotations

import torch

from conftest import make_tiny_policy
from rlvr.train.runtime.optim import make_optimizer
from rlvr.train.trainer import _own_memory


def test_adamw_is_fused_for_plain_float_tensors_and_steps_like_the_element_wise_one():
    torch.manual_seed(0)
    start = [torch.randn(64, 32), torch.randn(32)]
    grads = [[torch.randn_like(t) for t in start] for _ in range(4)]
    results = []
    for fused in (True, False):
        params = [torch.nn.Parameter(t.clone()) for t in start]
        optimizer, scheduler = make_optimizer(params, 1e-2, 0.01, 1)
        if not fused:
            optimizer.param_groups[0]["fused"] = False  # the element-wise step, as before
        assert optimizer.param_groups[0]["fused"] is fused
        for step in grads:
            for p, g in zip(params, step):
                p.grad = g.clone()
            optimizer.step()
            scheduler.step()
        results.append(params)
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)  # the same step, rounded in another order


def test_adamw_is_not_fused_for_weights_on_the_meta_device():
    assert make_optimizer([torch.nn.Parameter(torch.zeros(3, device="meta"))], 1e-3, 0.0, 0)[0].defaults["fused"] \
        is False


def test_trained_weights_get_their_own_memory_and_stay_tied():
    model = make_tiny_policy().model
    model.lm_head.weight = model.model.embed_tokens.weight  # tied
    frozen = model.model.norm.weight
    frozen.requires_grad_(False)
    before = {name: (p.data_ptr(), p.detach().clone()) for name, p in model.named_parameters(remove_duplicate=False)}
    _own_memory(model)
    for name, p in model.named_parameters(remove_duplicate=False):
        pointer, values = before[name]
        assert (p.data_ptr() == pointer) is (not p.requires_grad), name  # copied when trained, kept when frozen
        torch.testing.assert_close(p.detach(), values, rtol=0, atol=0)
    assert model.lm_head.weight is model.model.embed_tokens.weight
