"""PPO's critic maths (rlvr/train/objectives/ppo.py): GAE by hand and against verl's, the value loss, and
grpo_loss with per-token advantages."""

from __future__ import annotations

import pytest
import torch

from rlvr.train.objectives.grpo import grpo_loss
from rlvr.train.objectives.ppo import explained_variance, gae, moments, token_rewards, value_loss, whiten

# (case, gamma, lam, rewards, values, mask, advantages, returns), worked by hand. A masked column (an
# environment's tokens in the middle, padding at the end) passes the next sampled token's value and advantage
# through, so the discount counts sampled tokens only.
GAE_TABLE = [
    ("length 1", 1.0, 1.0, [1.0], [0.5], [1], [0.5], [1.0]),
    ("return minus value", 1.0, 1.0, [0, 0, 1], [0.2, 0.4, 0.6], [1, 1, 1], [0.8, 0.6, 0.4], [1, 1, 1]),
    ("discounted", 0.5, 1.0, [0, 0, 1], [0.2, 0.4, 0.6], [1, 1, 1], [0.05, 0.1, 0.4], [0.25, 0.5, 1.0]),
    ("lambda 0: one-step TD", 1.0, 0.0, [0, 0, 1], [0.2, 0.4, 0.6], [1, 1, 1], [0.2, 0.2, 0.4], [0.4, 0.6, 1.0]),
    ("lambda 0.5", 1.0, 0.5, [0, 0, 1], [0.2, 0.4, 0.6], [1, 1, 1], [0.4, 0.4, 0.4], [0.6, 0.8, 1.0]),
    ("environment tokens in the middle", 1.0, 0.5, [0, 0, 0, 1], [0.2, 9, 9, 0.6], [1, 0, 0, 1],
     [0.6, 0, 0, 0.4], [0.8, 0, 0, 1.0]),
    ("environment tokens, discounted", 0.5, 1.0, [0, 0, 0, 1], [0.2, 9, 9, 0.6], [1, 0, 0, 1],
     [0.3, 0, 0, 0.4], [0.5, 0, 0, 1.0]),
    ("right padding", 1.0, 1.0, [0, 1, 0], [0.5, 0.5, 7], [1, 1, 0], [0.5, 0.5, 0], [1, 1, 0]),
    ("nothing sampled (a masked truncation)", 1.0, 1.0, [0, 0], [0.3, 0.3], [0, 0], [0, 0], [0, 0]),
    ("a KL penalty on every token", 0.9, 0.8, [-0.1, -0.1, 0.9], [0, 0, 0], [1, 1, 1],
     [-0.1 + 0.72 * (-0.1 + 0.72 * 0.9), -0.1 + 0.72 * 0.9, 0.9],
     [-0.1 + 0.72 * (-0.1 + 0.72 * 0.9), -0.1 + 0.72 * 0.9, 0.9]),
]


@pytest.mark.parametrize(("case", "gamma", "lam", "rewards", "values", "mask", "advantages", "returns"),
                         GAE_TABLE, ids=[row[0] for row in GAE_TABLE])
def test_gae_equals_the_hand_computation(case, gamma, lam, rewards, values, mask, advantages, returns):
    got_advantages, got_returns = gae(torch.tensor([rewards], dtype=torch.float64),
                                      torch.tensor([values], dtype=torch.float64), torch.tensor([mask]), gamma, lam)
    assert got_advantages[0].tolist() == pytest.approx(advantages, abs=1e-12)
    assert got_returns[0].tolist() == pytest.approx(returns, abs=1e-12)


def test_gae_rows_are_independent():
    rows = [row for row in GAE_TABLE if len(row[3]) == 3]
    width = 3
    rewards = torch.tensor([row[3] for row in rows], dtype=torch.float64)
    values = torch.tensor([row[4] for row in rows], dtype=torch.float64)
    mask = torch.tensor([row[5] for row in rows])
    advantages, _ = gae(rewards, values, mask, 1.0, 1.0)
    for r, row in enumerate(rows):
        alone, _ = gae(rewards[r : r + 1], values[r : r + 1], mask[r : r + 1], 1.0, 1.0)
        assert advantages[r].tolist() == alone[0].tolist() and len(alone[0]) == width


