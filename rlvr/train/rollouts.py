"""The trainer's data: the prompt stream, one step's rollouts, and the padded batch the update reads.

Shapes: G groups (prompts) of K completions; R trained rows (kept, non-zero advantage);
P prompt columns (left-padded), T completion columns (right-padded).
"""

from __future__ import annotations

import random
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from rlvr.models import GenerationResult, SamplingParams
from rlvr.models.logprobs import left_pad
from rlvr.tasks import Task
from rlvr.tasks.judge import judge, judge_neutral
from rlvr.verifiers import Verdict

# ---------------------------------------------------------------------------------------------
# Data: a deterministic stream of prompts whose position is part of the checkpoint.


class TaskStream:
    """Tasks in epochs: shuffled by (seed, epoch), or easy to hard (by difficulty or measured pass rate)."""

    def __init__(self, tasks: list[Task], seed: int, schedule: str) -> None:
        self.tasks, self.seed, self.schedule = tasks, seed, schedule
        self.epoch, self.index = 0, 0

    def _order(self) -> list[int]:
        order = list(range(len(self.tasks)))
        random.Random(self.seed * 1_000_003 + self.epoch).shuffle(order)
        # Stable sorts keep the shuffle among equally hard tasks.
        if self.schedule == "difficulty":
            order.sort(key=lambda i: self.tasks[i].meta.get("difficulty", 0))
        elif self.schedule == "pass_rate":  # a higher base pass rate is easier
            order.sort(key=lambda i: -self.tasks[i].meta.get("pass_rate", 0.0))
        return order

    def take(self, n: int) -> list[Task]:
        out: list[Task] = []
        order = self._order()
        while len(out) < n:
            if self.index >= len(order):
                self.epoch, self.index = self.epoch + 1, 0
                order = self._order()
            out.append(self.tasks[order[self.index]])
            self.index += 1
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}

    def load(self, state: dict[str, int]) -> None:
        self.epoch, self.index = state["epoch"], state["index"]


# ---------------------------------------------------------------------------------------------
# Rollouts


@dataclass(frozen=True)
class Rollouts:
    """One step's training batch: groups of K completions with their rewards.

    A completion of a task that names an environment is an episode (rlvr.models.episodes): its tokens hold the
    observations too, `token_masks` is 1 exactly on the tokens the policy sampled (None for a single turn:
    all of them), and its reward is the verifier's on the last assistant turn plus the environment's
    per-turn rewards.
    """

    tasks: list[Task]
    prompt_ids: list[list[int]]
    completion_ids: list[list[list[int]]]  # [group][sample] -> tokens
    old_logprobs: list[list[list[float]]]
    texts: list[list[str]]
    truncated: torch.Tensor  # (G, K) bool
    verdicts: list[list[Verdict]]
    rewards: torch.Tensor  # (G, K) verifier rewards
    neutral: torch.Tensor  # (G, K) bool: right when read format-neutrally by the task's own verifier
    new_tokens: int = 0
    # [group][sample] -> the sampler's logprobs over the support it sampled from (renormalised after
    # top-k/top-p, else old_logprobs themselves): what the mismatch correction compares the trainer with.
    sampler_logprobs: list[list[list[float]]] | None = None
    # The temperature they were sampled at (the SamplingParams' that drew them): the update's log-probs divide
    # the logits by it, so the loss reads the distribution that sampled.
    temperature: float = 1.0
    # [group][sample] -> 1 on the tokens the policy sampled, or None (a single turn: every token); None when
    # no completion of the batch is an episode. `episodes` likewise: each episode's record (turns, stop, ...).
    token_masks: list[list[list[int] | None]] | None = None
    episodes: list[list[dict | None]] | None = None

    @classmethod
    def from_generation(cls, tasks: list[Task], generation: GenerationResult, verdicts: list[list[Verdict]],
                        neutral: list[list[bool]], params: SamplingParams) -> Rollouts:
        """One draw's rollouts: `generation` sampled with `params`, and its verdicts."""
        completions = generation.completions  # [group][sample]
        episodic = any(c.episode is not None for g in completions for c in g)
        turn_rewards = [[sum(c.episode["turn_rewards"]) if c.episode else 0.0 for c in g] for g in completions]
        return cls(
            tasks=tasks, prompt_ids=generation.prompt_token_ids,
            completion_ids=[[c.token_ids for c in g] for g in completions],
            old_logprobs=[[c.logprobs for c in g] for g in completions],
            texts=[[c.text for c in g] for g in completions],
            truncated=torch.tensor([[c.finish_reason == "length" for c in g] for g in completions]),
            verdicts=verdicts,
            rewards=torch.tensor([[v.reward + extra for v, extra in zip(g, e)] for g, e in zip(verdicts, turn_rewards)]),
            neutral=torch.tensor(neutral, dtype=torch.bool),
            new_tokens=generation.new_tokens,
            sampler_logprobs=[[c.logprobs if c.sampler_logprobs is None else c.sampler_logprobs for c in g]
                              for g in completions],
            temperature=params.temperature,
            token_masks=[[c.mask for c in g] for g in completions] if episodic else None,
            episodes=[[c.episode for c in g] for g in completions] if episodic else None,
        )

    def mask_of(self, g: int, j: int) -> list[int] | None:
        """The sampled-token mask of completion (g, j); None when every token was sampled."""
        return None if self.token_masks is None else self.token_masks[g][j]

    def lengths(self) -> torch.Tensor:
        """Completion lengths in tokens the policy wrote (an episode's observations left out), (G, K) float."""
        return torch.tensor([[len(c) if self.mask_of(g, j) is None else sum(self.mask_of(g, j))  # type: ignore[arg-type]
                              for j, c in enumerate(group)] for g, group in enumerate(self.completion_ids)],
                            dtype=torch.float)


