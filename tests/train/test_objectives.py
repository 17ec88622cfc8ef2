"""The objective formulas against hand computations: one parametrised row per case."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rlvr.evaluate.passk import pass_at_k as pass_at_k_estimate
from rlvr.train.objectives import grpo
from rlvr.train.objectives.formulas import (
    backward_corrected_rewards,
    entropy_bonus,
    forward_correction,
    high_entropy_mask,
    pass_at_k,
    pass_at_k_closed_form,
    renormalised_logprobs,
    rloo_baseline,
    w_reinforce,
)
from rlvr.train.objectives.group_rewards import majority_rewards
from rlvr.train.objectives.variants import ADVANTAGES
from rlvr.train.objectives.variants import ENTROPY_CONTROLS as ENTROPY_CONTROL
from rlvr.train.objectives.variants import MISMATCH_MODES as MISMATCH
from rlvr.train.objectives.variants import RATIO_LEVELS as RATIOS


def mismatch_weights(mode, trainer, sampler, mask, cap=3.0, cap_min=None):
    """A mismatch mode's weights and metrics, its options as a config gives them (no lower bound: 0)."""
    options = {} if mode == "none" else {"cap": cap, "cap_min": cap_min or 0.0}
    return MISMATCH[mode](**options).weights(trainer, sampler, mask)

E = math.exp


def test_tables_name_their_choices():
    assert set(RATIOS) == {"token", "sequence"}
    assert set(MISMATCH) == {"none", "tis", "token_mask", "sequence_tis", "sequence_mask"}
    assert set(ENTROPY_CONTROL) == {"none", "clip_cov", "kl_cov"}
    assert set(ADVANTAGES) == {"grpo", "w_reinforce", "pass_at_k", "forward_correction"}


# --- 1. GSPO ---------------------------------------------------------------------------------------------------

# Two sequences: log-ratios [0.3, -0.1, 0.2] (mean 2/15) and [0.2, 0.4 | padding 5.0] (mean 0.3).
OLD = torch.zeros(2, 3, dtype=torch.float64)
DELTA = torch.tensor([[0.3, -0.1, 0.2], [0.2, 0.4, 5.0]], dtype=torch.float64)
MASK = torch.tensor([[1.0, 1, 1], [1, 1, 0]], dtype=torch.float64)
S0, S1 = E(0.4 / 3), E(0.3)


@pytest.mark.parametrize(
    "level, expected",
    [
        ("token", [[E(0.3), E(-0.1), E(0.2)], [E(0.2), E(0.4), E(5.0)]]),
        ("sequence", [[S0, S0, S0], [S1, S1, S1]]),  # the geometric mean, on every token, padding included
    ],
)
def test_ratio_values(level, expected):
    ratio = RATIOS[level]().ratio(OLD + DELTA, OLD, MASK)
    assert ratio.shape == (2, 3)
    assert torch.allclose(ratio, torch.tensor(expected, dtype=torch.float64))


def test_sequence_ratio_gradient_is_the_ratio_over_the_length_on_valid_tokens():
    logp = (OLD + DELTA).requires_grad_()
    ratio = RATIOS["sequence"]().ratio(logp, OLD, MASK)
    (grad,) = torch.autograd.grad(ratio[:, 0].sum(), logp)
    assert torch.allclose(grad, torch.tensor([[S0 / 3] * 3, [S1 / 2, S1 / 2, 0.0]], dtype=torch.float64))


def test_sequence_ratio_clips_whole_sequences():
    # A = +1 for both; clip_high 0.2: s0 = 1.14 stays inside, s1 = 1.35 is clipped -> no gradient on row 1.
    logp = (OLD + DELTA).requires_grad_()
    ratio = RATIOS["sequence"]().ratio(logp, OLD, MASK)
    per_token, _ = ENTROPY_CONTROL["none"]().policy_loss(ratio, torch.tensor([1.0, 1.0], dtype=torch.float64), logp,
                                                         OLD, MASK, clip_low=0.2, clip_high=0.2)
    loss = grpo.AGGREGATIONS["seq_mean"](per_token, MASK, 3)
    assert loss.item() == pytest.approx(-(S0 + 1.2) / 2)
    (grad,) = torch.autograd.grad(loss, logp)
    # d/dlogp_t of -(1/2) * s0 = -(1/2) * s0 / 3 on each token of row 0.
    assert torch.allclose(grad, torch.tensor([[-S0 / 6] * 3, [0.0] * 3], dtype=torch.float64))


