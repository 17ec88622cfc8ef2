"""The GRPO update: group-relative advantages and the clipped token-level loss, on one screen.

Shapes: G groups (prompts) of K completions each; B = G*K rows; T completion tokens.

    A_i = (r_i - baseline(r_group)) / std(r_group)    baseline: mean, median or rloo; std optional (Dr. GRPO)
    ratio_t = exp(logp_t - old_logp_t)
    loss_t  = -min(ratio_t * A, clip(ratio_t, 1 - clip_low, 1 + clip_high) * A) + beta * KL_t
    KL_t    = exp(ref_t - logp_t) - (ref_t - logp_t) - 1       (the k3 estimator, >= 0)

The choices are option objects of variants.py (registered by name; the formulas are formulas.py's), each
plain GRPO by default: the advantage estimator (estimate_advantages' `estimator`: grpo, w_reinforce,
pass_at_k, forward_correction), the ratio level (grpo_loss's `ratio_level`: token, or sequence = GSPO), the
clipped objective (`entropy_control`: the PPO clip, clip_cov, kl_cov), sampler/trainer importance weights on
the policy term (`weights`, from a mismatch mode, computed by the caller), the 80/20 high-entropy token mask
and an entropy bonus. grpo_loss's defaults are the training config's (AlgoSection), written once there:

    loss = aggregate(policy_t * keep_t * w_t + beta * KL_t) - entropy_coef * mean_{kept tokens} H_t

Before the advantages, two optional steps (both off by default):

    r_i <- 0 if truncated_i                                    (shape_rewards, truncated: penalise)
    r_i <- r_i - length_penalty * len_i / max_tokens           (shape_rewards, length_penalty)
    keep m = max(2, round(K * keep_frac)) rollouts per group: the ceil(m/2) highest and the
    floor(m/2) lowest rewards, then A_i within the kept ones     (prune_rollouts, PODS)

A group whose rewards are all equal has advantage 0 everywhere under GRPO: it carries no signal and
is counted in `groups/informative_frac`. Each choice is an option object or an entry of a small function
table rather than an if/elif chain repeated in the code.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch

from rlvr.train.config import AlgoSection
from rlvr.train.objectives import formulas
from rlvr.train.objectives.formulas import entropy_bonus, high_entropy_mask
from rlvr.train.objectives.variants import (
    ADVANTAGES,
    ENTROPY_CONTROLS,
    RATIO_LEVELS,
    AdvantageEstimator,
    EntropyControl,
    RatioLevel,
)

Aggregation = Literal["token_mean", "seq_mean", "constant_normaliser"]
Correction = tuple[float | None, float] | None  # the verifier's (false-positive, false-negative) rates
_PLAIN = AlgoSection()  # grpo_loss's defaults: plain GRPO, as the training config's


def group_advantages(rewards: torch.Tensor, baseline: str = _PLAIN.advantage.baseline,
                     scale_by_std: bool = _PLAIN.advantage.scale_by_std) -> tuple[torch.Tensor, dict[str, float]]:
    """GRPO's advantages (r - baseline) / std, rewards (G, K) -> advantages (G, K), metrics; the defaults are
    the grpo estimator's (formulas.group_advantages is the formula)."""
    return formulas.group_advantages(rewards, baseline, scale_by_std)


def estimate_advantages(rewards: torch.Tensor, estimator: AdvantageEstimator | str = _PLAIN.advantage,
                        correction: Correction = None) -> tuple[torch.Tensor, dict[str, float]]:
    """rewards (G, K) -> advantages (G, K), metrics, by an advantage estimator of variants.ADVANTAGES (or its
    bare name, for its defaults).

    correction: the verifier's error rates, for the estimators that read them (forward_correction).
    Every estimator also reports the groups/* metrics, a group being informative when any of its advantages
    is non-zero (W-REINFORCE trains on all-equal groups too); GRPO's own, from the rewards' std, win.
    """
    advantages, metrics = ADVANTAGES.build(estimator)(rewards, correction)
    groups = {
        "groups/informative_frac": (advantages.abs().amax(dim=-1) > 0).float().mean().item(),
        "groups/all_zero_frac": (rewards.max(dim=-1).values <= 0).float().mean().item(),
        "groups/all_one_frac": (rewards.min(dim=-1).values >= 1).float().mean().item(),
    }
    return advantages, {**groups, **metrics}