def verify(tasks: list[Task], texts: list[list[str]], neutral_specs: dict[str, Any], workers: int,
           backend: str) -> tuple[list[list[Verdict]], list[list[bool]]]:
    """Each group's verdicts under its task's (training) verifier, and the format-neutral reading.

    The neutral reading uses the tasks' own verifiers (`neutral_specs`, by task id): a run
    learning the format while losing accuracy shows there.
    """
    check = dict(workers=workers, backend=backend)
    references = [t.reference for t in tasks]
    verdicts = judge([t.verifier for t in tasks], references, texts, **check)
    specs = [neutral_specs.get(t.id, t.verifier) for t in tasks]
    strict = verdicts if specs == [t.verifier for t in tasks] else judge(specs, references, texts, **check)
    return verdicts, judge_neutral(specs, references, texts, strict, **check)


class OverlappedChecks:
    """Verification of each decoding batch's finished groups on a background thread while the engine decodes
    the next batch (`submit` is the engine's `finished` callback); `results` waits for the last checks.
    The verdicts are the same as `verify` on all groups at the end: only when they are computed changes."""

    def __init__(self, tasks: list[Task], neutral_specs: dict[str, Any], workers: int, backend: str,
                 pool: ThreadPoolExecutor) -> None:
        self.tasks, self.neutral_specs, self.pool = tasks, neutral_specs, pool
        self.workers, self.backend = workers, backend
        self.pending: list[tuple[list[int], Future]] = []

    def submit(self, indices: list[int], groups: list[list[Any]]) -> None:
        texts = [[c.text for c in group] for group in groups]
        tasks = [self.tasks[i] for i in indices]
        self.pending.append((indices, self.pool.submit(verify, tasks, texts, self.neutral_specs, self.workers,
                                                       self.backend)))

    def results(self) -> tuple[list[list[Verdict]], list[list[bool]]]:
        verdicts: list[Any] = [None] * len(self.tasks)
        neutral: list[Any] = [None] * len(self.tasks)
        for indices, future in self.pending:
            for i, group_verdicts, group_neutral in zip(indices, *future.result()):
                verdicts[i], neutral[i] = group_verdicts, group_neutral
        if any(v is None for v in verdicts):
            raise RuntimeError("the engine did not report every prompt as finished")
        return verdicts, neutral


