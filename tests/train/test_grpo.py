"""The GRPO maths: advantages, clipping, KL, gradient signs, aggregation, reward shaping, pruning."""

from __future__ import annotations

import pytest
import torch

from rlvr.train.objectives.grpo import (
    group_advantages,
    grpo_loss,
    kept_advantages,
    prune_rollouts,
    shape_rewards,
)
from rlvr.models.logprobs import token_entropy, token_logprobs


def test_four_right_four_wrong_gives_exactly_plus_and_minus_one():
    rewards = torch.tensor([[1.0, 1, 1, 1, 0, 0, 0, 0]])
    advantages, metrics = group_advantages(rewards)
    assert advantages.tolist() == [[1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0]]
    assert metrics["groups/informative_frac"] == 1.0


def test_median_baseline_and_no_std_scaling():
    rewards = torch.tensor([[0.0, 0.0, 1.0, 1.0, 1.0]])
    advantages, _ = group_advantages(rewards, baseline="median", scale_by_std=False)
    assert advantages.tolist() == [[-1.0, -1.0, 0.0, 0.0, 0.0]]
    mean_adv, _ = group_advantages(rewards, baseline="mean", scale_by_std=False)
    assert mean_adv[0, 0].item() == pytest.approx(-0.6)


def test_zero_variance_groups_are_counted_and_give_zero_advantage():
    rewards = torch.tensor([[1.0, 1, 1, 1], [0.0, 0, 0, 0], [1.0, 0, 0, 0]])
    advantages, metrics = group_advantages(rewards)
    assert advantages[:2].abs().sum() == 0
    assert metrics["groups/informative_frac"] == pytest.approx(1 / 3)
    assert metrics["groups/all_zero_frac"] == pytest.approx(1 / 3)
    assert metrics["groups/all_one_frac"] == pytest.approx(1 / 3)


