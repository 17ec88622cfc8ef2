"""The sampler's own decoding step for Llama-family models (rlvr/models/fast_decode.py): the same logits as
transformers' step, on the models it knows only, with weights that follow every change to the model's parameters."""

from __future__ import annotations

import pytest
import torch

from conftest import make_tiny_policy, tiny_causal_lm
from rlvr.models import HFEngine, SamplingParams, attention, fast_decode, sampler
from rlvr.models.attention import decoding
from rlvr.models.fast_decode import BLOCK, DecodeState, FastDecoder
from rlvr.models.sampler import _cast_copy, cache_keyword


def _both(model, steps):
    """Left-padded prompts prefilled by transformers, then `steps` fixed tokens decoded by transformers' step and by
    the fast step from the same prefill; the logits of each, (steps, rows, V)."""
    from transformers import DynamicCache

    ids = torch.tensor([[0, 0, 0, 7, 9, 11, 3, 5, 8], [4, 6, 8, 10, 12, 14, 16, 18, 20], [0, 21, 22, 23, 24, 25, 26,
                                                                                         27, 28]])
    attention = (ids != 0).long()
    attention[1] = 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    tokens = [(ids[:, -1] * (s + 3)) % 120 + 5 for s in range(steps)]
    decoder = FastDecoder.for_model(model)
    assert decoder is not None and decoder.ready(2**40)
    with torch.inference_mode(), decoding(model):
        caches = []
        for _ in range(2):
            cache = DynamicCache(config=model.config)
            model(input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=True,
                  **{cache_keyword(model): cache})
            caches.append(cache)
        state = decoder.start(caches[1], attention, positions[:, -1] + 1)
        fast = torch.stack([state.step(t) for t in tokens])
        theirs, mask, nxt = [], attention, positions[:, -1:] + 1
        for t in tokens:
            mask = torch.cat([mask, torch.ones_like(t[:, None])], dim=1)
            out = model(input_ids=t[:, None], attention_mask=mask, position_ids=nxt, use_cache=True,
                        **{cache_keyword(model): caches[0]})
            theirs.append(out.logits[:, -1].float())
            nxt = nxt + 1
    return fast, torch.stack(theirs)


@pytest.mark.parametrize(("model_type", "overrides"), [
    ("llama", {}), ("qwen2", {}), ("mistral", {"sliding_window": None}), ("llama", {"attention_bias": True}),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("fused", [True, False])  # False: torch before 2.5, whose fused kernel cannot group heads
def test_its_logits_are_transformers_step_for_step(monkeypatch, model_type, overrides, dtype, fused):
    if not fused:
        for module in (fast_decode, attention):
            monkeypatch.setattr(module, "fused_attention", lambda dtype: False)
    model = tiny_causal_lm(model_type, **overrides)
    if dtype == torch.bfloat16:
        model = _cast_copy(model, dtype)
    steps = BLOCK + 8  # 9 prompt positions + 40 steps: the cache grows past its first two blocks
    fast, theirs = _both(model, steps)
    assert fast.shape == theirs.shape == (steps, 3, model.config.vocab_size)
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    assert (fast - theirs).abs().max().item() < tolerance * max(1.0, theirs.abs().max().item())
    assert (fast.argmax(-1) == theirs.argmax(-1)).float().mean() > 0.95


def test_qwen2s_biases_count():
    model = tiny_causal_lm("qwen2")
    assert model.model.layers[0].self_attn.q_proj.bias is not None
    fast, theirs = _both(model, 3)
    with torch.no_grad():  # without the biases the step would differ: the test sees them
        for layer in model.model.layers:
            layer.self_attn.k_proj.bias.add_(1.0)
    fast_after, theirs_after = _both(model, 3)
    assert (fast_after - theirs_after).abs().max() < 1e-5
    assert (theirs_after - theirs).abs().max() > 1e-3


def test_which_models_it_takes():
    for model_type, overrides in [("llama", {}), ("qwen2", {}), ("mistral", {"sliding_window": None})]:
        assert FastDecoder.for_model(tiny_causal_lm(model_type, **overrides)) is not None
    for model_type, overrides in [("mistral", {"sliding_window": 5}), ("qwen3", {}), ("gemma", {}),
                                  ("llama", {"hidden_act": "gelu"})]:
        assert FastDecoder.for_model(tiny_causal_lm(model_type, **overrides)) is None, model_type
    model = tiny_causal_lm("llama")
    with torch.device("meta"):
        assert FastDecoder.for_model(type(model)(model.config)) is None  # not on the CPU

    class Adapted(torch.nn.Linear):  # a LoRA or quantised layer in place of a plain product
        pass

    q = model.model.layers[1].self_attn.q_proj
    model.model.layers[1].self_attn.q_proj = Adapted(q.in_features, q.out_features, bias=False)
    assert FastDecoder.for_model(model) is None


def _counting(monkeypatch):
    calls = []
    original = DecodeState.step
    monkeypatch.setattr(DecodeState, "step", lambda self, token: calls.append(len(token)) or original(self, token))
    return calls


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_sampler_draws_the_same_samples_with_it(monkeypatch, precision):
    """Rows that end at different steps (a likely EOS), top-k truncation, several batch sizes: the same tokens and
    log-probabilities as transformers' step."""
    policy = make_tiny_policy(eos_logit=0.3)  # ends from 1 to 42 tokens
    calls = _counting(monkeypatch)
    prompts = ["What is 3 + 4 ?", "a b c", "Reply with only the final number ."]
    params = SamplingParams(n=4, temperature=1.0, top_k=20, max_new_tokens=BLOCK + 10, seed=5)
    ours = {size: HFEngine(policy, batch_size=size, precision=precision).generate(prompts, params)
            for size in (12, 5)}
    assert calls and min(calls) < max(calls)  # it decoded, and rows left the batch as they ended
    theirs = HFEngine(policy, batch_size=12, precision=precision, fast=False).generate(prompts, params)
    lengths = {len(c.token_ids) for cs in theirs.completions for c in cs}
    assert len(lengths) > 3 and max(lengths) > BLOCK  # rows of many lengths, some past a block
    for result in ours.values():
        for cs_ours, cs_theirs in zip(result.completions, theirs.completions):
            for a, b in zip(cs_ours, cs_theirs):
                assert a.token_ids == b.token_ids
                assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs)) < 1e-4
                assert max(abs(x - y) for x, y in zip(a.sampler_logprobs, b.sampler_logprobs)) < 1e-4