def test_the_reward_lands_on_the_last_sampled_token_and_the_kl_on_every_one():
    mask = torch.tensor([[1, 0, 0, 1, 0], [1, 1, 1, 1, 1]])
    kl = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5]] * 2)
    rewards, metrics = token_rewards(torch.tensor([2.0, -1.0]), mask)
    assert rewards.tolist() == [[0, 0, 0, 2, 0], [0, 0, 0, 0, -1]] and metrics == {}
    rewards, metrics = token_rewards(torch.tensor([2.0, -1.0]), mask, kl, kl_coef=0.5)
    torch.testing.assert_close(rewards, torch.tensor([[-0.05, 0, 0, 1.8, 0], [-0.05, -0.1, -0.15, -0.2, -1.25]]))
    assert metrics["ppo/kl_penalty"] == pytest.approx((0.05 + 0.2 + 0.75) / 7)


# -- verl's functions, the reference -------------------------------------------------------------------
# Copied from volcengine/verl at commit b178a3cd56f58b2d502255daba591e92833930a7:
# verl/trainer/ppo/core_algos.py (compute_gae_advantage_return, compute_value_loss with agg_loss's
# "token-mean" inlined) and verl/utils/torch_functional.py (masked_mean, masked_var, masked_whiten).


def verl_masked_mean(values, mask, axis=None):
    s = (values * mask).sum(axis=axis) if axis is not None else (values * mask).sum()
    return s / (mask.sum(axis=axis) + 1e-8)


def verl_masked_var(values, mask, unbiased=True):
    mean = verl_masked_mean(values, mask)
    centered_values = values - mean
    variance = verl_masked_mean(centered_values**2, mask)
    if unbiased:
        mask_sum = mask.sum()
        bessel_correction = mask_sum / (mask_sum - 1)
        variance = variance * bessel_correction
    return variance


def verl_masked_whiten(values, mask, shift_mean=True):
    mean, var = verl_masked_mean(values, mask), verl_masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened += mean
    return whitened


def verl_compute_gae_advantage_return(token_level_rewards, values, response_mask, gamma, lam):
    with torch.no_grad():
        nextvalues = 0
        lastgaelam = 0
        advantages_reversed = []
        gen_len = token_level_rewards.shape[-1]
        for t in reversed(range(gen_len)):
            delta = token_level_rewards[:, t] + gamma * nextvalues - values[:, t]
            lastgaelam_ = delta + gamma * lam * lastgaelam
            # skip values and TD-error on observation tokens
            nextvalues = values[:, t] * response_mask[:, t] + (1 - response_mask[:, t]) * nextvalues
            lastgaelam = lastgaelam_ * response_mask[:, t] + (1 - response_mask[:, t]) * lastgaelam
            advantages_reversed.append(lastgaelam)
        advantages = torch.stack(advantages_reversed[::-1], dim=1)
        returns = advantages + values
        advantages = verl_masked_whiten(advantages, response_mask)
    return advantages, returns


def verl_compute_value_loss(vpreds, returns, values, response_mask, cliprange_value):
    vpredclipped = torch.max(torch.min(vpreds, values + cliprange_value), values - cliprange_value)
    vf_losses1 = (vpreds - returns) ** 2
    vf_losses2 = (vpredclipped - returns) ** 2
    clipped_vf_losses = torch.max(vf_losses1, vf_losses2)
    vf_loss = 0.5 * (clipped_vf_losses * response_mask).sum() / response_mask.sum()  # agg_loss, "token-mean"
    vf_clipfrac = verl_masked_mean(torch.gt(vf_losses2, vf_losses1).float(), response_mask)
    return vf_loss, vf_clipfrac


