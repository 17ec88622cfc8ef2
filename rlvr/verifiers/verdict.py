"""Verdict, its reason vocabulary, and the fail-closed guard: the bottom layer of the verifiers.

Everything else in `rlvr.verifiers` (the Verifier base class and registry in base.py, the worker
pool in _execution.py, the Ray tasks in ray_backend.py, each verifier) builds on this module,
which knows nothing of them: the guard takes anything with a `check` method (`Checker`).

`guarded_check` is what turns an exception, a wrong return type or a reward outside [0, 1]
into reward 0.0 with a reason code; a verifier never raises for bad model output.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["FORMAT_REASONS", "Checker", "Verdict", "guarded_check", "seconds_left"]

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


class Checker(Protocol):
    """What the guard and the execution layers use of a verifier, so they need not import
    `Verifier` (base.py), which sits above them: its check and the options that say how to run it."""

    @property
    def time_limit(self) -> float: ...

    @property
    def isolated(self) -> bool: ...

    def check(self, completion: str, reference: Any) -> object: ...


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


def guarded_check(verifier: Checker, completion: object, reference: object) -> Verdict:
    """Run `verifier.check` so that nothing escapes: the fail-closed guard."""
    if not isinstance(completion, str):
        return Verdict(0.0, "malformed_input", f"completion is {type(completion).__name__}, not str")
    try:
        value = verifier.check(completion, reference)
    except Exception as exc:  # noqa: BLE001 - fail closed, but keep the reason
        return Verdict(0.0, "runtime_error", f"{type(exc).__name__}: {exc}"[:500])
    return _coerce_verdict(value)


def seconds_left(deadline: float) -> float | None:
    """The `timeout=` for a `regex` call that must end by `deadline` (a time.monotonic() value):
    how in-process checks (format, rubric) keep their time limit without a worker to kill.

    `regex` reads 0 as "out of time" but a negative timeout as none at all, so a spent budget
    gives 0; None (no timeout) past a million seconds, where `regex` would overflow.
    """
    left = deadline - time.monotonic()
    if not math.isfinite(left) or left > 1e6:
        return None
    return max(left, 0.0)