def shape_rewards(
    rewards: torch.Tensor, truncated: torch.Tensor, lengths: torch.Tensor, *, zero_truncated: bool = False,
    length_penalty: float = 0.0, max_tokens: int = 1,
) -> torch.Tensor:
    """Verifier rewards after length control: the reward the advantages are computed from.

    rewards, lengths (G, K) float; truncated (G, K) bool (the completion hit max_tokens). A new tensor.
    """
    shaped = rewards.clone()
    if zero_truncated:  # an answer cut off earns nothing, whatever the verifier read in it
        shaped = torch.where(truncated, torch.zeros_like(shaped), shaped)
    if length_penalty:
        shaped = shaped - length_penalty * lengths / max_tokens
    return shaped


def prune_rollouts(rewards: torch.Tensor, keep_frac: float) -> torch.Tensor:
    """Max-variance down-sampling (PODS): per group keep the highest- and lowest-reward halves.

    rewards (G, K) -> (G, K) bool mask of kept rollouts, the same count in every group;
    keep_frac 1.0 keeps everything. Ties keep their order (a stable sort).
    """
    k = rewards.shape[1]
    keep = max(2, round(k * keep_frac))
    if keep >= k:
        return torch.ones_like(rewards, dtype=torch.bool)
    order = rewards.argsort(dim=-1, descending=True, stable=True)  # (G, K)
    chosen = torch.cat([order[:, : (keep + 1) // 2], order[:, k - keep // 2 :]], dim=-1)  # (G, keep)
    return torch.zeros_like(rewards, dtype=torch.bool).scatter(-1, chosen, True)


def kept_advantages(rewards: torch.Tensor, kept: torch.Tensor,
                    estimator: AdvantageEstimator | str = _PLAIN.advantage, correction: Correction = None
                    ) -> torch.Tensor:
    """Advantages computed among the kept rollouts only, as PODS does; 0 on the pruned ones.

    rewards (G, K); kept (G, K) bool from `prune_rollouts` -> (G, K). estimator, correction: as
    estimate_advantages.
    """
    subset = rewards[kept].view(rewards.shape[0], -1)  # (G, m): each group's kept rewards, in order
    estimated, _ = estimate_advantages(subset, estimator, correction)
    return torch.zeros_like(rewards).masked_scatter(kept, estimated)


def _token_mean(per_token: torch.Tensor, mask: torch.Tensor, max_tokens: int) -> torch.Tensor:
    return (per_token * mask).sum() / mask.sum().clamp(min=1)


def _seq_mean(per_token: torch.Tensor, mask: torch.Tensor, max_tokens: int) -> torch.Tensor:
    per_seq = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # (B,)
    return per_seq.mean()


def _constant_normaliser(per_token: torch.Tensor, mask: torch.Tensor, max_tokens: int) -> torch.Tensor:
    # Dr. GRPO: divide by a constant, so long answers are not favoured or penalised by length.
    return (per_token * mask).sum() / (per_token.shape[0] * max_tokens)


AGGREGATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]] = {
    "token_mean": _token_mean,
    "seq_mean": _seq_mean,
    "constant_normaliser": _constant_normaliser,
}


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_logp: torch.Tensor | None = None,
    beta: float = _PLAIN.beta,
    clip_low: float = _PLAIN.clip_low,
    clip_high: float = _PLAIN.clip_high,
    aggregation: Aggregation = _PLAIN.aggregation,
    max_tokens: int | None = None,
    ratio_level: RatioLevel | str = _PLAIN.ratio_level,
    entropy_control: EntropyControl | str = _PLAIN.entropy_control,
    generator: torch.Generator | None = None,
    weights: torch.Tensor | None = None,
    entropy: torch.Tensor | None = None,
    entropy_coef: float = _PLAIN.entropy_coef,
    top_entropy_fraction: float = _PLAIN.top_entropy_fraction,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped policy-gradient loss with an optional KL anchor.

    logp, old_logp, ref_logp, mask: (B, T); advantages: (B,), one per row (GRPO), or (B, T), one per token
    (PPO's, from the critic: objectives/ppo.py). Returns (loss, metrics).
    ratio_level, entropy_control: variants (or their bare names) of variants.RATIO_LEVELS and
    variants.ENTROPY_CONTROLS; generator: the random stream of clip_cov's picks. weights (B, T): constant
    importance weights on the policy term (a mismatch mode's). entropy (B, T): the policy's token entropy,
    needed when entropy_coef > 0 (with its gradient) or top_entropy_fraction < 1.
    """
    mask = mask.to(logp.dtype)
    ratio = RATIO_LEVELS.build(ratio_level).ratio(logp, old_logp, mask)  # (B, T)
    adv = advantages[:, None] if advantages.dim() == 1 else advantages  # (B, 1) or (B, T)
    per_token, metrics = ENTROPY_CONTROLS.build(entropy_control).policy_loss(  # (B, T); "none" is the PPO clip
        ratio, advantages, logp, old_logp, mask, clip_low=clip_low, clip_high=clip_high, generator=generator
    )
    trained = mask  # the tokens the policy term acts on
    if top_entropy_fraction < 1.0:  # 80/20: only the highest-entropy tokens carry the policy gradient
        trained = mask * high_entropy_mask(entropy, mask, top_entropy_fraction).to(mask.dtype)
        per_token = per_token * trained
        metrics["entropy/trained_frac"] = (trained.sum() / mask.sum().clamp(min=1)).item()
    if weights is not None:  # sampler/trainer mismatch
        per_token = per_token * weights
    kl = torch.zeros_like(logp)
    if ref_logp is not None:
        delta = ref_logp - logp
        kl = torch.exp(delta) - delta - 1.0  # k3: unbiased, non-negative
        per_token = per_token + beta * kl
    aggregate = AGGREGATIONS[aggregation]
    loss = aggregate(per_token, mask, max_tokens or logp.shape[-1])
    if entropy_coef:  # a token mean over the trained tokens, whatever the aggregation (as TRL)
        bonus, bonus_metrics = entropy_bonus(entropy, trained, entropy_coef)
        loss = loss + bonus
        metrics.update(bonus_metrics)
    with torch.no_grad():
        tokens = mask.sum().clamp(min=1)
        was_clipped = ((ratio < 1.0 - clip_low) & (adv < 0)) | ((ratio > 1.0 + clip_high) & (adv > 0))
        metrics = {
            "loss": loss.item(),
            "kl": ((kl * mask).sum() / tokens).item(),
            "clip_frac": ((was_clipped.to(mask.dtype) * mask).sum() / tokens).item(),
            "ratio/mean": ((ratio * mask).sum() / tokens).item(),
            **metrics,
        }
    return loss, metrics


def micro_batch_weight(aggregation: Aggregation, micro_mask: torch.Tensor, total_tokens: float,
                       total_rows: int) -> float:
    """Weight of one micro-batch's loss so that accumulated gradients equal the full-batch loss's.

    token_mean divides by the number of tokens, the others by the number of rows; the totals
    are over the whole batch (every micro-batch, every rank).
    """
    if aggregation == "token_mean":
        return float(micro_mask.sum()) / max(total_tokens, 1.0)
    return micro_mask.shape[0] / max(total_rows, 1)
