"""The grouped attention (rlvr/models/attention.py): as accurate as sdpa against a float32 reference on the common
architectures (grouped-query heads, left padding, sliding windows), used for the sampler's decoding steps and for
short passes with gradients (the update's), and switched on only inside `grouped` (the sampler's `decoding`)."""

from __future__ import annotations

import copy

import pytest
import torch

from conftest import make_tiny_policy, tiny_causal_lm
from rlvr.models import HFEngine, SamplingParams
from rlvr.models.attention import NAME, decoding
from rlvr.models.sampler import cache_keyword


def _steps(model, ids, attention, steps=3):
    """Prefill the left-padded rows, then `steps` one-token decoding steps; the last-position logits of each."""
    from transformers import DynamicCache

    cache = {cache_keyword(model): DynamicCache(config=model.config)}
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=attention, position_ids=positions, **cache,
                use_cache=True)
    logits, nxt = [out.logits[:, -1].float()], positions[:, -1:] + 1
    for step in range(steps):
        token = (ids[:, -1:] * (step + 3)) % 120 + 5  # fixed tokens: both paths read the same inputs
        attention = torch.cat([attention, torch.ones_like(token)], dim=1)
        out = model(input_ids=token, attention_mask=attention, position_ids=nxt, **cache,
                    use_cache=True)
        logits.append(out.logits[:, -1].float())
        nxt = nxt + 1
    return torch.stack(logits)


@pytest.mark.parametrize(("model_type", "overrides"), [
    ("llama", {}), ("qwen2", {}), ("qwen3", {}), ("gemma", {}),
    ("mistral", {"sliding_window": 5}),  # the window cuts into the 9 + 3 positions: a sliding mask
])
def test_decoding_steps_are_as_accurate_as_sdpa(monkeypatch, model_type, overrides):
    model = tiny_causal_lm(model_type, **overrides)
    assert model.config._attn_implementation == "sdpa"
    with torch.no_grad():  # peaked attention (a random model's is nearly uniform): a wrong head or mask shows
        for name, weight in model.named_parameters():
            if name.endswith(("q_proj.weight", "k_proj.weight")):
                weight.mul_(8.0)
    half = copy.deepcopy(model).to(torch.bfloat16)
    reference = copy.deepcopy(half).float()  # the same (bf16-rounded) weights, in float32
    torch.manual_seed(1)
    ids = torch.randint(5, 125, (3, 9))
    attention = torch.ones_like(ids)
    attention[1, :4] = 0  # a left-padded row
    with torch.inference_mode():
        expected = _steps(reference, ids, attention)
        plain = _steps(half, ids, attention)
        calls = []
        sdpa = torch.nn.functional.scaled_dot_product_attention
        monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                            lambda *a, **k: calls.append((a[0].shape[2], k.get("enable_gqa", False))) or sdpa(*a, **k))
        with decoding(half):
            assert half.config._attn_implementation == NAME
            ours = _steps(half, ids, attention)
    assert half.config._attn_implementation == "sdpa"
    # sdpa ran the prompts as transformers calls it; each bf16 decoding step the fused kernel with the query heads
    # grouped onto the key/value heads (no copy of the keys and values per query head)
    assert {length for length, _ in calls} == {9, 1}
    assert all(grouped for length, grouped in calls if length == 1)
    ours_error = (ours[1:] - expected[1:]).abs().max().item()
    sdpa_error = (plain[1:] - expected[1:]).abs().max().item()
    assert ours_error <= 2 * sdpa_error + 1e-3, (ours_error, sdpa_error)  # a wrong head or mask: 10-80x sdpa's
    torch.testing.assert_close(ours[0], plain[0], rtol=0, atol=0)  # the prompt: sdpa's own result


def test_float32_keeps_sdpa_and_a_prompt_without_gradients_too():
    policy = make_tiny_policy()
    ids = torch.tensor([[5, 6, 7, 8]])
    attention = torch.ones_like(ids)
    with torch.inference_mode():
        plain = _steps(policy.model, ids, attention)
        with decoding(policy.model):
            same = _steps(policy.model, ids, attention)
    torch.testing.assert_close(same, plain, rtol=0, atol=0)  # float32: sdpa, the same samples as before


def _trained(model, ids, attention, autocast=False):
    """Logits of every real position and the gradients of a loss on them, after one forward and backward."""
    model.zero_grad(set_to_none=True)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = model(input_ids=ids, attention_mask=attention, position_ids=positions).logits.float()
    real = attention.bool()
    (logits[real] ** 2).mean().backward()
    return logits[real].detach(), torch.cat([p.grad.float().flatten() for p in model.parameters()])


