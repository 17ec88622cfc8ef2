"""The training config: small typed sections, read from YAML plus `section.key=value` overrides.

    model: smollm2-135m-instruct
    data:   {train: train.jsonl, eval: test.jsonl, prompts_per_step: 8}
    algo:   {group_size: 8, beta: 0.0, clip_high: 0.28}
    run:    {output_dir: runs/add, steps: 40}

Validated once (unknown keys and wrong types are one-sentence errors) and written back,
resolved, as `config.yaml` in the run directory. Each section owns its defaults.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from rlvr._errors import ConfigError, DataError
from rlvr._io import atomic_write, read_json_file, read_text_file
from rlvr.models.generation import Decoding
from rlvr.monitor.health import HealthThresholds

_Config = typing.TypeVar("_Config")
FLOAT32_MAX = 3.4028234663852886e38  # torch.finfo(torch.float32).max: a float key beyond it overflows the loss


@dataclass(frozen=True)
class SamplingSection(Decoding):
    """How rollouts are drawn (Decoding's fields: temperature, top_p, top_k, max_new_tokens) and on what
    engine. K is algo.group_size and the seed run.seed, so neither is a key here."""

    batch_size: int = 32  # rows decoded together (hf engine)
    # hf: HFEngine (CPU or GPU); vllm: VLLMEngine colocated on one CUDA GPU, weights pushed after each update.
    engine: Literal["hf", "vllm"] = "hf"
    gpu_memory_utilization: float = 0.3  # vllm: share of the GPU's memory vLLM may take
    # fp32: sample in the model's precision; bf16: the sampler's products in bfloat16 (hf: autocast; vllm: a bf16
    # model). The update's old log-probs then differ from the trainer's by that rounding: see algo.mismatch.
    precision: Literal["fp32", "bf16"] = "fp32"


@dataclass(frozen=True)
class AlgoSection:
    """The update; every choice below defaults to plain GRPO (formulas: grpo.py and objectives.py)."""

    group_size: int = 8  # K completions per prompt
    # Advantages: GRPO's (r - baseline) / std, W-REINFORCE's fixed weights, pass@k training's closed form, or
    # the forward correction for a noisy verifier (weights rho1 / rho1 - 1; the rate from data.reward_correction).
    advantage: Literal["grpo", "w_reinforce", "pass_at_k", "forward_correction"] = "grpo"
    baseline: Literal["mean", "median", "rloo"] = "mean"  # rloo: the mean of the other K-1 rewards
    scale_by_std: bool = True  # False = Dr. GRPO
    w_reinforce_weight: float = 0.1  # advantage=w_reinforce: a correct sample's weight (a wrong one gets -1)
    pass_k: int = 4  # advantage=pass_at_k: the k, 1 <= k <= group_size
    clip_low: float = 0.2
    clip_high: float = 0.2  # DAPO uses 0.28
    beta: float = 0.0  # KL weight; 0 loads no reference model
    aggregation: Literal["token_mean", "seq_mean", "constant_normaliser"] = "token_mean"
    ppo_epochs: int = 1  # optimisation passes over one batch of rollouts
    ratio_level: Literal["token", "sequence"] = "token"  # sequence = GSPO (clip it far tighter, ~3e-4 / 4e-4)
    # Sampler/trainer mismatch: the ratio's old log-probs become the trainer's own and the loss is weighted
    # by min(pi_trainer / pi_sampler, cap) (tis), or that ratio masked outside [0, cap] per token or sequence.
    mismatch: Literal["none", "tis", "token_mask", "sequence_tis", "sequence_mask"] = "none"
    mismatch_cap: float = 3.0
    mismatch_cap_min: float = 0.0  # the lower bound of the truncation/mask, at most 1 (0 = none, TRL's default)
    entropy_coef: float = 0.0  # loss -= entropy_coef * mean token entropy
    # Covariance-based entropy control (Cui et al. 2025): clip_cov drops the gradient of a random
    # cov_fraction of high-covariance tokens (covariance in clip_cov_bounds), kl_cov adds
    # kl_cov_coef * |logp - old_logp| on the top cov_fraction of tokens by covariance.
    entropy_control: Literal["none", "clip_cov", "kl_cov"] = "none"
    cov_fraction: float = 2e-4
    clip_cov_bounds: tuple[float, ...] = (1.0, 5.0)
    kl_cov_coef: float = 1.0
    top_entropy_fraction: float = 1.0  # train on this share of highest-entropy tokens only (0.2: 80/20); 1 = all


@dataclass(frozen=True)
class OptimSection:
    lr: float = 1e-5
    weight_decay: float = 0.0
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    micro_batch: int = 16  # rows per forward/backward; gradients accumulate over the batch
    # bf16 autocast for the update (float32 weights and optimizer state kept): auto = on for float32 weights
    # where the hardware has native bf16 (CUDA; CPU with AVX512-BF16 or AMX), bf16 = on, fp32 = float32 only.
    mixed_precision: Literal["auto", "bf16", "fp32"] = "auto"
    # Micro-batches of rows of similar length, each cut to the columns its rows use (no padding beyond them).
    bucket_by_length: bool = True
    # Log-probabilities straight from the last hidden states, the vocabulary projection a block at a time, so
    # the (B, T, V) logits never exist (one process, no LoRA, a plain lm_head; no entropy bonus or mask).
    fused_head: bool = True
    # Update steps whose loss or gradient norm is not finite are skipped (no optimizer step, weights unchanged);
    # the run stops with an error at the first one beyond this many (0 = at the first).
    max_nonfinite_steps: int = 3


@dataclass(frozen=True)
class DataSection:
    train: str = ""
    # The training reward: a verifier spec replacing each training task's own verifier, e.g. a
    # gated `compose` of format and correctness ("" = the tasks' verifiers). Evaluation always
    # uses the tasks' own verifiers, so a shaped reward cannot inflate the measured pass rate.
    reward: str | dict = ""
    # Held-out task files evaluated at the start and end ("" = none): one file, or a list such as
    # [heldout.jsonl, harder.jsonl, other_family.jsonl] to see in- and out-of-distribution side by side.
    eval: str | tuple[str, ...] = ""
    eval_k: int = 8
    prompts_per_step: int = 8
    dynamic_filter: bool = False  # drop zero-variance groups and draw more prompts
    max_draws: int = 3  # at most this many times prompts_per_step prompts per step when filtering
    keep_frac: float = 1.0  # rollout pruning: keep this share of rollouts, largest |advantage| first
    # Order of prompts within an epoch: shuffled, easy to hard by meta.difficulty, or easy to hard
    # by the measured base pass rate that `rlvr curate` writes into meta.pass_rate.
    schedule: Literal["shuffle", "difficulty", "pass_rate"] = "shuffle"
    truncated: Literal["keep", "mask", "penalise"] = "keep"  # completions that hit max_new_tokens
    length_penalty: float = 0.0  # reward -= length_penalty * tokens / max_new_tokens
    # Where rollouts are verified: worker processes/threads here, or Ray tasks (pip install 'rlvr[ray]').
    verifier_backend: Literal["local", "ray"] = "local"
    verifier_workers: int = 2  # checks run in parallel (worker processes, threads or Ray tasks)
    # A task whose verifier cannot read its reference scores 0 whatever the completion: listed in a warning
    # before training starts; true makes it an error.
    strict_references: bool = False
    # Verify the groups of one decoding batch while the engine decodes the next (hf engine); false = after all.
    overlap_verify: bool = True
    ray_address: str = ""  # Ray cluster to join ("" = $RAY_ADDRESS, else a local Ray instance)
    # A reward computed from a whole group, replacing the verifier's ("" = none): majority = 1.0 for the
    # samples whose answer (read leniently) is the group's majority answer (TTRL; needs no reference).
    # The names are the keys of rlvr/train/group_rewards.py's GROUP_REWARDS.
    group_reward: Literal["", "majority"] = ""
    # A noisy verifier's error rates ("" = none): {false_positive_rate: 0.05, false_negative_rate: 0.1}, or the
    # path of an `rlvr audit --json` report. They backward-correct the rewards before the advantages, or, with
    # algo.advantage=forward_correction, give its weights (which need only false_negative_rate).
    reward_correction: str | dict = ""

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
    output_dir: str = "runs/grpo"
    steps: int = 20
    seed: int = 0
    checkpoint_every: int = 10
    keep_checkpoints: int = 2  # older checkpoints are deleted
    loggers: tuple[str, ...] = ()  # tensorboard, wandb (offline unless WANDB_MODE says otherwise), mlflow


@dataclass(frozen=True)
class LoraSection:
    """LoRA adapters instead of full fine-tuning (needs `pip install 'rlvr[lora]'`); see rlvr/train/lora.py."""

    enabled: bool = False
    r: int = 16  # adapter rank
    alpha: int = 32  # the adapter's output is scaled by alpha / r
    dropout: float = 0.0  # > 0 makes the training forward differ from the sampling one
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainConfig:
    model: str = "smollm2-135m-instruct"
    dtype: Literal["float32", "bfloat16"] = "float32"
    sampling: SamplingSection = field(default_factory=SamplingSection)
    algo: AlgoSection = field(default_factory=AlgoSection)
    optim: OptimSection = field(default_factory=OptimSection)
    data: DataSection = field(default_factory=DataSection)
    health: HealthThresholds = field(default_factory=HealthThresholds)
    run: RunSection = field(default_factory=RunSection)
    lora: LoraSection = field(default_factory=LoraSection)
    # Python modules whose "module:function" verifiers the task files and data.reward may name, e.g.
    # [mypkg.checks] (a package allows its submodules). Importing a module runs its code, so a data file
    # names only registered verifiers unless its module is listed here (or given as --allow-plugin).
    plugins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.plugins:  # imported here: `rlvr --help` reads this module and must not load the verifiers
            from rlvr.verifiers._plugins import check_module_name

            for module in self.plugins:
                check_module_name(module, "each entry of plugins")
        checks = [
            (self.algo.group_size >= 2, "algo.group_size must be at least 2 (advantages compare within a group)"),
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

    @property
    def correction_rates(self) -> tuple[float | None, float] | None:
        """(false-positive rate, false-negative rate) of data.reward_correction, or None when it is off; the
        false-positive rate is None when the forward correction, which does not need it, is not given one."""
        return correction_rates(self.data.reward_correction, forward=self.algo.advantage == "forward_correction")

    def _objective_checks(self) -> list[tuple[bool, str]]:
        algo = self.algo
        kept = min(self.algo.group_size, max(2, round(algo.group_size * self.data.keep_frac)))  # prune_rollouts
        bounds = algo.clip_cov_bounds
        return [
            (algo.advantage != "pass_at_k" or 1 <= algo.pass_k <= kept,
             f"algo.pass_k must be between 1 and the rollouts kept per group ({kept}), got {algo.pass_k}"),
            (algo.w_reinforce_weight >= 0, "algo.w_reinforce_weight must be >= 0"),
            (algo.advantage != "forward_correction" or bool(self.data.reward_correction),
             "algo.advantage=forward_correction weights samples by the verifier's false-negative rate: give "
             "data.reward_correction={false_negative_rate: 0.1} or the path of an `rlvr audit --json` report"),
            (algo.advantage == "grpo" or not self.data.length_penalty,
             f"algo.advantage={algo.advantage} reads a sample as right when its reward is 1, and "
             "data.length_penalty takes every reward below 1, so nothing would count as right; use one of the two"),
            (0 <= algo.mismatch_cap_min <= 1, "algo.mismatch_cap_min must be in [0, 1] (it bounds pi_trainer / "
                                              "pi_sampler from below, and 1 is where the two agree; 0 = no bound)"),
            (algo.mismatch_cap >= 1, "algo.mismatch_cap must be at least 1 (it caps pi_trainer / pi_sampler, "
                                     "which is 1 where the two agree)"),
            (not algo.mismatch.endswith("_mask") or algo.mismatch_cap_min < algo.mismatch_cap,
             f"algo.mismatch={algo.mismatch} keeps only the tokens whose pi_trainer / pi_sampler lies in "
             f"[algo.mismatch_cap_min, algo.mismatch_cap] = [{algo.mismatch_cap_min:g}, {algo.mismatch_cap:g}], "
             "which every token with any mismatch falls outside; lower algo.mismatch_cap_min or raise "
             "algo.mismatch_cap"),
            (algo.entropy_coef >= 0, "algo.entropy_coef must be >= 0 (it is a bonus for entropy)"),
            (0 < algo.top_entropy_fraction <= 1, "algo.top_entropy_fraction must be in (0, 1], e.g. 0.2; 1 = off"),
            (0 < algo.cov_fraction <= 1, "algo.cov_fraction must be in (0, 1], e.g. 2e-4"),
            (len(bounds) == 2 and bounds[0] < bounds[1],
             f"algo.clip_cov_bounds must be two numbers [low, high] with low < high, got {list(bounds)}"),
            (algo.kl_cov_coef >= 0, "algo.kl_cov_coef must be >= 0"),
        ]

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                config_class: type[_Config] = TrainConfig) -> _Config:  # type: ignore[assignment]
    """Read a YAML config (or start from defaults) and apply `section.key=value` overrides.

    config_class: the frozen dataclass to build (TrainConfig for `rlvr train`, SFTConfig for `rlvr sft`).
    """
    data: dict[str, Any] = {}
    if path is not None:
        text = read_text_file(path, "config file")
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}.") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a mapping of sections, got {type(data).__name__}.")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"an override is key=value (e.g. algo.beta=0.04), got '{item}'.")
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is not a section.")
        node[leaf] = yaml.safe_load(raw) if raw else ""
    return _build(config_class, data, "")


# Keys that moved: an old config gets the new name in one sentence.
_MOVED = {"data.eval_max_new_tokens": "sampling.max_new_tokens", "data.eval_temperature": "sampling.temperature"}


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"config section '{prefix.rstrip('.') or 'top level'}' must be a mapping.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    moved = next((f"{prefix}{key}" for key in unknown if f"{prefix}{key}" in _MOVED), None)
    if moved:
        raise ConfigError(f"config key '{moved}' is now '{_MOVED[moved]}'.")
    if unknown:
        raise ConfigError(
            f"unknown config key '{prefix}{unknown[0]}'; known keys here: {', '.join(fields)}."
        )
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, f"{prefix}{name}.")
        else:
            values[name] = _coerce(value, hint, f"{prefix}{name}")
    try:
        return cls(**values)
    except ConfigError as exc:  # a section's own check (e.g. Decoding's) names the key without its section
        message = str(exc)
        if prefix and not message.startswith(prefix):
            raise ConfigError(prefix + message) from None
        raise


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        if value not in typing.get_args(hint):
            choices = ", ".join(repr(a) for a in typing.get_args(hint))
            raise ConfigError(f"config key '{key}' must be one of {choices}, got {value!r}.")
        return value
    if origin is tuple:
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(_coerce(v, typing.get_args(hint)[0], key) for v in items)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _coerce(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key '{key}' has the wrong type: {value!r}.")
    if hint is dict and isinstance(value, dict):
        return value
    if hint is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        number = read_number(value)  # YAML 1.1 reads 1e-5 (no dot) as a string
        if number is not None and not math.isfinite(number):
            raise ConfigError(f"config key '{key}' must be a finite number, got {value!r}.")
        if number is not None and abs(number) > FLOAT32_MAX:  # it would become inf in the float32 loss
            raise ConfigError(f"config key '{key}' must lie within +-{FLOAT32_MAX:.3g} (float32's range, in which "
                              f"the loss is computed), got {value!r}.")
        if number is not None:
            return number
    if hint is bool and isinstance(value, bool) or hint is int and isinstance(value, int) and not isinstance(
        value, bool
    ) or hint is str and isinstance(value, str):
        return value
    raise ConfigError(f"config key '{key}' must be {getattr(hint, '__name__', hint)}, got {value!r}.")


def read_number(value: Any) -> float | None:
    """`value` as a float when it is a number or a string that spells one ("1e-3", which YAML 1.1
    reads as a string), else None; the one number reading of configs and `key=value` options."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)
    return None


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|infinity|nan)", re.IGNORECASE)


def with_overrides(section: _Config, overrides: dict[str, Any], prefix: str) -> _Config:
    """A copy of a config section with `overrides` applied, each checked against the field's type like
    a config file's value (`prefix`, e.g. "health.", names the key in errors)."""
    return _build(type(section), {**dataclasses.asdict(section), **overrides}, prefix)


def dump_config(config: Any, path: str | Path) -> None:
    """Write a config dataclass, resolved, as YAML."""
    text = yaml.safe_dump(_plain(dataclasses.asdict(config)), sort_keys=False)
    atomic_write(path, lambda f: f.write(text))


def config_help(config_class: type = TrainConfig) -> str:
    """Every key with its default: the CLI help comes from the same source as the config."""
    lines = []
    for section in dataclasses.fields(config_class):
        default = getattr(config_class(), section.name)
        if dataclasses.is_dataclass(default):
            for f in dataclasses.fields(default):
                note = f"  # {f.metadata['help']}" if "help" in f.metadata else ""
                lines.append(f"  {section.name}.{f.name} = {getattr(default, f.name)!r}{note}")
        else:
            lines.append(f"  {section.name} = {default!r}")
    return "\n".join(lines)
