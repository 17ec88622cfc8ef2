"""objectives.py wired into grpo.py: every new option of grpo_loss and of the advantage estimators,
against hand computations; the defaults are plain GRPO (test_grpo.py runs unchanged)."""

from __future__ import annotations

import math

import pytest
import torch

from rlvr.train.objectives.grpo import (
    estimate_advantages,
    group_advantages,
    grpo_loss,
    kept_advantages,
    prune_rollouts,
)
from rlvr.train.objectives.variants import ADVANTAGES as ADVANTAGE_ESTIMATORS
from rlvr.train.objectives.variants import ENTROPY_CONTROLS
from rlvr.train.objectives.variants import MISMATCH_MODES as MISMATCH
from rlvr.train.objectives.variants import RATIO_LEVELS as RATIOS


def estimator(name, **options):
    """An advantage estimator as a config names it: the variant `name` with those of `options` it takes (the
    others belong to other estimators); pass_k is pass_at_k's k."""
    options = {"k" if key == "pass_k" else key: value for key, value in options.items()}
    cls = ADVANTAGE_ESTIMATORS[name]
    return cls(**{key: value for key, value in options.items() if key in cls.__dataclass_fields__})


def batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(4, 5, generator=g, dtype=torch.float64) - 0.5
    logp = old + 0.2 * torch.randn(4, 5, generator=g, dtype=torch.float64)
    mask = torch.ones(4, 5, dtype=torch.float64)
    mask[0, 3:] = 0
    advantages = torch.tensor([1.0, -1.0, 0.5, -0.5], dtype=torch.float64)
    entropy = torch.rand(4, 5, generator=g, dtype=torch.float64)
    return logp, old, advantages, mask, entropy


def test_the_defaults_are_the_old_loss_bit_for_bit():
    logp, old, advantages, mask, _ = batch()
    plain, plain_metrics = grpo_loss(logp, old, advantages, mask)
    explicit, metrics = grpo_loss(logp, old, advantages, mask, ratio_level="token", entropy_control="none",
                                  weights=None, entropy=None, entropy_coef=0.0, top_entropy_fraction=1.0)
    ratio = torch.exp(logp - old)
    adv = advantages[:, None]
    by_hand = -torch.minimum(ratio * adv, ratio.clamp(0.8, 1.2) * adv)
    assert torch.equal(plain, explicit) and plain.item() == ((by_hand * mask).sum() / mask.sum()).item()
    assert set(plain_metrics) == set(metrics) == {"loss", "kl", "clip_frac", "ratio/mean"}


def test_sequence_ratio_clips_whole_completions():
    logp, old, advantages, mask, _ = batch()
    loss, metrics = grpo_loss(logp, old, advantages, mask, ratio_level="sequence", aggregation="seq_mean")
    s = RATIOS["sequence"]().ratio(logp, old, mask)[:, 0]  # (B,)
    per_row = -torch.minimum(s * advantages, s.clamp(0.8, 1.2) * advantages)
    assert loss.item() == pytest.approx(per_row.mean().item())
    assert metrics["ratio/mean"] == pytest.approx(((s[:, None] * mask).sum() / mask.sum()).item())


def test_importance_weights_scale_the_policy_term_but_not_the_kl():
    logp, old, advantages, mask, _ = batch()
    ref = old + 0.1
    weights = torch.full_like(logp, 0.5)
    weighted, _ = grpo_loss(logp, old, advantages, mask, ref_logp=ref, beta=0.1, weights=weights)
    policy, _ = grpo_loss(logp, old, advantages, mask)
    kl_only = grpo_loss(logp, old, advantages, mask, ref_logp=ref, beta=0.1)[0] - policy
    assert weighted.item() == pytest.approx(0.5 * policy.item() + kl_only.item())


def test_mismatch_weights_from_the_table_reach_the_loss():
    logp, old, advantages, mask, _ = batch()
    sampler = old + torch.tensor([0.0, 0.1, -2.0, 0.0, 0.0], dtype=torch.float64)  # token 2: ratio e^2 > cap
    weights, metrics = MISMATCH["tis"](cap=3.0).weights(old, sampler, mask)
    assert weights[:, 2].tolist() == [3.0] * 4 and metrics["mismatch/masked_frac"] == 0.0
    masked, metrics = MISMATCH["token_mask"](cap=3.0).weights(old, sampler, mask)
    assert masked[:, 2].tolist() == [0.0] * 4 and metrics["mismatch/masked_frac"] == pytest.approx(4 / 18)
    assert masked[:, 1].tolist() == pytest.approx([math.exp(-0.1)] * 4)  # inside the cap: the ratio itself
    loss, _ = grpo_loss(logp, old, advantages, mask, weights=masked)
    ratio, adv = torch.exp(logp - old), advantages[:, None]
    by_hand = -torch.minimum(ratio * adv, ratio.clamp(0.8, 1.2) * adv) * masked
    assert loss.item() == pytest.approx(((by_hand * mask).sum() / mask.sum()).item())


