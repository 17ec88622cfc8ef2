"""One episode: drive an environment with a policy, within the turn and token limits.

`run_episode` is the loop, pure Python: the policy is any `policy_fn(messages) -> str` (a
scripted list in tests; the sampling engine once rollouts use it) and tokens are counted by
`count_tokens(text) -> int`. What it returns, an `Episode`, is the record an eval file keeps as
"turns": [{"role", "text"}, ...] with the observations, plus per-turn rewards and whether the
limits cut it short.

Limits. `max_turns` assistant turns; `max_tokens` tokens written after the opening messages
(assistant turns and observations together). An assistant turn that would pass the token budget
is cut to the longest prefix that fits (`count_tokens` of the prefix), the episode ends, and it
is marked truncated; so is an observation, and an episode still going after its last turn. A cut
assistant turn is flagged: its end-of-turn marker was never sampled, so no mask may cover it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from rlvr.envs.base import Environment, Step

__all__ = ["Episode", "Turn", "run_episode"]


@dataclass(frozen=True)
class Turn:
    """One message of an episode.

    sampled:   the policy wrote it (an assistant turn after the opening messages): only these are trained on.
    truncated: the token limit cut it; for a sampled turn, its end-of-turn marker was not sampled.
    """

    role: str
    text: str
    sampled: bool = False
    truncated: bool = False

    def to_record(self) -> dict:
        return {"role": self.role, "text": self.text}


@dataclass
class Episode:
    """What one episode produced.

    turns:        the opening messages, then assistant turns and observations in order.
    rewards:      one per environment step (per-turn rewards; the verifier gives the final one).
    infos:        the `info` of each step.
    done:         the environment ended it (a final answer); False when a limit did.
    truncated:    a limit ended it ("turns" or "tokens" in `stop`).
    stop:         why it ended: "done", "turns", "tokens" or "error" (the environment raised: `error`).
    tokens:       tokens written after the opening messages, by `count_tokens`.
    """

    turns: list[Turn] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    infos: list[dict] = field(default_factory=list)
    done: bool = False
    truncated: bool = False
    stop: str = ""
    error: str = ""
    tokens: int = 0

    @property
    def completion(self) -> str:
        """The last assistant turn: what the task's verifier judges."""
        return next((t.text for t in reversed(self.turns) if t.role == "assistant"), "")

    def messages(self) -> list[dict]:
        """The conversation as chat messages {"role", "content"}."""
        return [{"role": t.role, "content": t.text} for t in self.turns]

    def sampled_indices(self) -> list[int]:
        return [i for i, t in enumerate(self.turns) if t.sampled]

    def to_record(self) -> dict[str, Any]:
        """The JSON form kept in eval files."""
        return {"turns": [t.to_record() for t in self.turns], "turn_rewards": list(self.rewards),
                "truncated": self.truncated, "stop": self.stop, **({"error": self.error} if self.error else {})}


def run_episode(env: Environment, task: Mapping[str, Any], policy_fn: Callable[[list[dict]], str],
                max_turns: int, max_tokens: int, count_tokens: Callable[[str], int]) -> Episode:
    """Play one episode of `env` on `task` with `policy_fn`; never more than `max_turns` assistant
    turns or `max_tokens` tokens after the opening messages.

    >>> from rlvr.envs.tools import ToolsEnv
    >>> replies = iter(['<tool_call>{"name": "calculator", "arguments": {"expression": "37*29"}}</tool_call>',
    ...                 "It is 1073."])
    >>> episode = run_episode(ToolsEnv(), {"prompt": "37*29?"}, lambda m: next(replies), 4, 100, len)
    >>> [(t.role, t.text) for t in episode.turns[1:]]
    [('assistant', '<tool_call>{"name": "calculator", "arguments": {"expression": "37*29"}}</tool_call>'), \
('tool', '1073'), ('assistant', 'It is 1073.')]
    """
    episode = Episode(turns=[Turn(m["role"], m["content"]) for m in env.reset(task)])
    role = getattr(env, "observation_role", "user")
    for turn in range(max_turns):
        text, cut = _fit(policy_fn(episode.messages()), max_tokens - episode.tokens, count_tokens)
        episode.turns.append(Turn("assistant", text, sampled=True, truncated=cut))
        episode.tokens += count_tokens(text)
        if cut:
            return _end(episode, "tokens")
        try:
            step = env.step(text)
        except Exception as exc:  # noqa: BLE001 - an environment's bug fails this episode, not the run
            episode.error = f"{type(exc).__name__}: {exc}"
            return _end(episode, "error")
        _record(episode, step)
        if step.done or step.observation is None:
            return _end(episode, "done")
        if turn == max_turns - 1:
            break  # no turn left to answer the observation: leave it out
        observation, cut = _fit(step.observation, max_tokens - episode.tokens, count_tokens)
        episode.turns.append(Turn(role, observation, truncated=cut))
        episode.tokens += count_tokens(observation)
        if cut or episode.tokens >= max_tokens:
            return _end(episode, "tokens")
    return _end(episode, "turns")


def _record(episode: Episode, step: Step) -> None:
    episode.rewards.append(float(step.reward))
    episode.infos.append(dict(step.info))


def _end(episode: Episode, stop: str) -> Episode:
    episode.stop = stop
    episode.done = stop == "done"
    episode.truncated = stop in ("turns", "tokens")
    return episode


def _fit(text: str, budget: int, count_tokens: Callable[[str], int]) -> tuple[str, bool]:
    """(text, False) when it fits in `budget` tokens, else (its longest prefix that does, True).
    Counts are not additive over prefixes in general, but grow with the prefix: bisect on length."""
    if count_tokens(text) <= budget:
        return text, False
    low, high = 0, len(text)  # invariant: text[:low] fits, text[:high] does not
    while high - low > 1:
        middle = (low + high) // 2
        if count_tokens(text[:middle]) <= budget:
            low = middle
        else:
            high = middle
    return text[:low], True
