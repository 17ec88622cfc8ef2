"""Verdict, the Verifier base class, the registry, and the fail-closed guard.

A verifier is a frozen dataclass of options with one method, `check`. Callers use
`verify` / `verify_batch`, which put every check behind the guard:

- any exception, wrong return type or reward outside [0, 1] becomes reward 0.0
  with a reason code (the verifier never raises for bad model output);
- with `isolated=True` (the default) checks run in worker processes, and a check
  that overruns `time_limit` is killed with its process. This holds in any thread,
  unlike `signal.alarm` timeouts, which do nothing outside the main thread.
- `backend="ray"` runs the same guarded checks as Ray tasks (ray_backend.py), with the
  same order, verdicts, time limit and cache.

Bad *options* raise `ConfigError` at construction, before any work starts.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import math
import multiprocessing
import multiprocessing.connection
import threading
import time
import typing
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Literal, Sequence

from rlvr._errors import ConfigError

Backend = Literal["local", "ray"]
_BACKENDS = typing.get_args(Backend)

# Reason codes that mean "the answer could not be read", as opposed to "read and wrong".
# The evaluator reports the share of samples outside this set as the parseable share.
FORMAT_REASONS = frozenset({"no_answer", "ambiguous", "parse_error", "malformed_input"})


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check.

    reward: in [0, 1]; 0.0 whenever anything is wrong (fail closed).
    reason: a short code: "ok", "mismatch", "no_answer", "ambiguous", "parse_error",
            "timeout", "runtime_error", "forbidden", ...
    detail: human-readable explanation, for debugging false positives and negatives.
    """

    reward: float
    reason: str
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.reward >= 1.0 - 1e-9

    @property
    def parsed(self) -> bool:
        """True when the verifier could read an answer (right or wrong)."""
        return self.reason not in FORMAT_REASONS


def _coerce_verdict(value: object) -> Verdict:
    """Turn what a check returned into a valid Verdict, failing closed."""
    if isinstance(value, Verdict):
        verdict = value
    elif isinstance(value, (bool, int, float)):
        reward = float(value)
        verdict = Verdict(reward, "ok" if reward >= 1.0 - 1e-9 else "mismatch")
    else:
        return Verdict(0.0, "invalid_reward", f"check returned {type(value).__name__}, not a Verdict or float")
    if not isinstance(verdict.reward, (int, float)) or not math.isfinite(verdict.reward):
        return Verdict(0.0, "invalid_reward", f"reward {verdict.reward!r} is not a finite number")
    if not 0.0 <= verdict.reward <= 1.0:
        return Verdict(0.0, "invalid_reward", f"reward {verdict.reward!r} is outside [0, 1]")
    return verdict


def guarded_check(verifier: "Verifier", completion: object, reference: object) -> Verdict:
    """Run `verifier.check` so that nothing escapes: the fail-closed guard."""
    if not isinstance(completion, str):
        return Verdict(0.0, "malformed_input", f"completion is {type(completion).__name__}, not str")
    try:
        value = verifier.check(completion, reference)
    except Exception as exc:  # noqa: BLE001 - fail closed, but keep the reason
        return Verdict(0.0, "runtime_error", f"{type(exc).__name__}: {exc}"[:500])
    return _coerce_verdict(value)


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
        if backend not in _BACKENDS:
            raise ConfigError(f"verifier backend must be one of {', '.join(_BACKENDS)}, got {backend!r}.")
        pairs = list(pairs)
        if self.isolated:
            return _pool_for(self).run(pairs, workers, backend)
        if backend == "ray":
            from rlvr.verifiers import ray_backend

            return ray_backend.run_checks(self, pairs, workers)
        if workers <= 1 or len(pairs) <= 1:
            return [guarded_check(self, c, r) for c, r in pairs]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda pair: guarded_check(self, pair[0], pair[1]), pairs))


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

    >>> get_verifier("math").verify("so \\\\boxed{42}", "42").reward
    1.0
    """
    if isinstance(spec, Verifier):
        return dataclasses.replace(spec, **options) if options else spec
    if callable(spec) and not isinstance(spec, type):  # a check function defined at module level
        spec = _import_path(spec)
    if isinstance(spec, dict):
        spec = dict(spec)
        name = spec.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError(f"a verifier given as a mapping needs a 'name' key, got {sorted(spec)}.")
        options = {**spec, **options}
    elif isinstance(spec, str):
        name = spec
    else:
        raise ConfigError(f"a verifier is a name or a mapping with 'name', got {type(spec).__name__}.")
    if ":" in name:  # "package.module:function" or "package.module:VerifierClass"
        target = _load_target(name)
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


def _load_target(path: str) -> Any:
    import importlib

    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import verifier module '{module_name}': {exc}.") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"module '{module_name}' has no attribute '{attr}'.") from None


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

    target: "package.module:function". It is imported again inside each worker process.
    """

    name: ClassVar[str] = "function"
    target: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not callable(_load_target(self.target)):
            raise ConfigError(f"verifier target '{self.target}' is not callable.")

    def check(self, completion: str, reference: Any) -> Verdict:
        return _load_target(self.target)(completion, reference)


# ------------------------------------------------------------------------------------------
# Worker processes: the hard time limit. One pool per verifier configuration, started lazily
# and reused, so a check costs a pipe round trip rather than a process start.


def _worker_main(verifier: Verifier, conn: multiprocessing.connection.Connection) -> None:
    conn.send("ready")  # start-up (imports) is done; from here on the clock is fair
    while True:
        try:
            completion, reference = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        conn.send(guarded_check(verifier, completion, reference))


