"""The `random` verifier: a reward that carries no information, for spurious-reward controls.

**Never train on this to improve a model.** It exists to answer one question: does training
with *any* reward of this base rate move held-out pass rates? If a random reward also
"improves" the model, the real run's gain may be a side effect of training (format drift,
length changes, clipping bias), not of the verifier. `rlvr spurious` uses it.

    >>> v = RandomVerifier(p=0.25, seed=1)
    >>> rewards = [v.check(f"completion {i}", "42").reward for i in range(2000)]
    >>> 0.22 < sum(rewards) / len(rewards) < 0.28
    True

The reward is 1.0 with probability `p`, drawn from a hash of (seed, reference, completion):
independent of correctness, deterministic (so verdict caching and resumed runs see the same
reward), and different for any two distinct completions. Reasons: ok (1.0), random (0.0).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from rlvr._errors import ConfigError
from rlvr.verifiers.base import Verifier, register_verifier
from rlvr.verifiers.verdict import Verdict

__all__ = ["RandomVerifier"]


@register_verifier("random")
@dataclass(frozen=True)
class RandomVerifier(Verifier):
    """Reward 1.0 with probability p, whatever the completion says (a control, not a verifier)."""

    p: float = 0.5
    seed: int = 0
    isolated: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.p <= 1.0:
            raise ConfigError(f"verifier 'random': p must be in [0, 1], got {self.p}.")

    def check(self, completion: str, reference: Any) -> Verdict:
        key = json.dumps([self.seed, reference, completion], sort_keys=True, default=str).encode()
        draw = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64  # uniform in [0, 1)
        if draw < self.p:
            return Verdict(1.0, "ok", f"random reward (p={self.p:g})")
        return Verdict(0.0, "random", f"random reward (p={self.p:g})")