# --- 2. Mismatch correction ------------------------------------------------------------------------------------

CAP_LOG, CAP_MIN_LOG = 0.7, -0.5
CAP = torch.exp(torch.tensor(CAP_LOG, dtype=torch.float64)).item()  # the cap is a ratio the batch hits exactly
CAP_MIN = torch.exp(torch.tensor(CAP_MIN_LOG, dtype=torch.float64)).item()
# Token log-ratios (trainer - sampler): below the floor, at the floor, inside, at the cap, above the cap.
TRAINER = torch.tensor([[-0.9, CAP_MIN_LOG, 0.05, CAP_LOG, 1.2]], dtype=torch.float64)
SAMPLER = torch.zeros(1, 5, dtype=torch.float64)
ONES = torch.ones(1, 5, dtype=torch.float64)
R = [E(-0.9), CAP_MIN, E(0.05), CAP, E(1.2)]


@pytest.mark.parametrize(
    "mode, cap_min, expected",
    [
        ("none", None, [1.0, 1.0, 1.0, 1.0, 1.0]),
        ("tis", None, [R[0], R[1], R[2], CAP, CAP]),  # min(r, C): at the cap kept, above truncated
        ("tis", CAP_MIN, [CAP_MIN, CAP_MIN, R[2], CAP, CAP]),  # clamp(r, C_min, C)
        ("token_mask", None, [R[0], R[1], R[2], CAP, 0.0]),  # r * 1[r <= C]: the ratio is kept, not 1
        ("token_mask", CAP_MIN, [0.0, CAP_MIN, R[2], CAP, 0.0]),  # r * 1[C_min <= r <= C], ends included
    ],
)
def test_token_level_weights_at_below_and_above_the_cap(mode, cap_min, expected):
    weights, _ = mismatch_weights(mode, TRAINER, SAMPLER, ONES, CAP, cap_min)
    assert torch.allclose(weights, torch.tensor([expected], dtype=torch.float64))
    if mode != "none":
        assert weights[0, 3].item() == CAP  # exactly at the cap: kept whole, neither truncated nor masked


# Three sequences: products exp(0.3 + 0.4) = exactly the cap, exp(0.5) below, exp(0.6 + 0.3) above.
SEQ_DELTA = torch.tensor([[0.3, 0.4], [0.2, 0.3], [0.6, 0.3]], dtype=torch.float64)
SEQ_CAP = torch.exp(SEQ_DELTA[0].sum()).item()
P = [SEQ_CAP, E(0.5), E(0.9)]


@pytest.mark.parametrize(
    "mode, expected_per_sequence",
    [
        ("sequence_tis", [SEQ_CAP, P[1], SEQ_CAP]),
        ("sequence_mask", [SEQ_CAP, P[1], 0.0]),  # the product of token ratios, as TRL; the whole sequence goes
    ],
)
def test_sequence_level_weights_use_the_product_and_mask_whole_sequences(mode, expected_per_sequence):
    weights, metrics = mismatch_weights(mode, SEQ_DELTA, torch.zeros_like(SEQ_DELTA), torch.ones_like(SEQ_DELTA),
                                        SEQ_CAP)
    expected = torch.tensor(expected_per_sequence, dtype=torch.float64)[:, None].expand(3, 2)
    assert torch.allclose(weights, expected)
    assert metrics["mismatch/masked_frac"] == pytest.approx(2 / 6 if mode == "sequence_mask" else 0.0)


