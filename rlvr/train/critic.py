"""PPO's critic: a value model, its optimizer, and the per-token advantages it gives the policy's loss.

    critic.shared=false  a copy of the policy's decoder with a scalar head, trained whole, on its own
                         optimizer (verl, OpenRLHF, SkyRL); with LoRA it is still a full copy
    critic.shared=true   a scalar head on the policy's own last hidden state; the head alone trains (the
                         policy's weights see only the policy's loss), so no second model is held

The head starts at zero, so the first values are 0 and the first advantages are the rewards. One step:
`advantages` scores the rollouts (old values), builds the per-token rewards and runs GAE over the sampled
tokens (objectives/ppo.py), whitening over the whole batch; the policy trains on them with grpo_loss; then
`update` fits the values to the returns with the clipped value loss. Across ranks (data-parallel), the
value gradients are summed like the policy's (Dist.sum_gradients) and every metric is global, so every rank
holds the same critic. The critic is replicated under FSDP and DeepSpeed too (only critic.shared=false runs
there: a shared head would read a sharded decoder).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

from rlvr._errors import ConfigError
from rlvr.train.config import AlgoSection, CriticSection
from rlvr.train.objectives.ppo import explained_variance, gae, moments, token_rewards, value_loss, whiten
from rlvr.train.rollouts import micro_batch, micro_batches
from rlvr.train.runtime.distributed import Dist
from rlvr.train.runtime.optim import make_optimizer


def check_layout(section: CriticSection, sharded: bool) -> None:
    """A shared critic reads the policy's decoder in its own forward passes, which a sharded policy cannot give
    outside its collectives; the trainer calls this before any model loads."""
    if section.shared and sharded:
        raise ConfigError("critic.shared=true reads the policy's decoder, which FSDP and DeepSpeed shard; set "
                          "critic.shared=false (a separate critic) for a sharded launch.")


class ValueModel(torch.nn.Module):
    """A decoder and a scalar head: V(s_t) for each completion column t, read at the position that predicts
    token t (the state the policy chose it in). `frozen_body`: the decoder is the policy's, read without a
    gradient."""

    def __init__(self, body: torch.nn.Module, hidden_size: int, frozen_body: bool) -> None:
        super().__init__()
        self.frozen_body = frozen_body
        self.body = body
        head = torch.nn.Linear(hidden_size, 1)
        with torch.no_grad():
            head.weight.zero_()
            head.bias.zero_()
        self.head = head.to(next(body.parameters()).device)

    def forward(self, micro: dict[str, torch.Tensor], compute_dtype: torch.dtype | None = None) -> torch.Tensor:
        span = micro["completion"].shape[1]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_body), \
                torch.autocast(device_type=micro["input_ids"].device.type, dtype=torch.bfloat16,
                               enabled=compute_dtype is not None):
            hidden = self.body(input_ids=micro["input_ids"], attention_mask=micro["attention"],
                               position_ids=micro["positions"], use_cache=False).last_hidden_state
        hidden = hidden[:, -(span + 1) : -1].float()  # (b, T, H): position width-1+t precedes token t
        return self.head.float()(hidden).squeeze(-1)  # (b, T) float32

    def trained(self) -> list[torch.nn.Parameter]:
        return list(self.head.parameters()) if self.frozen_body else list(self.parameters())

    def trained_state(self) -> dict[str, torch.Tensor]:
        """What a checkpoint keeps: the head, and the decoder when it is the critic's own."""
        state = self.state_dict()
        return {k: v for k, v in state.items() if k.startswith("head.")} if self.frozen_body else state


