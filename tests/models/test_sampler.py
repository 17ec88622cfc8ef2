"""HFEngine against plain transformers on a tiny random model."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rlvr._errors import ConfigError, ModelError
from rlvr.models import HFEngine, SamplingParams

PROMPTS = ["What is 3 + 4 ?", "What is 12 * 7 ? Reply with only the final number .", "a b c"]


def reference_greedy(policy, prompt: str, max_new_tokens: int) -> list[int]:
    ids = torch.tensor([policy.encode(prompt)])
    out = policy.model.generate(
        ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=max_new_tokens,
        eos_token_id=sorted(policy.eos_token_ids), pad_token_id=0,
    )
    return out[0, ids.shape[1]:].tolist()


def _teacher_forced(policy, prompt_ids, token_ids, temperature, bf16=False):
    ids = torch.tensor([prompt_ids + token_ids])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = policy.model(ids).logits[0, len(prompt_ids) - 1 : -1]  # (T, V)
    logp = torch.log_softmax(logits.float() / temperature, -1)
    return logp.gather(-1, torch.tensor(token_ids)[:, None]).squeeze(-1)


@pytest.mark.parametrize("batch_size", [1, 4, 64])
def test_greedy_matches_model_generate_for_any_batching(tiny_policy, batch_size):
    # Prompts of different lengths share batches (left padding) and samples of one prompt split
    # across batches when batch_size < n: none of it may change a greedy continuation.
    result = HFEngine(tiny_policy, batch_size=batch_size).generate(
        PROMPTS, SamplingParams(n=3, temperature=0, max_new_tokens=10)
    )
    for prompt, completions in zip(PROMPTS, result.completions):
        expected = reference_greedy(tiny_policy, prompt, 10)
        assert len(completions) == 3
        for c in completions:
            assert c.token_ids == expected[: len(c.token_ids)]


def test_logprobs_equal_a_teacher_forced_forward_pass(tiny_policy):
    params = SamplingParams(n=2, temperature=0.7, max_new_tokens=8, seed=3)
    result = HFEngine(tiny_policy, batch_size=4).generate(PROMPTS[:2], params)
    for prompt_ids, completions in zip(result.prompt_token_ids, result.completions):
        for c in completions:
            expected = _teacher_forced(tiny_policy, prompt_ids, c.token_ids, params.temperature)
            assert torch.allclose(torch.tensor(c.logprobs), expected, atol=1e-4)


def test_seeded_sampling_is_reproducible_and_seed_dependent(tiny_policy):
    engine = HFEngine(tiny_policy, batch_size=4)
    params = SamplingParams(n=4, temperature=1.0, max_new_tokens=8, seed=11)
    first = engine.generate(PROMPTS, params)
    again = engine.generate(PROMPTS, params)
    other = engine.generate(PROMPTS, dataclasses.replace(params, seed=12))
    texts = lambda r: [[c.text for c in cs] for cs in r.completions]  # noqa: E731
    assert texts(first) == texts(again)
    assert texts(first) != texts(other)


# Different lengths, and the first is a prefix of another: batching pads them differently.
SEEDED_PROMPTS = [*PROMPTS, "What is 3 + 4 ? Reply with only the final number ."]


def seeded_ids(result) -> list[list[list[int]]]:
    return [[c.token_ids for c in cs] for cs in result.completions]


def test_seeded_samples_do_not_depend_on_the_batch_size(tiny_policy):
    # Batch 1 decodes every row alone; 7 splits a prompt's 6 samples across batches and mixes
    # prompts; 64 decodes all 24 rows together.
    params = SamplingParams(n=6, temperature=1.0, max_new_tokens=12, seed=5)
    results = [HFEngine(tiny_policy, batch_size=b).generate(SEEDED_PROMPTS, params) for b in (1, 7, 64)]
    first = results[0]
    for other in results[1:]:
        assert seeded_ids(other) == seeded_ids(first)
        assert [[c.text for c in cs] for cs in other.completions] == [[c.text for c in cs] for cs in first.completions]
        for cs, os in zip(first.completions, other.completions):
            for c, o in zip(cs, os):
                assert o.finish_reason == c.finish_reason
                assert torch.allclose(torch.tensor(o.logprobs), torch.tensor(c.logprobs), atol=1e-4)
    assert len({tuple(ids) for cs in seeded_ids(first) for ids in cs}) > 12  # really sampled, not near-greedy


def test_seeded_samples_do_not_depend_on_prompt_order(tiny_policy):
    engine = HFEngine(tiny_policy, batch_size=7)
    params = SamplingParams(n=6, temperature=1.0, max_new_tokens=12, seed=5)
    forward = engine.generate(SEEDED_PROMPTS, params)
    backward = engine.generate(SEEDED_PROMPTS[::-1], params)
    assert seeded_ids(backward)[::-1] == seeded_ids(forward)
    alone = engine.generate(SEEDED_PROMPTS[2:3], params)  # nor on the other prompts in the call
    assert seeded_ids(alone) == seeded_ids(forward)[2:3]


def test_identical_prompts_in_one_call_get_different_samples(tiny_policy):
    params = SamplingParams(n=6, temperature=1.0, max_new_tokens=12, seed=5)
    twice = HFEngine(tiny_policy, batch_size=64).generate([PROMPTS[0], PROMPTS[0]], params)
    first, second = seeded_ids(twice)
    assert first != second
    assert len(set(map(tuple, first))) > 1  # the samples of one prompt differ from each other too
    # The first copy is the prompt's samples in any call; the second is a new set.
    assert seeded_ids(HFEngine(tiny_policy, batch_size=64).generate(PROMPTS[:1], params)) == [first]


def test_a_different_seed_gives_different_samples(tiny_policy):
    engine = HFEngine(tiny_policy, batch_size=64)
    params = SamplingParams(n=6, temperature=1.0, max_new_tokens=12, seed=5)
    a = seeded_ids(engine.generate(SEEDED_PROMPTS, params))
    b = seeded_ids(engine.generate(SEEDED_PROMPTS, dataclasses.replace(params, seed=6)))
    assert all(x != y for x, y in zip(a, b))  # every prompt's samples change


def test_a_longer_max_new_tokens_extends_the_same_samples(tiny_policy):
    # Each row's stream is drawn up front for max_new_tokens steps; a longer draw has the same prefix.
    engine = HFEngine(tiny_policy, batch_size=64)
    short = engine.generate(SEEDED_PROMPTS, SamplingParams(n=3, max_new_tokens=6, seed=5))
    long = engine.generate(SEEDED_PROMPTS, SamplingParams(n=3, max_new_tokens=12, seed=5))
    for short_ids, long_ids in zip(seeded_ids(short), seeded_ids(long)):
        assert short_ids == [longer[: len(ids)] for ids, longer in zip(short_ids, long_ids)]


def test_top_k_one_is_greedy(tiny_policy):
    engine = HFEngine(tiny_policy, batch_size=8)
    sampled = engine.generate(PROMPTS, SamplingParams(n=2, temperature=1.0, top_k=1, max_new_tokens=6))
    greedy = engine.generate(PROMPTS, SamplingParams(n=2, temperature=0, max_new_tokens=6))
    assert [[c.token_ids for c in cs] for cs in sampled.completions] == [
        [c.token_ids for c in cs] for cs in greedy.completions
    ]


def test_tiny_top_p_is_greedy(tiny_policy):
    engine = HFEngine(tiny_policy, batch_size=8)
    nucleus = engine.generate(PROMPTS, SamplingParams(n=2, temperature=1.0, top_p=1e-6, max_new_tokens=6))
    greedy = engine.generate(PROMPTS, SamplingParams(n=2, temperature=0, max_new_tokens=6))
    assert [[c.token_ids for c in cs] for cs in nucleus.completions] == [
        [c.token_ids for c in cs] for cs in greedy.completions
    ]


def test_rows_stop_at_eos_and_leave_the_batch(tiny_policy):
    # Declare the 3rd greedy token of the first prompt an EOS token: that row must stop there,
    # the others (different prompts) keep going, and EOS is not part of the text.
    third = reference_greedy(tiny_policy, PROMPTS[0], 3)[2]
    policy = dataclasses.replace(tiny_policy, eos_token_ids=frozenset({third}))
    result = HFEngine(policy, batch_size=8).generate(PROMPTS, SamplingParams(n=2, temperature=0, max_new_tokens=10))
    for c in result.completions[0]:
        assert c.finish_reason == "stop"
        assert len(c.token_ids) == 3 and c.token_ids[-1] == third
        assert c.text == policy.decode(c.token_ids[:-1])
    for cs in result.completions[1:]:
        for c in cs:
            assert third not in c.token_ids[:-1]
            assert c.finish_reason == ("stop" if c.token_ids[-1] == third else "length")
    assert result.new_tokens == sum(len(c.token_ids) for cs in result.completions for c in cs)
    assert result.tokens_per_s > 0


def test_progress_reports_every_sample(tiny_policy):
    seen = []
    HFEngine(tiny_policy, batch_size=4).generate(
        PROMPTS, SamplingParams(n=3, max_new_tokens=4), progress=lambda s, t: seen.append((s, t))
    )
    assert sum(s for s, _ in seen) == 9 and all(t > 0 for _, t in seen)


def test_auto_batch_size_respects_the_memory_budget(tiny_policy):
    small = HFEngine(tiny_policy, memory_gb=1e-4)._rows_per_batch(100, SamplingParams(max_new_tokens=100))
    large = HFEngine(tiny_policy, memory_gb=8)._rows_per_batch(100, SamplingParams(max_new_tokens=100))
    assert 1 <= small < large <= 256


def test_out_of_memory_is_one_clear_error(tiny_policy, monkeypatch):
    def boom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(tiny_policy.model, "forward", boom)
    with pytest.raises(ModelError, match="ran out of memory.*lower --batch-size"):
        HFEngine(tiny_policy, batch_size=8).generate(PROMPTS, SamplingParams(n=2, max_new_tokens=4))


@pytest.mark.parametrize(
    "kwargs", [{"n": 0}, {"temperature": -1}, {"top_p": 0}, {"top_k": -1}, {"max_new_tokens": 0}]
)
def test_bad_sampling_params_raise_config_errors(kwargs):
    with pytest.raises(ConfigError):
        SamplingParams(**kwargs)


def test_bad_batch_size_raises(tiny_policy):
    with pytest.raises(ConfigError):
        HFEngine(tiny_policy, batch_size=0)


def test_sampling_follows_the_tempered_distribution_with_top_k_and_top_p():
    from rlvr.models.sampler import _sample

    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0]]).repeat(40_000, 1)
    generator = torch.Generator().manual_seed(0)
    cases = [
        (SamplingParams(temperature=1.0), torch.softmax(logits[0], -1)),
        (SamplingParams(temperature=2.0), torch.softmax(logits[0] / 2, -1)),
        (SamplingParams(top_k=2), torch.tensor([0, 0, 1 / (1 + torch.e), torch.e / (1 + torch.e)])),
        # top_p keeps the smallest prefix of the sorted distribution reaching p: here tokens 3 and 2.
        (SamplingParams(top_p=0.8), torch.tensor([0, 0, 1 / (1 + torch.e), torch.e / (1 + torch.e)])),
    ]
    for params, expected in cases:
        token, logp = _sample(logits, params, torch.rand(len(logits), generator=generator))
        freq = torch.bincount(token, minlength=4).float() / len(token)
        assert torch.allclose(freq, expected.float(), atol=0.01), (params, freq, expected)
        full = torch.log_softmax(logits[0] / params.temperature, -1)  # logprobs ignore truncation
        assert torch.allclose(logp, full[token])


def test_sampling_raises_no_future_or_deprecation_warning_from_transformers(tiny_policy):
    """transformers 5.x renamed forward's `past_key_values` to `cache` and warns on the old name; the
    sampler passes whichever name the installed version takes, so a user never sees the warning."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        HFEngine(tiny_policy, batch_size=4).generate(PROMPTS, SamplingParams(n=2, max_new_tokens=4, seed=1))
    noisy = [f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, (FutureWarning,
                                                                                            DeprecationWarning))]
    assert noisy == []