def test_mismatch_metrics_and_padding_and_missing_sampler_logprobs():
    trainer = torch.tensor([[0.0, 0.05, 0.2, 2.0], [0.5, 0.0, 9.0, 9.0]], dtype=torch.float64)
    sampler = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, float("nan"), 0.0, 0.0]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.float64)
    weights, metrics = mismatch_weights("token_mask", trainer, sampler, mask, 3.0)
    # Valid ratios: 1, e^.05, e^.2, e^2 (masked, > 3), e^.5, and 1 where the sampler gave NaN.
    assert weights[1, 1].item() == 1.0  # NaN sampler log-prob: no correction, as TRL
    assert weights[0, 3].item() == 0.0
    assert weights[1, 2:].tolist() == [1.0, 1.0]  # padding: log-ratio zeroed by the mask
    ratios = [1.0, E(0.05), E(0.2), E(2.0), E(0.5), 1.0]
    assert metrics["mismatch/ratio_mean"] == pytest.approx(sum(ratios) / 6)
    assert metrics["mismatch/abs_log_ratio"] == pytest.approx((0.05 + 0.2 + 2.0 + 0.5) / 6)
    assert metrics["mismatch/outside_frac"] == pytest.approx(3 / 6)  # e^.2, e^2, e^.5 lie outside [0.9, 1.1]
    assert metrics["mismatch/masked_frac"] == pytest.approx(1 / 6)


def test_mismatch_weights_carry_no_gradient():
    trainer = TRAINER.clone().requires_grad_()
    weights, _ = mismatch_weights("tis", trainer, SAMPLER, ONES, CAP)
    assert not weights.requires_grad


def test_renormalised_logprobs_on_a_truncated_support():
    probs = torch.tensor([[[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]]], dtype=torch.float64)
    kept = torch.tensor([[[True, True, False], [False, True, False]]])  # top-2, then top-1
    q = renormalised_logprobs(probs.log(), kept)
    assert torch.allclose(q[0, 0, :2].exp(), torch.tensor([0.625, 0.375], dtype=torch.float64))
    assert q[0, 0, 2].item() == -math.inf
    assert q[0, 1, 1].item() == pytest.approx(0.0)  # the only kept token has probability 1
    # The sampled token's log-prob rises by -log(kept mass): log 0.5 - log 0.8.
    assert q[0, 0, 0].item() == pytest.approx(math.log(0.5) - math.log(0.8))


# --- 3. Entropy control ----------------------------------------------------------------------------------------


def test_entropy_bonus_is_minus_coef_times_the_masked_token_mean():
    entropy = torch.tensor([[1.0, 2.0, 3.0], [4.0, 7.0, 7.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1, 1], [1, 0, 0]])
    term, metrics = entropy_bonus(entropy, mask, 0.01)
    assert term.item() == pytest.approx(-0.01 * 2.5)
    assert metrics["entropy/mean"] == pytest.approx(2.5)
    (grad,) = torch.autograd.grad(term, entropy)
    assert torch.allclose(grad, -0.01 / 4 * mask)


@pytest.mark.parametrize(
    "top_fraction, kept",
    [
        (0.2, {8, 9}),  # quantile(0..9, 0.8) = 7.2
        (0.5, {5, 6, 7, 8, 9}),  # quantile 4.5
        (0.05, {9}),  # quantile 8.55
        (1.0, set(range(10))),
    ],
)
def test_high_entropy_mask_keeps_the_top_fraction_of_valid_tokens(top_fraction, kept):
    entropy = torch.tensor([[0.0, 1, 2, 3, 4, 100.0], [5, 6, 7, 8, 9, 100.0]])  # the 100s are padding
    mask = torch.tensor([[1.0, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0]])
    keep = high_entropy_mask(entropy, mask, top_fraction)
    assert keep.dtype == torch.bool
    assert {int(v) for v in entropy[keep].tolist()} == kept


def test_high_entropy_mask_of_an_empty_batch_keeps_nothing():
    assert not high_entropy_mask(torch.ones(2, 3), torch.zeros(2, 3)).any()