def random_batch(seed: int, rows: int = 6, width: int = 9):
    """Ragged rows whose masks have holes in the middle (an episode's environment tokens)."""
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(rows, width, generator=g) > 0.3).to(torch.float64)
    lengths = torch.randint(1, width + 1, (rows,), generator=g)
    mask = mask * (torch.arange(width)[None, :] < lengths[:, None])
    mask[:, 0] = 1  # every row sampled something
    final = torch.randn(rows, generator=g, dtype=torch.float64)
    kl = 0.1 * torch.randn(rows, width, generator=g, dtype=torch.float64)
    values = torch.randn(rows, width, generator=g, dtype=torch.float64)
    return mask, final, kl, values


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("gamma", "lam"), [(1.0, 1.0), (0.99, 0.95), (0.5, 0.0), (1.0, 0.3)])
def test_gae_and_whitening_equal_verls_on_random_batches(seed, gamma, lam):
    mask, final, kl, values = random_batch(seed)
    rewards, _ = token_rewards(final, mask, kl, kl_coef=0.05)
    advantages, returns = gae(rewards, values * mask, mask, gamma, lam)
    whitened = whiten(advantages, mask)
    want_advantages, want_returns = verl_compute_gae_advantage_return(rewards, values * mask, mask, gamma, lam)
    on = mask.bool()  # verl leaves carried values on the masked columns; neither side trains on them
    torch.testing.assert_close(whitened[on], want_advantages[on], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(returns[on], want_returns[on], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("clip", [0.2, 0.05, 0.0])
def test_the_clipped_value_loss_equals_verls(seed, clip):
    mask, _, _, old = random_batch(seed)
    g = torch.Generator().manual_seed(100 + seed)
    returns = torch.randn(old.shape, generator=g, dtype=torch.float64)
    predicted = (old + 0.3 * torch.randn(old.shape, generator=g, dtype=torch.float64)).requires_grad_(True)
    per_token, was_clipped = value_loss(predicted, old, returns, mask, clip)
    loss = per_token.sum() / mask.sum()
    want_predicted = predicted.detach().clone().requires_grad_(True)
    # critic.value_clip=0 means unclipped; verl's cliprange 0 would pin the values, so it reads as no bound.
    want_loss, want_clipfrac = verl_compute_value_loss(want_predicted, returns, old, mask, clip or 1e9)
    torch.testing.assert_close(loss, want_loss)
    assert float(was_clipped.sum() / mask.sum()) == pytest.approx(float(want_clipfrac), abs=1e-9)
    loss.backward()
    want_loss.backward()
    torch.testing.assert_close(predicted.grad, want_predicted.grad)


def test_explained_variance_reads_a_perfect_a_mean_and_a_worse_critic():
    mask = torch.ones(1, 4, dtype=torch.float64)
    returns = torch.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)
    for values, want in [(returns, 1.0), (torch.full_like(returns, 2.5), 0.0), (returns.flip(-1), -3.0)]:
        assert explained_variance(moments(returns, mask), moments(returns - values, mask)) == pytest.approx(want)


def test_grpo_loss_with_per_token_advantages_equal_to_the_row_ones_is_the_grpo_loss():
    """(R, T) advantages extend grpo_loss; a constant row of them is the row advantage, to the bit."""
    g = torch.Generator().manual_seed(0)
    old = -torch.rand(4, 5, generator=g, dtype=torch.float64) - 0.1
    logp = old + 0.3 * torch.randn(4, 5, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 1, 1, 0], [1, 1, 0, 0, 0]], dtype=torch.float64)
    advantages = torch.tensor([1.0, -0.5, 0.25, -2.0], dtype=torch.float64)
    row_loss, row_metrics = grpo_loss(logp, old, advantages, mask, clip_high=0.28)
    token_loss, token_metrics = grpo_loss(logp, old, advantages[:, None].expand(4, 5), mask, clip_high=0.28)
    assert token_loss.item() == row_loss.item() and token_metrics == row_metrics
    # And a token's own advantage moves only its own term: flipping one changes the loss.
    varied = advantages[:, None].expand(4, 5).clone()
    varied[1, 2] = -varied[1, 2]
    assert grpo_loss(logp, old, varied, mask, clip_high=0.28)[0].item() != row_loss.item()
