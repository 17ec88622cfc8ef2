"""Sampling in bf16 from a bf16 copy of the weights (HFEngine precision="bf16"), refreshed by push_weights, and
`sampling.precision: auto` resolved by the hardware."""

from __future__ import annotations

import pytest
import torch

from conftest import make_tiny_policy
from rlvr._errors import ConfigError
from rlvr.models import HFEngine, SamplingParams, make_engine
from rlvr.models import precision as sampling_precision

PROMPTS = ["What is 3 + 4 ?", "1 2 3 4 5 6 7 8 9 10 11 12", "a b c"]
PARAMS = SamplingParams(n=3, temperature=1.0, max_new_tokens=6, seed=5)


def _tokens(engine, prompts=PROMPTS, params=PARAMS):
    return [[c.token_ids for c in cs] for cs in engine.generate(prompts, params).completions]


def test_bf16_samples_from_a_bf16_copy_and_fp32_from_the_policy_itself():
    policy = make_tiny_policy()
    bf16 = HFEngine(policy, batch_size=4, precision="bf16")
    assert {p.dtype for p in bf16.model.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in policy.model.parameters()} == {torch.float32}  # the trainer's weights stay float32
    assert bf16.model.model.rotary_emb.inv_freq.dtype == torch.float32  # buffers as a bf16-loaded model keeps them
    assert not any(p.requires_grad for p in bf16.model.parameters())
    fp32 = HFEngine(policy, batch_size=4)
    assert fp32.model is policy.model and fp32.push_weights() == 0


def test_bf16_samples_are_the_same_for_batch_sizes_1_and_16():
    policy = make_tiny_policy()
    assert _tokens(HFEngine(policy, batch_size=1, precision="bf16")) \
        == _tokens(HFEngine(policy, batch_size=16, precision="bf16"))


def test_push_weights_refreshes_the_copy_in_place():
    policy = make_tiny_policy()
    engine = HFEngine(policy, batch_size=8, precision="bf16")
    before = _tokens(engine)
    addresses = [p.data_ptr() for p in engine.model.parameters()]
    with torch.no_grad():  # an "update": the policy's weights move
        for p in policy.model.parameters():
            p.mul_(3.0)
    assert _tokens(engine) == before  # nothing moved the copy yet
    assert engine.push_weights() == len(addresses)
    assert [p.data_ptr() for p in engine.model.parameters()] == addresses  # copied in place, nothing allocated
    assert _tokens(engine) == _tokens(HFEngine(policy, batch_size=8, precision="bf16")) != before
    for mine, theirs in zip(engine.model.parameters(), policy.model.parameters()):
        assert torch.equal(mine, theirs.to(torch.bfloat16))


def test_a_bf16_policy_needs_no_copy():
    policy = make_tiny_policy()
    policy.model.to(torch.bfloat16)
    engine = HFEngine(policy, batch_size=4, precision="bf16")
    assert engine.model is policy.model and engine.push_weights() == 0


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_is_bf16_where_the_hardware_multiplies_it(monkeypatch, native, expected):
    monkeypatch.setattr(sampling_precision, "native_bf16", lambda device: native)
    assert sampling_precision.resolve_precision("auto", "cpu") == expected
    assert sampling_precision.resolve_precision("fp32", "cpu") == "fp32"
    engine = make_engine("hf", make_tiny_policy(), precision="auto")
    assert engine.precision == expected and (engine.model is not engine.policy.model) == (expected == "bf16")


def test_auto_reads_the_cpu_flags():
    flags = open("/proc/cpuinfo").read()
    native = "avx512_bf16" in flags or "amx_bf16" in flags
    assert sampling_precision.resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")


def test_an_unknown_precision_is_one_sentence():
    with pytest.raises(ConfigError, match=r"unknown sampling precision 'fp16'; choose auto, fp32 or bf16\.$"):
        sampling_precision.resolve_precision("fp16", "cpu")
