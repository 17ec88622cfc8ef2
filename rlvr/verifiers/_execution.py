"""The execution layer of `Verifier.verify_batch`: where guarded checks run.

- isolated verifiers (the default): worker processes, one pool per verifier configuration,
  started lazily and reused, so a check costs a pipe round trip rather than a process start.
  A check that overruns `time_limit` is killed with its process; this holds in any thread,
  unlike `signal.alarm` timeouts, which do nothing outside the main thread. Each pool caches
  its verdicts;
- in-process verifiers: `workers` threads, so checks that wait on a subprocess or a server
  (code sandbox, Lean, remote) overlap;
- `backend="ray"`: the same guarded checks as Ray tasks (ray_backend.py), with the same order,
  verdicts, time limit and cache.

This module sits below base.py: it knows a verifier only as a `Checker` (verdict.py).
"""

from __future__ import annotations

import atexit
import json
import multiprocessing
import multiprocessing.connection
import threading
import time
import typing
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Literal, Sequence

from rlvr._errors import ConfigError, RlvrError
from rlvr._spawn import MAIN_GUARD
from rlvr.verifiers._plugins import plugin_state, restore_plugin_state
from rlvr.verifiers.verdict import Checker, Verdict, guarded_check

__all__ = ["Backend", "run_batch", "shutdown_workers"]

Backend = Literal["local", "ray"]
_BACKENDS = typing.get_args(Backend)


def run_batch(verifier: Checker, pairs: Iterable[tuple[str, Any]], workers: int, backend: Backend) -> list[Verdict]:
    """Verdicts of `pairs`, in order, `workers` checks at a time, on `backend` (module docstring)."""
    if backend not in _BACKENDS:
        raise ConfigError(f"verifier backend must be one of {', '.join(_BACKENDS)}, got {backend!r}.")
    pairs = list(pairs)
    if verifier.isolated:
        return _pool_for(verifier).run(pairs, workers, backend)
    if backend == "ray":
        from rlvr.verifiers.ray_backend import run_checks

        return run_checks(verifier, pairs, workers)
    if workers <= 1 or len(pairs) <= 1:
        return [guarded_check(verifier, c, r) for c, r in pairs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda pair: guarded_check(verifier, pair[0], pair[1]), pairs))


# ------------------------------------------------------------------------------------------
# Worker processes: the hard time limit. One pool per verifier configuration, started lazily
# and reused, so a check costs a pipe round trip rather than a process start.


def _worker_main(verifier: Checker, conn: multiprocessing.connection.Connection, plugins: Any) -> None:
    restore_plugin_state(plugins)  # a spawned process starts with no plugin allowed: the parent's list
    conn.send("ready")  # start-up (imports) is done; from here on the clock is fair
    while True:
        try:
            completion, reference = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        conn.send(guarded_check(verifier, completion, reference))


class _Worker:
    _ctx = multiprocessing.get_context("spawn")  # fork is unsafe in a process running torch threads

    def __init__(self, verifier: Checker) -> None:
        self.conn, child = self._ctx.Pipe()
        self.process = self._ctx.Process(target=_worker_main, args=(verifier, child, plugin_state()), daemon=True)
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

    def exited(self) -> bool:
        """Whether the worker's process has ended (after a failed `wait_ready`: it died, not hung)."""
        self.process.join(timeout=1)
        return self.process.exitcode is not None

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

    def __init__(self, verifier: Checker) -> None:
        self.verifier = verifier
        self.idle: list[_Worker] = []
        self.lock = threading.Lock()
        self.cache: dict[tuple[str, str], Verdict] = {}
        self.started = False  # a worker has been ready once: later start failures are the machine's, per check

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
                    if not self.started and worker.exited():  # no worker of this pool can start: not a verdict
                        for other in [worker, *(w for w, _, _ in busy.values())]:
                            other.kill()
                        self.close()
                        raise RlvrError(f"the verifier's first worker process exited (code {worker.process.exitcode})"
                                        f" before it was ready (its error is printed above); the usual cause: "
                                        f"{MAIN_GUARD}.")
                    results[index] = Verdict(0.0, "runtime_error", "verifier worker failed to start")
                    self._replace(worker)
                    continue
                self.started = True
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
        from rlvr.verifiers.ray_backend import run_checks

        return run_checks(self.verifier, pairs, workers)

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self.idle.append(_Worker(self.verifier))

    def close(self) -> None:
        for worker in self.idle:
            worker.kill()
        self.idle.clear()


_POOLS: dict[object, _Pool] = {}
_POOLS_LOCK = threading.Lock()


def _pool_for(verifier: Checker) -> _Pool:
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