# Covariance example: A = +1 on row 0, -1 on row 1 (mean 0); logp mean -3 over the six valid tokens.
#   Cov row 0 = logp + 3 = [2, 1, -3];  row 1 = -(logp + 3) = [1.5, -1, -0.5]
COV_LOGP = torch.tensor([[-1.0, -2.0, -6.0], [-4.5, -2.0, -2.5]], dtype=torch.float64)
COV_ADV = torch.tensor([1.0, -1.0], dtype=torch.float64)
COV_MASK = torch.ones(2, 3, dtype=torch.float64)


def run_control(name, old_logp, generator=None, **options):
    logp = COV_LOGP.clone().requires_grad_()
    ratio = RATIOS["token"]().ratio(logp, old_logp, COV_MASK)
    per_token, metrics = ENTROPY_CONTROL[name](**options).policy_loss(ratio, COV_ADV, logp, old_logp, COV_MASK,
                                                                      clip_low=0.2, clip_high=0.2, generator=generator)
    (grad,) = torch.autograd.grad(per_token.sum(), logp)
    return per_token.detach(), grad, metrics


@pytest.mark.parametrize(
    "bounds, fraction, zeroed",
    [
        ((1.0, 5.0), 1e-4, {(0, 0)}),  # strict bounds: only Cov 2 and 1.5 qualify; n = max(int(6e-4), 1) = 1
        ((1.6, 5.0), 0.5, {(0, 0)}),  # one candidate (Cov 2), though 3 were wanted
        ((2.5, 5.0), 0.5, set()),  # no candidate: nothing is removed
        ((-4.0, 5.0), 1.0, {(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)}),  # everything is a candidate
    ],
)
def test_clip_cov_removes_the_chosen_tokens_gradient(bounds, fraction, zeroed):
    per_token, grad, metrics = run_control(
        "clip_cov", COV_LOGP.clone(), cov_bounds=bounds, cov_fraction=fraction, generator=torch.Generator()
    )
    reference, reference_grad, _ = run_control("none", COV_LOGP.clone())
    for b, t in itertools.product(range(2), range(3)):
        if (b, t) in zeroed:
            assert per_token[b, t] == 0 and grad[b, t] == 0
        else:
            assert per_token[b, t] == reference[b, t] and grad[b, t] == reference_grad[b, t] != 0
    assert metrics["entropy_control/selected_frac"] == pytest.approx(len(zeroed) / 6)


def test_clip_cov_draws_its_random_share_from_the_generator():
    # Candidates in (0.5, 5): Cov 2, 1 (row 0) and 1.5 (row 1), in flat order (0,0), (0,1), (1,0); n = int(0.34*6) = 2.
    options = {"cov_bounds": (0.5, 5.0), "cov_fraction": 0.34}
    first, _, _ = run_control("clip_cov", COV_LOGP.clone(), generator=torch.Generator().manual_seed(3), **options)
    again, _, _ = run_control("clip_cov", COV_LOGP.clone(), generator=torch.Generator().manual_seed(3), **options)
    assert torch.equal(first, again)
    candidates = [(0, 0), (0, 1), (1, 0)]
    chosen = {candidates[i] for i in torch.randperm(3, generator=torch.Generator().manual_seed(3))[:2].tolist()}
    assert {(b, t) for b, t in itertools.product(range(2), range(3)) if first[b, t] == 0} == chosen


def test_clip_cov_never_picks_a_token_the_ppo_clip_already_clipped():
    old = COV_LOGP.clone()
    old[0, 0] -= 0.5  # ratio e^0.5 > 1.2 with A = +1: clipped, so Cov 2 is no longer a candidate
    per_token, _, metrics = run_control("clip_cov", old, cov_bounds=(1.6, 5.0), cov_fraction=0.5)
    assert per_token[0, 0].item() == pytest.approx(-1.2)
    assert metrics["entropy_control/candidate_frac"] == 0.0


