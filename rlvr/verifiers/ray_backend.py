"""Checks as Ray tasks: `Verifier.verify_batch(pairs, workers, backend="ray")`.

    from rlvr.verifiers import get_verifier
    from rlvr.verifiers.ray_backend import connect

    connect()  # address from RAY_ADDRESS, else a local Ray instance on this machine's CPUs
    verdicts = get_verifier("code").verify_batch(pairs, workers=16, backend="ray")

The semantics are the local backend's, so a run can move between them:

- the pairs go out in chunks, at most `workers` Ray tasks at a time (capped by the cluster's
  CPUs); each task runs the same fail-closed `guarded_check` on its chunk and streams one
  verdict per check back, so the verdicts come back in order and unchanged;
- for an isolated verifier each check has `time_limit` seconds from the moment the previous
  one finished: a check that overruns it becomes reward 0 "timeout", its task is killed and
  the rest of the chunk goes to a new task (the local pool kills its worker process the same
  way). A non-isolated verifier enforces its own limits (the code sandbox, Lean), as locally;
- when a task's worker dies, every check of it not answered yet runs again in a task of its own
  (a dying worker can lose verdicts it had sent, and Ray can lease a worker whose kill has not
  finished); a check whose own task dies too gets reward 0 "runtime_error", and a chunk Ray does
  not start within 120 s gets "runtime_error" for every check. The caller never sees a Ray exception;
- the verdict cache of isolated verifiers is the local backend's cache (_execution.py).

The workers import rlvr (and a user's verifier module) themselves: on a remote cluster both
must be installed there. A local instance gets this process's `sys.path`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from rlvr._errors import ConfigError
from rlvr.verifiers._plugins import plugin_state, restore_plugin_state
from rlvr.verifiers.verdict import Checker, Verdict, guarded_check

__all__ = ["connect", "run_checks"]

_CHUNKS_PER_WORKER = 4  # several chunks a worker: a slow chunk does not leave the other workers idle
_START_TIMEOUT_S = 120.0  # as the local pool waits for a worker to start
_READY = "ready"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            f"the Ray verifier backend needs the ray package ({exc}); install it with: pip install 'rlvr[ray]'."
        ) from None
    return ray


def connect(address: str = "", num_cpus: int | None = None) -> None:
    """Connect this process to Ray once: `address`, else $RAY_ADDRESS, else start a local instance.

    A local instance gets `num_cpus` CPUs (default: all of this machine's), no dashboard, and
    this process's `sys.path`, so the workers import what the local pool's workers would.
    When Ray is already initialised, it is used as it is.
    """
    ray = _import_ray()
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS", "")
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        else:
            path = os.pathsep.join(p for p in sys.path if p)
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING, runtime_env={"env_vars": {"PYTHONPATH": path}})
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise ConfigError(f"cannot start or reach {where} ({str(exc).splitlines()[0]}); "
                          "check data.ray_address or RAY_ADDRESS.") from exc


def _check_chunk(verifier: Checker, pairs: list[tuple[str, Any]], plugins: Any) -> Iterator[object]:
    """The Ray task: a ready signal (imports are done, the clock starts), then one verdict per check."""
    restore_plugin_state(plugins)  # the driver's allowed plugins (_plugins.py), as the local workers get them
    yield _READY
    for completion, reference in pairs:
        yield guarded_check(verifier, completion, reference)


@functools.lru_cache(maxsize=None)
def _remote_check_chunk() -> Any:
    # No retries: a check that killed its worker must not run again (the local pool does not retry).
    return _import_ray().remote(num_cpus=1, max_retries=0)(_check_chunk)


@dataclass
class _Task:
    items: list[tuple[int, tuple[str, Any]]]  # (index into the batch, pair), in order
    deadline: float
    started: bool = False
    done: int = 0  # verdicts received

    def rest(self) -> list[tuple[int, tuple[str, Any]]]:
        """The items after the one being checked now."""
        return self.items[self.done + 1 :]


def run_checks(verifier: Checker, pairs: Sequence[tuple[str, Any]], workers: int) -> list[Verdict]:
    """Verdicts of `pairs`, in order, from Ray tasks (see the module docstring for the rules)."""
    ray = _import_ray()
    if not pairs:
        return []
    connect()
    from ray.exceptions import RayError

    results: list[Verdict | None] = [None] * len(pairs)
    size = max(1, math.ceil(len(pairs) / (max(1, workers) * _CHUNKS_PER_WORKER)))
    items = list(enumerate(pairs))
    pending = deque(items[i : i + size] for i in range(0, len(items), size))
    slots = max(1, min(workers, int(ray.cluster_resources().get("CPU", 1))))
    limit = verifier.time_limit if verifier.isolated else math.inf
    verifier_ref = ray.put(verifier)  # sent once, not once per task
    running: dict[Any, _Task] = {}
    retried: set[int] = set()  # checks sent again, alone, after their worker died

    def fail(task_items: list[tuple[int, tuple[str, Any]]], reason: str, detail: str) -> None:
        for index, _ in task_items:
            results[index] = Verdict(0.0, reason, detail)

    def stop(gen: Any, rest: list[tuple[int, tuple[str, Any]]]) -> None:
        del running[gen]
        with contextlib.suppress(RayError):
            ray.cancel(gen, force=True)  # kills the worker process, as the local pool does
        if rest:
            pending.appendleft(rest)

    def receive(gen: Any, task: _Task) -> None:
        try:
            value = ray.get(next(gen))
        except (RayError, StopIteration) as exc:
            # The worker died. It may have sent verdicts Ray had not delivered yet (a streaming task's last
            # items die with it), and Ray may have leased it while a timed-out check's kill was finishing:
            # every check still unanswered runs again in a task of its own, once; a check whose own task
            # dies again is the one that kills its worker and gets "runtime_error".
            stop(gen, [])
            for item in reversed(task.items[task.done :]):
                if item[0] in retried:
                    fail([item], "runtime_error", f"verifier worker died ({type(exc).__name__})")
                else:
                    retried.add(item[0])
                    pending.appendleft([item])
            return
        if task.started:
            results[task.items[task.done][0]] = value
            task.done += 1
        task.started = True
        task.deadline = time.monotonic() + limit
        if task.done == len(task.items):
            del running[gen]

    try:
        while pending or running:
            while pending and len(running) < slots:
                chunk = pending.popleft()
                gen = _remote_check_chunk().remote(verifier_ref, [pair for _, pair in chunk], plugin_state())
                running[gen] = _Task(chunk, deadline=time.monotonic() + _START_TIMEOUT_S)
            wait_s = min(task.deadline for task in running.values()) - time.monotonic()
            gens = list(running)
            ready, _ = ray.wait(gens, num_returns=1, timeout=None if wait_s == math.inf else max(0.0, wait_s))
            if ready and len(gens) > 1:  # take every verdict that is in before judging deadlines
                ready = ray.wait(gens, num_returns=len(gens), timeout=0)[0] or ready
            for gen in ready:
                receive(gen, running[gen])
            now = time.monotonic()
            for gen, task in list(running.items()):
                if now < task.deadline:
                    continue
                if not task.started:
                    fail(task.items, "runtime_error", f"Ray did not start the task within {_START_TIMEOUT_S:g} s")
                    stop(gen, [])
                else:
                    fail(task.items[task.done : task.done + 1], "timeout", f"check exceeded the {limit:g} s time limit")
                    stop(gen, task.rest())
    finally:
        for gen in list(running):  # interrupted: leave no task running
            stop(gen, [])
    return results  # type: ignore[return-value]
