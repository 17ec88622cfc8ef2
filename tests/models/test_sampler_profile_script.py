"""benchmarks/sampler_profile.py's accounting, on the tiny Llama: the phases of a call, the bytes a step reads, the
weight-read probe and the operator kinds (its figures on the real model are the README's)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import load_script
from rlvr.models import HFEngine, SamplingParams

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "sampler_profile.py"
PROMPTS = ["What is 3 + 4 ?", "What is 1 + 2 ?"]


@pytest.fixture(scope="module")
def script():
    return load_script(SCRIPT)


@pytest.mark.parametrize(("precision", "fast"), [("bf16", True), ("fp32", True), ("fp32", False)])
def test_a_calls_phases_fit_inside_its_wall_time(script, tiny_policy, precision, fast):
    engine = HFEngine(tiny_policy, batch_size=8, precision=precision, fast=fast)
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=12, seed=0)
    result, phases, steps = script.timed_call(engine, PROMPTS, params)
    plain = engine.generate(PROMPTS, params)
    assert [[c.token_ids for c in cs] for cs in result.completions] == [[c.token_ids for c in cs]
                                                                         for cs in plain.completions]
    assert set(phases) == {"prefill", "decoding steps", "draw", "rest"}
    assert all(phases[name] > 0 for name in ("prefill", "decoding steps", "draw"))
    assert phases["rest"] >= 0  # no time counted twice: the timed phases fit inside the call
    longest = max(len(c.token_ids) for cs in result.completions for c in cs)
    assert steps == longest - 1  # the first token comes from the prefill's logits, each later one from a step
    # transformers' step calls the model's forward: those calls are the steps', not the prefill's (one call, or two
    # with a shared opening)
    timer = script.PhaseTimer(engine)
    with timer.installed():
        engine.generate(PROMPTS, params)
    assert timer.prefill_calls in (1, 2) and timer.steps == steps
    # uninstalled afterwards: the sampler's own functions again
    import rlvr.models.fast_decode as fast_decode
    import rlvr.models.sampler as sampler
    assert sampler._draw.__name__ == "_draw" and fast_decode.DecodeState.step.__name__ == "step"
    assert not engine.model._forward_hooks and not engine.model._forward_pre_hooks


def test_a_step_reads_every_linear_weight_once_a_tied_head_once(script):
    from transformers import LlamaConfig, LlamaForCausalLM

    def model(tied: bool):
        config = LlamaConfig(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                             num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=tied)
        return LlamaForCausalLM(config)

    # per layer q 16x16, k 8x16, v 8x16, o 16x16, gate/up 32x16 each, down 16x32; the head 100x16
    layers = 2 * (256 + 128 + 128 + 256 + 512 + 512 + 512)
    assert script.step_weight_bytes(model(False)) == (layers + 1600) * 4
    assert script.step_weight_bytes(model(True)) == (layers + 1600) * 4  # the embedding is not a linear layer
    assert script.step_weight_bytes(model(False).to(torch.bfloat16)) == (layers + 1600) * 2


def test_the_read_probe_returns_a_rate(script):
    rate = script.weight_read_rate(torch.float32, megabytes=8, shape=(256, 256))
    assert 1e8 < rate < 1e13  # bytes a second: between 0.1 GB/s and 10 TB/s on anything that runs the tests


def test_operator_kinds(script, tiny_policy):
    assert script.kind_of("mkldnn::_linear_pointwise") == "matrix products and head"
    assert script.kind_of("aten::_scaled_dot_product_flash_attention_for_cpu") == "attention"
    assert script.kind_of("aten::cumsum") == "softmax, cumsum, search (the draw)"
    assert script.kind_of("aten::copy_") == "casts and copies"
    assert script.kind_of("aten::silu") == "other element-wise (norms, rotary, SiLU, sums)"
    assert script.kind_of("HFEngine.generate") == "python glue and rest"
    engine = HFEngine(tiny_policy, batch_size=8, precision="bf16")
    kinds, top = script.operator_kinds(engine, PROMPTS, SamplingParams(n=2, temperature=1.0, max_new_tokens=6,
                                                                        seed=0))
    assert kinds["matrix products and head"] > 0 and kinds["softmax, cumsum, search (the draw)"] > 0
    assert len(top) == 15 and all(seconds >= 0 and calls >= 1 for _, seconds, calls in top)
