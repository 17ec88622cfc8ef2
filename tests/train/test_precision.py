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
