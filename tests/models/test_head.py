"""The fused head against the model's own lm_head: the same log-probabilities and gradients, without logits."""

from __future__ import annotations

import copy

import pytest
import torch

from conftest import grouped_micro, make_tiny_policy, tiny_causal_lm
from rlvr.models import logprobs
from rlvr.models.head import fused_head, head_logprobs
from rlvr.models.logprobs import token_logprobs
from rlvr.train.runtime.precision import autocast


def _micro(rows: int = 3, width: int = 6, span: int = 5) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 120, (rows, width + span), generator=generator)
    attention = torch.ones_like(ids)
    attention[0, :2] = 0  # a left-padded prompt
    return {"input_ids": ids, "attention": attention, "positions": (attention.cumsum(-1) - 1).clamp(min=0),
            "completion": ids[:, width:]}


def _plain(model, micro, temperature, bf16):
    span = micro["completion"].shape[1]
    with autocast(bf16, "cpu"):
        logits = model(input_ids=micro["input_ids"], attention_mask=micro["attention"],
                       position_ids=micro["positions"], logits_to_keep=span + 1).logits[:, :-1]
    return token_logprobs(logits, micro["completion"], temperature)


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("block", [1 << 24, 200])  # everything in one block, or one position per block
def test_fused_head_matches_the_models_own_head(monkeypatch, bf16, block):
    monkeypatch.setattr(logprobs, "CHUNK_ELEMENTS", block)
    model = make_tiny_policy().model.train()
    assert fused_head(model) is not None
    other = copy.deepcopy(model)
    micro, weights = _micro(), torch.randn(3, 5, generator=torch.Generator().manual_seed(1))
    fused = head_logprobs(model, micro, 0.8, torch.bfloat16 if bf16 else None)
    plain = _plain(other, micro, 0.8, bf16)
    tolerance = 2e-2 if bf16 else 1e-5  # bf16: the same products in another order, 8 significant bits
    torch.testing.assert_close(fused, plain, rtol=0, atol=tolerance)
    (fused * weights).sum().backward()
    (plain * weights).sum().backward()
    for (name, a), b in zip(model.named_parameters(), other.parameters()):
        relative = ((a.grad - b.grad).norm() / b.grad.norm().clamp(min=1e-12)).item()
        assert relative <= (2e-2 if bf16 else 1e-5), (name, relative)


def test_a_head_with_a_bias_or_soft_capping_is_not_fused():
    model = make_tiny_policy().model
    model.config.final_logit_softcapping = 30.0
    assert fused_head(model) is None


# --- models that change their logits after the projection: refused, statically or by the first-batch check ------

def _tiny_micro() -> dict[str, torch.Tensor]:
    micro = _micro(rows=2, width=6, span=4)
    micro["input_ids"] = micro["input_ids"] % 120 + 5  # inside the tiny vocabulary of 128
    micro["completion"] = micro["input_ids"][:, 6:]
    return micro


def _tiny_grouped_micro() -> dict[str, torch.Tensor]:
    """Three rows: two samples of one prompt (completions of 4 and 2 tokens) and one of a shorter prompt."""
    micro = _tiny_micro()
    ids = torch.cat([micro["input_ids"][:1], micro["input_ids"][:1], micro["input_ids"][1:]])
    ids[1, 6:] = ids[1, 6:].flip(0)  # the second sample of the first prompt: other completion tokens
    attention = torch.ones_like(ids)
    attention[2, :3] = 0  # a shorter, left-padded prompt
    attention[1, 8:] = 0  # a shorter, right-padded completion
    mask = attention[:, 6:].float()
    return {"input_ids": ids, "attention": attention, "positions": (attention.cumsum(-1) - 1).clamp(min=0),
            "completion": ids[:, 6:], "mask": mask, "prompt_index": torch.tensor([0, 0, 1])}