def test_entropy_bonus_is_subtracted_after_the_aggregation():
    logp, old, advantages, mask, entropy = batch()
    entropy = entropy.clone().requires_grad_()
    loss, metrics = grpo_loss(logp, old, advantages, mask, entropy=entropy, entropy_coef=0.01,
                              aggregation="constant_normaliser", max_tokens=8)
    plain, _ = grpo_loss(logp, old, advantages, mask, aggregation="constant_normaliser", max_tokens=8)
    mean_entropy = (entropy.detach() * mask).sum() / mask.sum()
    assert loss.item() == pytest.approx(plain.item() - 0.01 * mean_entropy.item())
    assert metrics["entropy/mean"] == pytest.approx(mean_entropy.item())
    (grad,) = torch.autograd.grad(loss, entropy)
    assert torch.allclose(grad, -0.01 * mask / mask.sum())


def test_top_entropy_fraction_trains_only_the_high_entropy_tokens():
    logp, old, advantages, mask, _ = batch()
    entropy = torch.arange(20, dtype=torch.float64).view(4, 5)  # row 3 holds the highest entropies
    leaf = old.clone().requires_grad_()  # ratio 1: no token is clipped, so every trained token has a gradient
    loss, metrics = grpo_loss(leaf, old, advantages, mask, entropy=entropy, top_entropy_fraction=0.25)
    (grad,) = torch.autograd.grad(loss, leaf)
    assert grad[:3].abs().sum() == 0 and (grad[3] != 0).all()
    assert metrics["entropy/trained_frac"] == pytest.approx(5 / 18)
    # The bonus then averages over the trained tokens, as TRL's effective mask.
    _, with_bonus = grpo_loss(logp, old, advantages, mask, entropy=entropy, top_entropy_fraction=0.25,
                              entropy_coef=0.1)
    assert with_bonus["entropy/mean"] == pytest.approx(17.0)


@pytest.mark.parametrize("control, keys", [
    ("clip_cov", {"entropy_control/selected_frac", "entropy_control/candidate_frac"}),
    ("kl_cov", {"entropy_control/selected_frac", "entropy_control/abs_kl"}),
])
def test_entropy_control_entries_replace_the_clipped_objective(control, keys):
    logp, old, advantages, mask, _ = batch()
    options = {"cov_fraction": 0.2, "cov_bounds": (-10.0, 10.0)} if control == "clip_cov" else {"cov_fraction": 0.2}
    loss, metrics = grpo_loss(logp, old, advantages, mask, entropy_control=ENTROPY_CONTROLS[control](**options),
                              generator=torch.Generator().manual_seed(0))
    plain, _ = grpo_loss(logp, old, advantages, mask)
    assert keys <= set(metrics) and loss.item() != pytest.approx(plain.item())


# --- advantages ------------------------------------------------------------------------------------------------

R = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])


def test_grpo_estimator_is_group_advantages_itself():
    for baseline in ("mean", "median"):
        for scale in (True, False):
            (got, got_metrics), (want, want_metrics) = (
                estimate_advantages(R, estimator("grpo", baseline=baseline, scale_by_std=scale, pass_k=2)),
                group_advantages(R, baseline, scale))
            assert torch.equal(got, want) and got_metrics == want_metrics


def test_rloo_baseline_through_group_advantages():
    advantages, _ = group_advantages(R, "rloo", scale_by_std=False)
    assert advantages[0].tolist() == pytest.approx([1.0, -1 / 3, -1 / 3, -1 / 3])  # K/(K-1) times the mean's


@pytest.mark.parametrize("name, options, first_group, informative", [
    ("w_reinforce", {"positive_weight": 0.1}, [0.1, -1.0, -1.0, -1.0], 1.0),  # all-equal groups carry signal
    ("w_reinforce", {"positive_weight": 0.5}, [0.5, -1.0, -1.0, -1.0], 1.0),
    # pass@2 of a group of 4 with 1 correct: R = 1/2, sigma = 1/2, A+ = 1, A- = (1 - 1/2 - 2/3) / (1/2) = -1/3
    ("pass_at_k", {"pass_k": 2}, [1.0, -1 / 3, -1 / 3, -1 / 3], 1 / 3),
    ("pass_at_k", {"pass_k": 1}, [math.sqrt(3), -1 / math.sqrt(3), -1 / math.sqrt(3), -1 / math.sqrt(3)], 1 / 3),
])
def test_other_estimators(name, options, first_group, informative):
    advantages, metrics = estimate_advantages(R, estimator(name, baseline="mean", scale_by_std=True, **options))
    assert advantages[0].tolist() == pytest.approx(first_group, abs=1e-6)
    assert metrics["groups/informative_frac"] == pytest.approx(informative)
    assert metrics["groups/all_one_frac"] == metrics["groups/all_zero_frac"] == pytest.approx(1 / 3)


def test_every_estimator_reads_only_its_own_options():
    everything = {"baseline": "mean", "scale_by_std": True, "positive_weight": 0.1, "pass_k": 2,
                  "false_negative_rate": 0.1}
    for name in ADVANTAGE_ESTIMATORS:
        advantages, _ = estimate_advantages(R, estimator(name, **everything), (None, everything["false_negative_rate"]))
        assert advantages.shape == R.shape


def test_kept_advantages_use_the_estimator_on_the_kept_rollouts():
    rewards = torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0, 1.0]])
    kept = prune_rollouts(rewards, 4 / 6)  # the two highest (0, 2) and the two lowest (3, 4)
    got = kept_advantages(rewards, kept, estimator("w_reinforce", positive_weight=0.2))
    assert got[0].tolist() == pytest.approx([0.2, 0.0, 0.2, -1.0, -1.0, 0.0])
    assert torch.equal(kept_advantages(rewards, kept), kept_advantages(rewards, kept, estimator="grpo"))
