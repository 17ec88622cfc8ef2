"""rlvr's GRPO loss against TRL's, on the same batch: loss and gradient must agree (minGPT-style reference test).

TRL's `GRPOTrainer._compute_loss` runs unbound on a small fake trainer whose
`_get_per_token_logps_and_entropies` returns our log-prob tensor, so no model is built; rlvr's side is
`grpo_loss` itself, with the trainer's options. Each row is one (TRL loss_type, rlvr aggregation,
ratio level, extras) case; every loss type runs at both ratio levels (token, and GSPO's sequence) with
each extra: the k3 KL, the entropy bonus, the 80/20 entropy mask (alone and with the bonus), and
sampler/trainer importance weights (TRL's vLLM importance-sampling correction):

    TRL "grpo"    ~ seq_mean               (per-sequence token mean, then mean over sequences)
    TRL "bnpo"    ~ token_mean             (one token mean over the batch)
    TRL "dapo"    ~ token_mean             (tokens of the whole generation batch; one process, no accumulation)
    TRL "dr_grpo" ~ constant_normaliser    (B * max_completion_length)
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from rlvr.train.objectives.grpo import grpo_loss
from rlvr.train.objectives.formulas import high_entropy_mask
from rlvr.train.objectives.variants import MISMATCH_MODES as MISMATCH
from rlvr.train.objectives.variants import RATIO_LEVELS as RATIOS

trl = pytest.importorskip("trl", reason="TRL is the reference implementation (pip install -e '.[test]')")
GRPOTrainer = pytest.importorskip("trl.trainer.grpo_trainer").GRPOTrainer

B, T, MAX_LEN = 6, 7, 9
CLIP_LOW, CLIP_HIGH = 0.2, 0.28


def batch(seed: int = 0):
    """A fixed random batch: ragged completions, ratios both inside and outside the clip range."""
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(B, T, generator=g, dtype=torch.float64) * 3 - 0.1
    logp = old + 0.3 * torch.randn(B, T, generator=g, dtype=torch.float64)
    ref = old + 0.2 * torch.randn(B, T, generator=g, dtype=torch.float64)
    lengths = torch.tensor([7, 3, 5, 1, 6, 4])
    mask = (torch.arange(T)[None, :] < lengths[:, None]).to(torch.float64)
    advantages = torch.randn(B, generator=g, dtype=torch.float64)
    entropy = torch.rand(B, T, generator=g, dtype=torch.float64) * 2
    return logp, old, ref, advantages, mask, entropy


class FakeAccelerator:
    num_processes = 1
    sync_gradients = True

    def gather(self, tensor):
        return tensor

    gather_for_metrics = gather

    def reduce(self, tensor, reduction="sum"):
        return tensor

    def pad_across_processes(self, tensor, dim=0, pad_index=0):
        return tensor


def fake_trainer(*, loss_type, level, beta, entropy_coef, top_entropy_quantile, logp, entropy, weighted=False):
    """The attributes `_compute_loss` reads, with the model's forward replaced by our tensors."""
    trainer = SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *args, **kwargs: (logp, entropy, None),
        model=SimpleNamespace(training=True),
        accelerator=FakeAccelerator(),
        args=SimpleNamespace(use_bias_correction_kl=False, delta=None, steps_per_generation=1),
        _metrics=defaultdict(lambda: defaultdict(list)),
        loss_type=loss_type,
        importance_sampling_level=level,
        beta=beta,
        epsilon_low=CLIP_LOW,
        epsilon_high=CLIP_HIGH,
        max_completion_length=MAX_LEN,
        top_entropy_quantile=top_entropy_quantile,
        off_policy_mask_threshold=None,
        use_vllm=weighted,
        vllm_importance_sampling_correction=weighted,
        aux_loss_enabled=False,
        current_gradient_accumulation_steps=1,
        _entropy_bonus_enabled=entropy_coef != 0.0,
        use_adaptive_entropy=False,
        entropy_coef=entropy_coef,
    )
    trainer.get_high_entropy_mask = lambda *args: GRPOTrainer.get_high_entropy_mask(trainer, *args)
    return trainer


def trl_loss(logp, old, ref, advantages, mask, entropy, *, loss_type, level, beta, entropy_coef, top_quantile,
             weights):
    trainer = fake_trainer(loss_type=loss_type, level=level, beta=beta, entropy_coef=entropy_coef,
                           top_entropy_quantile=top_quantile, logp=logp, entropy=entropy,
                           weighted=weights is not None)
    inputs = {
        "prompt_ids": torch.zeros(B, 2, dtype=torch.long),
        "prompt_mask": torch.ones(B, 2, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long),
        "completion_mask": mask,
        "advantages": advantages,
        "old_per_token_logps": old,
        "ref_per_token_logps": ref,
        "num_items_in_batch": mask.sum(),
    }
    if weights is not None:
        inputs["importance_sampling_ratio"] = weights
    try:
        return GRPOTrainer._compute_loss(trainer, trainer.model, inputs)
    except AttributeError as error:  # a TRL whose _compute_loss reads more than this fake trainer holds
        pytest.skip(f"TRL {trl.__version__}: _compute_loss needs an attribute the fake trainer lacks ({error})")