@pytest.mark.parametrize(("model_type", "key", "value"), [
    ("granite", "logits_scaling", 8.0),  # the case: 5.24 nats a token off with the fused head
    ("granitemoe", "logits_scaling", 8.0),
    ("falcon_h1", "lm_head_multiplier", 0.25),  # the other case
    ("cohere", "logit_scale", 0.0625),
    ("gemma2", "final_logit_softcapping", 30.0),
    ("nanochat", "final_logit_softcapping", 15.0),
])
def test_a_model_that_scales_its_logits_is_not_fused(model_type, key, value):
    model = tiny_causal_lm(model_type, **{key: value})
    assert fused_head(model) is None


@pytest.mark.parametrize("model_type", ["granite", "granitemoe"])
def test_the_first_batch_check_catches_a_scale_the_static_rule_does_not_know(monkeypatch, model_type):
    from rlvr.models import head

    model = tiny_causal_lm(model_type, logits_scaling=8.0)
    monkeypatch.setattr(head, "LOGIT_TRANSFORMS", {})  # as for an architecture that is not in the table yet
    assert fused_head(model) is not None
    reason = head.fused_head_mismatch(model, _tiny_micro(), 1.0, None)
    assert reason is not None and "differ" in reason
    assert head.fused_head_mismatch(tiny_causal_lm(model_type), _tiny_micro(), 1.0, None) is None  # scale 1


def test_every_tiny_causal_lm_is_fused_exactly_or_refused():
    """Every causal-LM architecture transformers ships that builds at tiny sizes: the fused head gives the model's
    own log-probs (float32), or it is refused, by the static rule or by the trainer's first-batch check; where it
    is fused, running each distinct prompt once (optim.share_prompts) gives the same log-probs or is refused by
    its own first-batch check. The
    issue's and the commonest architectures go first. Every architecture is tried on every run (about 60 s on
    2 idle cores), so the set checked does not depend on the machine's load."""
    import warnings

    import transformers
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    from rlvr.models.head import fused_head_mismatch, shared_prompt_logprobs, shared_prompt_mismatch

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    outcomes: dict[str, str] = {}
    shared: dict[str, str] = {}
    first = ["granite", "granitemoe", "falcon_h1", "llama", "qwen2", "qwen3", "gemma", "gemma2", "cohere", "mistral"]
    try:
        for model_type in first + sorted(set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES) - set(first)):
            micro = _tiny_micro()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = tiny_causal_lm(model_type)
                    plain = _plain(model, micro, 1.0, False)  # the model's own head must run to compare
            except Exception as exc:  # extra packages, sub-configs, sizes it cannot take: recorded, counted
                outcomes[model_type] = f"skipped: {type(exc).__name__}"
                continue
            if fused_head(model) is None:
                outcomes[model_type] = "refused by the static rule"
            elif (reason := fused_head_mismatch(model, micro, 1.0, None)) is not None:
                outcomes[model_type] = f"refused by the first-batch check: {reason}"
            else:
                fused = head_logprobs(model, micro, 1.0, None)
                torch.testing.assert_close(fused, plain, rtol=0, atol=1e-4, msg=model_type)
                outcomes[model_type] = "fused, exact"
                # each distinct prompt once (optim.share_prompts): exact, or refused by its first-batch check
                grouped = _tiny_grouped_micro()
                if (reason := shared_prompt_mismatch(model, grouped, 1.0, None)) is not None:
                    shared[model_type] = f"refused by the first-batch check: {reason}"
                    continue
                mask = grouped["mask"].bool()
                torch.testing.assert_close(shared_prompt_logprobs(model, grouped, 1.0, None)[mask],
                                           head_logprobs(model, grouped, 1.0, None)[mask], rtol=0, atol=1e-4,
                                           msg=model_type)
                shared[model_type] = "shared, exact"
    finally:
        transformers.logging.set_verbosity(verbosity)
    checked = [m for m, outcome in outcomes.items() if not outcome.startswith("skipped")]
    assert len(checked) >= 20, outcomes
    assert sum(o == "fused, exact" for o in outcomes.values()) >= 20, outcomes
    for model_type in first:
        assert model_type in checked, outcomes[model_type]
    assert sum(o == "shared, exact" for o in shared.values()) >= 20, shared
    for model_type in ("llama", "qwen2", "qwen3", "gemma", "mistral"):
        assert shared[model_type] == "shared, exact", shared[model_type]