def test_kl_cov_penalises_the_top_covariance_tokens_and_drops_the_clip():
    delta = torch.tensor([[0.6, -0.2, 0.3], [0.4, -0.1, 0.2]], dtype=torch.float64)
    old = COV_LOGP - delta  # ratio e^delta: e^0.6 = 1.82 would be clipped by PPO, not here
    per_token, grad, metrics = run_control("kl_cov", old, cov_fraction=0.34, kl_coef=0.5)  # k = int(2.04) = 2
    ratio = delta.exp()
    expected = -ratio * COV_ADV[:, None]
    expected[0, 0] += 0.5 * 0.6  # Cov 2
    expected[1, 0] += 0.5 * 0.4  # Cov 1.5
    assert torch.allclose(per_token, expected)
    expected_grad = -ratio * COV_ADV[:, None]
    expected_grad[0, 0] += 0.5
    expected_grad[1, 0] += 0.5  # d|logp - old|/dlogp = sign(delta) = +1 on both
    assert torch.allclose(grad, expected_grad)
    assert metrics["entropy_control/selected_frac"] == pytest.approx(2 / 6)
    assert metrics["entropy_control/abs_kl"] == pytest.approx(delta.abs().mean().item())


def test_kl_cov_picks_at_least_one_token():
    per_token, _, _ = run_control("kl_cov", COV_LOGP - 0.1, cov_fraction=1e-6, kl_coef=1.0)
    assert torch.allclose(per_token - (-E(0.1) * COV_ADV[:, None]), torch.tensor(
        [[0.1, 0, 0], [0, 0, 0]], dtype=torch.float64))


# --- 4. Baselines and advantages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rewards, baseline",
    [
        ([[1.0, 0.0, 0.0, 1.0]], [[1 / 3, 2 / 3, 2 / 3, 1 / 3]]),
        ([[0.5, 1.0, 0.0]], [[0.5, 0.25, 0.75]]),
        ([[1.0, 1.0]], [[1.0, 1.0]]),
    ],
)
def test_rloo_baseline_is_the_mean_of_the_others(rewards, baseline):
    assert torch.allclose(rloo_baseline(torch.tensor(rewards)), torch.tensor(baseline))


def test_rloo_fits_grpo_baseline_table(monkeypatch):
    from rlvr.train.objectives import formulas as objectives

    monkeypatch.setitem(objectives._BASELINES, "rloo", rloo_baseline)  # the table moved with group_advantages
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    advantages, _ = grpo.group_advantages(rewards, baseline="rloo", scale_by_std=False)
    assert torch.allclose(advantages, torch.tensor([[2 / 3, -2 / 3, -2 / 3, 2 / 3], [0.0, 0.0, 0.0, 0.0]]))
    mean_advantages, _ = grpo.group_advantages(rewards, baseline="mean", scale_by_std=False)
    assert torch.allclose(advantages, mean_advantages * 4 / 3)  # K / (K - 1)


def test_rloo_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2"):
        rloo_baseline(torch.ones(3, 1))


@pytest.mark.parametrize(
    "rewards, weight, expected",
    [
        ([[1.0, 0.0, 1.0, 0.0]], 0.1, [[0.1, -1.0, 0.1, -1.0]]),
        ([[1.0, 1.0], [0.0, 0.0]], 0.1, [[0.1, 0.1], [-1.0, -1.0]]),  # uniform groups still carry signal
        ([[1.0, 0.0]], 1.0, [[1.0, -1.0]]),  # lambda = 1: plain REINFORCE with +-1 rewards
        ([[1.0, 0.0]], 0.0, [[0.0, -1.0]]),  # lambda = 0: negative samples only (NSR)
    ],
)
def test_w_reinforce(rewards, weight, expected):
    advantages, metrics = w_reinforce(torch.tensor(rewards), positive_weight=weight)
    assert torch.allclose(advantages, torch.tensor(expected))
    assert metrics["advantage/positive_frac"] == pytest.approx(sum(r == 1.0 for row in rewards for r in row)
                                                              / sum(len(row) for row in rewards))