def concat(parts: list[Rollouts], k: int) -> Rollouts:
    """One Rollouts from several draws of the same step (dynamic filtering draws more than once), all sampled
    at one temperature."""
    if len({p.temperature for p in parts}) > 1:
        raise ValueError(f"the draws of one step were sampled at different temperatures: "
                         f"{sorted({p.temperature for p in parts})}")

    def cat(name: str) -> list:
        return [x for p in parts for x in getattr(p, name)]

    return Rollouts(
        tasks=cat("tasks"), prompt_ids=cat("prompt_ids"), completion_ids=cat("completion_ids"),
        old_logprobs=cat("old_logprobs"), texts=cat("texts"), verdicts=cat("verdicts"),
        truncated=torch.cat([p.truncated.view(-1, k) for p in parts]),
        rewards=torch.cat([p.rewards.view(-1, k) for p in parts]),
        neutral=torch.cat([p.neutral.view(-1, k) for p in parts]),
        new_tokens=sum(p.new_tokens for p in parts),
        sampler_logprobs=[x for p in parts for x in (p.sampler_logprobs or p.old_logprobs)],
        temperature=parts[0].temperature,
        token_masks=_cat_optional(parts, "token_masks", k),
        episodes=_cat_optional(parts, "episodes", k),
    )


def _cat_optional(parts: list[Rollouts], name: str, k: int) -> list | None:
    """A per-completion field some draws lack (None: no episode among them), concatenated; None if all lack it."""
    if all(getattr(p, name) is None for p in parts):
        return None
    return [group for p in parts for group in (getattr(p, name) or [[None] * k for _ in p.tasks])]


# ---------------------------------------------------------------------------------------------
# Batch plumbing


def micro_batches(n: int, size: int) -> list[slice]:
    """Row slices of at most `size` rows covering 0..n."""
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


# A micro-batch's fixed cost in positions of model work: on the 2-core CPU of the README one forward and backward
# of SmolLM2 under bf16 autocast costs about 2.5 ms a position and 0.18 s a micro-batch beyond that (its
# kernels, the weights' gradients accumulated, the embedding's dense gradient). It keeps `plan_micro_batches` from
# cutting a batch into many small ones.
MICRO_BATCH_COST = 64


def plan_micro_batches(rollouts: Any, rows: list[tuple[int, int]], size: int, shared: bool
                       ) -> tuple[list[slice], int]:
    """Consecutive micro-batches of at most `size` of the ordered `rows` (group, sample), cut where the fewest
    positions run through the model, and that number (each micro-batch counted MICRO_BATCH_COST more).

    A micro-batch runs every row's prompt left-padded to its longest and every completion right-padded to its
    longest; with `shared` prompts, one that repeats a prompt runs each distinct prompt once. So a batch of one
    long completion and many short ones costs far less cut after the long one than padded to it whole. The
    cuts come from a shortest path over the rows (n x size steps)."""
    n = len(rows)
    best = [0] + [None] * n  # best[j]: the least cost of rows[:j]; cut[j]: where its last micro-batch starts
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        width = span = 0
        groups: set[int] = set()
        for i in range(j - 1, max(j - size, 0) - 1, -1):  # the last micro-batch is rows[i:j]
            g, k = rows[i]
            width, span = max(width, len(rollouts.prompt_ids[g])), max(span, len(rollouts.completion_ids[g][k]))
            groups.add(g)
            rows_in = j - i
            once = shared and len(groups) < rows_in
            cost = best[i] + MICRO_BATCH_COST + (len(groups) * width + rows_in * span if once
                                                 else rows_in * (width + span))
            if best[j] is None or cost < best[j]:
                best[j], cut[j] = cost, i
    micros, j = [], n
    while j > 0:
        micros.append(slice(cut[j], j))
        j = cut[j]
    return micros[::-1], int(best[n])


