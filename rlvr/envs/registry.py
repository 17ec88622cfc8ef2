"""Finding an environment: a registered name, a plugin's entry point, or an allowed "module:Class" path."""

from __future__ import annotations

import inspect
from typing import Any, Mapping

from rlvr._errors import ConfigError
from rlvr.envs.base import _LIMIT_KEYS, _REGISTRY, Environment, episode_limits
from rlvr.envs.tools import ClassTools
from rlvr.verifiers._plugins import check_allowed, import_target, split_spec

__all__ = ["env_names", "get_env"]


def env_names() -> list[str]:
    return sorted(_REGISTRY)


def get_env(spec: str | Mapping[str, Any], **options: Any) -> Environment:
    """Build an environment from a registry name, a mapping with "name" and options, a plugin's
    entry-point name, or an allowed "package.module:Class" path. Bad specs raise ConfigError
    before anything runs; the limit keys (max_turns, max_tokens) are checked and left out.

    >>> get_env({"name": "tools", "tools": ["calculator"], "max_turns": 2}).tool_names
    ['calculator']
    """
    name, options = split_spec(spec, options, "environment")
    episode_limits(options)  # a bad limit is a config error here, not mid-training
    options = {k: v for k, v in options.items() if k not in _LIMIT_KEYS}
    cls = _find(name)
    if not hasattr(cls, "step"):  # a plain class whose methods are tools
        wrapper = {k: options.pop(k) for k in list(options) if k in ClassTools.OPTIONS}
        return ClassTools(_construct(name, cls, options), **wrapper)
    return _construct(name, cls, options)


def _find(name: str) -> type:
    if ":" in name:  # "package.module:Class"
        check_allowed(name, "environment")
        target = import_target(name)
        if not isinstance(target, type):
            raise ConfigError(f"environment '{name}' is not a class; name a class with reset() and step().")
        return target
    cls = _REGISTRY.get(name) or _entry_point(name)
    if cls is None:
        raise ConfigError(
            f"unknown environment '{name}'; choose one of: {', '.join(env_names())}, "
            "or give an allowed 'package.module:Class' path."
        )
    return cls


def _construct(name: str, cls: type, options: dict[str, Any]) -> Any:
    """`cls(**options)`, with an unknown or missing option reported as a ConfigError."""
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as exc:
        raise ConfigError(f"environment '{name}' does not take these options ({exc}); check the env spec.") from None
    except ValueError:  # no signature to read (a builtin): let the call say
        pass
    return cls(**options)


def _entry_point(name: str) -> type | None:
    """An environment class a plugin package declares in the `rlvr.envs` entry-point group."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="rlvr.envs"):
        if ep.name == name:
            cls = ep.load()
            if not isinstance(cls, type):
                raise ConfigError(f"entry point rlvr.envs:{name} does not name a class.")
            return cls
    return None