@pytest.mark.parametrize(
    "n, n_pos, k, mean, a_pos, a_neg",
    [
        (4, 1, 2, 0.5, 1.0, -1 / 3),  # subsets {P,Ni} score 1, {Ni,Nj} score 0: R = 3/6
        (4, 2, 1, 0.5, 1.0, -1.0),  # k = 1 is GRPO's (r - mean) / std
        (8, 2, 4, 1 - 15 / 70, None, None),  # R = 1 - C(6,4)/C(8,4)
        (4, 0, 2, 0.0, 0.0, 0.0),  # nothing correct: no signal
        (4, 4, 2, 1.0, 0.0, 0.0),  # all correct: no signal
        (4, 3, 2, 1.0, 0.0, 0.0),  # one wrong sample cannot fill a pair: every subset passes, no signal
    ],
)
def test_pass_at_k_closed_form_by_hand(n, n_pos, k, mean, a_pos, a_neg):
    got_mean, sigma, got_pos, got_neg = pass_at_k_closed_form(n, n_pos, k)
    assert got_mean == pytest.approx(mean)
    assert sigma == pytest.approx(math.sqrt(mean * (1 - mean)))
    if a_pos is not None:
        assert (got_pos, got_neg) == (pytest.approx(a_pos), pytest.approx(a_neg))


def brute_force_pass_at_k(correct: list[int], k: int) -> list[float]:
    """Each sample's mean, over the k-subsets holding it, of (subset max - mean max) / std of the maxes."""
    subsets = list(itertools.combinations(range(len(correct)), k))
    scores = {s: max(correct[i] for i in s) for s in subsets}
    mean = sum(scores.values()) / len(scores)
    std = math.sqrt(sum((v - mean) ** 2 for v in scores.values()) / len(scores))
    if std == 0:
        return [0.0] * len(correct)
    return [sum((scores[s] - mean) / std for s in subsets if i in s) / sum(i in s for s in subsets)
            for i in range(len(correct))]


@pytest.mark.parametrize("n", [3, 5, 6])
def test_pass_at_k_equals_enumeration_over_all_k_subsets(n):
    for n_pos, k in itertools.product(range(n + 1), range(1, n + 1)):
        correct = [1] * n_pos + [0] * (n - n_pos)
        rewards = torch.tensor([correct], dtype=torch.float64)
        advantages, _ = pass_at_k(rewards, k=k)
        assert advantages[0].tolist() == pytest.approx(brute_force_pass_at_k(correct, k), abs=1e-12), (n_pos, k)


def test_pass_at_k_with_k_one_is_grpo():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0, 1.0]])
    advantages, metrics = pass_at_k(rewards, k=1)
    grpo_advantages, _ = grpo.group_advantages(rewards)
    assert torch.allclose(advantages, grpo_advantages, atol=1e-5)
    assert metrics["pass_at_k/group_reward_mean"] == pytest.approx((0.6 + 0.2) / 2)


def test_pass_at_k_rejects_k_beyond_the_group():
    with pytest.raises(ValueError, match="1 <= k <= group size"):
        pass_at_k(torch.ones(1, 4), k=5)


# --- 5. Majority reward ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answers, rewards",
    [
        (["4", "4", "5", None], [1.0, 1.0, 0.0, 0.0]),
        (["a", "b", "b", "c", "c", "c"], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]),
        ([None, "3"], [0.0, 1.0]),  # None never votes: one vote is a majority
        (["7"], [1.0]),
        ([None, None], [0.0, 0.0]),  # no votes at all
        ([], []),
        (["4", "5"], [0.0, 0.0]),  # a tie rewards nobody
        (["4", "5", "5", None, "4"], [0.0, 0.0, 0.0, 0.0, 0.0]),  # tie at the top, whatever the order
        (["4", "5", "5", "6", "6", "6", "4"], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]),  # a tie below the top is fine
        ([None, None, None, "x"], [0.0, 0.0, 0.0, 1.0]),  # None is not an answer, even when most common
    ],
)
def test_majority_rewards(answers, rewards):
    assert majority_rewards(answers) == rewards