@pytest.mark.parametrize("model_type", ["llama", "qwen2"])
@pytest.mark.parametrize("autocast", [False, True])  # bf16 weights, or float32 weights under bf16 autocast (the update)
def test_a_short_training_pass_attends_with_the_grouped_products(monkeypatch, model_type, autocast):
    """With gradients on, a pass whose scores are few takes the two grouped products (left padding, grouped-query
    heads, no mask at all): its logits and gradients are as close to a float32 reference as sdpa's, and a row of
    left padding (queries that see no key) puts no NaN in them. A pass over TRAIN_SCORES keeps sdpa, bit for bit."""
    from rlvr.models import attention as module

    model = tiny_causal_lm(model_type)
    with torch.no_grad():  # peaked attention: a wrong head, mask or scale shows
        for name, weight in model.named_parameters():
            if name.endswith(("q_proj.weight", "k_proj.weight")):
                weight.mul_(8.0)
    half = copy.deepcopy(model).to(torch.bfloat16)
    reference = copy.deepcopy(half).float()
    trained = reference if autocast else half  # under autocast the weights stay float32
    torch.manual_seed(2)
    ids = torch.randint(5, 125, (3, 10))
    calls, limit = [], module.TRAIN_SCORES
    sdpa = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda *a, **k: calls.append(a[0].shape) or sdpa(*a, **k))
    for attention in (torch.tensor([[0] * 4 + [1] * 6, [1] * 10, [0] * 2 + [1] * 8]), torch.ones_like(ids)):
        expected = _trained(reference, ids, attention)
        plain = _trained(trained, ids, attention, autocast)
        calls.clear()
        with decoding(trained):
            ours = _trained(trained, ids, attention, autocast)
        assert not calls  # every layer took the products
        for got, base, want in zip(ours, plain, expected):
            assert torch.isfinite(got).all()
            error, sdpa_error = (got - want).abs().max().item(), (base - want).abs().max().item()
            assert error <= 2 * sdpa_error + 1e-3, (error, sdpa_error)
        monkeypatch.setattr(module, "TRAIN_SCORES", 3 * 4 * 10 * 10 - 1)  # one score too many: sdpa
        with decoding(trained):
            long = _trained(trained, ids, attention, autocast)
        monkeypatch.setattr(module, "TRAIN_SCORES", limit)
        assert calls
        for got, base in zip(long, plain):
            torch.testing.assert_close(got, base, rtol=0, atol=0)


def test_decoding_restores_the_models_attention_and_leaves_others_alone():
    model = tiny_causal_lm("llama")
    with pytest.raises(RuntimeError), decoding(model):
        raise RuntimeError("a failed decode")
    assert model.config._attn_implementation == "sdpa"
    eager = tiny_causal_lm("llama", attn_implementation="eager")
    with decoding(eager):
        assert eager.config._attn_implementation == "eager"
    with torch.device("meta"):  # not on the CPU (as on a GPU, whose sdpa has its own decoding kernels): left alone
        elsewhere = type(model)(model.config)
    with decoding(elsewhere):
        assert elsewhere.config._attn_implementation == "sdpa"
    with decoding(model):
        assert model.config._attn_implementation == NAME


def test_the_bf16_sampler_decodes_with_it_and_keeps_its_per_sample_streams(monkeypatch):
    from transformers import AttentionInterface

    from rlvr.models import attention

    assert attention._register()
    steps = []
    mapping = AttentionInterface._global_mapping
    monkeypatch.setitem(mapping, NAME,
                        lambda *a, **k: steps.append(a[1].shape[2]) or attention.decode_attention(*a, **k))
    policy = make_tiny_policy()
    prompts, params = ["What is 3 + 4 ?", "a b c"], SamplingParams(n=3, temperature=1.0, max_new_tokens=6, seed=2)

    def tokens(batch_size):
        # transformers decodes (fast=False): a Llama would otherwise take rlvr/models/fast_decode.py's step
        result = HFEngine(policy, batch_size=batch_size, precision="bf16", fast=False).generate(prompts, params)
        return [[c.token_ids for c in cs] for cs in result.completions]

    assert tokens(6) == tokens(1)
    assert steps.count(1) > len(steps) / 2  # most calls were decoding steps (one query token)
    assert policy.model.config._attn_implementation == "sdpa"
