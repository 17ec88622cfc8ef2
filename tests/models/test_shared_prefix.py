"""The sampler prefills the opening its prompts share once (a few-shot prompt's examples, a multi-turn episode's
opening under each later turn) and copies its cache to every prompt: the samples are those of prefilling each
prompt whole."""

from __future__ import annotations

import pytest
import torch

from conftest import make_tiny_policy, tiny_causal_lm
from rlvr.models import HFEngine, SamplingParams
from rlvr.models import sampler as sampler_module
from rlvr.models.loading import Policy
from rlvr.models.sampler import SHARED_PREFIX_SAVING, _shared_prefix

OPENING = " ".join(["What is 3 + 4 ? Reply with only the final number ."] * 4)  # 48 words: 48 tokens
PROMPTS = [OPENING + " a b", OPENING + " 12 * 7 ? c d e f", OPENING + " z"]


@pytest.fixture
def forward_shapes():
    """watch(model) -> the (rows, columns) of the input ids of each of `model`'s later forward calls, in order; the
    hooks go when the test ends, pass or fail (the tiny policy is shared by the session)."""
    hooks = []

    def watch(model):
        shapes = []
        hooks.append(model.register_forward_pre_hook(
            lambda module, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True))
        return shapes

    yield watch
    for hook in hooks:
        hook.remove()


def _teacher_forced(policy, prompt_ids, token_ids, temperature):
    ids = torch.tensor([prompt_ids + token_ids])
    with torch.no_grad():
        logits = policy.model(ids).logits[0, len(prompt_ids) - 1 : -1]
    return torch.log_softmax(logits.float() / temperature, -1).gather(-1, torch.tensor(token_ids)[:, None])[:, 0]


def test_the_shared_opening_is_prefilled_once(tiny_policy, forward_shapes):
    encoded = [tiny_policy.encode(p) for p in PROMPTS]
    shared = _shared_prefix(encoded, tiny_policy.model.config, 100)
    assert shared >= 48 and all(p[:shared] == encoded[0][:shared] for p in encoded)
    shapes = forward_shapes(tiny_policy.model)
    HFEngine(tiny_policy, batch_size=64).generate(PROMPTS, SamplingParams(n=2, temperature=1.0, max_new_tokens=4,
                                                                          seed=0))
    longest = max(len(p) for p in encoded)
    assert shapes[0] == (1, shared)  # the opening, once
    assert shapes[1] == (3, longest - shared)  # then each prompt's own tokens, padded to the longest of them
    assert all(rows == 6 and columns == 1 for rows, columns in shapes[2:4])  # then the 6 samples, a token a step


def test_samples_and_logprobs_are_those_of_whole_prompts(tiny_policy, monkeypatch):
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=10, seed=5)
    shared = HFEngine(tiny_policy, batch_size=64).generate(PROMPTS, params)
    monkeypatch.setattr(sampler_module, "SHARED_PREFIX_SAVING", 10**9)  # no sharing: every prompt prefilled whole
    whole = HFEngine(tiny_policy, batch_size=64).generate(PROMPTS, params)
    for a, b, prompt_ids in zip(shared.completions, whole.completions, shared.prompt_token_ids):
        for x, y in zip(a, b):
            assert x.token_ids == y.token_ids
            assert torch.allclose(torch.tensor(x.logprobs), torch.tensor(y.logprobs), atol=1e-5)
            expected = _teacher_forced(tiny_policy, prompt_ids, x.token_ids, params.temperature)
            assert torch.allclose(torch.tensor(x.logprobs), expected, atol=1e-4)


@pytest.mark.parametrize("batch_size", [1, 2, 64])
def test_greedy_continuations_match_model_generate(tiny_policy, batch_size):
    result = HFEngine(tiny_policy, batch_size=batch_size).generate(PROMPTS, SamplingParams(n=2, temperature=0,
                                                                                          max_new_tokens=8))
    for prompt_ids, completions in zip(result.prompt_token_ids, result.completions):
        ids = torch.tensor([prompt_ids])
        out = tiny_policy.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=8,
                                         eos_token_id=sorted(tiny_policy.eos_token_ids), pad_token_id=0)
        expected = out[0, ids.shape[1]:].tolist()
        for c in completions:
            assert c.token_ids == expected[: len(c.token_ids)]