class _Worker:
    _ctx = multiprocessing.get_context("spawn")  # fork is unsafe in a process running torch threads

    def __init__(self, verifier: Verifier) -> None:
        self.conn, child = self._ctx.Pipe()
        self.process = self._ctx.Process(target=_worker_main, args=(verifier, child), daemon=True)
        self.process.start()
        child.close()
        self.ready = False

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Block until the worker has imported everything; False if it died or hung."""
        if not self.ready:
            try:
                self.ready = self.conn.poll(timeout) and self.conn.recv() == "ready"
            except (EOFError, OSError):
                self.ready = False
        return self.ready

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


_CACHE_SIZE = 50_000
# Verdicts that depend on the machine or a service, not on the input: checked again next time.
_UNCACHED_REASONS = frozenset({"timeout", "runtime_error", "http_error", "bad_response", "breaker_open"})


def _cache_key(completion: object, reference: object) -> tuple[str, str] | None:
    if not isinstance(completion, str):
        return None
    try:
        return completion, json.dumps(reference, sort_keys=True)
    except (TypeError, ValueError, RecursionError):  # not JSON, or nested too deep: checked, never cached
        return None


class _Pool:
    """Worker processes for one verifier configuration, plus a cache of its verdicts.

    Verifiers are deterministic, so an identical (completion, reference) pair, common when
    a policy starts to converge, is checked once.
    """

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        self.idle: list[_Worker] = []
        self.lock = threading.Lock()
        self.cache: dict[tuple[str, str], Verdict] = {}

    def run(self, pairs: Sequence[tuple[str, Any]], workers: int, backend: Backend = "local") -> list[Verdict]:
        keys = [_cache_key(c, r) for c, r in pairs]
        execute = self._run if backend == "local" else self._run_on_ray
        with self.lock:
            first: dict[tuple[str, str], int] = {}
            todo = []  # indices to check: uncached, and only the first of identical pairs
            for i, key in enumerate(keys):
                if key is None or (key not in self.cache and first.setdefault(key, i) == i):
                    todo.append(i)
            fresh = dict(zip(todo, execute([pairs[i] for i in todo], max(1, workers))))
            for i, verdict in fresh.items():
                if keys[i] is not None and verdict.reason not in _UNCACHED_REASONS:
                    if len(self.cache) >= _CACHE_SIZE:
                        del self.cache[next(iter(self.cache))]  # drop the oldest entry
                    self.cache[keys[i]] = verdict
            return [
                fresh[i] if i in fresh else self.cache.get(key) or fresh[first[key]]  # type: ignore[index]
                for i, key in enumerate(keys)
            ]

    def _run(self, pairs: Sequence[tuple[str, Any]], workers: int) -> list[Verdict]:
        limit = self.verifier.time_limit
        results: list[Verdict | None] = [None] * len(pairs)
        pending = deque(enumerate(pairs))
        busy: dict[multiprocessing.connection.Connection, tuple[_Worker, int, float]] = {}
        while len(self.idle) < min(workers, len(pairs)):
            self.idle.append(_Worker(self.verifier))
        while pending or busy:
            while pending and self.idle:
                worker = self.idle.pop()
                index, pair = pending.popleft()
                if not worker.wait_ready():
                    results[index] = Verdict(0.0, "runtime_error", "verifier worker failed to start")
                    self._replace(worker)
                    continue
                try:
                    worker.conn.send(pair)
                except Exception as exc:  # noqa: BLE001 - a dead worker, or a reference pickle refuses (any error)
                    results[index] = Verdict(0.0, "runtime_error", f"could not send check to worker: {exc}")
                    self._replace(worker)
                    continue
                busy[worker.conn] = (worker, index, time.monotonic() + limit)
            if not busy:
                continue
            wait_s = max(0.0, min(deadline for _, _, deadline in busy.values()) - time.monotonic())
            for conn in multiprocessing.connection.wait(list(busy), timeout=wait_s):
                worker, index, _ = busy.pop(conn)
                try:
                    results[index] = conn.recv()
                    self.idle.append(worker)
                except (EOFError, OSError):
                    code = worker.process.exitcode
                    results[index] = Verdict(0.0, "runtime_error", f"verifier worker died (exit code {code})")
                    self._replace(worker)
            now = time.monotonic()
            for conn, (worker, index, deadline) in list(busy.items()):
                if now >= deadline:
                    del busy[conn]
                    results[index] = Verdict(0.0, "timeout", f"check exceeded the {limit:g} s time limit")
                    self._replace(worker)
        return results  # type: ignore[return-value]

    def _run_on_ray(self, pairs: Sequence[tuple[str, Any]], workers: int) -> list[Verdict]:
        from rlvr.verifiers import ray_backend

        return ray_backend.run_checks(self.verifier, pairs, workers)

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self.idle.append(_Worker(self.verifier))

    def close(self) -> None:
        for worker in self.idle:
            worker.kill()
        self.idle.clear()


_POOLS: dict[object, _Pool] = {}
_POOLS_LOCK = threading.Lock()


def _pool_for(verifier: Verifier) -> _Pool:
    key: object = verifier  # equal configurations share workers
    try:
        hash(verifier)
    except TypeError:  # options holding lists or dicts
        key = id(verifier)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = _Pool(verifier)
        return pool


@atexit.register
def shutdown_workers() -> None:
    """Stop every verifier worker process (also runs at interpreter exit)."""
    with _POOLS_LOCK:
        for pool in _POOLS.values():
            pool.close()
        _POOLS.clear()