def _tokens(engine, prompts, params):
    return [[c.token_ids for c in cs] for cs in engine.generate(prompts, params).completions]


def test_its_weights_follow_every_change_to_the_models(monkeypatch):
    policy = make_tiny_policy()
    prompts, params = ["What is 3 + 4 ?", "a b c"], SamplingParams(n=3, temperature=1.0, max_new_tokens=8, seed=1)
    engine = HFEngine(policy, batch_size=6)
    before = _tokens(engine, prompts, params)
    assert before == _tokens(engine, prompts, params)
    packs = []
    original = FastDecoder._pack
    monkeypatch.setattr(FastDecoder, "_pack", lambda self: packs.append(1) or original(self))
    assert before == _tokens(engine, prompts, params) and not packs  # nothing changed: packed once, kept

    def reference():
        return _tokens(HFEngine(policy, batch_size=6, fast=False), prompts, params)

    with torch.no_grad():  # an optimizer's in-place step, no push_weights
        for p in policy.model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    after = _tokens(engine, prompts, params)
    assert after != before and after == reference() and len(packs) == 1
    down = policy.model.model.layers[0].mlp.down_proj
    down.weight.data = torch.randn_like(down.weight) * 2  # new storage, its version unchanged
    swapped = _tokens(engine, prompts, params)
    assert swapped != after and swapped == reference() and len(packs) == 2
    engine.push_weights()  # the trainer's call after every update packs again even when nothing shows a change
    assert _tokens(engine, prompts, params) == swapped and len(packs) == 3


def test_the_bf16_copy_is_packed_again_after_push_weights():
    policy = make_tiny_policy()
    prompts, params = ["What is 3 + 4 ?", "a b c"], SamplingParams(n=3, temperature=1.0, max_new_tokens=8, seed=1)
    engine = HFEngine(policy, batch_size=6, precision="bf16")
    before = _tokens(engine, prompts, params)
    with torch.no_grad():
        for p in policy.model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    engine.push_weights()
    after = _tokens(engine, prompts, params)
    assert after != before
    assert after == _tokens(HFEngine(policy, batch_size=6, precision="bf16", fast=False), prompts, params)