# --- 6. Noisy verifier -----------------------------------------------------------------------------------------


def test_backward_correction_recovers_the_clean_mean_of_a_noisy_channel():
    n, p, rho0, rho1 = 200_000, 0.3, 0.2, 0.3
    generator = torch.Generator().manual_seed(17)
    clean = (torch.rand(n, generator=generator, dtype=torch.float64) < p).double()
    flip = torch.rand(n, generator=generator, dtype=torch.float64)
    observed = torch.where(clean == 1, (flip >= rho1).double(), (flip < rho0).double())
    corrected = backward_corrected_rewards(observed, rho0, rho1)
    standard_error = corrected.std().item() / math.sqrt(n)
    assert abs(corrected.mean().item() - clean.mean().item()) < 4 * standard_error
    # Uncorrected, the mean is rho0 + (1 - rho0 - rho1) p = 0.35: tens of standard errors off.
    assert abs(observed.mean().item() - clean.mean().item()) > 10 * standard_error


@pytest.mark.parametrize("rewards, rho0, rho1, expected", [
    ([0.0, 1.0], 0.0, 0.0, [0.0, 1.0]),
    ([0.0, 1.0], 0.1, 0.2, [-0.1 / 0.7, 0.9 / 0.7]),
    ([0.0, 1.0], 0.0, 0.5, [0.0, 2.0]),
])
def test_backward_correction_by_hand(rewards, rho0, rho1, expected):
    got = backward_corrected_rewards(torch.tensor(rewards, dtype=torch.float64), rho0, rho1)
    assert got.tolist() == pytest.approx(expected)


@pytest.mark.parametrize("rho0, rho1", [(0.5, 0.5), (0.7, 0.4), (-0.1, 0.2), (0.2, 1.0)])
def test_backward_correction_refuses_an_uninformative_verifier(rho0, rho1):
    with pytest.raises(ValueError, match="rho0 \\+ rho1 < 1"):
        backward_corrected_rewards(torch.zeros(2), rho0, rho1)


def test_backward_correction_is_invisible_to_std_scaled_group_advantages():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0, 1.0]], dtype=torch.float64)
    corrected = backward_corrected_rewards(rewards, 0.1, 0.2)
    scaled, _ = grpo.group_advantages(rewards)
    scaled_corrected, _ = grpo.group_advantages(corrected)
    assert torch.allclose(scaled, scaled_corrected)
    unscaled, _ = grpo.group_advantages(rewards, scale_by_std=False)
    unscaled_corrected, _ = grpo.group_advantages(corrected, scale_by_std=False)
    assert torch.allclose(unscaled_corrected, unscaled / 0.7)


@pytest.mark.parametrize("rewards, rho1, expected", [
    ([[1.0, 0.0, 0.0, 1.0]], 0.1, [[0.1, -0.9, -0.9, 0.1]]),
    ([[1.0, 0.0, 0.0, 1.0]], 0.0, [[0.0, -1.0, -1.0, 0.0]]),  # rho1 = 0: only wrong samples train
    ([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]], 0.3, [[0.3] * 4, [-0.7] * 4]),  # agreeing groups still train
    ([[0.5, 1.0, 2.0, -1.0]], 0.2, [[-0.8, 0.2, 0.2, -0.8]]),  # "said 1" is reward >= 1
])
def test_forward_correction_by_hand(rewards, rho1, expected):
    advantages, metrics = forward_correction(torch.tensor(rewards, dtype=torch.float64), false_negative_rate=rho1)
    assert torch.allclose(advantages, torch.tensor(expected, dtype=torch.float64))
    assert metrics["advantage/positive_frac"] == pytest.approx(sum(r >= 1 for g in rewards for r in g)
                                                                / sum(len(g) for g in rewards))


@pytest.mark.parametrize("rho1", [-0.1, 1.0])
def test_forward_correction_refuses_a_rate_outside_0_1(rho1):
    with pytest.raises(ValueError, match="false-negative rate in \\[0, 1\\)"):
        forward_correction(torch.zeros(1, 2), false_negative_rate=rho1)


