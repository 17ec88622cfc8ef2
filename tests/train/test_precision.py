"""Mixed precision: when autocast is on, and that a bf16 update reads the log-probabilities a float32 one does."""

from __future__ import annotations

import pytest
import torch

from conftest import make_tiny_policy
from rlvr.train.runtime import precision
from rlvr.models.logprobs import token_logprobs
from rlvr.train.runtime.precision import autocast, use_autocast


@pytest.mark.parametrize("choice, weights, native, expected", [
    ("auto", torch.float32, True, True),
    ("auto", torch.float32, False, False),  # emulated bf16 would be slower than float32: stay in float32
    ("auto", torch.bfloat16, True, False),  # bf16 weights: nothing to autocast
    ("bf16", torch.float32, False, True),
    ("fp32", torch.float32, True, False),
])
def test_when_the_update_autocasts(monkeypatch, choice, weights, native, expected):
    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    assert use_autocast(choice, weights, "cpu") is expected


def test_a_bf16_forward_reads_nearly_the_float32_log_probabilities():
    model = make_tiny_policy().model.eval()
    ids = torch.randint(5, 120, (4, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = token_logprobs(model(input_ids=ids).logits[:, :-1], ids[:, 1:])
        with autocast(True, "cpu"):
            logits = model(input_ids=ids).logits[:, :-1]
        assert logits.dtype == torch.bfloat16
        half = token_logprobs(logits, ids[:, 1:])
    assert half.dtype == torch.float32
    # bf16 keeps 8 significant bits: a log-probability of a few nats moves by a few hundredths at most.
    assert (half - full).abs().max() < 0.05
    assert not torch.equal(half, full)  # and it did run in bf16


def test_cast_once_reuses_each_weights_bf16_cast_and_gives_the_same_gradients():
    """Three micro-batches' forward and backward: with `cast_once` the weights are cast once (autocast's cache
    outlives each forward's own context), the gradients are bit-identical, and the loss runs outside autocast."""
    from torch.profiler import ProfilerActivity, profile

    from rlvr.train.runtime.precision import cast_once

    model = make_tiny_policy().model.train()
    micros = [torch.randint(5, 120, (2, 6), generator=torch.Generator().manual_seed(s)) for s in range(3)]

    def accumulate(once: bool):
        model.zero_grad(set_to_none=True)
        with profile(activities=[ProfilerActivity.CPU]) as prof, cast_once(once, "cpu"):
            for ids in micros:
                with autocast(True, "cpu"):
                    logits = model(input_ids=ids).logits[:, :-1]
                assert not torch.is_autocast_enabled("cpu")  # the loss and the backward: outside autocast
                loss = -token_logprobs(logits, ids[:, 1:]).mean()
                loss.backward()
        casts = sum(e.count for e in prof.key_averages() if e.key == "aten::_to_copy")
        return {n: p.grad.clone() for n, p in model.named_parameters()}, casts

    each, casts_each = accumulate(False)
    once, casts_once = accumulate(True)
    for name in each:
        assert torch.equal(each[name], once[name]), name
    linear = sum(1 for m in model.modules() if isinstance(m, torch.nn.Linear))  # the weights autocast casts
    assert casts_each - casts_once == 2 * linear  # micro-batches 2 and 3 cast no weight again