def test_short_memory_keeps_transformers_step(monkeypatch):
    policy = make_tiny_policy()
    prompts, params = ["What is 3 + 4 ?"], SamplingParams(n=2, temperature=1.0, max_new_tokens=4, seed=1)
    calls = _counting(monkeypatch)
    engine = HFEngine(policy, batch_size=2)
    expected = _tokens(HFEngine(policy, batch_size=2, fast=False), prompts, params)
    monkeypatch.setattr(sampler, "_free_memory_gb", lambda device: 1e-6)  # the packed copy would not fit
    assert _tokens(engine, prompts, params) == expected and not calls
    monkeypatch.setattr(sampler, "_free_memory_gb", lambda device: 1024.0)
    assert _tokens(engine, prompts, params) == expected and calls


def test_it_takes_a_layer_that_fsdp_wrapped():
    """FSDP2's fully_shard gives each layer a subclass of its own (FSDPLlamaDecoderLayer); the trainer samples inside
    its gather, with the whole weights."""
    model = tiny_causal_lm("llama")
    for layer in model.model.layers:
        layer.__class__ = type("FSDP" + type(layer).__name__, (type(layer),), {})
    assert FastDecoder.for_model(model) is not None


def test_the_head_reads_a_contiguous_input_while_sampling():
    """A prefill keeps one position: transformers hands the head a strided slice, which torch multiplies against a
    copy of the weight per row. The sampler gives the head a fresh tensor instead."""
    policy = make_tiny_policy()
    strides = []
    handle = policy.model.lm_head.register_forward_hook(lambda _m, args, _out: strides.append(
        (args[0].stride(), torch.empty(args[0].shape).stride())))
    try:
        for prompts in (["What is 3 + 4 ?", "a b"], ["What is 3 + 4 ?"]):  # one prompt: a (1, 1, H) slice
            HFEngine(policy, batch_size=4, fast=False).generate(prompts, SamplingParams(n=2, max_new_tokens=3, seed=0))
    finally:
        handle.remove()
    assert strides and all(got == plain for got, plain in strides)
    assert not policy.model.lm_head._forward_pre_hooks  # taken off after sampling


def test_refill_keeps_the_first_rows_in_place_and_fills_their_gaps_from_behind():
    done = torch.tensor([False, True, False, False, True, False, True, False])
    order = sampler.refill(done)
    assert order.tolist() == [0, 5, 2, 3, 7]  # rows 1 and 4 ended: rows 5 and 7 take their places
    assert sampler.refill(torch.tensor([False, False, True])).tolist() == [0, 1]
    assert sampler.refill(torch.tensor([True, True, False])).tolist() == [2]
    assert sampler.refill(torch.tensor([True, True])).tolist() == []


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_refilled_state_decodes_as_one_rebuilt_in_order(dtype):
    """`keep` with the refill order copies the moved rows into the same memory; any other order copies the whole
    cache. Both give every row the logits it would have had."""
    from transformers import DynamicCache

    model = tiny_causal_lm("llama")
    if dtype == torch.bfloat16:
        model = _cast_copy(model, dtype)
    decoder = FastDecoder.for_model(model)
    assert decoder is not None and decoder.ready(2**40)
    ids = torch.tensor([[0, 0, 7, 9, 11], [4, 6, 8, 10, 12], [0, 21, 22, 23, 24], [3, 5, 7, 9, 13],
                        [0, 0, 0, 30, 31]])
    attention = (ids != 0).long()
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    states = []
    with torch.inference_mode(), decoding(model):
        for _ in range(2):
            cache = DynamicCache(config=model.config)
            model(input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=True,
                  **{cache_keyword(model): cache})
            states.append(decoder.start(cache, attention, positions[:, -1] + 1))
        tokens = torch.tensor([5, 6, 7, 8, 9])
        for state in states:
            state.step(tokens)
        done = torch.tensor([False, True, False, True, False])
        order = sampler.refill(done)  # [0, 4, 2]
        memory = states[0].keys[0].untyped_storage().data_ptr()
        states[0].keep(order)
        assert states[0].keys[0].untyped_storage().data_ptr() == memory  # moved in place, not copied
        reordered = torch.tensor([2, 0, 4])  # not a refill order: the whole cache is indexed
        states[1].keep(reordered)
        assert states[1].keys[0].untyped_storage().data_ptr() != memory
        for _ in range(BLOCK):  # past a block: the refilled cache grows like any other
            ours, theirs = states[0].step(tokens[order]), states[1].step(tokens[reordered])
            assert torch.equal(ours, theirs[[1, 2, 0]])
