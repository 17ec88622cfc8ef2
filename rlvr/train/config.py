"""The training config: small typed sections, read from YAML plus `section.key=value` overrides.

    model: smollm2-135m-instruct
    data:   {train: train.jsonl, eval: test.jsonl, prompts_per_step: 8}
    algo:   {group_size: 8, beta: 0.0, clip_high: 0.28}
    run:    {output_dir: runs/add, steps: 40}

Validated once (unknown keys and wrong types are one-sentence errors) and written back,
resolved, as `config.yaml` in the run directory. Each section owns its defaults. The reading, the
options and the variants' machinery are rlvr.config's; this module holds the training config's sections,
its cross-section checks and its old keys.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rlvr._errors import ConfigError, DataError
from rlvr._io import read_json_file
from rlvr.config import (
    Registry,
    as_data,
    build,
    option,
    read_config,
    read_number,
    read_variant,
    reference_table,
    shown,
    spelled,
    variant_keys,
)
from rlvr.config import config_help as _config_help
from rlvr.models.generation import DEFAULT_K, Decoding
from rlvr.models.spec import DEFAULT_MODEL, DEFAULT_PRECISION, GPU_MEMORY_SHARE, EngineSpec, engine_spec
from rlvr.monitor.health import HealthThresholds
from rlvr.train.objectives.group_rewards import GROUP_REWARDS
from rlvr.train.objectives.variants import (
    ADVANTAGES,
    ENTROPY_CONTROLS,
    MISMATCH_MODES,
    RATIO_LEVELS,
    AdvantageEstimator,
    EntropyControl,
    Grpo,
    MismatchMode,
    NoMismatch,
    PpoClip,
    RatioLevel,
    Tis,
    TokenRatio,
)


@dataclass(frozen=True)
class SamplingSection(Decoding):
    """How rollouts are drawn (Decoding's fields: temperature, top_p, top_k, max_new_tokens) and on what
    engine. K is algo.group_size and the seed run.seed, so neither is a key here."""

    batch_size: int = option(32, "rows decoded together (hf engine)", low=1)
    engine: Literal["hf", "vllm"] = option("hf", "hf: HFEngine (CPU or GPU); vllm: VLLMEngine colocated on one "
                                                 "CUDA GPU, weights pushed after each update")
    gpu_memory_utilization: float = option(GPU_MEMORY_SHARE, "vllm: the share of the GPU's memory vLLM may take",
                                           low=0.0, low_open=True, high=1.0)
    precision: Literal["auto", "fp32", "bf16"] = option(
        DEFAULT_PRECISION, "fp32: sample in the weights' own precision; bf16: from a bfloat16 copy of the weights "
                           "(hf: refreshed after each update; vllm: a bf16 model), whose log-probs then differ from "
                           "the trainer's (see algo.mismatch); auto: bf16 where the hardware multiplies it natively "
                           "(CUDA with bf16; a CPU with AVX512-BF16 or AMX), else fp32. config.yaml holds the "
                           "resolved one")


@dataclass(frozen=True, eq=False)
class _UnsetMismatch(NoMismatch):
    """algo.mismatch as the defaults leave it: none, until the trainer knows its sampler (`resolved`); as a
    value it is none (a config that writes `mismatch: none` equals one that leaves it out)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoMismatch)

    __hash__ = NoMismatch.__hash__


# The correction when the sampler samples in bf16 from float32 weights and algo.mismatch is unset: truncated
# importance sampling per token, w_t = min(pi_trainer / pi_sampler, 2), the truncated IS of Yao et al. (2025)
# with their cap of 2, as TRL's GRPOTrainer corrects its vLLM sampler by default (TRL 1.16's default mode is
# sequence_mask with a cap of 3: whole sequences dropped, which a bf16 rounding gap on every token would do
# to many long ones).
BF16_SAMPLER_MISMATCH = Tis(cap=2.0)


