"""The environment protocol, the registry and the episode loop, driven by scripted policies."""

from __future__ import annotations

import json

import pytest

from rlvr._errors import ConfigError
from rlvr.envs import (ClassTools, EpisodeLimits, Step, ToolsEnv, env_names, episode_limits, get_env,
                       run_episode)
from rlvr.verifiers import allow_plugins
from rlvr.verifiers._plugins import PluginNotAllowed


def scripted(*replies: str):
    """A policy that says `replies` in order and records the messages it was shown."""
    it = iter(replies)
    seen: list[list[dict]] = []

    def policy(messages: list[dict]) -> str:
        seen.append([dict(m) for m in messages])
        return next(it)

    policy.seen = seen  # type: ignore[attr-defined]
    return policy


def words(text: str) -> int:
    return len(text.split())


def calc(expression: str) -> str:
    return '<tool_call>' + json.dumps({"name": "calculator", "arguments": {"expression": expression}}) + '</tool_call>'


GUESS = {"prompt": "Guess my number between 1 and 10.", "reference": "7"}


def guess_env():
    allow_plugins("envs_for_tests")
    return get_env("envs_for_tests:Guess")


# -- the loop ------------------------------------------------------------------------------------------


def test_an_episode_ends_when_the_environment_is_done():
    policy = scripted("3", "9", "7")
    episode = run_episode(guess_env(), GUESS, policy, max_turns=5, max_tokens=100, count_tokens=words)
    assert [(t.role, t.text) for t in episode.turns] == [
        ("user", GUESS["prompt"]), ("assistant", "3"), ("user", "Higher."), ("assistant", "9"),
        ("user", "Lower."), ("assistant", "7")]
    assert episode.done and not episode.truncated and episode.stop == "done"
    assert episode.rewards == [0.0, 0.0, 1.0]
    assert episode.infos[0] == {"guess": 3}
    assert episode.completion == "7"
    assert episode.sampled_indices() == [1, 3, 5]
    assert policy.seen[1][-1] == {"role": "user", "content": "Higher."}  # the policy saw the observation
    assert episode.to_record()["turns"][2] == {"role": "user", "text": "Higher."}


def test_an_episode_stops_at_the_turn_limit_and_is_marked_truncated():
    episode = run_episode(guess_env(), GUESS, scripted("1", "2", "3", "4"), max_turns=3, max_tokens=100,
                          count_tokens=words)
    assert [t.text for t in episode.turns if t.role == "assistant"] == ["1", "2", "3"]
    assert episode.truncated and not episode.done and episode.stop == "turns"
    assert episode.turns[-1].role == "assistant"  # no observation that no turn could answer
    assert len(episode.rewards) == 3


def test_an_assistant_turn_over_the_token_budget_is_cut_and_the_episode_stops():
    long = "one two three four five six seven eight"
    episode = run_episode(guess_env(), GUESS, scripted("1", long), max_turns=5, max_tokens=5, count_tokens=words)
    # 1 ("1") + 1 ("Higher.") used; 3 tokens left for the second turn
    assert episode.turns[-1].text.split() == ["one", "two", "three"]
    assert episode.turns[-1].truncated and episode.turns[-1].sampled
    assert episode.truncated and episode.stop == "tokens" and episode.tokens <= 5
    assert len(episode.rewards) == 1  # the cut turn never reached the environment


def test_an_observation_over_the_token_budget_ends_the_episode():
    env = ToolsEnv(tools=["calculator"])
    episode = run_episode(env, {"prompt": "big"}, scripted(calc("2^200"), "done"), max_turns=5,
                          max_tokens=len(calc("2^200")) + 10, count_tokens=len)
    assert episode.turns[-1].role == "tool" and episode.turns[-1].truncated
    assert len(episode.turns[-1].text) == 10
    assert episode.truncated and episode.stop == "tokens"


def test_an_environment_that_raises_fails_the_episode_not_the_run():
    class Broken:
        def reset(self, task):
            return [{"role": "user", "content": "hi"}]

        def step(self, text):
            raise KeyError("oops")

    episode = run_episode(Broken(), {}, scripted("hello"), max_turns=3, max_tokens=50, count_tokens=words)
    assert episode.stop == "error" and "KeyError" in episode.error and not episode.done
    assert episode.to_record()["error"].startswith("KeyError")


def test_the_tools_environment_runs_a_calculator_episode():
    env = get_env({"name": "tools", "tools": ["calculator"], "max_turns": 4})
    policy = scripted(calc("37*29"), "The answer is 1073.")
    episode = run_episode(env, {"prompt": "What is 37*29?"}, policy, 4, 200, words)
    assert [t.role for t in episode.turns] == ["user", "assistant", "tool", "assistant"]
    assert episode.turns[2].text == "1073"
    assert episode.done and episode.completion == "The answer is 1073."
    assert episode.infos[0] == {"calls": ["calculator"], "errors": 0}


# -- the registry and plugins -----------------------------------------------------------------------------


def test_the_built_in_tools_environment_is_registered():
    assert "tools" in env_names()
    assert get_env("tools").tool_names == ["calculator"]


