"""Environments: multi-turn episodes, tools, and the tokens an episode trains on.

    >>> from rlvr.envs import get_env, run_episode
    >>> env = get_env({"name": "tools", "tools": ["calculator"]})
    >>> replies = iter(['<tool_call>{"name": "calculator", "arguments": {"expression": "2^10"}}</tool_call>', "1024"])
    >>> run_episode(env, {"prompt": "2^10?"}, lambda messages: next(replies), 4, 256, len).turns[2].text
    '1024'

The protocol (`Environment`: `reset(task) -> messages`, `step(assistant_text) -> Step`) and the
limits (`EpisodeLimits`) are in base.py; finding one by name, plugin or allowed "module:Class"
path in registry.py; the `tools` environment, its calculator, python and sql tools, and
`ClassTools` (a plain class whose methods are tools) in tools.py; the tool-call tag format and
chat rendering in toolcalls.py; the episode loop (`run_episode`, `Episode`) in episodes.py; the
token sequence and mask of an episode, checked against one whole render, in tokens.py.

Training on episodes is not wired yet: rollouts and the trainer still sample one turn per task.
"""

from rlvr.envs.base import EpisodeLimits, Environment, Step, episode_limits, register_env
from rlvr.envs.episodes import Episode, Turn, run_episode
from rlvr.envs.registry import env_names, get_env
from rlvr.envs.tokens import TokenizationMismatch, episode_tokens
from rlvr.envs.toolcalls import Tool, ToolError, chat_messages, parse_tool_calls
from rlvr.envs.tools import ClassTools, ToolsEnv, tool_names

__all__ = [
    "ClassTools",
    "Environment",
    "Episode",
    "EpisodeLimits",
    "Step",
    "TokenizationMismatch",
    "Tool",
    "ToolError",
    "ToolsEnv",
    "Turn",
    "chat_messages",
    "env_names",
    "episode_limits",
    "episode_tokens",
    "get_env",
    "parse_tool_calls",
    "register_env",
    "run_episode",
    "tool_names",
]