def bucketed(rollouts: Any, rows: list[tuple[int, int]], size: int, shared: bool
             ) -> tuple[list[tuple[int, int]], list[slice]]:
    """optim.bucket_by_length: the rows (group, sample) longest first, and their micro-batches cut where the
    fewest positions run (`plan_micro_batches`). With `shared` prompts, of two orders the one that runs fewer
    positions: whole groups together (longest group first, longest row first within it: a prompt runs once),
    or completions by length (a prompt runs once in each micro-batch that holds one of its rows, but completions
    of like length share micro-batches). `rollouts` needs only prompt_ids and completion_ids."""
    length = {(g, j): len(rollouts.prompt_ids[g]) + len(rollouts.completion_ids[g][j]) for g, j in rows}
    orders = [sorted(rows, key=lambda r: -length[r])]
    if shared:
        longest: dict[int, int] = {}
        for (g, _), n in length.items():
            longest[g] = max(longest.get(g, 0), n)
        orders = [sorted(rows, key=lambda r: (-longest[r[0]], r[0], -length[r])),
                  sorted(rows, key=lambda r: (-len(rollouts.completion_ids[r[0]][r[1]]), r[0]))]
    plans = [(plan_micro_batches(rollouts, order, size, shared), order) for order in orders]
    (micros, _), order = min(plans, key=lambda plan: plan[0][1])
    return order, micros


def micro_batch(batch: dict[str, Any], rows: slice, trim: bool = True) -> dict[str, Any]:
    """The rows `rows` of a `pad_batch` batch; with `trim`, without the columns none of them uses (the left
    padding beyond their longest prompt, the right padding beyond their longest completion), so a
    micro-batch of short rows costs what short rows cost. Completion columns keep their start: column t of
    `completion`, `mask`, `old_logp` is still completion token t.
    """
    part = {key: value[rows] for key, value in batch.items() if isinstance(value, torch.Tensor)}
    if not trim:
        return part
    width = part["input_ids"].shape[1] - part["completion"].shape[1]  # where every completion starts
    used = part["attention"].any(dim=0)  # (P + T,)
    start = int(used[:width].nonzero().min()) if used[:width].any() else width
    span = int(used[width:].nonzero().max()) + 1 if used[width:].any() else 1
    for key in ("input_ids", "attention", "positions"):
        part[key] = part[key][:, start : width + span]
    for key in ("completion", "old_logp", "sampler_logp", "mask"):
        if key in part:
            part[key] = part[key][:, :span]
    return part


def pad_batch(rollouts: Rollouts, rows: list[tuple[int, int]], advantages: torch.Tensor, mask_truncated: bool,
              pad_id: int) -> dict[str, Any]:
    """Left-pad prompts and right-pad completions so every completion starts at the same column.

    rows: (group, sample) pairs to train on; advantages (G, K); a truncated completion gets a
    zero mask when `mask_truncated`.
    input_ids, attention, positions (R, P + T); completion, old_logp, sampler_logp, mask (R, T); advantage (R,);
    prompt_index (R,): the group each row was sampled for (rows of one group share their prompt).
    """
    completions = [rollouts.completion_ids[g][j] for g, j in rows]
    batch = left_pad([rollouts.prompt_ids[g] for g, _ in rows], completions, pad_id)  # the model's inputs
    span = batch["completion"].shape[1]
    old_logp = torch.zeros((len(rows), span))
    sampler_logp = torch.zeros((len(rows), span))
    sampled_from = rollouts.sampler_logprobs or rollouts.old_logprobs
    mask = torch.zeros((len(rows), span))
    for r, ((g, j), tokens) in enumerate(zip(rows, completions)):
        old_logp[r, : len(tokens)] = torch.tensor(rollouts.old_logprobs[g][j])
        sampler_logp[r, : len(tokens)] = torch.tensor(sampled_from[g][j])
        if not (mask_truncated and rollouts.truncated[g, j]):
            sampled = rollouts.mask_of(g, j)  # an episode: its observations and turn markers never train
            mask[r, : len(tokens)] = 1 if sampled is None else torch.tensor(sampled, dtype=mask.dtype)
    return {
        **batch, "old_logp": old_logp, "sampler_logp": sampler_logp, "mask": mask,
        "advantage": torch.stack([advantages[g, j] for g, j in rows]),
        "prompt_index": torch.tensor([g for g, _ in rows], dtype=torch.long),
    }
