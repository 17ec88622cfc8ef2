"""The Verifier base class, the registry, and plugins: how a verifier is declared and found.

A verifier is a frozen dataclass of options with one method, `check`. Callers use
`verify` / `verify_batch`, which put every check behind the fail-closed guard (verdict.py)
and run it where `isolated` and `backend` say (_execution.py: worker processes with a hard
time limit, threads, or Ray tasks).

Verifiers are found by registry name (`register_verifier`), by a plugin's entry point in the
`rlvr.verifiers` group, or by a "package.module:function" path (`load_target`), which is
imported only when its module is allowed (`allow_plugins`, _plugins.py): data files run no code.
Bad *options* raise `ConfigError` at construction, before any work starts.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Literal

from rlvr._errors import ConfigError
from rlvr.verifiers._execution import Backend, run_batch
from rlvr.verifiers._plugins import allow_plugins, approve_target, check_allowed, import_target, split_spec
from rlvr.verifiers.verdict import Verdict

__all__ = ["FunctionVerifier", "Verifier", "allow_plugins", "get_verifier", "load_target", "register_verifier",
           "verifier_names"]


@dataclass(frozen=True)
class Verifier:
    """Base class of all verifiers: subclass as a frozen dataclass and implement `check`.

    time_limit: seconds one check may take; enforced by killing the worker process.
    isolated:   run checks in worker processes (needed for the hard time limit).
    """

    name: ClassVar[str] = ""

    time_limit: float = 5.0
    isolated: bool = True

    def __post_init__(self) -> None:
        _validate_options(self)
        if self.time_limit <= 0:
            raise ConfigError(f"verifier '{self.name}': time_limit must be positive, got {self.time_limit}.")

    # -- to implement -----------------------------------------------------------------
    def check(self, completion: str, reference: Any) -> Verdict:
        """Judge one completion against its reference. May raise: the guard catches it."""
        raise NotImplementedError

    def check_reference(self, reference: Any) -> str | None:
        """Why `reference` cannot be read (one sentence), or None when it can. A reference the verifier
        cannot read scores every completion 0, so callers list these before sampling. The default
        cannot tell: None."""
        return None

    def neutral(self) -> "Verifier":
        """The verifier of the format-neutral reading: would the answer be right if its format were
        ignored? For attribution only (`rlvr eval`, `compare`, `pass_rate/neutral`), never a reward.
        Verifiers whose format cannot be told apart from correctness (code, SQL, ...) read the same
        as strictly, so this returns `self`; answer-reading verifiers return a copy that reads
        leniently (`extract_answer(..., "lenient")`)."""
        return self

    # -- to call ------------------------------------------------------------------------
    def verify(self, completion: str, reference: Any) -> Verdict:
        return self.verify_batch([(completion, reference)])[0]

    __call__ = verify

    def verify_batch(self, pairs: Iterable[tuple[str, Any]], workers: int = 1,
                     backend: Backend = "local") -> list[Verdict]:
        """Verify (completion, reference) pairs, in order, `workers` checks at a time.

        Isolated checks run in worker processes. In-process checks run on `workers` threads:
        verifiers that wait on a subprocess or a server (code sandbox, Lean, remote) overlap.
        backend="ray": the same checks as Ray tasks, `workers` tasks at a time (ray_backend.py).
        """
        return run_batch(self, pairs, workers, backend)


# ------------------------------------------------------------------------------------------
# Option validation: configs are typed, so a typo in a mode is an error, not a silent default.


def _validate_options(verifier: Verifier) -> None:
    hints = typing.get_type_hints(type(verifier))
    for field in dataclasses.fields(verifier):
        value = getattr(verifier, field.name)
        hint = hints.get(field.name)
        allowed = _literal_values(hint)
        if allowed is not None and value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            raise ConfigError(
                f"verifier '{verifier.name}': option {field.name}={value!r} is not one of {choices}."
            )
        if hint is float and not isinstance(value, (int, float)) or hint is bool and not isinstance(value, bool):
            raise ConfigError(
                f"verifier '{verifier.name}': option {field.name} must be {hint.__name__}, got {value!r}."
            )


def _literal_values(hint: object) -> tuple | None:
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    return None


# ------------------------------------------------------------------------------------------
# Registry


_REGISTRY: dict[str, type[Verifier]] = {}


def register_verifier(name: str) -> Callable[[type[Verifier]], type[Verifier]]:
    """Class decorator: make a Verifier subclass available to `get_verifier(name)`."""

    def decorate(cls: type[Verifier]) -> type[Verifier]:
        if not (isinstance(cls, type) and issubclass(cls, Verifier)):
            raise TypeError(f"register_verifier('{name}') expects a Verifier subclass, got {cls!r}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def verifier_names() -> list[str]:
    return sorted(_REGISTRY)


def get_verifier(spec: str | dict | Verifier | Callable, **options: Any) -> Verifier:
    """Build a verifier from a registry name, a mapping with "name", a "module:function" path,
    a plugin's entry-point name, or a module-level check function; pass a Verifier through.
    A path imports its module only when `allow_plugins` allowed it (a function object needs no opt-in).

    >>> get_verifier("math").verify("so \\\\boxed{42}", "42").reward
    1.0
    """
    if isinstance(spec, Verifier):
        return dataclasses.replace(spec, **options) if options else spec
    if callable(spec) and not isinstance(spec, type):  # a check function defined at module level
        spec = _import_path(spec)
        approve_target(spec)  # handed over as an object: already imported by the caller
    name, options = split_spec(spec, options, "verifier")
    if ":" in name:  # "package.module:function" or "package.module:VerifierClass"
        target = load_target(name)
        if isinstance(target, type) and issubclass(target, Verifier):
            cls = target
        else:
            cls, options = FunctionVerifier, {**options, "target": name}
    else:
        cls = _REGISTRY.get(name) or _entry_point(name)
    if cls is None:
        raise ConfigError(
            f"unknown verifier '{name}'; choose one of: {', '.join(verifier_names())}, "
            "or give a 'package.module:function' path."
        )
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"verifier '{name}' has no option '{unknown[0]}'; its options are: {', '.join(sorted(known))}."
        )
    return cls(**options)


def _entry_point(name: str) -> type[Verifier] | None:
    """A verifier class a plugin package declares in the `rlvr.verifiers` entry-point group."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="rlvr.verifiers"):
        if ep.name == name:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Verifier)):
                raise ConfigError(f"entry point rlvr.verifiers:{name} does not name a Verifier subclass.")
            cls.name = cls.name or name
            return cls
    return None


def load_target(path: str) -> Any:
    """The object a "package.module:attribute" path names; ConfigError, before anything is imported, when
    its module is not allowed (`allow_plugins`), and when it cannot be imported."""
    check_allowed(path)
    return import_target(path)


def _import_path(function: Callable) -> str:
    """'module:qualname' of a plain function, so worker processes can import it."""
    module, qualname = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    if not module or "<" in qualname:
        raise ConfigError(
            f"{function!r} is not importable (a lambda or a nested function); "
            "define it at module level or pass 'package.module:function'."
        )
    return f"{module}:{qualname}"


@dataclass(frozen=True)
class FunctionVerifier(Verifier):
    """A user's check function `(completion, reference) -> float | Verdict`, behind the same guard.

    target: "package.module:function", checked against the allowed plugins when the verifier is built.
            It is imported again inside each worker process.
    """

    name: ClassVar[str] = "function"
    target: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not callable(load_target(self.target)):
            raise ConfigError(f"verifier target '{self.target}' is not callable.")

    def check(self, completion: str, reference: Any) -> Verdict:
        return import_target(self.target)(completion, reference)  # allowed when built, maybe in the parent