@dataclass(frozen=True)
class AlgoSection:
    """The update; every choice below defaults to plain GRPO (formulas: objectives/grpo.py and
    objectives/formulas.py). The four variant keys take a name, or {name: ..., option: value} (their options:
    objectives/variants.py)."""

    name: Literal["grpo", "ppo"] = option("grpo", "the optimizer: grpo (group-relative advantages, no critic) or "
                                                  "ppo (a learned critic, GAE; the critic: section)")
    group_size: int = option(8, "K, the completions sampled per prompt (grpo: at least 2, its advantages compare "
                                "within a group; ppo: 1 is enough)", low=1)
    advantage: AdvantageEstimator = option(Grpo(), "how rewards become advantages: grpo ((r - baseline) / std), "
                                                   "w_reinforce, pass_at_k or forward_correction")
    clip_low: float = option(0.2, "the ratio is clipped below at 1 - clip_low")
    clip_high: float = option(0.2, "the ratio is clipped above at 1 + clip_high (DAPO uses 0.28)")
    beta: float = option(0.0, "the KL weight; 0 loads no reference model", low=0.0)
    aggregation: Literal["token_mean", "seq_mean", "constant_normaliser"] = option(
        "token_mean", "how per-token losses become one: the mean over tokens, the mean of each sequence's mean, "
                      "or the sum over a constant (Dr. GRPO)")
    ppo_epochs: int = option(1, "optimisation passes over one batch of rollouts", low=1)
    ratio_level: RatioLevel = option(TokenRatio(), "the importance ratio: token, or sequence (GSPO: clip it far "
                                                   "tighter, ~3e-4 / 4e-4)")
    mismatch: MismatchMode = option(_UnsetMismatch(), "sampler/trainer mismatch: none, or importance weights "
                                                      "pi_trainer / pi_sampler on the loss, truncated (tis, "
                                                      "sequence_tis) or masked (token_mask, sequence_mask); left "
                                                      "unset: tis with cap 2 when the sampler samples in bf16 from "
                                                      "float32 weights, else none")
    entropy_coef: float = option(0.0, "loss -= entropy_coef * the mean token entropy", low=0.0,
                                 why="it is a bonus for entropy")
    entropy_control: EntropyControl = option(PpoClip(), "the clipped objective: none (the PPO clip), clip_cov "
                                                        "or kl_cov (covariance-based, Cui et al. 2025)")
    top_entropy_fraction: float = option(1.0, "train on this share of the highest-entropy tokens only (0.2: the "
                                              "80/20 rule); 1 = all", low=0.0, low_open=True, high=1.0)
    # PPO's keys (algo.name=ppo); the critic itself is the critic: section.
    gamma: float = option(1.0, "ppo: GAE's discount per sampled token", low=0.0, high=1.0)
    lam: float = option(1.0, "ppo: GAE's lambda (1: the return minus the value; lower trusts the critic more)",
                        low=0.0, high=1.0)
    kl_in_reward: float = option(0.0, "ppo: a per-token KL penalty to the reference in the reward, r_t -= "
                                      "kl_in_reward * (log pi_old - log pi_ref) (InstructGPT, Tulu 3), instead of "
                                      "algo.beta's loss term; > 0 loads the reference model", low=0.0)
    whiten: bool = option(True, "ppo: whiten the advantages over the batch's sampled tokens (mean 0, std 1)")

    def __post_init__(self) -> None:  # a spec given in Python (a name or a mapping) becomes its variant
        for name, registry in _VARIANT_KEYS.items():
            object.__setattr__(self, name, registry.build(getattr(self, name)))


# The algo keys that choose a variant, and the registry of each.
_VARIANT_KEYS: dict[str, Registry] = {"advantage": ADVANTAGES, "ratio_level": RATIO_LEVELS,
                                      "mismatch": MISMATCH_MODES, "entropy_control": ENTROPY_CONTROLS}