def test_limits_come_off_the_spec_and_are_checked():
    spec = {"name": "tools", "tools": ["calculator"], "max_turns": 2, "max_tokens": 64}
    assert episode_limits(spec) == EpisodeLimits(max_turns=2, max_tokens=64)
    assert episode_limits("tools") == EpisodeLimits()
    with pytest.raises(ConfigError, match="max_turns must be a positive integer"):
        get_env({"name": "tools", "max_turns": 0})


@pytest.mark.parametrize("spec, message", [
    ("nope", "unknown environment 'nope'; choose one of: .*tools"),
    ({"tools": ["calculator"]}, "needs a 'name' key"),
    (3, "is a name or a mapping"),
    ({"name": "tools", "tool": ["calculator"]}, "does not take these options"),
    ({"name": "tools", "tools": ["shell"]}, "unknown tool 'shell'"),
    ({"name": "tools", "tools": "calculator"}, "list of tool names"),
    ({"name": "tools", "max_observation_chars": 0}, "max_observation_chars must be a positive integer"),
    ({"name": "tools", "timeout": -1}, "timeout must be a positive number"),
])
def test_bad_specs_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        get_env(spec)


def test_a_module_path_in_a_task_spec_needs_the_plugin_opt_in():
    with pytest.raises(PluginNotAllowed, match="environment 'envs_for_tests:Guess' would import .*--allow-plugin"):
        get_env({"name": "envs_for_tests:Guess"})
    allow_plugins("envs_for_tests")
    env = get_env({"name": "envs_for_tests:Guess", "max_turns": 3})
    assert env.reset(GUESS)[0]["content"] == GUESS["prompt"]


def test_a_refused_path_imports_nothing():
    import sys

    sys.modules.pop("envs_for_tests_never", None)
    with pytest.raises(PluginNotAllowed):
        get_env("envs_for_tests_never:Env")
    assert "envs_for_tests_never" not in sys.modules


def test_an_installed_plugin_is_found_by_its_entry_point_name(monkeypatch):
    """Installing a package is the opt-in: an entry point in the rlvr.envs group needs no allow_plugins."""
    import importlib.metadata

    point = importlib.metadata.EntryPoint(name="guess", value="envs_for_tests:Guess", group="rlvr.envs")
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **kw: [point] if kw.get("group") == "rlvr.envs" else real(**kw))
    episode = run_episode(get_env("guess"), GUESS, scripted("7"), 2, 10, words)
    assert episode.done and episode.rewards == [1.0]


def test_a_plain_class_becomes_a_tool_environment():
    allow_plugins("envs_for_tests")
    env = get_env({"name": "envs_for_tests:Shop", "timeout": 0.5})
    assert isinstance(env, ClassTools) and env.tool_names == ["broken", "count", "sleep"]
    messages = env.reset({"prompt": "How many apples?", "reference": {"apple": 3}})
    assert messages == [{"role": "user", "content": "How many apples?\n\nThe shop is open."}]
    call = '<tool_call>{"name": "count", "arguments": {"item": "apple"}}</tool_call>'
    assert env.step(call) == Step("3", info={"calls": ["count"], "errors": 0})
    schema = env.tools["count"].schema()["function"]
    assert schema["description"] == "How many of an item are in stock."
    assert schema["parameters"]["properties"]["item"] == {"type": "string", "description": "the item's name"}


def test_a_class_method_that_fails_or_hangs_becomes_an_observation():
    allow_plugins("envs_for_tests")
    env = get_env({"name": "envs_for_tests:Shop", "timeout": 0.3})
    env.reset({"prompt": "p"})
    step = env.step('<tool_call>{"name": "broken", "arguments": {}}</tool_call>')
    assert step.observation == "error: RuntimeError: the shelf fell over" and not step.done
    step = env.step('<tool_call>{"name": "sleep", "arguments": {"seconds": 5}}</tool_call>')
    assert step.observation == "error: tool 'sleep' ran past its 0.3 s time limit and was abandoned."


def test_a_tool_that_exits_is_an_observation_too():
    class Quitter:
        def quit(self, code: int) -> str:
            """Exit the process (it must not)."""
            raise SystemExit(code)

    step = ClassTools(Quitter()).step('<tool_call>{"name": "quit", "arguments": {"code": 3}}</tool_call>')
    assert step.observation == "error: SystemExit: 3" and step.info["errors"] == 1


def test_an_untyped_or_undocumented_tool_method_is_a_config_error():
    class Untyped:
        def look(self, where):
            """Look somewhere."""

    class Undocumented:
        def look(self, where: str) -> str:
            return where

    with pytest.raises(ConfigError, match="parameter 'where' has no type hint"):
        ClassTools(Untyped())
    with pytest.raises(ConfigError, match="tool 'look' has no docstring"):
        ClassTools(Undocumented())


@pytest.mark.parametrize("module", ["rlvr.envs", "rlvr.envs.base", "rlvr.envs.registry", "rlvr.envs.episodes",
                                    "rlvr.envs.toolcalls", "rlvr.envs.tools", "rlvr.envs.tokens"])
def test_the_examples_in_the_docstrings_run(module):
    import doctest
    import importlib

    results = doctest.testmod(importlib.import_module(module))
    assert results.failed == 0
