"""The training config read as the arguments of grpo.py's and objectives.py's functions, and the warnings a
config earns. Kept out of trainer.py so that the loop reads as a loop."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from rlvr.train.config import TrainConfig
from rlvr.train.grpo import shape_rewards, token_entropy
from rlvr.train.objectives import backward_corrected_rewards
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
    algo = config.algo
    if config.data.reward_correction and algo.advantage == "grpo" and algo.scale_by_std \
            and not config.data.length_penalty:
        warnings.warn("data.reward_correction changes no advantage under std-scaled group advantages (the "
                      "backward correction is affine in the reward); set algo.scale_by_std=false for it to act, "
                      "or use algo.advantage=forward_correction.", UserWarning, stacklevel=3)


def warn_if_partial_credit(rewards: torch.Tensor, config: TrainConfig) -> bool:
    """The binary advantages (w_reinforce, pass_at_k, forward_correction) read reward >= 1 as right and
    anything less as wrong; partial credit (a gated format reward's 0.2, a rubric's 0.5) then counts as
    wrong. Warns, and returns True, when these rewards hold such a value."""
    if config.algo.advantage == "grpo":
        return False
    partial = rewards[(rewards > 0) & (rewards < 1)]
    if not partial.numel():
        return False
    warnings.warn(f"algo.advantage={config.algo.advantage} reads a reward of 1 as right and anything less as "
                  f"wrong, and this step's rewards include partial credit (e.g. {partial[0].item():g}), which "
                  "therefore counts as wrong.", UserWarning, stacklevel=2)
    return True


def reward_signal(rollouts: Rollouts, config: TrainConfig,
                  correction: tuple[float | None, float] | None = None) -> torch.Tensor:
    """The reward the advantages are computed from: the verifier's, backward-corrected for the verifier's
    (false-positive, false-negative) rates when `correction` gives them (unless the forward correction
    uses them instead), after the config's length control."""
    rewards = rollouts.rewards
    if correction is not None and config.algo.advantage != "forward_correction":
        rewards = backward_corrected_rewards(rewards, *correction)
    return shape_rewards(rewards, rollouts.truncated, rollouts.lengths(),
                         zero_truncated=config.data.truncated == "penalise",
                         length_penalty=config.data.length_penalty, max_tokens=config.sampling.max_new_tokens)


def advantage_options(config: TrainConfig, correction: tuple[float | None, float] | None = None
                      ) -> dict[str, Any]:
    """The keyword arguments of grpo.estimate_advantages (and kept_advantages) under this config; correction:
    the verifier's (false-positive, false-negative) rates, whose second the forward correction reads."""
    algo = config.algo
    options = {"baseline": algo.baseline, "scale_by_std": algo.scale_by_std,
               "positive_weight": algo.w_reinforce_weight, "pass_k": algo.pass_k}
    if correction is not None:
        options["false_negative_rate"] = correction[1]
    return options


def entropy_for(logits: torch.Tensor, config: TrainConfig) -> torch.Tensor | None:
    """Token entropy (b, T) when the objective reads it; with a gradient only for the entropy bonus."""
    algo = config.algo
    if not algo.entropy_coef and algo.top_entropy_fraction >= 1.0:
        return None
    with torch.set_grad_enabled(bool(algo.entropy_coef)):
        return token_entropy(logits, config.sampling.temperature)


def objective_options(config: TrainConfig, step: int, micro_index: int) -> dict[str, Any]:
    """grpo_loss's choices of objectives.py (GSPO, entropy control, the 80/20 mask, entropy bonus)."""
    algo = config.algo
    # clip_cov's random picks, a function of (seed, step, micro-batch): a resumed run draws the same.
    generator = torch.Generator().manual_seed(config.run.seed * 1_000_003 + step * 101 + micro_index)
    return {"ratio_level": algo.ratio_level, "entropy_control": algo.entropy_control,
            "control_options": {"cov_fraction": algo.cov_fraction, "cov_bounds": tuple(algo.clip_cov_bounds),
                                "kl_coef": algo.kl_cov_coef, "generator": generator},
            "entropy_coef": algo.entropy_coef, "top_entropy_fraction": algo.top_entropy_fraction}
