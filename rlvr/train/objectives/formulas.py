"""The objectives the field now takes for granted, as formulas: the variants of variants.py call them.

Shapes as in grpo.py: G groups of K completions; B = G*K rows; T completion tokens; mask (B, T) of 0/1.
Each choice is one function here, taking exactly its own options, and one registered variant in variants.py
that holds those options (with their defaults) and calls it:

    ratio levels      token_ratio, sequence_ratio (GSPO): (logp, old_logp, mask) -> ratio (B, T)
    mismatch modes    no_mismatch_correction, capped_mismatch: (trainer_logp, sampler_logp, mask) -> weights
    entropy control   ppo_clip, clip_cov, kl_cov: (ratio, advantages, logp, old_logp, mask) -> loss (B, T)
    advantages        group_advantages (GRPO; rloo_baseline), w_reinforce, pass_at_k, forward_correction:
                      rewards (G, K) -> advantages (G, K)

plus the entropy bonus, the 80/20 high-entropy token mask, the sampler's truncated-support log-probs and the
backward correction for a noisy verifier. Functions return `(value, metrics)` where a metric is natural.
This module imports neither grpo.py nor variants.py, so both can call it; pass@k's closed form is
rlvr.evaluate.passk's.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from rlvr.evaluate.passk import pass_at_k as pass_at_k_estimate


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of values over the positions where mask is 1; 0 when the mask is empty."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


# ---------------------------------------------------------------------------------------------------------------
# 1. GSPO: the importance ratio at sequence level (Zheng et al. 2025, arXiv 2507.18071, eq. 7)
# ---------------------------------------------------------------------------------------------------------------


def token_ratio(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """r_t = pi(y_t) / pi_old(y_t) = exp(logp_t - old_logp_t), per token (B, T): PPO/GRPO."""
    return torch.exp(logp - old_logp)


def sequence_ratio(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """GSPO: s_i = (pi(y_i) / pi_old(y_i)) ** (1 / |y_i|) = exp(mean_t (logp_t - old_logp_t)), the geometric mean.

    One value per sequence, broadcast to its T tokens (B, T), so clipping it in the PPO objective
    clips whole sequences. The gradient flows through every token's logp (d s_i / d logp_t = s_i / |y_i|),
    exactly as TRL's `importance_sampling_level="sequence"` (its `log_importance_weights`); with
    seq_mean aggregation this also equals the paper's and verl's GSPO-token form. The paper clips this
    ratio with far smaller ranges than token PPO (3e-4 low, 4e-4 high in its experiments).
    """
    log_ratio = (logp - old_logp) * mask  # (B, T)
    per_sequence = log_ratio.sum(-1) / mask.sum(-1).clamp(min=1)  # (B,)
    return torch.exp(per_sequence)[:, None].expand_as(logp)  # (B, T), one value per row



# ---------------------------------------------------------------------------------------------------------------
# 2. Sampler/trainer mismatch: importance weights pi_trainer / pi_sampler (TRL's vllm_importance_sampling_*)
# ---------------------------------------------------------------------------------------------------------------
#
# The sampler (vLLM, another precision or kernel) draws y from pi_sampler, while the loss uses the trainer's
# old log-probs; w = pi_trainer / pi_sampler corrects for it, and these functions bound its variance. The
# definitions are TRL's current ones (GRPOTrainer._generate_and_score_completions, modes of
# `vllm_importance_sampling_mode`, TRL 1.x): the log-ratio is (trainer - sampler) * mask with NaN -> 0;
# the sequence ratio is the PRODUCT of token ratios, exp(sum_t ...), not the geometric mean; truncation
# clamps to [cap_min, cap]; the mask modes keep the ratio itself where it lies in [cap_min, cap] (ends
# included) and set it to 0 outside ("masked importance sampling"), i.e. w = r * 1[cap_min <= r <= cap],
# not w = 1[...]. cap_min=None means no lower bound, as TRL's default. Padding positions carry ratio 1
# (or the sequence's ratio); the loss's mask removes them. Weights are constants (no gradient).

_OUTSIDE = (0.9, 1.1)  # the band for mismatch/outside_frac


def _mismatch_log_ratio(trainer_logp: torch.Tensor, sampler_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    diff = (trainer_logp.detach() - sampler_logp.detach()) * mask  # (B, T); NaN where the sampler gave none
    return torch.nan_to_num(diff, nan=0.0)


def _sequence_product(log_ratio: torch.Tensor) -> torch.Tensor:
    return torch.exp(log_ratio.sum(-1, keepdim=True)).expand_as(log_ratio)  # (B, T)


def _inside(ratio: torch.Tensor, cap: float | None, cap_min: float | None) -> torch.Tensor:
    low = -math.inf if cap_min is None else cap_min
    high = math.inf if cap is None else cap
    return (ratio >= low) & (ratio <= high)


def _mismatch_metrics(token_ratio_: torch.Tensor, weights: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    valid = mask > 0
    outside = (token_ratio_ < _OUTSIDE[0]) | (token_ratio_ > _OUTSIDE[1])
    return {
        "mismatch/ratio_mean": masked_mean(token_ratio_, mask).item(),
        # ratios above and below 1 can average to 1; the mean |log ratio| cannot hide them
        "mismatch/abs_log_ratio": masked_mean(token_ratio_.log().abs(), mask).item(),
        "mismatch/outside_frac": masked_mean(outside.to(mask.dtype), mask).item(),
        "mismatch/masked_frac": masked_mean(((weights == 0) & valid).to(mask.dtype), mask).item(),
    }


def capped_mismatch(trainer_logp: torch.Tensor, sampler_logp: torch.Tensor, mask: torch.Tensor, *,
                    cap: float | None, cap_min: float | None, sequence: bool, truncate: bool
                    ) -> tuple[torch.Tensor, dict[str, float]]:
    """Weights from the ratio r = pi_trainer / pi_sampler per token, or its product R over the sequence
    (`sequence`), truncated to [cap_min, cap] (`truncate`: TRL's *_truncate) or kept only inside it, 0
    outside (TRL's *_mask). The four modes of variants.py:

        tis            w_t = clamp(r_t, cap_min, cap)                 TRL token_truncate
        token_mask     w_t = r_t * 1[cap_min <= r_t <= cap]           TRL token_mask
        sequence_tis   w = clamp(R, cap_min, cap), R = prod_t r_t     TRL sequence_truncate
        sequence_mask  w = R * 1[cap_min <= R <= cap]
    """
    mask = mask.to(trainer_logp.dtype)
    log_ratio = _mismatch_log_ratio(trainer_logp, sampler_logp, mask)  # (B, T)
    per_token = torch.exp(log_ratio)  # (B, T)
    ratio = _sequence_product(log_ratio) if sequence else per_token  # (B, T)
    if truncate:
        weights = ratio.clamp(min=cap_min, max=cap)
    else:
        weights = torch.where(_inside(ratio, cap, cap_min), ratio, torch.zeros_like(ratio))
    return weights, _mismatch_metrics(per_token, weights, mask)


def no_mismatch_correction(trainer_logp: torch.Tensor, sampler_logp: torch.Tensor, mask: torch.Tensor
                           ) -> tuple[torch.Tensor, dict[str, float]]:
    """Weights of 1 (today's behaviour); the metrics still report how far the two log-probs disagree."""
    mask = mask.to(trainer_logp.dtype)
    per_token = torch.exp(_mismatch_log_ratio(trainer_logp, sampler_logp, mask))
    weights = torch.ones_like(per_token)
    return weights, _mismatch_metrics(per_token, weights, mask)



def renormalised_logprobs(logp_full: torch.Tensor, kept_mask: torch.Tensor) -> torch.Tensor:
    """Log-probs under the sampler's truncated (top-k / top-p) distribution: (B, T, V) -> (B, T, V).

    log q(v) = log p(v) - logsumexp_{u kept} log p(u) for kept v, -inf elsewhere. Gather the sampled
    token from it to compare a trainer's full-vocabulary log-prob with what a truncating sampler used.
    """
    kept = kept_mask.bool()
    on_support = logp_full.masked_fill(~kept, -math.inf)
    return on_support - torch.logsumexp(on_support, dim=-1, keepdim=True)


# ---------------------------------------------------------------------------------------------------------------
# 3. Entropy control
# ---------------------------------------------------------------------------------------------------------------


def entropy_bonus(entropy: torch.Tensor, mask: torch.Tensor, coef: float) -> tuple[torch.Tensor, dict[str, float]]:
    """The term to ADD to the loss: -coef * masked token-mean entropy, so L = L_policy - coef * H.

    As TRL's `entropy_coef` (a token mean over the tokens the loss acts on, independent of the policy
    term's aggregation). entropy, mask: (B, T).
    """
    mean_entropy = masked_mean(entropy, mask)
    return -coef * mean_entropy, {"entropy/mean": mean_entropy.item()}


def high_entropy_mask(entropy: torch.Tensor, mask: torch.Tensor, top_fraction: float = 0.2) -> torch.Tensor:
    """The 80/20 rule (Wang et al. 2025, arXiv 2506.01939): train only on the top `top_fraction` entropy tokens.

    The threshold is the (1 - top_fraction) quantile (torch.quantile, linear interpolation) of the
    entropies of the batch's valid tokens; a token is kept when entropy >= threshold and it is valid.
    This is TRL's `get_high_entropy_mask` with `top_entropy_quantile = top_fraction` on one process.
    Returns a bool mask (B, T); multiply the per-token loss by it and aggregate with the usual mask.
    The quantile is over the tokens passed in (TRL gathers them across ranks first); torch.quantile
    accepts at most 2**24 values.
    """
    valid = mask.bool()
    if top_fraction >= 1.0:
        return valid.clone()
    values = entropy.detach()[valid].float()  # (N,)
    if values.numel() == 0:
        return torch.zeros_like(valid)
    threshold = torch.quantile(values, 1.0 - top_fraction)
    return (entropy.detach() * mask >= threshold) & valid


def _clipped_surrogate(ratio: torch.Tensor, adv: torch.Tensor, clip_low: float, clip_high: float
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss_t, chose_clipped): -min(r A, clip(r) A) per token, and where the clipped branch is strictly lower."""
    unclipped = ratio * adv  # (B, T)
    clipped = ratio.clamp(1.0 - clip_low, 1.0 + clip_high) * adv  # (B, T)
    return -torch.minimum(unclipped, clipped), clipped < unclipped


def _covariance(adv: torch.Tensor, logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cov_t = (A_t - mean A) * (logp_t - mean logp), means over the valid tokens (B, T); no gradient."""
    adv, logp = adv.detach().expand_as(logp), logp.detach()
    return (adv - masked_mean(adv, mask)) * (logp - masked_mean(logp, mask))


def _as_column(advantages: torch.Tensor) -> torch.Tensor:
    return advantages[:, None] if advantages.dim() == 1 else advantages  # (B,) -> (B, 1); (B, T) stays


def ppo_clip(ratio: torch.Tensor, advantages: torch.Tensor, logp: torch.Tensor, old_logp: torch.Tensor,
             mask: torch.Tensor, *, clip_low: float, clip_high: float) -> tuple[torch.Tensor, dict[str, float]]:
    """No entropy control: loss_t = -min(r_t A, clip(r_t, 1 - clip_low, 1 + clip_high) A), as grpo_loss today.

    ratio, logp, old_logp, mask: (B, T); advantages: (B,). logp and old_logp are unused (the ratio holds them).
    """
    per_token, _ = _clipped_surrogate(ratio, _as_column(advantages), clip_low, clip_high)
    return per_token, {}


def clip_cov(ratio: torch.Tensor, advantages: torch.Tensor, logp: torch.Tensor, old_logp: torch.Tensor,
             mask: torch.Tensor, *, clip_low: float, clip_high: float, cov_fraction: float,
             cov_bounds: tuple[float, ...], generator: torch.Generator | None) -> tuple[torch.Tensor, dict[str, float]]:
    """Clip-Cov (Cui et al. 2025, arXiv 2505.22617, sec. 5; verl `compute_policy_loss_clip_cov`).

    Cov_t = (A_t - mean A)(logp_t - mean logp) over the valid tokens. Candidates: valid tokens that the
    PPO clip did not already clip, with cov_bounds[0] < Cov_t < cov_bounds[1] (strict). Of those,
    n = max(int(cov_fraction * #valid tokens), 1) are drawn uniformly at random (torch.randperm with
    `generator`, a CPU generator; None uses the global RNG) and their loss term is multiplied by 0,
    which removes their gradient; the rest keep the clipped PPO loss. verl's defaults: cov_fraction
    2e-4, bounds (1, 5). The statistics are over the tokens passed in (one micro-batch, one rank).
    """
    adv = _as_column(advantages)
    per_token, chose_clipped = _clipped_surrogate(ratio, adv, clip_low, clip_high)
    valid = mask > 0
    cov = _covariance(adv, logp, mask)  # (B, T)
    low, high = cov_bounds
    candidates = valid & ~chose_clipped & (cov > low) & (cov < high)
    flat = candidates.flatten().nonzero().squeeze(1)  # (C,) indices into B*T
    wanted = max(int(cov_fraction * valid.sum().item()), 1)
    chosen = flat[torch.randperm(flat.numel(), generator=generator)[:wanted].to(flat.device)]
    keep = torch.ones(per_token.numel(), dtype=per_token.dtype, device=per_token.device)
    keep[chosen] = 0.0
    per_token = per_token * keep.view_as(per_token)
    return per_token, {
        "entropy_control/selected_frac": chosen.numel() / max(valid.sum().item(), 1),
        "entropy_control/candidate_frac": flat.numel() / max(valid.sum().item(), 1),
    }


def kl_cov(ratio: torch.Tensor, advantages: torch.Tensor, logp: torch.Tensor, old_logp: torch.Tensor,
           mask: torch.Tensor, *, cov_fraction: float, kl_coef: float) -> tuple[torch.Tensor, dict[str, float]]:
    """KL-Cov (Cui et al. 2025, arXiv 2505.22617, sec. 5; verl `compute_policy_loss_kl_cov`).

    loss_t = -r_t A_t for every token, UNCLIPPED (KL-Cov replaces the PPO clip), and for the top
    k = max(1, int(cov_fraction * #valid)) valid tokens by Cov_t (torch.topk, largest first) the term
    kl_coef * |logp_t - old_logp_t| is added. verl's defaults: cov_fraction 2e-4, kl_coef 1.
    """
    adv = _as_column(advantages)
    per_token = -ratio * adv  # (B, T)
    valid = mask > 0
    abs_kl = (logp - old_logp).abs()  # (B, T)
    flat_valid = valid.flatten().nonzero().squeeze(1)  # (N,)
    penalised = torch.zeros(per_token.numel(), dtype=per_token.dtype, device=per_token.device)
    if flat_valid.numel() > 0:
        cov = _covariance(adv, logp, mask).flatten()[flat_valid]  # (N,)
        wanted = max(1, int(flat_valid.numel() * cov_fraction))
        penalised[flat_valid[torch.topk(cov, wanted, largest=True).indices]] = 1.0
    per_token = per_token + kl_coef * abs_kl * penalised.view_as(per_token)
    return per_token, {
        "entropy_control/selected_frac": penalised.sum().item() / max(flat_valid.numel(), 1),
        "entropy_control/abs_kl": masked_mean(abs_kl.detach(), mask).item(),
    }



# ---------------------------------------------------------------------------------------------------------------
# 4. Baselines and advantages
# ---------------------------------------------------------------------------------------------------------------


def rloo_baseline(r: torch.Tensor) -> torch.Tensor:
    """RLOO (Kool et al. 2019; Ahmadian et al. 2024, arXiv 2402.14740): b_i = mean of the OTHER K-1 rewards.

    r (G, K) -> (G, K), an entry of `_BASELINES`. Note r_i - b_i = K/(K-1) * (r_i - mean r),
    so without std scaling RLOO is the mean baseline times K/(K-1), and with std scaling the two coincide
    up to that constant.
    """
    k = r.shape[-1]
    if k < 2:
        raise ValueError(f"the RLOO baseline needs at least 2 completions per group, got {k}.")
    return (r.sum(dim=-1, keepdim=True) - r) / (k - 1)


_BASELINES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "mean": lambda r: r.mean(dim=-1, keepdim=True),
    "median": lambda r: r.median(dim=-1, keepdim=True).values,  # the lower median for even K
    "rloo": rloo_baseline,  # the mean of the other K-1 rewards
}


def group_advantages(rewards: torch.Tensor, baseline: str, scale_by_std: bool, eps: float = 1e-6
                     ) -> tuple[torch.Tensor, dict[str, float]]:
    """GRPO: rewards (G, K) -> advantages (G, K) = (r - baseline) / std, metrics.

    The std is the population std of the group, so 4 correct and 4 wrong out of 8 give
    advantages of exactly +1 and -1.
    """
    centred = rewards - _BASELINES[baseline](rewards)  # (G, K)
    informative = rewards.std(dim=-1, unbiased=False) > eps  # (G,)
    if scale_by_std:
        std = rewards.std(dim=-1, unbiased=False, keepdim=True)  # (G, 1)
        centred = centred / std.clamp(min=eps)
    advantages = torch.where(informative[:, None], centred, torch.zeros_like(centred))
    metrics = {
        "groups/informative_frac": informative.float().mean().item(),
        "groups/all_zero_frac": (rewards.max(dim=-1).values <= 0).float().mean().item(),
        "groups/all_one_frac": (rewards.min(dim=-1).values >= 1).float().mean().item(),
    }
    return advantages, metrics


def w_reinforce(rewards: torch.Tensor, *, positive_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
    """W-REINFORCE (Zhu et al. 2025, arXiv 2506.01347, sec. 5): A = lambda if correct, -1 if wrong; no baseline, no std.

    The objective lambda * L_PSR + L_NSR with lambda = 0.1 (the paper's choice); in the authors' code
    (RLVR-Decomposed, `compute_psr_nsr_outcome_advantage`, advantage="weighted") a reward of 1 gets
    lambda * 1 and a reward of 0 gets 0 - 1. Here a completion is correct when its reward >= 1.
    rewards (G, K) -> advantages (G, K). Groups whose samples all agree still carry signal.
    """
    correct = rewards >= 1.0
    advantages = torch.where(correct, torch.full_like(rewards, positive_weight), torch.full_like(rewards, -1.0))
    return advantages, {"advantage/positive_frac": correct.float().mean().item()}


def pass_at_k_closed_form(n: int, n_pos: int, k: int) -> tuple[float, float, float, float]:
    """(R, sigma, A_pos, A_neg) for a group of n samples with n_pos correct (Chen et al. 2025, arXiv 2508.10751).

    Over all C(n, k) subsets of size k with group reward max (= pass@k of the subset):
        R       = 1 - C(n_neg, k) / C(n, k)                       mean group reward
        sigma   = sqrt(R (1 - R))                                  std of the (0/1) group rewards
        A_pos   = (1 - R) / sigma                                  every subset holding a correct sample scores 1
        A_neg   = (1 - R - C(n_neg - 1, k - 1) / C(n - 1, k - 1)) / sigma
    i.e. each sample's advantage is the mean, over the subsets that contain it, of (max - R) / sigma.
    Where sigma = 0 (no correct sample, or every subset holds one) both advantages are 0. The authors'
    code (RUCAIBox/Passk_Training, passk_adv.py) divides by sigma + 1e-6 instead; this divides exactly.
    """
    if not 1 <= k <= n:
        raise ValueError(f"pass@k advantages need 1 <= k <= group size, got k={k} for a group of {n}.")
    n_neg = n - n_pos
    mean = pass_at_k_estimate(n, n_pos, k)  # R is the group's pass@k (the evaluation's closed form)
    sigma = math.sqrt(mean * (1.0 - mean))
    if sigma == 0.0:
        return mean, sigma, 0.0, 0.0
    a_pos = (1.0 - mean) / sigma
    a_neg = (1.0 - mean - math.comb(n_neg - 1, k - 1) / math.comb(n - 1, k - 1)) / sigma if n_neg > 0 else 0.0
    return mean, sigma, a_pos, a_neg


def pass_at_k(rewards: torch.Tensor, *, k: int) -> tuple[torch.Tensor, dict[str, float]]:
    """Pass@k training's analytical advantages, per group: rewards (G, K) 0/1 -> advantages (G, K).

    See pass_at_k_closed_form. k = 1 gives GRPO's (r - mean) / std. A sample is correct when reward >= 1.
    """
    correct = rewards >= 1.0  # (G, K)
    n = rewards.shape[-1]
    advantages = torch.zeros_like(rewards)
    group_means = []
    for g, n_pos in enumerate(correct.sum(-1).tolist()):
        mean, _, a_pos, a_neg = pass_at_k_closed_form(n, int(n_pos), k)
        advantages[g] = torch.where(correct[g], rewards.new_tensor(a_pos), rewards.new_tensor(a_neg))
        group_means.append(mean)
    return advantages, {
        "pass_at_k/group_reward_mean": sum(group_means) / max(len(group_means), 1),
        "groups/informative_frac": (advantages.abs().amax(-1) > 0).float().mean().item(),
    }


# ---------------------------------------------------------------------------------------------------------------
# 5. A noisy verifier (Cai et al. 2025, arXiv 2510.00915)
# ---------------------------------------------------------------------------------------------------------------


def backward_corrected_rewards(rewards: torch.Tensor, false_positive_rate: float, false_negative_rate: float
                               ) -> torch.Tensor:
    """Backward correction: R_hat = (R - rho0) / (1 - rho0 - rho1), unbiased for the clean reward.

    rho0 = P(verifier says 1 | truly wrong), rho1 = P(verifier says 0 | truly right). For R in {0, 1},
    E[R | R*] = rho0 + (1 - rho0 - rho1) R*, so E[R_hat | R*] = R*. Any shape.
    Being affine in R, it changes nothing after grpo.py's std-scaled group advantages
    ((R_hat - mean) / std == (R - mean) / std); it matters with scale_by_std=False (a factor
    1 / (1 - rho0 - rho1)), W-REINFORCE-like absolute advantages, or when rewards are averaged.
    """
    rho0, rho1 = false_positive_rate, false_negative_rate
    if not (0.0 <= rho0 < 1.0 and 0.0 <= rho1 < 1.0 and rho0 + rho1 < 1.0):
        raise ValueError(
            f"the reward correction needs 0 <= rho0, rho1 and rho0 + rho1 < 1, got rho0={rho0}, rho1={rho1}."
        )
    return (rewards - rho0) / (1.0 - rho0 - rho1)


def forward_correction(rewards: torch.Tensor, *, false_negative_rate: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward correction: each sample's score-function term weighted by w = rho1 if the verifier said 1,
    rho1 - 1 if it said 0; no baseline, no std. rewards (G, K) -> advantages (G, K).

    The weights are those of the paper's Proposition 2 / Theorem 2 as the public SkyRL implementation of
    it states them (`rl_noise/math/main_math_hard_pgfc.py`, estimator `pgfc`); the paper's own text was not
    available here, so the property is derived and tested on its own: E[w | R*] = (1 - rho0 - rho1)(R* - 1)
    (for R* = 1: (1 - rho1) rho1 + rho1 (rho1 - 1) = 0; for R* = 0: rho0 rho1 + (1 - rho0)(rho1 - 1)), and
    since E[grad log pi] = 0, E[w grad log pi] = (1 - rho0 - rho1) grad J: the clean gradient's direction
    whatever the false-positive rate rho0, which it never needs, and no division by 1 - rho0 - rho1.
    The property holds for any weights with w1 - w0 = 1 (the raw reward too); these are the paper's choice.
    Equivalently w = R - (1 - rho1), the observed reward with the constant baseline 1 - rho1; at rho1 = 0 it
    trains on wrong samples only (-1), like W-REINFORCE with weight 0. A sample is "said 1" when its
    reward >= 1, as for W-REINFORCE. Groups whose samples all agree still carry signal.
    """
    rho1 = false_negative_rate
    if not 0.0 <= rho1 < 1.0:
        raise ValueError(f"the forward correction needs a false-negative rate in [0, 1), got {rho1}.")
    said_one = rewards >= 1.0
    advantages = torch.where(said_one, torch.full_like(rewards, rho1), torch.full_like(rewards, rho1 - 1.0))
    return advantages, {"advantage/positive_frac": said_one.float().mean().item()}