def test_what_is_shared():
    config = tiny_causal_lm("llama").config
    opening = list(range(5, 5 + SHARED_PREFIX_SAVING))
    assert _shared_prefix([opening + [1], opening + [2, 3]], config, 200) == SHARED_PREFIX_SAVING
    assert _shared_prefix([opening[:-1] + [1], opening[:-1] + [2]], config, 200) == 0  # saves too little to pay
    half = opening[: SHARED_PREFIX_SAVING // 2]
    assert _shared_prefix([half + [1], half + [2], half + [3]], config, 200) == len(half)  # 2 x half saved
    assert _shared_prefix([opening + [1]], config, 200) == 0  # one prompt: nothing to share
    # Identical prompts keep their last token out: its logits start the sampling.
    assert _shared_prefix([opening + [1, 2], opening + [1, 2]], config, 200) == SHARED_PREFIX_SAVING + 1


@pytest.mark.parametrize(("model_type", "overrides", "shares"), [
    ("mistral", {"sliding_window": 200}, True),  # no sequence outgrows the window
    ("mistral", {"sliding_window": 40}, False),
    ("qwen2", {}, True),  # full attention in every layer (qwen2's config names a window it does not use)
    ("qwen2", {"use_sliding_window": True, "sliding_window": 40, "max_window_layers": 1}, False),
])
def test_sliding_windows_share_only_within_the_window(monkeypatch, model_type, overrides, shares):
    model = tiny_causal_lm(model_type, max_position_embeddings=256, **overrides)
    tokenizer = make_tiny_policy().tokenizer
    policy = Policy(model=model, tokenizer=tokenizer, name=model_type, eos_token_ids={2})
    prompts = [[1] + list(range(5, 53)) + tail for tail in ([7], [9, 11], [13, 14, 15])]  # 49 shared
    assert bool(_shared_prefix(prompts, model.config, 60)) is shares
    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=12, seed=1)
    engine = HFEngine(policy, batch_size=64)
    engine.policy.encode = lambda ids: list(ids)  # token ids in, as they are
    sampled = engine.generate(prompts, params)
    monkeypatch.setattr(sampler_module, "SHARED_PREFIX_SAVING", 10**9)
    whole = engine.generate(prompts, params)
    for a, b in zip(sampled.completions, whole.completions):
        for x, y in zip(a, b):
            assert x.token_ids == y.token_ids
            assert torch.allclose(torch.tensor(x.logprobs), torch.tensor(y.logprobs), atol=1e-5)


def test_a_bf16_sampler_shares_too(tiny_policy, forward_shapes):
    """The bf16 copy's decoding steps (rlvr's decoding attention) read the mask with the padding between the shared
    opening and each prompt's own tokens: its log-probs are a bf16 forward's of the whole sequence."""
    import copy
    import dataclasses

    model = copy.deepcopy(tiny_policy.model)
    with torch.no_grad():  # peaked attention (a random model's is nearly uniform): a padding column read shows
        for name, weight in model.named_parameters():
            if name.endswith(("q_proj.weight", "k_proj.weight")):
                weight.mul_(8.0)
    policy = dataclasses.replace(tiny_policy, model=model)
    params = SamplingParams(n=2, temperature=0.7, max_new_tokens=8, seed=3)
    engine = HFEngine(policy, batch_size=64, precision="bf16")
    shapes = forward_shapes(engine.model)
    result = engine.generate(PROMPTS, params)
    assert shapes[0][0] == 1  # the opening, once
    for prompt_ids, completions in zip(result.prompt_token_ids, result.completions):
        for c in completions:
            ids = torch.tensor([prompt_ids + c.token_ids])
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(ids).logits[0, len(prompt_ids) - 1 : -1]
            expected = torch.log_softmax(logits.float() / 0.7, -1).gather(-1, torch.tensor(c.token_ids)[:, None])[:, 0]
            # Measured: at most 0.003 apart; reading the padding columns puts them 0.011 to 0.016 apart.
            assert torch.allclose(torch.tensor(c.logprobs), expected, atol=0.006)