@pytest.mark.parametrize("batch_size", [1, 3, 64])  # a prompt's samples split over batches, or all in one
def test_finished_hears_of_each_prompt_once_with_all_its_samples(tiny_policy, batch_size):
    heard: list[tuple[int, list]] = []
    result = HFEngine(tiny_policy, batch_size=batch_size).generate(
        PROMPTS, SamplingParams(n=2, max_new_tokens=4, seed=2),
        finished=lambda indices, groups: heard.extend(zip(indices, groups)))
    assert sorted(i for i, _ in heard) == [0, 1, 2]
    for i, group in heard:
        assert [c.token_ids for c in group] == [c.token_ids for c in result.completions[i]]



def test_bf16_sampling_gives_a_bf16_samplers_logprobs_reproducibly(tiny_policy):
    """A bf16 sampler's log-probs are the bf16 forward's, not the float32 model's: the gap the trainer's
    mismatch correction measures. Seeded, it repeats itself exactly."""
    params = SamplingParams(n=2, temperature=0.7, max_new_tokens=8, seed=3)
    engine = HFEngine(tiny_policy, batch_size=4, precision="bf16")
    result = engine.generate(PROMPTS[:2], params)
    assert [[c.token_ids for c in cs] for cs in engine.generate(PROMPTS[:2], params).completions] \
        == [[c.token_ids for c in cs] for cs in result.completions]
    gaps = []
    for prompt_ids, completions in zip(result.prompt_token_ids, result.completions):
        for c in completions:
            sampled = torch.tensor(c.logprobs)
            bf16 = _teacher_forced(tiny_policy, prompt_ids, c.token_ids, params.temperature, bf16=True)
            fp32 = _teacher_forced(tiny_policy, prompt_ids, c.token_ids, params.temperature)
            assert torch.allclose(sampled, bf16, atol=0.05)  # bf16 rounding of a cached vs a full forward
            gaps.append((sampled - fp32).abs().max().item())
    assert max(gaps) > 1e-4  # not the float32 model's log-probs
    assert next(tiny_policy.model.parameters()).dtype == torch.float32  # the weights stay float32


def test_make_engine_passes_the_sampling_precision(tiny_policy):
    from rlvr.models import make_engine

    assert make_engine("hf", tiny_policy, precision="bf16").bf16
    assert not make_engine("hf", tiny_policy).bf16
    with pytest.raises(ConfigError, match="sampling precision 'fp16'"):
        make_engine("hf", tiny_policy, precision="fp16")