@dataclass(frozen=True)
class OptimSection:
    lr: float = option(1e-5, "the AdamW learning rate", low=0.0, low_open=True)
    weight_decay: float = option(0.0, "AdamW's weight decay")
    warmup_steps: int = option(0, "steps of linear learning-rate warm-up")
    max_grad_norm: float = option(1.0, "gradients are clipped to this global norm")
    micro_batch: int = option(16, "rows per forward/backward; gradients accumulate over the batch", low=1)
    mixed_precision: Literal["auto", "bf16", "fp32"] = option(
        "auto", "bf16 autocast for the update (float32 weights and optimizer state kept): auto = on for float32 "
                "weights where the hardware has native bf16 (CUDA; CPU with AVX512-BF16 or AMX), bf16 = on, "
                "fp32 = float32 only")
    bucket_by_length: bool = option(True, "micro-batches of rows of similar length, each cut to the columns its "
                                          "rows use (no padding beyond them), the batch cut where the fewest "
                                          "positions run")
    fused_head: bool = option(True, "log-probabilities straight from the last hidden states, the vocabulary "
                                    "projection a block at a time, so the (B, T, V) logits never exist (one "
                                    "process, no LoRA, a plain lm_head; no entropy bonus or mask)")
    share_prompts: bool = option(True, "with the fused head, each distinct prompt of a micro-batch runs through "
                                       "the model once and its K samples continue from its cached keys and "
                                       "values (the same gradients, (K - 1) x the prompt's tokens fewer); "
                                       "micro-batches then hold whole groups")
    max_nonfinite_steps: int = option(3, "update steps whose loss or gradient norm is not finite are skipped; "
                                         "the run stops at the first one beyond this many (0 = at the first)",
                                      low=0)


@dataclass(frozen=True)
class DataSection:
    train: str = option("", "the training task file (JSONL)")
    reward: str | dict = option("", "the training reward: a verifier spec replacing each training task's own "
                                    "verifier, e.g. a gated compose of format and correctness (\"\" = the tasks' "
                                    "verifiers); evaluation always uses the tasks' own")
    eval: str | tuple[str, ...] = option("", "held-out task files evaluated at the start and end (\"\" = none): "
                                             "one file, or a list such as [heldout.jsonl, other_family.jsonl]")
    eval_k: int = option(DEFAULT_K, "samples per held-out task (pass@k up to this k)", low=1)
    prompts_per_step: int = option(8, "prompts sampled per update step", low=1)
    dynamic_filter: bool = option(False, "drop zero-variance groups and draw more prompts")
    max_draws: int = option(3, "with dynamic_filter: at most this many draws of prompts_per_step prompts a step")
    keep_frac: float = option(1.0, "rollout pruning (PODS): keep this share of each group's rollouts, the "
                                   "highest and lowest rewards", low=0.0, low_open=True, high=1.0)
    schedule: Literal["shuffle", "difficulty", "pass_rate"] = option(
        "shuffle", "the order of prompts within an epoch: shuffled, easy to hard by meta.difficulty, or easy to "
                   "hard by the base pass rate that `rlvr curate` writes into meta.pass_rate")
    truncated: Literal["keep", "mask", "penalise"] = option(
        "keep", "completions that hit max_new_tokens: keep them, mask them out of the loss, or reward them 0")
    length_penalty: float = option(0.0, "reward -= length_penalty * tokens / max_new_tokens")
    verifier_backend: Literal["local", "ray"] = option(
        "local", "where rollouts are verified: worker processes/threads here, or Ray tasks (pip install "
                 "'rlvr[ray]')")
    verifier_workers: int = option(2, "checks run in parallel (worker processes, threads or Ray tasks)", low=1)
    strict_references: bool = option(False, "a task whose verifier cannot read its reference is listed in a "
                                            "warning before training; true makes it an error")
    overlap_verify: bool = option(True, "verify the groups of one decoding batch while the engine decodes the "
                                        "next (hf engine); false = after all")
    ray_address: str = option("", "the Ray cluster to join (\"\" = $RAY_ADDRESS, else a local Ray instance)")
    group_reward: str | dict = option("", "a reward computed from a whole group, replacing the verifier's "
                                          "(\"\" = none): a name of group_rewards.GROUP_REWARDS, e.g. majority "
                                          "(TTRL: 1.0 for the group's majority answer, needs no reference)",
                                      registry=GROUP_REWARDS)
    reward_correction: str | dict = option(
        "", "a noisy verifier's error rates (\"\" = none): {false_positive_rate: 0.05, false_negative_rate: 0.1}, "
            "or the path of an `rlvr audit --json` report; they backward-correct the rewards, or give "
            "algo.advantage=forward_correction its weights")

    @property
    def eval_files(self) -> tuple[str, ...]:
        return (self.eval,) if isinstance(self.eval, str) and self.eval else tuple(self.eval or ())


