"""PPO's critic maths: per-token rewards, GAE over the sampled tokens, the clipped value loss.

Shapes: R trained rows, T completion columns; mask (R, T) is 1 exactly on the tokens the policy sampled
(an episode's environment tokens and the right padding are 0: the one masking rule of the multi-turn
batches, rollouts.pad_batch).

    r_t     = -kl_coef * (old_logp_t - ref_logp_t)  + R * [t is the row's last sampled token]
    delta_t = r_t + gamma * V(next sampled token) - V_t
    A_t     = delta_t + gamma * lam * A(next sampled token)          (0 after the last sampled token)
    G_t     = A_t + V_t                                             (the value target)
    L_V     = 1/2 * max((V - G)^2, (clip(V, V_old - c, V_old + c) - G)^2), a mean over sampled tokens

The recursion runs over the sampled tokens only, in order: a masked token carries the next sampled token's
value and advantage through unchanged and gets no advantage itself. The policy's loss is grpo_loss with the
(R, T) advantages; nothing here is a second copy of it.
"""

from __future__ import annotations

import torch


def token_rewards(final: torch.Tensor, mask: torch.Tensor, kl: torch.Tensor | None = None,
                  kl_coef: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """final (R,): each row's reward, put on its last sampled token; kl (R, T): old_logp - ref_logp, whose
    kl_coef multiple is taken off every sampled token (InstructGPT's reward form). -> (R, T), metrics."""
    mask = mask.to(final.dtype)
    columns = torch.arange(mask.shape[1], device=mask.device)
    last = (mask * (columns + 1)).argmax(dim=-1)  # (R,): the last sampled column (0 for a row with none)
    rewards = torch.zeros_like(mask).scatter(1, last[:, None], final[:, None]) * mask
    metrics: dict[str, float] = {}
    if kl is not None and kl_coef:
        penalty = kl_coef * kl * mask
        rewards = rewards - penalty
        metrics["ppo/kl_penalty"] = (penalty.sum() / mask.sum().clamp(min=1)).item()
    return rewards, metrics


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 1.0
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over the sampled tokens: rewards, values, mask (R, T) ->
    (advantages, returns) (R, T), both 0 where mask is 0. Returns = advantages + values."""
    mask = mask.to(values.dtype)
    next_value = torch.zeros_like(values[:, 0])  # V of the next sampled token (0 past the last)
    next_advantage = torch.zeros_like(values[:, 0])
    advantages = torch.zeros_like(values)
    for t in reversed(range(values.shape[1])):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        here = delta + gamma * lam * next_advantage
        advantages[:, t] = here * m
        next_value = torch.where(m > 0, values[:, t], next_value)  # a masked token passes them through
        next_advantage = torch.where(m > 0, here, next_advantage)
    return advantages, (advantages + values) * mask


def whiten(values: torch.Tensor, mask: torch.Tensor, total: tuple[float, float, float] | None = None
           ) -> torch.Tensor:
    """(values - mean) / std over the sampled tokens (std with Bessel's correction, as verl's masked_whiten);
    0 where mask is 0. total: (count, sum, sum of squares) over the whole batch (every rank), else this one's."""
    mask = mask.to(values.dtype)
    count, first, second = total or moments(values, mask)
    mean = first / max(count, 1.0)
    var = (second - count * mean**2) / max(count - 1.0, 1.0)
    return (values - mean) * torch.rsqrt(torch.tensor(max(var, 0.0) + 1e-8, dtype=values.dtype)) * mask


def moments(values: torch.Tensor, mask: torch.Tensor) -> tuple[float, float, float]:
    """(count, sum, sum of squares) of the sampled tokens' values: what `whiten` and `explained_variance`
    need, summed over ranks by the caller."""
    mask = mask.to(values.dtype)
    return float(mask.sum()), float((values * mask).sum()), float((values**2 * mask).sum())


def explained_variance(target: tuple[float, float, float], residual: tuple[float, float, float]) -> float:
    """1 - Var(returns - values) / Var(returns) from the moments of both: 1 is a perfect critic, 0 one that
    predicts the mean, below 0 one worse than the mean."""
    def var(m: tuple[float, float, float]) -> float:
        count = max(m[0], 1.0)
        return m[2] / count - (m[1] / count) ** 2

    spread = var(target)
    return 1.0 - var(residual) / spread if spread > 1e-12 else 0.0


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped value loss per token (R, T): 1/2 max((V - G)^2, (V_clipped - G)^2), V_clipped within
    `clip` of the values the rollouts were scored with (clip 0: unclipped); and which tokens the clip bound
    (R, T) bool. The caller aggregates over the sampled tokens."""
    unclipped = (values - returns) ** 2
    if not clip:
        return 0.5 * unclipped * mask, torch.zeros_like(mask, dtype=torch.bool)
    clipped = (old_values + (values - old_values).clamp(-clip, clip) - returns) ** 2
    return 0.5 * torch.maximum(unclipped, clipped) * mask, (clipped > unclipped) & (mask > 0)