# --- accumulating: the update's micro-batches add the head weight's gradient straight into .grad -----------------

def _tied(tied: bool):
    model = make_tiny_policy().model.train()
    if tied:  # SmolLM2's layout: the input embedding is the head's weight
        model.lm_head.weight = model.model.embed_tokens.weight
    return model


def _grouped_micros():
    """Two micro-batches of groups, every one with a completion longer than a token (two embedding passes each
    with shared prompts)."""
    return [grouped_micro(((3, 1, 2), (2, 4)), (4, 6), seed=2),
            grouped_micro(((1, 5), (2,), (3, 3)), (5, 4, 7), seed=3)]


def _backward_all(model, micros, shared, dtype):
    from rlvr.models.head import shared_prompt_logprobs

    for i, micro in enumerate(micros):
        logp = (shared_prompt_logprobs if shared else head_logprobs)(model, micro, 0.8, dtype)
        weights = torch.randn(micro["mask"].shape, generator=torch.Generator().manual_seed(10 + i))
        (logp * weights * micro["mask"]).sum().backward()


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("shared", [True, False])  # shared prompts: two embedding passes a micro-batch
@pytest.mark.parametrize("bf16", [False, True])
def test_accumulating_gives_the_gradients_of_plain_backward_passes(monkeypatch, tied, shared, bf16):
    from torch.profiler import profile

    from rlvr.models import head
    from rlvr.models.head import accumulating

    monkeypatch.setattr(head, "ADD_ROWS", 64)  # the tiny vocabulary (153) in three blocks, as SmolLM2's in twelve

    model = _tied(tied)
    other = copy.deepcopy(model)
    micros, dtype = _grouped_micros(), torch.bfloat16 if bf16 else None
    vocab, hidden = model.lm_head.weight.shape
    with profile(record_shapes=True) as prof, accumulating(model):
        _backward_all(model, micros, shared, dtype)
    _backward_all(other, micros, shared, dtype)
    assert not model.model.embed_tokens.sparse  # restored
    for (name, a), b in zip(model.named_parameters(), other.parameters()):
        assert a.grad is not None and not a.grad.is_sparse and a.grad.dtype == a.dtype, name
        relative = ((a.grad - b.grad).norm() / b.grad.norm().clamp(min=1e-12)).item()
        assert relative <= 1e-6, (name, relative)  # the same sums in another order
    # What the block is for: no (V, H) matrix zero-filled for a tied embedding, and no (V, H) cast but the weight's
    # one for all micro-batches and the float32 gradient the first micro-batch's product becomes.
    events = [e for e in prof.events() if e.input_shapes and e.input_shapes[0] == [vocab, hidden]]
    fills = [e for e in events if e.name == "aten::zero_"]
    passes = len(micros) * (2 if shared else 1)  # embedding passes: an untied one zero-fills its dense gradient
    assert len(fills) == (0 if tied else passes)
    casts = [e for e in events if e.name == "aten::_to_copy"]
    assert len(casts) == (2 if bf16 else 0)


def test_without_accumulating_the_head_returns_its_gradient_to_autograd():
    model = _tied(True)
    micro = _grouped_micros()[0]
    logp = head_logprobs(model, micro, 1.0, None)
    grads = torch.autograd.grad((logp * micro["mask"]).sum(), [model.lm_head.weight])
    assert grads[0].abs().sum() > 0 and model.lm_head.weight.grad is None
