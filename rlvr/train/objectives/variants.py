"""The update's choices as registered option objects: each variant a small frozen dataclass of its own options.

    algo:
      advantage: {name: pass_at_k, k: 4}     # a variant and its options
      ratio_level: sequence                  # a bare name: the variant with its defaults
      mismatch: {name: tis, cap: 2.0}        # on the command line: algo.mismatch=tis algo.mismatch.cap=2

One registry per kind, keyed by name, like the verifiers': ADVANTAGES (algo.advantage), RATIO_LEVELS
(algo.ratio_level), MISMATCH_MODES (algo.mismatch), ENTROPY_CONTROLS (algo.entropy_control); the group
rewards (data.group_reward) are the fifth, in group_rewards.py. A variant's fields are its options, each with
its one default, its type, its range and its meaning (`option`), so the config checks them, and `rlvr train
--help` and the README's configuration reference print them; the machinery (option, Variant, Registry) is
rlvr.config's. The formulas stay in formulas.py; a variant's method calls them. This module imports no
torch: `rlvr --help` reads it.

A new variant, from outside the package (docs/extending.md has it as a worked example, which
tests/examples/test_new_advantage.py runs):

    @ADVANTAGES.register("centred")
    @dataclass(frozen=True)
    class Centred(AdvantageEstimator):
        \"\"\"r minus the group's mean, times `scale`.\"\"\"
        scale: float = option(1.0, "multiplies every advantage", low=0.0)

        def __call__(self, rewards, correction=None):
            return self.scale * (rewards - rewards.mean(-1, keepdim=True)), {}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from rlvr._errors import ConfigError
from rlvr.config import Registry, Variant, option

if TYPE_CHECKING:
    import torch

    Metrics = dict[str, float]

__all__ = ["ADVANTAGES", "ENTROPY_CONTROLS", "MISMATCH_MODES", "RATIO_LEVELS", "AdvantageEstimator",
           "EntropyControl", "MismatchMode", "RatioLevel"]


# ---------------------------------------------------------------------------------------------------------------
# 1. Advantage estimators: rewards (G, K) -> advantages (G, K), metrics


@dataclass(frozen=True)
class AdvantageEstimator(Variant):
    """rewards (G, K) -> (advantages (G, K), metrics). correction: the verifier's (false-positive,
    false-negative) rates from data.reward_correction, or None; only an estimator that corrects for a noisy
    verifier itself reads them.

    binary: the estimator reads a reward of 1 as right and anything less as wrong (so no length penalty,
    and a warning on partial credit). corrects_noise: it takes the verifier's rates itself, so the rewards
    are not backward-corrected first and only the false-negative rate is needed.
    """

    key: ClassVar[str] = "algo.advantage"
    binary: ClassVar[bool] = False
    corrects_noise: ClassVar[bool] = False

    def __call__(self, rewards: torch.Tensor, correction: tuple[float | None, float] | None = None
                 ) -> tuple[torch.Tensor, Metrics]:
        raise NotImplementedError

    def ignores_affine_rewards(self) -> bool:
        """True when a * r + b (a > 0) gives the same advantages as r, so the backward correction cannot act."""
        return False

    def check_group(self, kept: int) -> str | None:
        """Why this estimator cannot work on groups of `kept` rollouts (one sentence, no full stop), or None."""
        return None


ADVANTAGES: Registry[AdvantageEstimator] = Registry(AdvantageEstimator, "advantage estimator")


@ADVANTAGES.register("grpo")
@dataclass(frozen=True)
class Grpo(AdvantageEstimator):
    """GRPO: (r - baseline) / std within each group; a group whose rewards are all equal gets 0."""

    baseline: Literal["mean", "median", "rloo"] = option(
        "mean", "the group's baseline: mean, median (the lower one for even K), or rloo (the mean of the other K-1)")
    scale_by_std: bool = option(True, "divide by the group's std; false = Dr. GRPO")

    def __call__(self, rewards, correction=None):
        from rlvr.train.objectives.formulas import group_advantages

        return group_advantages(rewards, self.baseline, self.scale_by_std)

    def ignores_affine_rewards(self) -> bool:
        return self.scale_by_std


@ADVANTAGES.register("w_reinforce")
@dataclass(frozen=True)
class WReinforce(AdvantageEstimator):
    """W-REINFORCE: a correct sample gets positive_weight, a wrong one -1; no baseline, no std."""

    binary: ClassVar[bool] = True
    positive_weight: float = option(0.1, "a correct sample's advantage (a wrong one gets -1)", low=0.0)

    def __call__(self, rewards, correction=None):
        from rlvr.train.objectives.formulas import w_reinforce

        return w_reinforce(rewards, positive_weight=self.positive_weight)


@ADVANTAGES.register("pass_at_k")
@dataclass(frozen=True)
class PassAtK(AdvantageEstimator):
    """Pass@k training: the closed-form advantages of the best of k samples (k = 1 is GRPO's)."""

    binary: ClassVar[bool] = True
    k: int = option(4, "the k of pass@k: 1 <= k <= the rollouts kept per group")

    def __call__(self, rewards, correction=None):
        from rlvr.train.objectives.formulas import pass_at_k

        return pass_at_k(rewards, k=self.k)

    def check(self) -> str | None:
        return None if self.k >= 1 else self._out_of_range("")

    def check_group(self, kept: int) -> str | None:
        return None if 1 <= self.k <= kept else self._out_of_range(f" ({kept})")

    def _out_of_range(self, kept: str) -> str:
        return f"{self.label('k')} must be between 1 and the rollouts kept per group{kept}, got {self.k}"


@ADVANTAGES.register("forward_correction")
@dataclass(frozen=True)
class ForwardCorrection(AdvantageEstimator):
    """The forward correction for a noisy verifier: weights rho1 if it said 1, rho1 - 1 if it said 0, with
    rho1 the false-negative rate of data.reward_correction."""

    binary: ClassVar[bool] = True
    corrects_noise: ClassVar[bool] = True

    def __call__(self, rewards, correction=None):
        from rlvr.train.objectives.formulas import forward_correction

        if correction is None:
            raise ConfigError("algo.advantage=forward_correction needs the verifier's false-negative rate; give "
                              "data.reward_correction={false_negative_rate: 0.1}.")
        return forward_correction(rewards, false_negative_rate=correction[1])


# ---------------------------------------------------------------------------------------------------------------
# 2. Ratio levels: the importance ratio pi / pi_old


@dataclass(frozen=True)
class RatioLevel(Variant):
    """(logp, old_logp, mask) (B, T) -> the importance ratio (B, T) that the clipped objective reads."""

    key: ClassVar[str] = "algo.ratio_level"

    def ratio(self, logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


RATIO_LEVELS: Registry[RatioLevel] = Registry(RatioLevel, "ratio level")


@RATIO_LEVELS.register("token")
@dataclass(frozen=True)
class TokenRatio(RatioLevel):
    """PPO/GRPO: one ratio per token."""

    def ratio(self, logp, old_logp, mask):
        from rlvr.train.objectives.formulas import token_ratio

        return token_ratio(logp, old_logp, mask)


@RATIO_LEVELS.register("sequence")
@dataclass(frozen=True)
class SequenceRatio(RatioLevel):
    """GSPO: the length-normalised ratio of the whole completion, clipped as a whole (clip it far tighter,
    ~3e-4 / 4e-4)."""

    def ratio(self, logp, old_logp, mask):
        from rlvr.train.objectives.formulas import sequence_ratio

        return sequence_ratio(logp, old_logp, mask)


# ---------------------------------------------------------------------------------------------------------------
# 3. Sampler/trainer mismatch: importance weights pi_trainer / pi_sampler on the policy term


@dataclass(frozen=True)
class MismatchMode(Variant):
    """(trainer_logp, sampler_logp, mask) (B, T) -> (weights (B, T), metrics). corrects: the ratio's old
    log-probs become the trainer's own and the loss is weighted (False: the sampler's old log-probs, no weights)."""

    key: ClassVar[str] = "algo.mismatch"
    corrects: ClassVar[bool] = True

    def weights(self, trainer_logp: torch.Tensor, sampler_logp: torch.Tensor, mask: torch.Tensor
                ) -> tuple[torch.Tensor, Metrics]:
        raise NotImplementedError


MISMATCH_MODES: Registry[MismatchMode] = Registry(MismatchMode, "mismatch mode")


@MISMATCH_MODES.register("none")
@dataclass(frozen=True)
class NoMismatch(MismatchMode):
    """No correction: the ratio's old log-probs are the sampler's."""

    corrects: ClassVar[bool] = False

    def weights(self, trainer_logp, sampler_logp, mask):
        from rlvr.train.objectives.formulas import no_mismatch_correction

        return no_mismatch_correction(trainer_logp, sampler_logp, mask)


@dataclass(frozen=True)
class _CappedMismatch(MismatchMode):
    """pi_trainer / pi_sampler per token (or its product over the sequence), truncated to [cap_min, cap]
    or kept only inside it."""

    sequence: ClassVar[bool] = False
    truncate: ClassVar[bool] = True
    cap: float = option(3.0, "the upper bound of pi_trainer / pi_sampler", low=1.0,
                        why="it caps pi_trainer / pi_sampler, which is 1 where the two agree")
    cap_min: float = option(0.0, "the lower bound of pi_trainer / pi_sampler (0 = none, TRL's default)", low=0.0,
                            high=1.0, why="it bounds pi_trainer / pi_sampler from below, and 1 is where the two "
                                          "agree; 0 = no bound")

    def weights(self, trainer_logp, sampler_logp, mask):
        from rlvr.train.objectives.formulas import capped_mismatch

        return capped_mismatch(trainer_logp, sampler_logp, mask, cap=self.cap, cap_min=self.cap_min,
                               sequence=self.sequence, truncate=self.truncate)

    def check(self) -> str | None:
        if not self.truncate and self.cap_min >= self.cap:
            low, high = self.label("cap_min"), self.label("cap")
            return (f"{self.key}={self.name} keeps only the tokens whose pi_trainer / pi_sampler lies in [{low}, "
                    f"{high}] = [{self.cap_min:g}, {self.cap:g}], which every token with any mismatch falls "
                    f"outside; lower {low} or raise {high}")
        return None


@MISMATCH_MODES.register("tis")
@dataclass(frozen=True)
class Tis(_CappedMismatch):
    """Truncated importance sampling: w_t = clamp(r_t, cap_min, cap) per token (TRL token_truncate)."""


@MISMATCH_MODES.register("token_mask")
@dataclass(frozen=True)
class TokenMask(_CappedMismatch):
    """w_t = r_t where cap_min <= r_t <= cap, else 0 (TRL token_mask)."""

    truncate: ClassVar[bool] = False


@MISMATCH_MODES.register("sequence_tis")
@dataclass(frozen=True)
class SequenceTis(_CappedMismatch):
    """w = clamp(prod_t r_t, cap_min, cap) for the whole sequence (TRL sequence_truncate)."""

    sequence: ClassVar[bool] = True


@MISMATCH_MODES.register("sequence_mask")
@dataclass(frozen=True)
class SequenceMask(_CappedMismatch):
    """w = R where cap_min <= R <= cap, else 0, with R = prod_t r_t: whole sequences are masked."""

    sequence: ClassVar[bool] = True
    truncate: ClassVar[bool] = False


# ---------------------------------------------------------------------------------------------------------------
# 4. Entropy control: the clipped objective, or one that keeps entropy from collapsing


@dataclass(frozen=True)
class EntropyControl(Variant):
    """The per-token policy loss (B, T) from the ratio, the advantages (B,) and the log-probs; clip_low and
    clip_high are algo's, generator the micro-batch's random stream (for random picks)."""

    key: ClassVar[str] = "algo.entropy_control"

    def policy_loss(self, ratio: torch.Tensor, advantages: torch.Tensor, logp: torch.Tensor,
                    old_logp: torch.Tensor, mask: torch.Tensor, *, clip_low: float, clip_high: float,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, Metrics]:
        raise NotImplementedError


ENTROPY_CONTROLS: Registry[EntropyControl] = Registry(EntropyControl, "entropy control")


@ENTROPY_CONTROLS.register("none")
@dataclass(frozen=True)
class PpoClip(EntropyControl):
    """The PPO clip: -min(r A, clip(r, 1 - clip_low, 1 + clip_high) A)."""

    def policy_loss(self, ratio, advantages, logp, old_logp, mask, *, clip_low, clip_high, generator=None):
        from rlvr.train.objectives.formulas import ppo_clip

        return ppo_clip(ratio, advantages, logp, old_logp, mask, clip_low=clip_low, clip_high=clip_high)


_COV_FRACTION = dict(low=0.0, low_open=True, high=1.0)


@ENTROPY_CONTROLS.register("clip_cov")
@dataclass(frozen=True)
class ClipCov(EntropyControl):
    """Clip-Cov (Cui et al. 2025): the PPO clip, and no gradient for a random cov_fraction of the tokens whose
    covariance of advantage and log-prob lies in cov_bounds."""

    cov_fraction: float = option(2e-4, "the share of tokens whose gradient is dropped", **_COV_FRACTION)
    cov_bounds: tuple[float, ...] = option((1.0, 5.0), "[low, high]: the covariances of the candidate tokens "
                                                       "(strict bounds)")

    def policy_loss(self, ratio, advantages, logp, old_logp, mask, *, clip_low, clip_high, generator=None):
        from rlvr.train.objectives.formulas import clip_cov

        return clip_cov(ratio, advantages, logp, old_logp, mask, clip_low=clip_low, clip_high=clip_high,
                        cov_fraction=self.cov_fraction, cov_bounds=self.cov_bounds, generator=generator)

    def check(self) -> str | None:
        bounds = self.cov_bounds
        if len(bounds) != 2 or not bounds[0] < bounds[1]:
            return (f"{self.label('cov_bounds')} must be two numbers [low, high] with low < high, "
                    f"got {list(bounds)}")
        return None


@ENTROPY_CONTROLS.register("kl_cov")
@dataclass(frozen=True)
class KlCov(EntropyControl):
    """KL-Cov (Cui et al. 2025): no clip; kl_coef * |logp - old_logp| on the cov_fraction of tokens with the
    highest covariance of advantage and log-prob."""

    cov_fraction: float = option(2e-4, "the share of tokens penalised", **_COV_FRACTION)
    kl_coef: float = option(1.0, "the weight of |logp - old_logp| on those tokens", low=0.0)

    def policy_loss(self, ratio, advantages, logp, old_logp, mask, *, clip_low, clip_high, generator=None):
        from rlvr.train.objectives.formulas import kl_cov

        return kl_cov(ratio, advantages, logp, old_logp, mask, cov_fraction=self.cov_fraction, kl_coef=self.kl_coef)
