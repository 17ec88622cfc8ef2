"""The objective: how rewards become advantages and advantages a loss, and the options that choose how.

    grpo.py           the GRPO update on one screen: estimate_advantages, grpo_loss, shape_rewards,
                      prune_rollouts (PODS), micro_batch_weight
    formulas.py       one function per choice, with its paper: ratio levels, mismatch weights, entropy
                      control, the advantage estimators, the noisy-verifier corrections
    variants.py       the registered option objects (ADVANTAGES, RATIO_LEVELS, MISMATCH_MODES,
                      ENTROPY_CONTROLS) that the config's algo keys name and that call the formulas
    group_rewards.py  GROUP_REWARDS: a reward computed from a whole group (data.group_reward)
    ppo.py            PPO's critic maths (algo.name=ppo): per-token rewards, masked GAE, whitening, the clipped
                      value loss; the policy's loss stays grpo_loss, with per-token advantages

Names load on first use: the config reads variants.py and group_rewards.py, which import no torch.
"""

from __future__ import annotations

from rlvr._lazy import lazy_exports

_EXPORTS = {
    "estimate_advantages": "grpo", "group_advantages": "grpo", "grpo_loss": "grpo", "kept_advantages": "grpo",
    "micro_batch_weight": "grpo", "prune_rollouts": "grpo", "shape_rewards": "grpo",
    "ADVANTAGES": "variants", "ENTROPY_CONTROLS": "variants", "MISMATCH_MODES": "variants",
    "RATIO_LEVELS": "variants", "AdvantageEstimator": "variants", "EntropyControl": "variants",
    "MismatchMode": "variants", "RatioLevel": "variants",
    "GROUP_REWARDS": "group_rewards", "GroupReward": "group_rewards",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