# A softmax bandit: 6 answers, logits THETA, clean rewards R_STAR; d log pi(a) / d theta = e_a - pi.
THETA = torch.tensor([0.3, -0.2, 1.1, 0.0, -0.7, 0.5], dtype=torch.float64)
R_STAR = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0], dtype=torch.float64)


def _bandit() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(pi, score (6, 6) with row a = d log pi(a)/d theta, clean gradient d J / d theta), J = sum_a pi R*."""
    theta = THETA.clone().requires_grad_()
    pi = torch.softmax(theta, 0)
    (clean,) = torch.autograd.grad((pi * R_STAR).sum(), theta)
    pi = pi.detach()
    score = torch.eye(6, dtype=torch.float64) - pi  # (6, 6)
    return pi, score, clean


def _weights(rho1: float) -> tuple[float, float]:
    (w0, w1), _ = forward_correction(torch.tensor([0.0, 1.0], dtype=torch.float64), false_negative_rate=rho1)
    return w0.item(), w1.item()


@pytest.mark.parametrize("rho0, rho1", [(0.0, 0.0), (0.2, 0.3), (0.4, 0.1), (0.05, 0.6)])
def test_forward_correction_expected_update_is_the_clean_gradient_scaled(rho0, rho1):
    """Exact, by enumeration over answers and verdicts: E[w grad log pi] = (1 - rho0 - rho1) grad J, with weights
    that read rho1 only (rho0 varies here and the weights do not)."""
    pi, score, clean = _bandit()
    w0, w1 = _weights(rho1)
    said_one = R_STAR * (1 - rho1) + (1 - R_STAR) * rho0  # P(verifier says 1 | answer)
    expected_w = said_one * w1 + (1 - said_one) * w0  # (6,)
    update = (pi * expected_w) @ score  # sum_a pi(a) E[w | a] grad log pi(a)
    assert torch.allclose(update, (1 - rho0 - rho1) * clean, atol=1e-12)


def test_forward_correction_on_a_simulated_noisy_channel():
    """Sampled answers, a verifier that errs at rho0 = 0.2 and rho1 = 0.3, the advantages from the function: the
    mean update lies within 4.5 standard errors of (1 - rho0 - rho1) grad J in every coordinate."""
    n, rho0, rho1 = 200_000, 0.2, 0.3
    pi, score, clean = _bandit()
    generator = torch.Generator().manual_seed(5)
    answers = torch.multinomial(pi, n, replacement=True, generator=generator)
    flip = torch.rand(n, generator=generator, dtype=torch.float64)
    clean_r = R_STAR[answers]
    observed = torch.where(clean_r == 1, (flip >= rho1).double(), (flip < rho0).double())
    advantages, _ = forward_correction(observed[None], false_negative_rate=rho1)
    per_sample = advantages[0, :, None] * score[answers]  # (n, 6)
    mean, se = per_sample.mean(0), per_sample.std(0) / math.sqrt(n)
    assert ((mean - (1 - rho0 - rho1) * clean).abs() < 4.5 * se).all()
    assert (se < 0.05 * clean.abs().max()).all()  # the test can tell the gradient from zero


# -- pass@k's closed form is written once: the evaluation's estimate is the training's mean group reward -----


def test_the_mean_group_reward_is_the_evaluations_pass_at_k_bit_for_bit():
    for n in range(1, 17):
        for n_pos in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k_closed_form(n, n_pos, k)[0] == pass_at_k_estimate(n, n_pos, k), (n, n_pos, k)


def test_the_closed_form_is_the_exactly_rounded_quotient():
    # 1 - C(2, 1) / C(3, 1) = 1/3, rounded once (a product of rounded factors gave 0.33333333333333326)
    assert pass_at_k_estimate(3, 1, 1) == 1.0 - 2 / 3
    assert pass_at_k_estimate(200, 3, 100) == 1.0 - math.comb(197, 100) / math.comb(200, 100)