def correction_rates(spec: str | dict, *, forward: bool = False) -> tuple[float | None, float] | None:
    """The verifier's (false-positive, false-negative) rates: given as a mapping, or read from the summary
    of an `rlvr audit --json` report; ConfigError, one sentence, when they are missing or unusable.
    forward: for the forward correction, which needs only the false-negative rate (rho0 is None if absent)."""
    if not spec:
        return None
    names = ("false_positive_rate", "false_negative_rate")
    if isinstance(spec, str):
        try:
            report = read_json_file(spec, "audit report")
        except (ConfigError, DataError) as exc:
            raise ConfigError(f"data.reward_correction: {str(exc).rstrip('.')}.") from None
        rates = report.get("summary") if isinstance(report, dict) and report.get("rlvr_audit") else None
        if not isinstance(rates, dict):
            raise ConfigError(f"data.reward_correction: {spec} is not an `rlvr audit --json` report "
                              "(no rlvr_audit summary); write one with `rlvr audit TARGET --json FILE`.")
        if forward and rates.get("must_fail") == 0:  # the forward correction needs only the false-negative rate
            rates = {**rates, "false_positive_rate": None}
        measures = {"must_fail": "false-positive", "must_pass": "false-negative"}
        for count in ("must_pass",) if forward else ("must_fail", "must_pass"):
            if rates.get(count) == 0:
                raise ConfigError(f"data.reward_correction: the audit in {spec} has no {count.replace('_', '-')} "
                                  f"cases, so it cannot measure the {measures[count]} rate; audit with a suite "
                                  "that has both.")
    else:
        rates = spec
        unknown = sorted(set(rates) - set(names))
        if unknown:
            raise ConfigError(f"data.reward_correction: unknown key '{unknown[0]}'; give false_positive_rate and "
                              "false_negative_rate, or the path of an `rlvr audit --json` report.")
    values = [read_number(rates.get(name)) for name in names]
    needed = names[1:] if forward and rates.get(names[0]) is None else names
    missing = [name for name, value in zip(names, values) if name in needed and value is None]
    if missing:
        raise ConfigError(f"data.reward_correction needs a number for {missing[0]}.")
    rho0, rho1 = values
    if rho0 is None:  # the forward correction without a false-positive rate
        if not 0.0 <= rho1 < 1.0:
            raise ConfigError(f"data.reward_correction: false_negative_rate must lie in [0, 1), got {rho1:g}.")
        return None, rho1
    if not (0.0 <= rho0 < 1.0 and 0.0 <= rho1 < 1.0 and rho0 + rho1 < 1.0):
        raise ConfigError(f"data.reward_correction: the rates must lie in [0, 1) and sum to less than 1 (a verifier "
                          f"no better than chance cannot be corrected), got false_positive_rate={rho0:g}, "
                          f"false_negative_rate={rho1:g}.")
    return rho0, rho1


@dataclass(frozen=True)
class RunSection:
    output_dir: str = option("runs/grpo", "the run directory: config, logs, checkpoints, evaluations")
    steps: int = option(20, "update steps", low=1)
    seed: int = option(0, "the seed of the prompt order, the sampler and the update", low=0, high=2**32 - 1)
    checkpoint_every: int = option(10, "steps between checkpoints (and at the last step)", low=1)
    keep_checkpoints: int = option(2, "checkpoints kept; older ones are deleted", low=1)
    checkpoint_optimizer: bool = option(True, "checkpoints hold the optimizer state, which --resume needs; false: "
                                              "the weights without it, a third of the size (full fine-tuning with "
                                              "AdamW), not resumable")
    loggers: tuple[str, ...] = option((), "metric loggers besides the run's own log: tensorboard, wandb (offline "
                                          "unless WANDB_MODE says otherwise), mlflow")


