"""Which Python modules a "package.module:attribute" verifier path may import: data files run no code.

Task files, eval files, rubrics and configs are data that people download and share, and a
verifier spec in one may name any "module:function". Importing that module runs its code, and
calling the function runs more ("os:popen" would run each completion as a shell command). So a
path is imported only when its module is allowed, as Hugging Face's `trust_remote_code` asks:

    allow_plugins("mypkg.checks")        # Python; `--allow-plugin MOD` on the command line,
                                         # `plugins: [MOD]` in a training config

Allowing a package allows its submodules ("mypkg" allows "mypkg.checks"): importing
"mypkg.checks" runs "mypkg" anyway. A "module:attribute" entry allows that one path, as a path
typed on the command line (`rlvr audit mypkg.checks:fn`, `rlvr verify --verifier ...`) is.

Registered names (the built-ins, and plugins installed in the `rlvr.verifiers` entry-point group)
need no opt-in: installing a package is the opt-in. Neither does a function handed over as a
Python object (`get_verifier(my_check)`): the caller imported it.

The check runs before anything is imported, in the process that builds the verifier; a built
verifier's checks import its (already allowed) target without asking again. Worker processes and
Ray tasks start with nothing allowed, so they get this process's list with their verifier
(`plugin_state`): a "check" callable that a rubric reference brings is judged by the same list there.
The list only grows in a run; tests put it back with `restore_plugin_state`.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Mapping

from rlvr._errors import ConfigError

__all__ = ["PluginNotAllowed", "allow_plugins", "check_allowed", "import_target", "plugin_state",
           "restore_plugin_state", "split_spec"]

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

_allowed_modules: set[str] = set()
_approved_targets: set[str] = set()  # exact "module:attribute" paths of objects handed over in Python


class PluginNotAllowed(ConfigError):
    """A verifier path names a module the user has not allowed; nothing was imported."""


def allow_plugins(*plugins: str) -> None:
    """Let verifier paths ("module:function", "module:Class") in data files import these modules and
    their submodules; a "module:attribute" entry allows that one path only. Only code the user trusts
    belongs here: importing a module runs it."""
    for plugin in plugins:
        module, colon, attr = plugin.partition(":") if isinstance(plugin, str) else (plugin, "", "")
        check_module_name(module, "a plugin")
        if colon and not attr.isidentifier():
            raise ConfigError(f"a plugin path is 'package.module:attribute', got {plugin!r}.")
    for plugin in plugins:
        (_approved_targets if ":" in plugin else _allowed_modules).add(plugin)


def check_module_name(module: Any, what: str) -> None:
    """ConfigError unless `module` is a dotted module name such as mypkg.checks."""
    if not isinstance(module, str) or not _MODULE.fullmatch(module):
        raise ConfigError(f"{what} is a dotted Python module name such as mypkg.checks, got {module!r}.")


def approve_target(path: str) -> None:
    """Allow exactly this "module:attribute" path: the caller handed the object over itself."""
    _approved_targets.add(path)


def is_allowed(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in _allowed_modules)


def check_allowed(path: str, what: str = "verifier") -> None:
    """PluginNotAllowed, naming the module and the opt-in, unless `path` may be imported; `what` says what
    the path names ("verifier", "environment")."""
    module = path.partition(":")[0]
    if path in _approved_targets or is_allowed(module):
        return
    raise PluginNotAllowed(
        f"{what} '{path}' would import and run the Python module '{module}', which rlvr does not do for a "
        f"name in a data file; if you trust that module, pass --allow-plugin {module} (plugins: [{module}] in a "
        f"training config, allow_plugins('{module}') in Python)."
    )


def split_spec(spec: Any, options: dict[str, Any], what: str) -> tuple[str, dict[str, Any]]:
    """(name, options) of a spec as data files write it, a name or {"name": ..., options...}; keyword
    `options` win over the mapping's. ConfigError naming `what` ("verifier", "environment") otherwise."""
    if isinstance(spec, Mapping):
        spec = dict(spec)
        name = spec.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError(f"a{'n' if what[0] in 'aeiou' else ''} {what} given as a mapping needs a 'name' key, "
                              f"got {sorted(spec)}.")
        return name, {**spec, **options}
    if isinstance(spec, str):
        return spec, dict(options)
    raise ConfigError(f"a{'n' if what[0] in 'aeiou' else ''} {what} is a name or a mapping with 'name', "
                      f"got {type(spec).__name__}.")


def import_target(path: str) -> Any:
    """The object a "package.module:attribute" path names, without the allow-list check: for paths
    already checked (a verifier built in this or the parent process). ConfigError when it cannot be imported."""
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import verifier module '{module_name}': {exc}.") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"module '{module_name}' has no attribute '{attr}'.") from None


def plugin_state() -> tuple[frozenset[str], frozenset[str]]:
    """What is allowed now, to hand to a worker process (or to put back after a test)."""
    return frozenset(_allowed_modules), frozenset(_approved_targets)


def restore_plugin_state(state: tuple[frozenset[str], frozenset[str]]) -> None:
    """Make `state` (from `plugin_state`) what is allowed, replacing the current list."""
    modules, targets = state
    _allowed_modules.clear()
    _allowed_modules.update(modules)
    _approved_targets.clear()
    _approved_targets.update(targets)