class Critic:
    """The value model, its AdamW, and the two things a PPO step asks of it."""

    def __init__(self, model: torch.nn.Module, section: CriticSection, algo: AlgoSection, dist: Dist,
                 max_grad_norm: float, compute_dtype: torch.dtype | None, sharded: bool) -> None:
        check_layout(section, sharded)
        decoder = model.get_decoder()
        body = decoder if section.shared else copy.deepcopy(decoder).train().requires_grad_(True)
        self.model = ValueModel(body, model.config.hidden_size, frozen_body=section.shared)
        self.section, self.algo, self.dist = section, algo, dist
        self.max_grad_norm, self.compute_dtype = max_grad_norm, compute_dtype
        self.optimizer, self.scheduler = make_optimizer(self.model.trained(), section.lr, 0.0, 0)

    @property
    def warmup_steps(self) -> int:
        return self.section.warmup_steps

    # -- scoring the rollouts -------------------------------------------------------------------
    @torch.no_grad()
    def values(self, batch: dict[str, Any], trim: bool) -> torch.Tensor:
        """V (R, T) of a pad_batch batch, `critic.micro_batch` rows at a time, 0 beyond each micro-batch's
        columns."""
        self.model.eval()
        width = batch["completion"].shape[1]
        parts = [self.model(micro_batch(batch, rows, trim=trim), self.compute_dtype)
                 for rows in micro_batches(batch["completion"].shape[0], self.section.micro_batch)]
        return torch.cat([torch.nn.functional.pad(v, (0, width - v.shape[1])) for v in parts]) if parts \
            else batch["mask"].new_zeros(batch["mask"].shape)

    def advantages(self, batch: dict[str, Any], final: torch.Tensor, ref_logp: torch.Tensor | None, trim: bool
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, float]]:
        """(advantages, returns, old values) (R, T) and metrics for a batch whose rows earned `final` (R,).
        With algo.kl_in_reward, r_t carries the KL penalty to the reference (ref_logp (R, T))."""
        if batch:
            mask = batch["mask"]
            values = self.values(batch, trim) * mask
            kl = None if ref_logp is None else batch["old_logp"] - ref_logp
            rewards, metrics = token_rewards(final.to(values.dtype), mask, kl, self.algo.kl_in_reward)
            advantages, returns = gae(rewards, values, mask, self.algo.gamma, self.algo.lam)
        else:  # a rank with no rows this step still joins the sums below
            mask = values = advantages = returns = torch.zeros(0, 0)
            metrics = {"ppo/kl_penalty": 0.0} if self.algo.kl_in_reward else {}
        if self.algo.whiten:  # over every rank's sampled tokens, so each rank's rows are scaled alike
            advantages = whiten(advantages, mask, self._global(moments(advantages, mask)))
        target, residual = self._global(moments(returns, mask)), self._global(moments(returns - values, mask))
        value_moments = self._global(moments(values, mask))
        metrics = {**{k: self.dist.sum(v) / self.dist.world for k, v in metrics.items()},
                   "critic/explained_variance": explained_variance(target, residual),
                   "critic/value_mean": value_moments[1] / max(value_moments[0], 1.0),
                   "critic/return_mean": target[1] / max(target[0], 1.0)}
        return advantages, returns, values, metrics

    def _global(self, m: tuple[float, float, float]) -> tuple[float, float, float]:
        return self.dist.sum(m[0]), self.dist.sum(m[1]), self.dist.sum(m[2])

    # -- fitting the values -----------------------------------------------------------------------
    def update(self, batch: dict[str, Any], old_values: torch.Tensor, returns: torch.Tensor, trim: bool
               ) -> dict[str, float]:
        """critic.epochs passes of the clipped value loss, a token mean over every rank's sampled tokens; one
        optimizer step a pass. Returns the critic/* metrics of the last pass (the same on every rank)."""
        rows = batch["mask"].shape[0] if batch else 0
        total = max(self.dist.sum(float(batch["mask"].sum()) if rows else 0.0), 1.0)
        self.model.train()
        loss_sum = clipped = 0.0
        for _ in range(self.section.epochs):
            self.optimizer.zero_grad(set_to_none=True)
            loss_sum = clipped = 0.0
            for part in micro_batches(rows, self.section.micro_batch):
                micro = micro_batch(batch, part, trim=trim)
                span = micro["mask"].shape[1]
                predicted = self.model(micro, self.compute_dtype)  # (b, t <= T)
                per_token, was_clipped = value_loss(predicted, old_values[part, :span], returns[part, :span],
                                                    micro["mask"], self.section.value_clip)
                loss = per_token.sum() / total
                loss.backward()
                loss_sum += loss.item()
                clipped += float(was_clipped.sum())
            parameters = self.model.trained()
            self.dist.sum_gradients(parameters)  # a rank without rows joins with zero gradients
            norm = torch.nn.utils.clip_grad_norm_(parameters, self.max_grad_norm)
            if torch.isfinite(norm):  # the trainer's rule: a step that is not finite is skipped
                self.optimizer.step()
        self.scheduler.step()
        loss_total = self.dist.sum(loss_sum)
        return {"critic/value_loss": loss_total if math.isfinite(loss_total) else math.nan,
                "critic/value_clip_frac": self.dist.sum(clipped) / total}

    # -- checkpoints --------------------------------------------------------------------------------
    def state(self, optimizer: bool = True) -> dict[str, Any]:
        """The critic's part of a checkpoint; without `optimizer` (run.checkpoint_optimizer=false) no optimizer
        state, like the policy's: such a checkpoint is refused for resume before this state is read."""
        return {"model": self.model.trained_state(), "optimizer": self.optimizer.state_dict() if optimizer else None,
                "scheduler": self.scheduler.state_dict()}

    def load(self, state: dict[str, Any]) -> None:
        missing, unexpected = self.model.load_state_dict(state["model"], strict=False)
        expected = set(self.model.trained_state())
        if unexpected or expected & set(missing):
            raise ConfigError("the checkpoint's critic does not match this run's critic (critic.shared differs?); "
                              "resume with the config the run was started with.")
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