@dataclass(frozen=True)
class LoraSection:
    """LoRA adapters instead of full fine-tuning (needs `pip install 'rlvr[lora]'`); see runtime/lora.py."""

    enabled: bool = option(False, "train LoRA adapters instead of every weight")
    r: int = option(16, "the adapter rank", low=1)
    alpha: int = option(32, "the adapter's output is scaled by alpha / r", low=0, low_open=True)
    dropout: float = option(0.0, "adapter dropout; > 0 makes the training forward differ from the sampling one",
                            low=0.0, high=1.0, high_open=True)
    target_modules: tuple[str, ...] = option(("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                              "down_proj"), "the layers that get adapters")


@dataclass(frozen=True)
class CriticSection:
    """PPO's value model (algo.name=ppo; see rlvr/train/critic.py): V(s_t) for every sampled token."""

    shared: bool = option(False, "false: a separate copy of the policy's decoder with a scalar value head, "
                                 "trained whole (verl, OpenRLHF); true: a value head on the policy's own last "
                                 "hidden state, trained alone (no second model: half the memory)")
    lr: float = option(1e-5, "the critic's AdamW learning rate", low=0.0, low_open=True)
    warmup_steps: int = option(0, "the first steps train only the critic (the policy's update waits until the "
                                  "values mean something)", low=0)
    micro_batch: int = option(16, "rows per critic forward/backward", low=1)
    value_clip: float = option(0.2, "the new value stays within this of the value the rollouts were scored "
                                    "with, as PPO's clipped value loss (0 = unclipped)", low=0.0)
    epochs: int = option(1, "the critic's optimisation passes over one batch", low=1)


@dataclass(frozen=True)
class TrainConfig:
    model: str = option(DEFAULT_MODEL, "the policy: a model alias (rlvr models), a Hugging Face id or a local "
                                       "directory")
    dtype: Literal["float32", "bfloat16"] = option("float32", "the weights' dtype")
    sampling: SamplingSection = field(default_factory=SamplingSection)
    algo: AlgoSection = field(default_factory=AlgoSection)
    optim: OptimSection = field(default_factory=OptimSection)
    data: DataSection = field(default_factory=DataSection)
    health: HealthThresholds = field(default_factory=HealthThresholds)
    run: RunSection = field(default_factory=RunSection)
    lora: LoraSection = field(default_factory=LoraSection)
    critic: CriticSection = field(default_factory=CriticSection)
    # Importing a module runs its code, so a data file names only registered verifiers unless its module is
    # listed here (or given as --allow-plugin).
    plugins: tuple[str, ...] = option((), "Python modules whose \"module:function\" verifiers the task files "
                                          "and data.reward may name, e.g. [mypkg.checks] (a package allows its "
                                          "submodules), and the origins of remote verifiers' endpoints they may "
                                          "name, e.g. [https://judge.example.com]")

    def __post_init__(self) -> None:
        if self.plugins:  # imported here: `rlvr --help` reads this module and must not load the verifiers
            from rlvr.verifiers._plugins import check_module_name, is_address, url_origin

            for entry in self.plugins:  # a module name, or an endpoint's address
                if is_address(entry):
                    url_origin(entry, "each address in plugins")
                else:
                    check_module_name(entry, "each entry of plugins")
        checks = [
            (self.algo.group_size >= 2 or self.algo.name == "ppo",
             "algo.group_size must be at least 2 (advantages compare within a group; algo.name=ppo trains on one)"),
            (self.algo.group_size >= 1, "algo.group_size must be at least 1"),
            (self.algo.ppo_epochs >= 1, "algo.ppo_epochs must be at least 1"),
            (self.algo.beta >= 0, "algo.beta must be >= 0"),
            (0 < self.data.keep_frac <= 1, "data.keep_frac must be in (0, 1]"),
            (self.data.prompts_per_step >= 1, "data.prompts_per_step must be at least 1"),
            (self.data.verifier_workers >= 1, "data.verifier_workers must be at least 1"),
            (self.data.eval_k >= 1, "data.eval_k must be at least 1"),
            (self.optim.micro_batch >= 1, "optim.micro_batch must be at least 1"),
            (self.optim.lr > 0, "optim.lr must be positive"),
            (self.optim.max_nonfinite_steps >= 0, "optim.max_nonfinite_steps must be at least 0"),
            (self.run.steps >= 1, "run.steps must be at least 1"),
            (0 <= self.run.seed <= 2**32 - 1,
             f"run.seed must be an integer from 0 to 4294967295 (2**32 - 1), got {self.run.seed}"),
            (self.run.checkpoint_every >= 1, "run.checkpoint_every must be at least 1"),
            (self.sampling.batch_size >= 1, "sampling.batch_size must be at least 1"),
            (self.sampling.temperature > 0, "sampling.temperature must be > 0: at 0 every completion of a group "
                                            "is the same, so every advantage is 0 and nothing trains"),
            (0 < self.sampling.gpu_memory_utilization <= 1, "sampling.gpu_memory_utilization must be in (0, 1]"),
            (self.run.keep_checkpoints >= 1, "run.keep_checkpoints must be at least 1"),
            (self.lora.r >= 1, "lora.r must be at least 1"),
            (self.lora.alpha > 0, "lora.alpha must be positive"),
            (0 <= self.lora.dropout < 1, "lora.dropout must be in [0, 1)"),
            (len(self.lora.target_modules) >= 1,
             "lora.target_modules must name at least one layer, e.g. [q_proj, v_proj]"),
            (len({Path(p).stem for p in self.data.eval_files}) == len(self.data.eval_files),
             "data.eval files must have distinct names (their stems name the task sets)"),
            *self._objective_checks(),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message + ".")
        _ = self.correction_rates  # read and checked now, before any model loads
        GROUP_REWARDS.build(self.data.group_reward)  # an unknown group reward or option, too

    @property
    def correction_rates(self) -> tuple[float | None, float] | None:
        """(false-positive rate, false-negative rate) of data.reward_correction, or None when it is off; the
        false-positive rate is None when the forward correction, which does not need it, is not given one."""
        return correction_rates(self.data.reward_correction, forward=self.algo.advantage.corrects_noise)

    def _objective_checks(self) -> list[tuple[bool, str]]:
        """The checks that read more than one section (each variant checks its own options)."""
        algo, advantage = self.algo, self.algo.advantage
        kept = min(self.algo.group_size, max(2, round(algo.group_size * self.data.keep_frac)))  # prune_rollouts
        problem = advantage.check_group(kept) if algo.name == "grpo" else None  # ppo reads no group
        return [
            (problem is None, problem or ""),
            *self._ppo_checks(),
            (not advantage.corrects_noise or bool(self.data.reward_correction),
             f"algo.advantage={advantage.name} weights samples by the verifier's false-negative rate: give "
             "data.reward_correction={false_negative_rate: 0.1} or the path of an `rlvr audit --json` report"),
            (not advantage.binary or not self.data.length_penalty,
             f"algo.advantage={advantage.name} reads a sample as right when its reward is 1, and "
             "data.length_penalty takes every reward below 1, so nothing would count as right; use one of the two"),
            (algo.entropy_coef >= 0, "algo.entropy_coef must be >= 0 (it is a bonus for entropy)"),
            (0 < algo.top_entropy_fraction <= 1, "algo.top_entropy_fraction must be in (0, 1], e.g. 0.2; 1 = off"),
        ]

    def _ppo_checks(self) -> list[tuple[bool, str]]:
        """The PPO keys' ranges, and the group-based options that mean nothing without a group baseline."""
        algo, critic = self.algo, self.critic
        ranges = [
            (0 <= algo.gamma <= 1, f"algo.gamma must be in [0, 1], got {algo.gamma:g}"),
            (0 <= algo.lam <= 1, f"algo.lam must be in [0, 1], got {algo.lam:g}"),
            (algo.kl_in_reward >= 0, f"algo.kl_in_reward must be >= 0, got {algo.kl_in_reward:g}"),
            (critic.lr > 0, f"critic.lr must be positive, got {critic.lr:g}"),
            (critic.warmup_steps >= 0, f"critic.warmup_steps must be at least 0, got {critic.warmup_steps}"),
            (critic.micro_batch >= 1, f"critic.micro_batch must be at least 1, got {critic.micro_batch}"),
            (critic.value_clip >= 0, f"critic.value_clip must be >= 0 (0 = unclipped), got {critic.value_clip:g}"),
            (critic.epochs >= 1, f"critic.epochs must be at least 1, got {critic.epochs}"),
        ]
        if algo.name == "grpo":
            return [*ranges, (not algo.kl_in_reward, "algo.kl_in_reward is PPO's reward penalty; with "
                                                     "algo.name=grpo use algo.beta (the KL loss term) instead")]
        return [
            *ranges,
            (not self.data.dynamic_filter, "data.dynamic_filter draws more prompts to replace groups whose rewards "
                                           "are all equal, which only GRPO cannot learn from; with algo.name=ppo "
                                           "set data.dynamic_filter=false"),
            (self.data.keep_frac == 1, "data.keep_frac (PODS) keeps each group's highest and lowest rewards for "
                                       "GRPO's group advantage; with algo.name=ppo leave it at 1"),
            (algo.advantage.name == "grpo" and algo.advantage == type(algo.advantage)(),
             f"algo.advantage={algo.advantage.name} is a GRPO advantage estimator; algo.name=ppo estimates "
             "advantages with its critic (GAE), so leave algo.advantage unset"),
        ]

    def to_dict(self) -> dict[str, Any]:
        return as_data(self)


def resolved(config: TrainConfig, precision: Literal["fp32", "bf16"], weights: str) -> TrainConfig:
    """The config as a run uses it and writes it to config.yaml: sampling.precision resolved (auto -> the
    engine's fp32 or bf16), and algo.mismatch, when unset, BF16_SAMPLER_MISMATCH where the sampler samples in
    bf16 from float32 weights (`weights`: their dtype, "float32" or "bfloat16"), else none. A mismatch the
    config set is kept as it is."""
    mismatch = config.algo.mismatch
    if isinstance(mismatch, _UnsetMismatch):
        mismatch = BF16_SAMPLER_MISMATCH if precision == "bf16" and weights == "float32" else NoMismatch()
    return dataclasses.replace(config, sampling=dataclasses.replace(config.sampling, precision=precision),
                               algo=dataclasses.replace(config.algo, mismatch=mismatch))


def sampler_spec(config: Any, device: str = "auto") -> EngineSpec:
    """The model and sampler a config samples with (the training config's rollouts, the SFT config's held-out
    evaluation: `model`, `dtype` and a `SamplingSection`), as `open_engine` takes them."""
    s = config.sampling
    values = {"model": config.model, "dtype": config.dtype, "device": device, "engine": s.engine,
              "batch_size": s.batch_size, "precision": s.precision, "gpu_memory_utilization": s.gpu_memory_utilization}
    return engine_spec(values, name=lambda key: key if key in ("model", "dtype", "device") else f"sampling.{key}")


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a training config (YAML, or the defaults) and apply `section.key=value` overrides; the old flat
    algo keys are folded into their variants with one deprecation warning."""
    data = read_config(path, overrides, variant_keys(TrainConfig))
    with spelled(_flat_key_names(data)):  # errors name an old flat key as the config wrote it
        data, deprecated = _fold_flat_keys(data)
        config = build(TrainConfig, data, moved=_MOVED)
    if deprecated:  # once the config is good: bad input is one sentence, the error
        warnings.warn(deprecated, FutureWarning, stacklevel=2)
    return config


# The algo keys of the variants' options before they were variants: the variant key and the option each one
# is now. They keep working, with one deprecation warning that names the new form.
FLAT_KEYS: dict[str, tuple[str, str]] = {
    "baseline": ("advantage", "baseline"),
    "scale_by_std": ("advantage", "scale_by_std"),
    "w_reinforce_weight": ("advantage", "positive_weight"),
    "pass_k": ("advantage", "k"),
    "mismatch_cap": ("mismatch", "cap"),
    "mismatch_cap_min": ("mismatch", "cap_min"),
    "cov_fraction": ("entropy_control", "cov_fraction"),
    "clip_cov_bounds": ("entropy_control", "cov_bounds"),
    "kl_cov_coef": ("entropy_control", "kl_coef"),
}


def _flat_key_names(data: dict[str, Any]) -> dict[str, str]:
    """{"algo.advantage.k": "algo.pass_k", ...} for the old flat keys this config uses."""
    algo = data.get("algo")
    old = [key for key in algo if key in FLAT_KEYS] if isinstance(algo, dict) else []
    return {f"algo.{FLAT_KEYS[key][0]}.{FLAT_KEYS[key][1]}": f"algo.{key}" for key in old}


def _fold_flat_keys(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(the config with algo's old flat keys moved into the variants they are options of, the deprecation
    sentence naming the new form, "" when there is none), e.g. algo.advantage=pass_at_k algo.pass_k=2 ->
    algo.advantage={name: pass_at_k, k: 2}. An old key whose variant is not chosen (algo.pass_k with
    algo.advantage=grpo) had no effect and still has none: it is checked as an option of a variant that reads
    it, then dropped."""
    algo = data.get("algo")
    if not isinstance(algo, dict) or not any(key in FLAT_KEYS for key in algo):
        return data, ""
    algo, old_keys, clauses = dict(algo), [key for key in algo if key in FLAT_KEYS], []
    for variant_key, registry in _VARIANT_KEYS.items():
        old = [key for key in old_keys if FLAT_KEYS[key][0] == variant_key]
        if not old:
            continue
        spec = algo.get(variant_key, getattr(AlgoSection, variant_key).name)
        name, options = (spec, {}) if isinstance(spec, str) else (spec.get("name"), dict(spec)) \
            if isinstance(spec, dict) else (None, {})
        options.pop("name", None)
        reads = {f.name for f in dataclasses.fields(registry[name])} if name in registry else set()
        used = False
        for key in old:
            option_name, value = FLAT_KEYS[key][1], algo.pop(key)
            if option_name in options:
                raise ConfigError(f"algo.{key} and algo.{variant_key}.{option_name} both set {option_name}; keep "
                                  f"only algo.{variant_key}.{option_name}.")
            if option_name in reads:
                options[option_name], used = value, True
                continue
            # No chosen variant reads it: checked as an option of the first variant that does, then dropped.
            reader = next(n for n, cls in registry.items() if option_name in {f.name for f in dataclasses.fields(cls)})
            read_variant(registry, {"name": reader, option_name: value}, f"algo.{variant_key}")
            clauses.append(f"'algo.{key}' has no effect with algo.{variant_key}={name} (it is an option of "
                           f"algo.{variant_key}: {_flow({'name': reader, option_name: value})})")
        if used:
            algo[variant_key] = {"name": name, **options}
            clauses.insert(0, f"write {_new_form(f'algo.{variant_key}', algo[variant_key])}")
    keys = ", ".join(f"'algo.{key}'" for key in old_keys)
    plural = len(old_keys) > 1
    return {**data, "algo": algo}, (f"config key{'s' if plural else ''} {keys} {'are' if plural else 'is'} "
                                    f"deprecated: {'; '.join(clauses)}.")


def _new_form(key: str, spec: dict[str, Any]) -> str:
    """A variant spec as YAML writes it and as overrides: "algo.mismatch: {name: tis, cap: 2} (as overrides:
    algo.mismatch=tis algo.mismatch.cap=2)"."""
    overrides = " ".join([f"{key}={spec['name']}", *(f"{key}.{k}={_flow(v)}" for k, v in spec.items() if k != "name")])
    return f"{key}: {_flow(spec)} (as overrides: {overrides})"


def _flow(value: Any) -> str:
    return shown(value)


# Keys that moved: an old config gets the new name in one sentence.
_MOVED = {"data.eval_max_new_tokens": "sampling.max_new_tokens", "data.eval_temperature": "sampling.temperature"}


def config_help() -> str:
    """Every key of the training config with its default, its meaning and its range, and each variant key's
    variants with their options (`rlvr train --help`)."""
    return _config_help(TrainConfig)


def reference() -> str:
    """The README's "Configuration reference": every key of the training config, its default, its range and its
    meaning, and the options of every variant, as Markdown (`python -m rlvr.train.config --reference`)."""
    return reference_table(TrainConfig, [
        "## Configuration reference", "",
        "Generated from the config's own definitions by `python -m rlvr.train.config --reference` (a test keeps "
        "this section equal to its output). A key is written `section.key` in overrides and nested in YAML. "
        "The variant keys (`algo.advantage`, `algo.ratio_level`, `algo.mismatch`, `algo.entropy_control`, "
        "`data.group_reward`) take a name or `{name: ..., option: value}`; on the command line "
        "`algo.mismatch=tis algo.mismatch.cap=2`. Under a variant key, its variants and their options."])


if __name__ == "__main__":  # python -m rlvr.train.config --reference
    import sys

    if sys.argv[1:] != ["--reference"]:
        sys.exit("usage: python -m rlvr.train.config --reference")
    sys.stdout.write(reference())