def rollout(batch=4, tokens=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    old = -torch.rand(batch, tokens, generator=generator) - 0.5
    logp = (old + 0.1 * torch.randn(batch, tokens, generator=generator)).requires_grad_()
    mask = torch.ones(batch, tokens)
    mask[0, 3:] = 0  # a shorter completion
    return logp, old, mask


def test_zero_variance_groups_give_zero_gradient():
    rewards = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    advantages, _ = group_advantages(rewards)
    logp, old, mask = rollout()
    loss, _ = grpo_loss(logp, old, advantages.flatten(), mask)
    loss.backward()
    assert torch.count_nonzero(logp.grad) == 0


def test_gradient_pushes_positive_advantage_tokens_up_and_negative_down():
    logp, old, mask = rollout()
    logp = old.clone().requires_grad_()  # ratio 1: inside the clip range
    advantages = torch.tensor([1.0, -1.0, 2.0, -0.5])
    loss, _ = grpo_loss(logp, old, advantages, mask)
    loss.backward()
    # Gradient descent moves logp by -grad: up where A > 0, down where A < 0; masked tokens untouched.
    assert (logp.grad[[0, 2]][mask[[0, 2]] > 0] < 0).all()
    assert (logp.grad[[1, 3]][mask[[1, 3]] > 0] > 0).all()
    assert (logp.grad[mask == 0] == 0).all()


def test_clip_limits_hold():
    old = torch.zeros(2, 3)
    # Row 0: A > 0 and ratio e^0.5 > 1 + clip_high; row 1: A < 0 and ratio e^-0.5 < 1 - clip_low.
    logp = torch.tensor([[0.5, 0.5, 0.05], [-0.5, -0.5, -0.05]], requires_grad=True)
    advantages = torch.tensor([1.0, -1.0])
    loss, metrics = grpo_loss(logp, old, advantages, torch.ones(2, 3), clip_low=0.2, clip_high=0.28)
    loss.backward()
    assert logp.grad[0, :2].abs().sum() == 0 and logp.grad[1, :2].abs().sum() == 0  # clipped: no push further
    assert logp.grad[0, 2] < 0 and logp.grad[1, 2] > 0  # inside the range: normal gradient
    assert metrics["clip_frac"] == pytest.approx(4 / 6)


def test_asymmetric_clip_high_lets_good_tokens_rise_further():
    old = torch.zeros(1, 1)
    logp = torch.tensor([[0.25]], requires_grad=True)  # ratio 1.28: above 1.2, below 1.3
    loss, _ = grpo_loss(logp, old, torch.tensor([1.0]), torch.ones(1, 1), clip_low=0.2, clip_high=0.3)
    loss.backward()
    assert logp.grad.item() < 0
    logp.grad = None
    loss, _ = grpo_loss(logp, old, torch.tensor([1.0]), torch.ones(1, 1), clip_low=0.2, clip_high=0.2)
    loss.backward()
    assert logp.grad.item() == 0


def test_kl_is_zero_at_the_reference_and_positive_elsewhere():
    logp, old, mask = rollout()
    _, metrics = grpo_loss(logp, old, torch.zeros(4), mask, ref_logp=logp.detach(), beta=0.1)
    assert metrics["kl"] == pytest.approx(0.0, abs=1e-7)
    _, metrics = grpo_loss(logp, old, torch.zeros(4), mask, ref_logp=old, beta=0.1)
    assert metrics["kl"] > 0


def test_kl_term_pulls_towards_the_reference():
    ref = torch.zeros(1, 2)
    logp = torch.tensor([[0.3, -0.3]], requires_grad=True)
    loss, _ = grpo_loss(logp, logp.detach(), torch.zeros(1), torch.ones(1, 2), ref_logp=ref, beta=1.0)
    loss.backward()
    assert logp.grad[0, 0] > 0 and logp.grad[0, 1] < 0  # descent moves both back towards 0


def test_aggregations_weight_tokens_and_sequences_differently():
    per_token_adv = torch.tensor([1.0, 1.0])
    old = torch.zeros(2, 4)
    mask = torch.tensor([[1.0, 0, 0, 0], [1.0, 1, 1, 1]])
    values = {}
    for aggregation in ["token_mean", "seq_mean", "constant_normaliser"]:
        logp = old.clone().requires_grad_()
        loss, _ = grpo_loss(logp, old, per_token_adv, mask, aggregation=aggregation, max_tokens=8)
        loss.backward()
        values[aggregation] = (loss.item(), logp.grad[0, 0].item(), logp.grad[1, 0].item())
    assert values["token_mean"][0] == pytest.approx(-1.0)
    assert values["token_mean"][1] == pytest.approx(values["token_mean"][2])  # every token equal
    assert values["seq_mean"][1] == pytest.approx(4 * values["seq_mean"][2])  # short answer's token weighs more
    assert values["constant_normaliser"][0] == pytest.approx(-5 / 16)


def test_token_logprobs_and_entropy():
    logits = torch.tensor([[[0.0, 0.0], [10.0, -10.0]]])
    tokens = torch.tensor([[1, 0]])
    assert token_logprobs(logits, tokens)[0, 0].item() == pytest.approx(torch.log(torch.tensor(0.5)).item())
    entropy = token_entropy(logits)
    assert entropy[0, 0].item() == pytest.approx(0.6931, abs=1e-4) and entropy[0, 1].item() < 1e-6


@pytest.mark.parametrize("aggregation", ["token_mean", "seq_mean", "constant_normaliser"])
def test_micro_batches_accumulate_to_the_full_batch_gradient(aggregation):
    from rlvr.train.objectives.grpo import micro_batch_weight

    logp, old, mask = rollout(batch=6, tokens=5, seed=1)
    mask[3, 1:] = 0
    advantages = torch.tensor([1.0, -1.0, 0.5, 2.0, -0.3, 0.0])
    full, _ = grpo_loss(logp, old, advantages, mask, aggregation=aggregation, max_tokens=5)
    (expected,) = torch.autograd.grad(full, logp)
    accumulated = torch.zeros_like(logp)
    for rows in [slice(0, 4), slice(4, 6)]:
        part = logp.detach()[rows].clone().requires_grad_()
        loss, _ = grpo_loss(part, old[rows], advantages[rows], mask[rows], aggregation=aggregation, max_tokens=5)
        weight = micro_batch_weight(aggregation, mask[rows], float(mask.sum()), mask.shape[0])
        (grad,) = torch.autograd.grad(loss * weight, part)
        accumulated[rows] = grad
    assert torch.allclose(accumulated, expected, atol=1e-7)


def test_shaping_zeroes_truncated_answers_and_charges_per_token():
    rewards, truncated = torch.tensor([[1.0, 1.0]]), torch.tensor([[False, True]])
    lengths = torch.tensor([[4.0, 8.0]])
    assert shape_rewards(rewards, truncated, lengths).tolist() == [[1.0, 1.0]]
    assert shape_rewards(rewards, truncated, lengths, zero_truncated=True).tolist() == [[1.0, 0.0]]
    shaped = shape_rewards(rewards, truncated, lengths, length_penalty=0.5, max_tokens=8)
    assert shaped.tolist() == [[0.75, 0.5]] and rewards.tolist() == [[1.0, 1.0]]  # a new tensor


def test_pruning_keeps_the_extremes_of_each_group_and_recentres_on_them():
    rewards = torch.tensor([[0.1, 0.9, 0.5, 0.0, 1.0, 0.4], [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    assert prune_rollouts(rewards, 1.0).all()
    kept = prune_rollouts(rewards, 0.5)  # 3 of 6: the 2 highest and the lowest
    assert kept.tolist() == [[False, True, False, True, True, False], [True, True, False, False, False, True]]
    assert prune_rollouts(rewards, 0.1).sum(-1).tolist() == [2, 2]  # never fewer than 2, one of each end
    advantages = kept_advantages(rewards, kept, {"name": "grpo", "scale_by_std": False})
    assert advantages[0].tolist() == pytest.approx([0.0, 0.9 - 1.9 / 3, 0.0, -1.9 / 3, 1.0 - 1.9 / 3, 0.0])
    assert advantages[1].tolist() == pytest.approx([1 / 3, 1 / 3, 0.0, 0.0, 0.0, -2 / 3])
