"""From the verifier's rewards to the reward the advantages read, and the warnings a reward setup earns.
Kept out of trainer.py so that the loop reads as a loop."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from rlvr.train.config import TrainConfig
from rlvr.train.objectives.grpo import shape_rewards
from rlvr.train.objectives.formulas import backward_corrected_rewards
from rlvr.train.rollouts import Rollouts


def warn_if_lenient(specs: list[Any]) -> None:
    """The format-neutral reading is for attribution; training on it rewards listing numbers."""
    if any(isinstance(s, dict) and (s.get("answer") == "lenient" or _lenient_part(s)) for s in specs):
        warnings.warn("the training reward reads answers leniently (answer: lenient, the last number in the text "
                      "counts): a policy can earn it by listing numbers; it is meant for attribution, not reward.",
                      UserWarning, stacklevel=3)


def _lenient_part(spec: dict) -> bool:
    return any(isinstance(p, dict) and isinstance(p.get("verifier"), dict) and p["verifier"].get("answer") == "lenient"
               for p in spec.get("parts", []))


def warn_if_correction_is_invisible(config: TrainConfig) -> None:
    """The backward correction is affine in the reward, so std-scaled group advantages cancel it."""
    advantage = config.algo.advantage
    if config.data.reward_correction and advantage.ignores_affine_rewards() and not config.data.length_penalty:
        warnings.warn("data.reward_correction changes no advantage under std-scaled group advantages (the "
                      "backward correction is affine in the reward); set algo.advantage={name: grpo, scale_by_std: "
                      "false} (algo.scale_by_std=false in older configs) for it to act, or use "
                      "algo.advantage=forward_correction.", UserWarning, stacklevel=3)


def warn_if_partial_credit(rewards: torch.Tensor, config: TrainConfig) -> bool:
    """The binary advantages (w_reinforce, pass_at_k, forward_correction) read reward >= 1 as right and
    anything less as wrong; partial credit (a gated format reward's 0.2, a rubric's 0.5) then counts as
    wrong. Warns, and returns True, when these rewards hold such a value."""
    if not config.algo.advantage.binary:
        return False
    partial = rewards[(rewards > 0) & (rewards < 1)]
    if not partial.numel():
        return False
    warnings.warn(f"algo.advantage={config.algo.advantage.name} reads a reward of 1 as right and anything less as "
                  f"wrong, and this step's rewards include partial credit (e.g. {partial[0].item():g}), which "
                  "therefore counts as wrong.", UserWarning, stacklevel=2)
    return True


def reward_signal(rollouts: Rollouts, config: TrainConfig,
                  correction: tuple[float | None, float] | None = None) -> torch.Tensor:
    """The reward the advantages are computed from: the verifier's, backward-corrected for the verifier's
    (false-positive, false-negative) rates when `correction` gives them (unless the advantage estimator
    corrects for them itself), after the config's length control."""
    rewards = rollouts.rewards
    if correction is not None and not config.algo.advantage.corrects_noise:
        rewards = backward_corrected_rewards(rewards, *correction)
    return shape_rewards(rewards, rollouts.truncated, rollouts.lengths(),
                         zero_truncated=config.data.truncated == "penalise",
                         length_penalty=config.data.length_penalty, max_tokens=config.sampling.max_new_tokens)
