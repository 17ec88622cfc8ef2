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

The same holds for a service: a `remote` verifier with a `url` sends every completion and its reference
to that address and takes its rewards from the answers, so a data file may name an endpoint only when the
user allowed its origin (scheme, host and port): `--allow-plugin https://judge.example.com`,
`allow_plugins("http://127.0.0.1:8000")`. An address typed on the command line (`rlvr verify --verifier
remote --option url=...`) is the user's own choice and allowed.

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
import urllib.parse
from typing import Any, Mapping

from rlvr._errors import ConfigError

__all__ = ["PluginNotAllowed", "allow_plugins", "check_allowed", "check_allowed_url", "import_target", "plugin_state",
           "restore_plugin_state", "split_spec", "url_origin"]

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

_allowed_modules: set[str] = set()
# exact "module:attribute" paths of objects handed over in Python, and the origins of allowed endpoints
_approved_targets: set[str] = set()


class PluginNotAllowed(ConfigError):
    """A verifier path names a module the user has not allowed; nothing was imported."""


def allow_plugins(*plugins: str) -> None:
    """Let verifier paths ("module:function", "module:Class") in data files import these modules and
    their submodules; a "module:attribute" entry allows that one path only; an http(s) address allows the
    endpoints of its origin (any path there). Only code and services the user trusts belong here: importing a
    module runs it, and an endpoint decides the rewards."""
    for plugin in plugins:
        check_plugin_entry(plugin, "a plugin")
    for plugin in plugins:
        if is_address(plugin):
            _approved_targets.add(url_origin(plugin))
        else:
            (_approved_targets if ":" in plugin else _allowed_modules).add(plugin)


def check_plugin_entry(entry: Any, what: str) -> None:
    """ConfigError unless `entry` is a module name, a "module:attribute" path or an http(s) address."""
    if is_address(entry):
        url_origin(entry, what)
        return
    module, colon, attr = entry.partition(":") if isinstance(entry, str) else (entry, "", "")
    check_module_name(module, what)
    if colon and not attr.isidentifier():
        raise ConfigError(f"{what} path is 'package.module:attribute', got {entry!r}.")


def check_module_name(module: Any, what: str) -> None:
    """ConfigError unless `module` is a dotted module name such as mypkg.checks."""
    if not isinstance(module, str) or not _MODULE.fullmatch(module):
        raise ConfigError(f"{what} is a dotted Python module name such as mypkg.checks (or an http(s) address for "
                          f"a remote verifier's endpoint), got {module!r}.")


def is_address(entry: Any) -> bool:
    """Whether an allow-list entry is an http(s) address (an endpoint's origin), not a module."""
    return isinstance(entry, str) and entry.lower().startswith(("http://", "https://"))


def url_origin(url: str, what: str = "the url") -> str:
    """scheme://host[:port] of an http(s) address, lower-cased, the scheme's default port left out: what
    `allow_plugins` allows and `check_allowed_url` asks for. ConfigError for an address without a host."""
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # a port that is not a number
        raise ConfigError(f"{what} is not an http(s) address ({exc}): {url!r}.") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ConfigError(f"{what} is an http(s) address with a host, such as https://judge.example.com, got {url!r}.")
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None and port != default else "")


def check_allowed_url(url: str, what: str = "verifier 'remote'") -> None:
    """PluginNotAllowed, naming the origin and the opt-in, unless `url`'s origin is allowed."""
    origin = url_origin(url)
    if origin in _approved_targets:
        return
    raise PluginNotAllowed(
        f"{what} would send every completion and its reference to {origin} and take its rewards from the answers, "
        f"which rlvr does not do for an address in a data file; if you trust that service, pass --allow-plugin "
        f"{origin} (plugins: [{origin}] in a training config, allow_plugins('{origin}') in Python)."
    )


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
