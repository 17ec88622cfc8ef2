"""`rlvr train`: the GRPO loop, readable top to bottom.

    rlvr train examples/grpo_arithmetic.yaml run.steps=40 algo.beta=0.04

Lifecycle: setup (config, run directory, model, optimizer, data, resume) -> one `_step`
per iteration (sample K per prompt, verify, advantages, clipped update) -> cleanup (final
checkpoint). The maths lives in `objectives/grpo.py` (advantages, loss, reward shaping, pruning),
the log-probabilities in `rlvr/models/logprobs.py` and `rlvr/models/head.py`, the data in
`rollouts.py` (prompt stream, rollouts, padded batches), and the distributed runtime (layouts,
precision, LoRA, checkpoint I/O, optimizer, loggers) in `runtime/`; this file only moves tensors
between them and writes logs. The update divides the logits by the temperature the rollouts were
sampled at (`Rollouts.temperature`, from the SamplingParams that drew them). With `algo.name: ppo` a critic
(`critic.py`) turns each row's reward into per-token advantages (GAE over the sampled tokens) for the same
clipped loss, and fits its values after the policy's step.

Run directory: config.yaml (resolved), metrics.jsonl (one line per step), samples.jsonl
(every rollout with reward, reason and advantage), health.jsonl, checkpoints/step-N/,
eval/base.json and eval/final.json when `data.eval` names held-out task files, and with
`lora.enabled` the merged model in model/ (checkpoints then hold the adapter; see runtime/lora.py).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import math
import random
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from rlvr._errors import ConfigError
from rlvr._io import check_directory, check_not_input
from rlvr._spawn import refuse_while_importing_main
from rlvr.config import dump_config
from rlvr.evaluate.runner import set_name
from rlvr.models import Policy, SamplingParams, check_engine, load_policy, open_engine
from rlvr.models.attention import grouped
from rlvr.models.episodes import has_episodes, sample_tasks
from rlvr.models.flops import ModelShape, generation_flops, update_flops
from rlvr.models.head import (
    accumulating,
    fused_head,
    fused_head_mismatch,
    head_logprobs,
    shared_prompt_logprobs,
    shared_prompt_mismatch,
)
from rlvr.models.logprobs import completion_logprobs, token_entropy
from rlvr.models.precision import resolve_precision
from rlvr.monitor import HealthMonitor
from rlvr.rundir import RunDir
from rlvr.tasks import load_tasks
from rlvr.tasks.judge import check_references, check_verifiers
from rlvr.train.config import TrainConfig, resolved, sampler_spec
from rlvr.train.critic import Critic, check_layout
from rlvr.train.objectives.group_rewards import GROUP_REWARDS
from rlvr.train.objectives.grpo import (
    estimate_advantages,
    grpo_loss,
    kept_advantages,
    micro_batch_weight,
    prune_rollouts,
)
from rlvr.train.rewards import (
    reward_signal,
    warn_if_correction_is_invisible,
    warn_if_lenient,
    warn_if_partial_credit,
)
from rlvr.train.rollouts import (
    OverlappedChecks,
    Rollouts,
    TaskStream,
    bucketed,
    concat,
    micro_batch,
    micro_batches,
    pad_batch,
    verify,
)
from rlvr.train.runtime.checkpoint import load_checkpoint, read_trainer_state, save_checkpoint
from rlvr.train.runtime.distributed import Dist
from rlvr.train.runtime.loggers import MetricLogger, check_loggers, open_loggers
from rlvr.train.runtime.lora import ReferenceView, apply_lora, save_merged
from rlvr.train.runtime.mfu import Peak, host_peak, mfu
from rlvr.train.runtime.optim import make_optimizer
from rlvr.train.runtime.precision import cast_once, use_autocast
from rlvr.train.runtime.sharding import layout_for_launch
from rlvr.verifiers import allow_plugins, get_verifier

# ---------------------------------------------------------------------------------------------
# The trainer


class Trainer:
    def __init__(self, config: TrainConfig, policy: Policy | None = None, resume: bool = False,
                 progress: bool = True) -> None:
        refuse_while_importing_main("training")  # a worker importing an unguarded script: before anything loads
        self.config = config
        self.progress = progress
        self.run_dir = Path(config.run.output_dir)
        self.runs = RunDir(self.run_dir)  # its file names, log appends and checkpoint paths
        self.dist = Dist()
        if config.data.prompts_per_step < self.dist.world:
            raise ConfigError(f"data.prompts_per_step ({config.data.prompts_per_step}) must be at least the number "
                              f"of processes ({self.dist.world}).")
        # Replicated, FSDP or DeepSpeed, as the accelerate recipe asked (runtime/sharding.py)
        self.layout = layout_for_launch(self.dist, lora=config.lora.enabled, engine=config.sampling.engine)
        if config.algo.name == "ppo":
            check_layout(config.critic, self.layout.sharded)
        resume = self._check_run_dir(resume)  # False when the run stopped before its first checkpoint
        check_loggers(config.run.loggers)
        check_engine(config.sampling.engine)  # e.g. vllm without a GPU fails before the model loads
        self._check_sampling_copy(resolve_precision(config.sampling.precision, self.dist.device))
        if not config.data.train:
            raise ConfigError("data.train is not set; give the training task file, e.g. data.train=train.jsonl.")
        allow_plugins(*config.plugins)  # in every rank: each builds its own verifiers
        tasks = load_tasks(config.data.train)  # bad input fails before anything is loaded or written
        check_verifiers(tasks, config.data.train)
        check_references(tasks, config.data.train, config.data.strict_references, "data.strict_references=true")
        # The tasks' own verifiers read every rollout format-neutrally (`pass_rate/neutral`), whatever the reward.
        self.neutral_specs = {t.id: t.verifier for t in tasks}
        warn_if_lenient([config.data.reward] if config.data.reward else [t.verifier for t in tasks])
        if config.data.reward:
            get_verifier(config.data.reward)  # a bad reward spec fails now, not at the first step
            tasks = [replace(t, verifier=config.data.reward) for t in tasks]
        # A reward of the whole group (data.group_reward) replaces the verifier's right after verification.
        self.group_reward = GROUP_REWARDS.build(config.data.group_reward)  # None: the verifier's rewards stand
        if self.group_reward is not None and self.group_reward.caveat:
            warnings.warn(self.group_reward.caveat, UserWarning, stacklevel=2)
        self.correction = config.correction_rates  # (false-positive, false-negative) rates, or None
        warn_if_correction_is_invisible(config)
        if config.data.verifier_backend == "ray":  # no ray package or no cluster fails now, too
            from rlvr.verifiers.ray_backend import connect

            connect(config.data.ray_address)
        self.eval_tasks = {set_name(path): (path, load_tasks(path)) for path in config.data.eval_files}
        for path, eval_tasks in self.eval_tasks.values():
            check_verifiers(eval_tasks, path)
            check_references(eval_tasks, path, config.data.strict_references, "data.strict_references=true")
        self._seed_everything(config.run.seed)
        self.policy = policy or load_policy(config.model, dtype=config.dtype, device=self.dist.device)
        if config.lora.enabled:  # sampling, evaluation and the update all see the adapted model
            self.policy = apply_lora(self.policy, config.lora)
        self.model = self.policy.model
        _own_memory(self.model)
        self.mixed_precision = use_autocast(config.optim.mixed_precision, next(self.model.parameters()).dtype,
                                            self.dist.device)
        entropy_read = bool(config.algo.entropy_coef) or config.algo.top_entropy_fraction < 1  # needs the logits
        self.fused = (config.optim.fused_head and not self.layout.sharded and not config.lora.enabled
                      and not entropy_read and fused_head(self.model) is not None)
        self.head_checked = False  # the fused head is compared with the model's own on each run's first batch
        # optim.share_prompts: each distinct prompt through the decoder once, once a first batch showed it exact
        self.share, self.share_checked = self.fused and config.optim.share_prompts, False
        reference: Any = None
        anchored = config.algo.beta > 0 or config.algo.kl_in_reward > 0  # a KL loss term, or PPO's KL reward
        if anchored and config.lora.enabled:  # the base model is the adapted one with its adapter off
            reference = ReferenceView(self.model)
        elif anchored:  # a frozen copy; with beta = 0 no second model is kept
            reference = copy.deepcopy(self.model).eval().requires_grad_(False)
        # algo.name=ppo: the critic, copied from the policy before its weights are sharded (rlvr/train/critic.py)
        self.critic = Critic(self.model, config.critic, config.algo, self.dist, config.optim.max_grad_norm,
                             self._compute_dtype(), self.layout.sharded) if config.algo.name == "ppo" else None
        self.reference = self.layout.shard(self.model, reference)  # before the optimizer sees the parameters
        self.optimizer, self.scheduler = make_optimizer(
            [p for p in self.model.parameters() if p.requires_grad], config.optim.lr, config.optim.weight_decay,
            config.optim.warmup_steps,
        )
        self.layout.attach(self.optimizer, config.optim.max_grad_norm)
        _, self.engine = open_engine(sampler_spec(config, self.dist.device), policy=self.policy)
        # sampling.precision resolved, and algo.mismatch's default for this sampler, as config.yaml records them
        weights = next(self.model.parameters()).dtype
        self.config = config = resolved(config, self.engine.precision, str(weights).removeprefix("torch."))
        # MFU (runtime/mfu.py): the model's shape for its FLOPs, the precision each phase multiplies in
        self.shape = ModelShape.from_config(self.model.config)
        self.precisions = {"generate": "bf16" if self.engine.precision == "bf16" or weights == torch.bfloat16
                           else "fp32", "update": "bf16" if self._compute_dtype() or weights == torch.bfloat16
                           else "fp32"}
        self.peak: Peak | None = None  # measured (or read from the cache) once, at the start of train()
        self.trained_rows: list[tuple[int, int]] = []  # (prompt, completion) lengths _update trained on
        self.shared_prompts: list[int] = []  # the lengths of the prompts it ran once for several rows
        self.continued: set[int] = set()  # the trained_rows that ran after such a prompt (the others ran whole)
        self.stream = TaskStream(tasks, config.run.seed, config.data.schedule)
        self.checks_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rlvr-verify")  # overlap_verify
        self.health = HealthMonitor(config.health, total_steps=config.run.steps)  # short runs: shorter windows
        self.partial_credit_warned = False  # warn_if_partial_credit: once a run
        self.all_masked_warned = False  # _warn_if_all_masked: once a run
        self.nonfinite_steps = 0  # updates skipped for a loss or gradient norm that was not finite
        self.notices: list[dict[str, Any]] = []  # one-line notices for the console and health.jsonl
        self.step = 0
        if resume:
            self._load_latest_checkpoint()
            self.engine.push_weights()

    # -- setup --------------------------------------------------------------------------------
    def _check_run_dir(self, resume: bool) -> bool:
        """Whether to load a checkpoint. A run killed before its first checkpoint left only logs behind, which
        the new run would redo: it starts over from step 0, with or without --resume (its logs are cleared
        in _start; nothing under checkpoints/ is touched)."""
        check_directory(self.run_dir, "run.output_dir")
        self._check_inputs_apart()
        checkpoint, started = self.runs.has_checkpoint(), self.runs.started()
        if self.runs.metrics.exists() and checkpoint and not resume:
            raise ConfigError(
                f"{self.run_dir} already holds a run; pass --resume to continue it or set run.output_dir."
            )
        if resume and not checkpoint and not started:
            raise ConfigError(f"nothing to resume in {self.run_dir}: it has no checkpoint.")
        if resume and checkpoint and not self.runs.resumable():
            raise ConfigError(f"{self.runs.latest_checkpoint()} holds the weights without the optimizer state (the "
                              "run set run.checkpoint_optimizer=false), so it cannot be resumed exactly; start a new "
                              "run from those weights (model: that folder).")
        if resume and checkpoint:  # its trainer state holds nothing but data: refused before any model loads
            read_trainer_state(self.runs.latest_checkpoint() / RunDir.TRAINER_STATE, mmap=True)
        self.start_over = started and not checkpoint
        return resume and checkpoint

    def _check_inputs_apart(self) -> None:
        """No file the run reads may be one it writes or clears: its logs (appended, and cleared when a run
        starts over), eval/ and checkpoints/ (older checkpoints are deleted)."""
        data = self.config.data
        inputs = [data.train, *data.eval_files, self.config.model]
        if isinstance(data.reward_correction, str) and data.reward_correction:
            inputs.append(data.reward_correction)
        for name in RunDir.WRITTEN:
            check_not_input(self.run_dir / name, [p for p in inputs if p], f"run.output_dir: the run's {name}")

    def _check_sampling_copy(self, precision: str) -> None:
        """A bf16 sampler over float32 weights holds a whole copy of them, which sharded weights do not give."""
        if precision == "bf16" and self.config.dtype == "float32" and self.layout.sharded:
            raise ConfigError(f"sampling.precision={self.config.sampling.precision} samples in bf16 from a copy of "
                              f"the whole weights, which {type(self.layout).__name__}'s shards do not hold; set "
                              "sampling.precision=fp32 or dtype=bfloat16.")

    @staticmethod
    def _seed_everything(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    # -- the loop: setup was __init__; then train (start, steps, cleanup) ----------------------
    def train(self) -> Path:
        main = self.dist.is_main
        loggers = self._start()
        bar = tqdm(total=self.config.run.steps, initial=self.step, desc="train", unit="step",
                   disable=not (self.progress and main), dynamic_ncols=True)
        while self.step < self.config.run.steps:
            metrics, samples = self._step()
            self.step += 1
            metrics["step"] = self.step
            if not all(math.isfinite(metrics.get(key, 0.0)) for key in ("loss", "grad_norm")):
                self.nonfinite_steps += 1  # the update was skipped: the weights are those of the step before
            metrics["update/nonfinite_steps"] = self.nonfinite_steps
            warnings_now = self.health.observe(self.step, metrics)  # every rank: the state is checkpointed
            if main:
                self._log(metrics, samples)
                for logger in loggers:
                    logger.log(self.step, metrics)
                for warning in warnings_now:
                    tqdm.write(f"health warning at step {warning.step}: {warning.message}")
                    self.runs.append(RunDir.HEALTH, [warning.to_dict()])
                for notice in self.notices:
                    tqdm.write(f"notice at step {self.step}: {notice['message']}")
                    self.runs.append(RunDir.HEALTH, [{"step": self.step, **notice}])
            self.notices = []
            self._stop_if_not_finite()
            bar.update(1)
            bar.set_postfix_str(
                f"reward {metrics['reward/mean']:.2f} pass {metrics['pass_rate']:.2f} "
                f"H {metrics['entropy']:.2f} " + (f"kl {metrics['kl']:.3f} " if "kl" in metrics else "")
                + f"{metrics['throughput/tokens_per_s']:.0f} tok/s"
            )
            if self.step % self.config.run.checkpoint_every == 0 or self.step == self.config.run.steps:
                self._check_ranks_in_sync()
                self._save_checkpoint()  # every rank: gathering sharded weights is collective
        bar.close()
        self._cleanup(loggers)
        return self.run_dir

    def _start(self) -> list[MetricLogger]:
        """The run directory with its resolved config, the base evaluation (once) and the metric loggers."""
        main = self.dist.is_main
        if main and self.start_over:
            tqdm.write(f"{self.run_dir} holds a run that stopped before its first checkpoint: starting it over "
                       "from step 0.")
            self.runs.drop_logs_after(0)
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            dump_config(self.config, self.runs.config)
        try:  # every rank: each divides its own steps by it; on the device the model's arithmetic runs on
            self.peak = host_peak(next(self.model.parameters()).device)
        except (RuntimeError, AssertionError, OSError) as exc:  # a diagnostic never stops a run: no mfu/ metrics
            self.peak = None
            warnings.warn(f"the peak matrix-product probe failed ({exc}); mfu/ metrics are left out of this run.",
                          stacklevel=2)
        if main and self.peak is not None:
            tqdm.write(self.peak.line())
        # Rank 0 decides (it reads eval/base.json) and every rank follows: sharded weights are gathered by all.
        if self.dist.sum(float(main and bool(self.eval_tasks) and self.step == 0 and not self._base_eval_done())):
            self._evaluate_on_main("base")
        self.dist.barrier()
        return open_loggers(self.config.run.loggers, self.run_dir, self.config.to_dict()) if main else []

    def _cleanup(self, loggers: list[MetricLogger]) -> None:
        """Close the loggers, evaluate the trained model, and with LoRA write the merged model."""
        for logger in loggers:
            logger.close()
        self.checks_pool.shutdown()
        if self.eval_tasks:
            self._evaluate_on_main("final")
        if self.config.lora.enabled and self.dist.is_main:  # a plain folder for `rlvr eval --model RUN_DIR/model`
            self.policy = save_merged(self.policy, self.runs.model)
            self.model = self.policy.model
        self.dist.barrier()

    def _eval_settings(self) -> Any:
        from rlvr.evaluate import EvalSettings

        config = self.config
        return EvalSettings(SamplingParams.from_decoding(config.sampling, n=config.data.eval_k, seed=config.run.seed))

    def _base_eval_done(self) -> bool:
        """True when eval/base.json already holds this run's base evaluation: `rlvr spurious` measures
        it once and gives it to every arm. Same task files and sampler settings, or it is redone."""
        from rlvr.evaluate import eval_sets

        try:
            record = json.loads(self.runs.base_eval.read_text())
            sets = eval_sets(record)
        except (OSError, json.JSONDecodeError, AttributeError):
            return False
        how_verified = ("verifier_workers", "verifier_backend")  # they do not change a result
        wanted = {k: v for k, v in self._eval_settings().record().items() if k not in how_verified}
        wanted["precision"] = self.engine.precision  # a bf16 sampler's base pass rates are not a float32 one's
        return ([r.get("tasks_source") for r in sets.values()] == list(self.config.data.eval_files)
                and all({k: r.get("settings", {}).get(k) for k in wanted} == wanted for r in sets.values()))

    def _evaluate_on_main(self, name: str) -> None:
        """Rank 0 evaluates while the others wait, every rank holding the full weights meanwhile."""
        with self.layout.gathered():
            if self.dist.is_main:
                self._evaluate(name)
            self.dist.barrier()

    def _evaluate(self, name: str) -> None:
        """pass@k on each held-out task set with the training sampler settings, into eval/NAME.json."""
        from rlvr.evaluate import combine_sets, evaluate_sets, write_eval

        self.model.eval()
        records = evaluate_sets(self.engine, self.eval_tasks, self._eval_settings(),
                                model_name=f"{self.config.model} ({name})", progress=self.progress,
                                say=tqdm.write if self.progress else lambda text: None)
        write_eval(combine_sets(records), self.runs.eval_file(name))

    def _step(self) -> tuple[dict[str, float], list[dict[str, Any]]]:
        config, start = self.config, time.perf_counter()
        rollouts, generate_s, verify_s, drawn = self._collect()
        rewards = reward_signal(rollouts, config, self.correction)
        self.partial_credit_warned = self.partial_credit_warned or warn_if_partial_credit(rewards, config)
        if self.critic is None:
            advantages, group_metrics = estimate_advantages(rewards, config.algo.advantage, self.correction)
        else:  # PPO: each row carries its reward; _update turns it into per-token advantages with the critic
            advantages, group_metrics = rewards, {}
        kept = prune_rollouts(rewards, config.data.keep_frac)  # (G, K) bool
        if config.data.keep_frac < 1:  # advantages of the down-sampled groups, as PODS computes them
            advantages = kept_advantages(rewards, kept, config.algo.advantage, self.correction)
        t_update = time.perf_counter()
        update_metrics = self._update(rollouts, advantages, kept)
        if config.algo.beta == 0:  # no reference model, so no KL: a logged 0 would read as "measured, none"
            update_metrics.pop("kl", None)
        update_s = time.perf_counter() - t_update
        self.engine.push_weights()  # vllm samples from its own copy of the weights (a no-op for hf)
        lengths = rollouts.lengths()  # (G, K)
        sampled_logp = [lp for g, group in enumerate(rollouts.old_logprobs) for j, c in enumerate(group)
                        for lp, m in zip(c, rollouts.mask_of(g, j) or [1] * len(c)) if m]  # not an observation
        step_s = time.perf_counter() - start
        metrics = {
            "reward/mean": rollouts.rewards.mean().item(),
            "reward/std": rollouts.rewards.std(dim=-1, unbiased=False).mean().item(),
            "pass_rate": float(np.mean([v.passed for g in rollouts.verdicts for v in g])),
            "pass_rate/neutral": rollouts.neutral.float().mean().item(),
            "parseable": float(np.mean([v.parsed for g in rollouts.verdicts for v in g])),
            # Monte Carlo entropy of the sampling policy: -E[log p(token)] over every sampled token.
            # Available at every step (trained rows or not), at no extra forward pass.
            "entropy": -float(np.mean(sampled_logp)) if sampled_logp else 0.0,
            **group_metrics,
            **update_metrics,
            "len/mean": lengths.mean().item(),
            "len/truncated_frac": rollouts.truncated.float().mean().item(),
            "prompts/drawn": drawn,
            "lr": self.scheduler.get_last_lr()[0],
            "time/step_s": step_s,
            "time/generate_s": generate_s,
            "time/verify_s": verify_s,
            "time/update_s": update_s,
            "throughput/tokens_per_s": rollouts.new_tokens / max(generate_s, 1e-9),
            **self._mfu(rollouts, generate_s, update_s),
        }
        if rollouts.rewards.shape[1] < 2:  # PPO with K = 1: no group, so no within-group spread to log or watch
            del metrics["reward/std"]
        with warnings.catch_warnings():  # a step with nothing to train skips optimizer.step(); the schedule goes on
            warnings.simplefilter("ignore", UserWarning)
            self.scheduler.step()
        samples = self.dist.gather([
            {"step": self.step + 1, "rank": self.dist.rank, "task_id": task.id, "sample": j,
             "text": rollouts.texts[g][j],
             "reward": rollouts.rewards[g, j].item(), "reason": rollouts.verdicts[g][j].reason,
             "neutral": bool(rollouts.neutral[g, j]),
             "advantage": advantages[g, j].item(), "kept": bool(kept[g, j]),
             "tokens": int(lengths[g, j]), "truncated": bool(rollouts.truncated[g, j]),
             **_episode_fields(rollouts, g, j)}
            for g, task in enumerate(rollouts.tasks) for j in range(len(rollouts.texts[g]))
        ])
        # The loss metrics are each rank's share of a globally weighted mean: summed, they are the mean.
        metrics = self.dist.mean_metrics(  # the critic's metrics are global already: the same on every rank
            metrics, summed=("prompts/drawn", *(key for key in update_metrics
                                                if key != "grad_norm" and not key.startswith(("critic/", "ppo/"))))
        )
        # Why rollouts failed, as shares of all ranks' rollouts: a timeout storm or an open remote
        # breaker shows up here, not only in samples.jsonl.
        reasons = Counter(s["reason"] for s in samples)
        metrics.update({f"reason/{r}": c / max(len(samples), 1) for r, c in sorted(reasons.items()) if r != "ok"})
        return metrics, samples

    def _mfu(self, rollouts: Rollouts, generate_s: float, update_s: float) -> dict[str, float]:
        """mfu/generate and mfu/update: the model FLOPs of this step's sampling and update (rlvr/models/flops.py)
        per second, as shares of this host's measured peak in the precision each multiplied in; absent for a
        model whose config does not give its shape."""
        if self.shape is None or self.peak is None:
            return {}
        sampled = generation_flops(self.shape, [len(p) for p in rollouts.prompt_ids],
                                   [[len(c) for c in group] for group in rollouts.completion_ids])
        return {"mfu/generate": mfu(sampled, generate_s, self.peak.of(self.precisions["generate"])),
                "mfu/update": mfu(self._update_flops(), update_s, self.peak.of(self.precisions["update"]))}

    def _update_flops(self) -> int:
        """The model FLOPs of the last update: its whole rows, and the rows that continued from a shared prompt
        with each such prompt once (rlvr/models/flops.py)."""
        rows = self.trained_rows
        return update_flops(self.shape, [r for i, r in enumerate(rows) if i not in self.continued],
                            passes=self.config.algo.ppo_epochs, reference=self.reference is not None,
                            continued=[r for i, r in enumerate(rows) if i in self.continued],
                            prompts=self.shared_prompts)

    def _stop_if_not_finite(self) -> None:
        """Skipped updates leave the weights finite; too many of them mean the run cannot go on as configured."""
        limit = self.config.optim.max_nonfinite_steps
        if self.nonfinite_steps > limit:
            raise ConfigError(
                f"the loss or gradient norm was not finite at {self.nonfinite_steps} update steps (the last at "
                f"step {self.step}), more than optim.max_nonfinite_steps={limit} allows, so training stopped with "
                "the weights of the last finite step; lower optim.lr or the loss coefficients (algo.entropy_coef, "
                "algo.entropy_control.kl_coef, algo.advantage.positive_weight) and rerun or --resume from the last "
                "checkpoint."
            )

    def _collect(self) -> tuple[Rollouts, float, float, int]:
        """Sample and verify; with dynamic filtering, draw more prompts to replace all-equal groups."""
        config = self.config
        want, draws, drawn = config.data.prompts_per_step, 0, 0
        parts: list[Rollouts] = []
        generate_s = verify_s = 0.0
        informative = 0
        while draws < (config.data.max_draws if config.data.dynamic_filter else 1):
            need = want - informative
            if need <= 0:
                break
            # Every rank draws the same prompts and keeps its own slice.
            tasks = self.dist.shard(self.stream.take(max(need, self.dist.world)))
            drawn += len(tasks)
            t0 = time.perf_counter()
            params = SamplingParams.from_decoding(
                config.sampling, n=config.algo.group_size,
                seed=config.run.seed * 1_000_003 + self.step * 101 + draws,  # a function of the step: resumable
            )
            self.model.eval()
            checks = None
            episodic = has_episodes(tasks)  # tasks naming an environment play whole episodes, turn by turn
            if config.data.overlap_verify and not episodic and \
                    "finished" in inspect.signature(self.engine.generate).parameters:
                checks = OverlappedChecks(tasks, self.neutral_specs, config.data.verifier_workers,
                                          config.data.verifier_backend, self.checks_pool)
            with self.layout.gathered():
                if episodic:
                    generation = sample_tasks(self.engine, tasks, params)
                else:
                    generation = self.engine.generate([t.prompt for t in tasks], params,
                                                      **({"finished": checks.submit} if checks else {}))
            t1 = time.perf_counter()
            texts = [[c.text for c in group] for group in generation.completions]
            verdicts, neutral = checks.results() if checks else verify(
                tasks, texts, self.neutral_specs, config.data.verifier_workers, config.data.verifier_backend)
            verify_s += time.perf_counter() - t1  # with overlap: only the checks still running when decoding ended
            generate_s += t1 - t0
            part = Rollouts.from_generation(tasks, generation, verdicts, neutral, params)
            if self.group_reward is not None:  # the verdicts stay the verifier's: pass_rate says who is right
                part = replace(part, rewards=torch.tensor([self.group_reward(group, task)
                                                           for group, task in zip(texts, tasks)]))
            # All-equal groups get zero advantage and no gradient; filtering draws more prompts instead.
            informative += int(self.dist.sum(float((part.rewards.std(dim=-1, unbiased=False) > 0).sum())))
            parts.append(part)
            draws += 1
        return concat(parts, config.algo.group_size), generate_s, verify_s, drawn

    def _update(self, rollouts: Rollouts, advantages: torch.Tensor, kept: torch.Tensor) -> dict[str, float]:
        """ppo_epochs passes of clipped policy-gradient steps over the kept rollouts. Short bf16 passes on the CPU,
        the reference's and the checks' included, attend with two grouped products (rlvr/models/attention.py)."""
        with grouped(self.layout.module, every_pass=True):
            return self._update_passes(rollouts, advantages, kept)

    def _update_passes(self, rollouts: Rollouts, advantages: torch.Tensor, kept: torch.Tensor) -> dict[str, float]:
        config, algo = self.config, self.config.algo
        rows = [(g, j) for g in range(len(rollouts.tasks)) for j in range(advantages.shape[1]) if kept[g, j]]
        if self.critic is None:  # PPO's per-token advantages are rarely 0: every kept row trains
            rows = [(g, j) for g, j in rows if advantages[g, j] != 0]  # zero advantage: no gradient, skip it
        rows, micros = self._order(rollouts, rows)
        self.trained_rows = [(len(rollouts.prompt_ids[g]), len(rollouts.completion_ids[g][j])) for g, j in rows]
        total_rows = int(self.dist.sum(len(rows)))
        if total_rows == 0:  # decided globally, so every rank skips (or takes) the same steps
            return {"loss": 0.0, "kl": 0.0, "clip_frac": 0.0, "grad_norm": 0.0, "rows/trained": 0}
        # Every rank reports the same keys (they are all-reduced by position), rows or not: its share is 0.
        totals: dict[str, float] = dict.fromkeys(("loss", "kl", "clip_frac", "ratio/mean"), 0.0)
        # A rank may have nothing to train on this step; it still joins the gradient sum. When the
        # weights are sharded it also runs as many (zero-weight) micro-batches as the busiest rank.
        pad_id = self.policy.tokenizer.pad_token_id or 0
        batch = pad_batch(rollouts, rows, advantages, config.data.truncated == "mask", pad_id) if rows else {}
        total_tokens = self.dist.sum(float(batch["mask"].sum()) if rows else 0.0)
        count = self.layout.micro_batch_count(len(micros))
        temperature = rollouts.temperature  # the sampler's: the loss reads the distribution that sampled
        if self.fused and not self.head_checked:  # before the reference uses it too
            self._check_fused_head(micro_batch(batch, slice(0, 2)) if rows else None, temperature)
        if self.fused and self.share and not self.share_checked:
            self._check_shared_prompts(micro_batch(batch, slice(0, 6)) if rows else None, temperature)
        shared = [m for m in micros if self._shares(batch["prompt_index"][m])]  # micro-batches that run prompts once
        self.continued = {i for m in shared for i in range(len(rows))[m]}  # rows that continue from a shared prompt
        self.shared_prompts = [len(rollouts.prompt_ids[g]) for m in shared
                               for g in batch["prompt_index"][m].unique().tolist()]
        ref_logp = None if self.reference is None else self._reference_logprobs(batch, micros, temperature, count)
        critic_metrics: dict[str, float] = {}
        if self.critic is not None:  # PPO: the rows' rewards become per-token advantages (R, T), GAE on the critic
            trim = config.optim.bucket_by_length
            advantage, returns, values, critic_metrics = self.critic.advantages(
                batch, batch["advantage"] if rows else torch.zeros(0), ref_logp, trim)
            if rows:
                batch["advantage"] = advantage
            if self.step < self.critic.warmup_steps:  # critic.warmup_steps: only the critic trains
                return {"loss": 0.0, "kl": 0.0, "clip_frac": 0.0, "grad_norm": 0.0, "rows/trained": 0,
                        **critic_metrics, **self.critic.update(batch, values, returns, trim)}
        first_pass: dict[int, torch.Tensor] = {}  # micro-batch -> the trainer's logp before this step's update
        self.layout.module.train()
        nonfinite = False
        for _ in range(config.algo.ppo_epochs):
            self.layout.zero_grad()
            # Each weight cast to bf16 once a pass, not once a micro-batch (0.18 s a micro-batch for SmolLM2 here).
            with cast_once(self._compute_dtype() is not None and not self.layout.sharded, self.policy.device), \
                    (accumulating(self.layout.module) if self.fused else contextlib.nullcontext()):
                for i in range(count):
                    if i >= len(micros):
                        self.layout.backward(self._idle_forward(self.layout.module).logits.sum() * 0.0, i == count - 1)
                        continue
                    micro = micro_batch(batch, micros[i], trim=config.optim.bucket_by_length)
                    logits, logp = self._completion_logprobs(self.layout.module, micro, temperature)  # logits or None
                    mask, span = micro["mask"], micro["mask"].shape[1]
                    old_logp, weights, mismatch = micro["old_logp"], None, {}
                    if algo.mismatch.corrects:  # the trainer's own old logp; weights pi_trainer / pi_sampler
                        old_logp = first_pass.setdefault(i, logp.detach())
                        weights, mismatch = algo.mismatch.weights(old_logp, micro["sampler_logp"], mask)
                    # clip_cov's random picks, a function of (seed, step, micro-batch): a resumed run draws the same.
                    generator = torch.Generator().manual_seed(config.run.seed * 1_000_003 + self.step * 101 + i)
                    advantage = micro["advantage"]  # (b,), or PPO's (b, T) cut to the micro-batch's columns
                    loss, metrics = grpo_loss(
                        logp, old_logp, advantage if advantage.dim() == 1 else advantage[:, :span], mask,
                        ref_logp=None if ref_logp is None or not algo.beta else ref_logp[micros[i], :span],
                        beta=algo.beta,
                        clip_low=algo.clip_low, clip_high=algo.clip_high, aggregation=algo.aggregation,
                        max_tokens=config.sampling.max_new_tokens, ratio_level=algo.ratio_level,
                        entropy_control=algo.entropy_control, generator=generator, weights=weights,
                        entropy=None if logits is None else self._entropy(logits, temperature),
                        entropy_coef=algo.entropy_coef,
                        top_entropy_fraction=algo.top_entropy_fraction,
                    )
                    metrics.update(mismatch)
                    weight = micro_batch_weight(config.algo.aggregation, mask, total_tokens, total_rows)
                    self.layout.backward(loss * weight, i == count - 1)
                    nonfinite = nonfinite or not math.isfinite(metrics["loss"])
                    for key, value in metrics.items():  # token-weighted means over the whole batch and epochs
                        totals[key] = totals.get(key, 0.0) + value * weight / config.algo.ppo_epochs
            if self.dist.sum(float(nonfinite)):  # every rank skips this step; the trainer counts it
                self.layout.zero_grad()
                grad_norm = math.nan
            else:  # skips the optimizer step itself when the gradient norm is not finite
                grad_norm = self.layout.step()
        for key in self.dist.gather(sorted(totals)):  # a rank without rows reports the others' keys too
            totals.setdefault(key, 0.0)
        self._warn_if_all_masked(totals)
        if self.critic is not None:  # the values fit the returns after the policy's step, from the same scores
            critic_metrics.update(self.critic.update(batch, values, returns, config.optim.bucket_by_length))
        return {**totals, "grad_norm": grad_norm, "rows/trained": len(rows), **critic_metrics}

    def _check_fused_head(self, micro: dict[str, torch.Tensor] | None, temperature: float) -> None:
        """Compare the fused head with the model's own on a few rows of the run's first batch; where they differ
        (a model that scales its logits in a way fused_head does not know), use the model's lm_head from now
        on. Every rank takes the same decision."""
        self.head_checked = True
        reason = None
        if micro is not None:
            self.layout.module.eval()
            reason = fused_head_mismatch(self.layout.module, micro, temperature, self._compute_dtype())
        if self.dist.sum(float(reason is not None)):
            self.fused = False
            self.notices.append({"rule": "fused_head_off", "value": 0.0, "message": (
                f"optim.fused_head is off for this run: {reason or 'another rank saw its log-probs differ'}; the "
                "model's own lm_head computes the log-probs instead")})

    def _order(self, rollouts: Rollouts, rows: list[tuple[int, int]]
               ) -> tuple[list[tuple[int, int]], list[slice]]:
        """The rows in training order and their micro-batches: `rollouts.bucketed` under optim.bucket_by_length,
        else (group, sample) order in micro-batches of optim.micro_batch rows."""
        size = self.config.optim.micro_batch
        if not self.config.optim.bucket_by_length:
            return rows, micro_batches(len(rows), size)
        return bucketed(rollouts, rows, size, self.fused and self.share)

    def _shares(self, prompt_index: torch.Tensor) -> bool:
        """Whether a micro-batch (its rows' prompt_index) runs its prompts once: shared prompts are on and
        checked, and some prompt has several rows."""
        return (self.fused and self.share and self.share_checked
                and prompt_index.unique().numel() < prompt_index.numel())

    def _check_shared_prompts(self, micro: dict[str, torch.Tensor] | None, temperature: float) -> None:
        """Compare the shared-prompt forward with a forward per row on the first rows of the first batch that
        repeats a prompt; where they differ (a decoder that takes no cache, or attends differently from one),
        run every row whole from now on. Every rank takes part in the same steps' decisions."""
        repeats = micro is not None and micro["prompt_index"].unique().numel() < micro["prompt_index"].numel()
        if not self.dist.sum(float(repeats)):
            return  # no rank has a repeated prompt yet (K = 1, or single rows left): nothing shares, ask again
        self.share_checked = True
        reason = None
        if repeats:
            self.layout.module.eval()
            reason = shared_prompt_mismatch(self.layout.module, micro, temperature, self._compute_dtype())
        if self.dist.sum(float(reason is not None)):
            self.share = False
            self.notices.append({"rule": "share_prompts_off", "value": 0.0, "message": (
                f"optim.share_prompts is off for this run: {reason or 'another rank saw its log-probs differ'}; "
                "every row runs through the model whole instead")})

    def _warn_if_all_masked(self, totals: dict[str, float]) -> None:
        """algo.mismatch=token_mask (or sequence_mask) that masked every token trains on nothing: say so once."""
        if self.all_masked_warned or totals.get("mismatch/masked_frac", 0.0) < 1 - 1e-6:
            return
        self.all_masked_warned = True
        mismatch = self.config.algo.mismatch
        warnings.warn(f"algo.mismatch={mismatch.name} masked every token of step {self.step + 1}: no "
                      f"pi_trainer / pi_sampler ratio lay in [{mismatch.cap_min:g}, {mismatch.cap:g}], so "
                      "the step trained on nothing; widen the window with algo.mismatch.cap_min or "
                      "algo.mismatch.cap.", stacklevel=2)

    def _entropy(self, logits: torch.Tensor, temperature: float) -> torch.Tensor | None:
        """Token entropy (b, T) at `temperature` when the objective reads it; with a gradient only for the
        entropy bonus."""
        algo = self.config.algo
        if not algo.entropy_coef and algo.top_entropy_fraction >= 1.0:
            return None
        with torch.set_grad_enabled(bool(algo.entropy_coef)):
            return token_entropy(logits, temperature)

    def _idle_forward(self, model: Any) -> Any:
        """One pad token through the model: a rank's share of a sharded collective when it has no rows left."""
        token = torch.tensor([[self.policy.tokenizer.pad_token_id or 0]], device=self.dist.device)
        return model(input_ids=token, attention_mask=torch.ones_like(token))

    def _compute_dtype(self) -> torch.dtype | None:
        """bf16 when the update runs under autocast (optim.mixed_precision), else None: the weights' dtype."""
        return torch.bfloat16 if self.mixed_precision else None

    def _completion_logprobs(self, model: torch.nn.Module, micro: dict[str, torch.Tensor], temperature: float
                             ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(logits (b, T, V) or None, log p (b, T) float32) of a micro-batch's completion tokens at `temperature`:
        through the fused head when it applies (no logits are made), else through the model's own lm_head."""
        if self.fused and "prompt_index" in micro and self._shares(micro["prompt_index"]):
            return None, shared_prompt_logprobs(model, micro, temperature, self._compute_dtype())
        if self.fused:
            return None, head_logprobs(model, micro, temperature, self._compute_dtype())
        return completion_logprobs(model, micro, temperature, self._compute_dtype())

    @torch.no_grad()
    def _reference_logprobs(self, batch: dict[str, Any], micros: list[slice], temperature: float,
                            count: int | None = None) -> torch.Tensor | None:
        """Reference log-probs of the batch's completion tokens at `temperature`, over the update's micro-batches;
        `count` micro-batches in all (see _update)."""
        micros = micros if batch else []
        parts = []
        for i in range(len(micros) if count is None else count):
            if i >= len(micros):  # a sharded reference: this rank joins the others' forward passes
                self._idle_forward(self.reference)
                continue
            micro = micro_batch(batch, micros[i], trim=self.config.optim.bucket_by_length)
            _, logp = self._completion_logprobs(self.reference, micro, temperature)  # (b, t <= T)
            parts.append(torch.nn.functional.pad(logp, (0, batch["completion"].shape[1] - logp.shape[1])))
        return torch.cat(parts) if parts else None

    def _check_ranks_in_sync(self) -> None:
        """Every rank must hold the same weights; a silent divergence would corrupt the run."""
        if self.dist.world == 1 or self.layout.sharded:  # sharded ranks hold different shards by design
            return
        with torch.no_grad():
            checksum = float(sum(p.double().sum() for p in self.model.parameters()))
            if self.critic is not None:  # PPO: the critic is replicated too
                checksum += float(sum(p.double().sum() for p in self.critic.model.trained()))
        sums = self.dist.gather([checksum])
        if max(sums) != min(sums):
            raise RuntimeError(f"ranks diverged at step {self.step}: parameter checksums {sums}")
        if self.dist.is_main:
            self.runs.append(RunDir.SYNC, [{"step": self.step, "checksums": sums}])

    # -- logs and checkpoints ---------------------------------------------------------------
    def _log(self, metrics: dict[str, float], samples: list[dict[str, Any]]) -> None:
        self.runs.append(RunDir.SAMPLES, samples)
        self.runs.append(RunDir.METRICS, [metrics])

    def _save_checkpoint(self) -> None:
        """Called on every rank: sharded weights and optimizer state are gathered (or saved per rank) by all."""
        state = {"scheduler": self.scheduler.state_dict(), "stream": self.stream.state(),
                 "health": self.health.state(), "nonfinite_steps": self.nonfinite_steps,
                 **({"critic": self.critic.state(self.config.run.checkpoint_optimizer)} if self.critic is not None
                    else {})}
        save_checkpoint(self.run_dir, self.step, self.policy, self.layout, self.dist, lora=self.config.lora.enabled,
                        keep=self.config.run.keep_checkpoints, state=state,
                        optimizer=self.config.run.checkpoint_optimizer)

    def _load_latest_checkpoint(self) -> None:
        state = load_checkpoint(self.run_dir, self.model, self.layout, lora=self.config.lora.enabled)
        self.scheduler.load_state_dict(state["scheduler"])
        self.stream.load(state["stream"])
        self.health.restore(state["health"])
        self.nonfinite_steps = state.get("nonfinite_steps", 0)  # absent from checkpoints of older versions
        if self.critic is not None:
            if "critic" not in state:
                raise ConfigError(f"{self.run_dir}'s checkpoint holds no critic: it was not a PPO run; resume it "
                                  "with the algo.name it was started with.")
            self.critic.load(state["critic"])
        self.step = state["step"]
        self.runs.drop_logs_after(self.step)


def _episode_fields(rollouts: Rollouts, g: int, j: int) -> dict[str, Any]:
    """An episode's transcript for samples.jsonl: its turns (observations included), why it ended, per-turn
    rewards (already in "reward"), and how many tokens the whole episode held after the prompt."""
    episode = rollouts.episodes[g][j] if rollouts.episodes is not None else None
    if episode is None:
        return {}
    return {"turns": episode["turns"], "stop": episode["stop"], "turn_rewards": episode["turn_rewards"],
            "context_tokens": len(rollouts.completion_ids[g][j]), **({"error": episode["error"]}
                                                                   if "error" in episode else {})}


def _own_memory(model: torch.nn.Module) -> None:
    """Give the trained CPU weights memory of their own, in one copy each. Weights loaded from a safetensors file
    are mapped from it, and the optimizer's first step, writing each page for the first time, made the kernel copy
    them a page at a time: 1.6 s for SmolLM2-135M here, against 0.2 s for this copy and 0.2 s for the step."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad and p.device.type == "cpu":
                p.data = p.data.clone()


def train(config: TrainConfig, resume: bool = False, policy: Policy | None = None, progress: bool = True) -> Path:
    """Run (or resume) a GRPO training run; returns the run directory."""
    return Trainer(config, policy=policy, resume=resume, progress=progress).train()