def rlvr_loss(logp, old, ref, advantages, mask, entropy, *, aggregation, level, beta, entropy_coef, top_quantile,
              weights):
    """The trainer's loss function with the options the trainer passes (algo.ratio_level, algo.entropy_coef, ...)."""
    loss, _ = grpo_loss(logp, old, advantages, mask, ref_logp=ref if beta else None, beta=beta,
                        clip_low=CLIP_LOW, clip_high=CLIP_HIGH, aggregation=aggregation, max_tokens=MAX_LEN,
                        ratio_level=level, weights=weights, entropy=entropy, entropy_coef=entropy_coef,
                        top_entropy_fraction=top_quantile)
    return loss


def mismatch_weights(mode):
    """Importance weights pi_trainer / pi_sampler from a mismatch mode: the batch's old log-probs stand for
    the trainer's, a perturbed copy for the sampler's, so that both the cap and the mask bite."""
    _, old, _, _, mask, _ = batch()
    sampler = old + 0.6 * torch.randn(old.shape, generator=torch.Generator().manual_seed(7), dtype=old.dtype)
    weights, _ = MISMATCH[mode](cap=1.5).weights(old, sampler, mask)
    return weights


PAIRS = [("grpo", "seq_mean"), ("bnpo", "token_mean"), ("dapo", "token_mean"), ("dr_grpo", "constant_normaliser")]
EXTRAS = {  # name -> (beta, entropy_coef, top_quantile, mismatch mode or None)
    "plain": (0.0, 0.0, 1.0, None),
    "kl": (0.04, 0.0, 1.0, None),  # k3 KL to a reference
    "entropy_bonus": (0.0, 0.01, 1.0, None),
    "top_entropy": (0.0, 0.0, 0.2, None),  # the 80/20 mask
    "top_entropy_and_bonus": (0.0, 0.01, 0.2, None),  # the bonus then averages over the kept tokens
    "tis": (0.0, 0.0, 1.0, "tis"),
    "sequence_mask_and_kl": (0.04, 0.0, 1.0, "sequence_mask"),  # the weights leave the KL term alone
}
ROWS = [(trl_type, agg, level, extra) for trl_type, agg in PAIRS for level in ("token", "sequence") for extra in EXTRAS]


@pytest.mark.parametrize("trl_type, aggregation, level, extra", ROWS)
def test_loss_and_gradient_match_trl(trl_type, aggregation, level, extra):
    beta, entropy_coef, top_quantile, mode = EXTRAS[extra]
    weights = None if mode is None else mismatch_weights(mode)
    logp, old, ref, advantages, mask, entropy = batch()
    results = []
    for compute, name in ((trl_loss, trl_type), (rlvr_loss, aggregation)):
        leaf, leaf_entropy = logp.clone().requires_grad_(), entropy.clone().requires_grad_()
        key = "loss_type" if compute is trl_loss else "aggregation"
        loss = compute(leaf, old, ref, advantages, mask, leaf_entropy, level=level, beta=beta,
                       entropy_coef=entropy_coef, top_quantile=top_quantile, weights=weights, **{key: name})
        grads = torch.autograd.grad(loss, [leaf, leaf_entropy], allow_unused=True)
        results.append((loss.detach(), *(torch.zeros_like(logp) if g is None else g for g in grads)))
    (trl_value, trl_grad, trl_entropy_grad), (value, grad, entropy_grad) = results
    assert value.item() == pytest.approx(trl_value.item(), abs=1e-6)
    assert torch.allclose(grad, trl_grad, atol=1e-6)
    assert torch.allclose(entropy_grad, trl_entropy_grad, atol=1e-6)


def test_the_reference_batch_exercises_clipping_at_both_levels():
    logp, old, _, advantages, mask, _ = batch()
    for level in ("token", "sequence"):
        ratio = RATIOS[level]().ratio(logp, old, mask)
        adv = advantages[:, None]
        clipped = ((ratio < 1 - CLIP_LOW) & (adv < 0)) | ((ratio > 1 + CLIP_HIGH) & (adv > 0))
        inside = (ratio > 1 - CLIP_LOW) & (ratio < 1 + CLIP_HIGH)
        assert (clipped & (mask > 0)).any() and (inside & (mask > 0)).any(), level


@pytest.mark.parametrize("top_quantile", [0.2, 0.5, 0.9])
def test_high_entropy_mask_matches_trl(top_quantile):
    _, _, _, _, mask, entropy = batch(seed=1)
    trainer = SimpleNamespace(accelerator=FakeAccelerator())
    expected = GRPOTrainer.get_high_entropy_mask(trainer, entropy, mask, 1 - top_quantile)
    assert torch.equal(high_entropy_mask(entropy, mask, top_quantile), expected)
