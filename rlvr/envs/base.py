"""The environment protocol, and the registry that finds an environment by name.

An environment turns one task into a conversation of several turns. It is small enough to
write in twenty lines:

    class Guess:                                   # a user's environment
        def reset(self, task):
            self.answer = task["reference"]
            return [{"role": "user", "content": task["prompt"]}]

        def step(self, assistant_text):
            if assistant_text.strip() == self.answer:
                return Step(None, reward=1.0, done=True)
            return Step("No, try again.", reward=0.0, done=False)

`reset(task)` gets the task record as a mapping ("prompt", "reference", ...) and returns the
opening messages; `step(assistant_text)` answers one assistant turn with a `Step`: the next
observation (None: nothing more to say, the episode ends), a per-turn reward, whether the
episode is over, and free-form info. The final reward stays the task's verifier, applied to the
last assistant turn; per-turn rewards are an environment's addition. An environment may set
`observation_role` ("user" when absent; the tool environments use "tool").

Environments are found as verifiers are (`get_env`, registry.py): a name registered here
(`register_env`), a plugin's entry point in the `rlvr.envs` group, or a "package.module:Class"
path, imported only when `allow_plugins` allowed its module (the verifiers' allow-list: a data
file runs no code). A task names its own, as a name or a mapping with "name" and options:

    "env": {"name": "tools", "tools": ["calculator"], "max_turns": 4}

`max_turns` and `max_tokens` are the episode's limits (`episode_limits`), taken off before the
environment is built; every other key is an option of the environment. A class with no `step`
method is a plain tool class: its public typed methods become tools (`tools.ClassTools`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

from rlvr._errors import ConfigError

__all__ = ["EpisodeLimits", "Environment", "Step", "episode_limits", "register_env"]

DEFAULT_MAX_TURNS = 4
DEFAULT_MAX_TOKENS = 4096
_LIMIT_KEYS = ("max_turns", "max_tokens")


@dataclass(frozen=True)
class Step:
    """What an environment answers to one assistant turn.

    observation: the next message to the policy, or None when the environment has nothing more to say.
    reward:      this turn's reward (the task's verifier still gives the final one).
    done:        the episode is over (a final answer, a solved task, a refusal to go on).
    info:        free-form facts for logs (which tool ran, how long it took, why it failed).
    """

    observation: str | None
    reward: float = 0.0
    done: bool = False
    info: dict = field(default_factory=dict)


@runtime_checkable
class Environment(Protocol):
    """The protocol: `reset(task) -> messages`, then `step(assistant_text) -> Step` once per turn."""

    def reset(self, task: Mapping[str, Any]) -> list[dict]: ...

    def step(self, assistant_text: str) -> Step: ...


@dataclass(frozen=True)
class EpisodeLimits:
    """How long one episode may run: assistant turns, and tokens written after the opening messages
    (assistant turns and observations together)."""

    max_turns: int = DEFAULT_MAX_TURNS
    max_tokens: int = DEFAULT_MAX_TOKENS

    def __post_init__(self) -> None:
        for name in _LIMIT_KEYS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"environment option {name} must be a positive integer, got {value!r}.")


# ------------------------------------------------------------------------------------------
# Registry


_REGISTRY: dict[str, type] = {}


def register_env(name: str) -> Callable[[type], type]:
    """Class decorator: make an environment class (or a plain tool class) available to `get_env(name)`."""

    def decorate(cls: type) -> type:
        if not isinstance(cls, type):
            raise TypeError(f"register_env('{name}') expects a class, got {cls!r}")
        _REGISTRY[name] = cls
        return cls

    return decorate


def episode_limits(spec: str | Mapping[str, Any]) -> EpisodeLimits:
    """The turn and token limits a task's "env" spec sets (defaults where it sets none)."""
    if isinstance(spec, Mapping):
        return EpisodeLimits(**{k: spec[k] for k in _LIMIT_KEYS if k in spec})
    return EpisodeLimits()
