"""Health rules over a metrics log: the failure modes of RLVR runs, caught while they start.

Each rule reads the per-step metrics (names as in DESIGN.md) and fires once when its
condition has held for `window` consecutive steps (KL blow-up fires at once):

    reward_variance_collapse  reward/std below min_reward_std: groups stop carrying signal
    entropy_collapse          entropy below min_entropy
    entropy_decline           entropy lost more than max_entropy_drop of its starting value
    kl_blowup                 kl above max_kl: the policy ran away from its anchor
    truncation_surge          len/truncated_frac above max_truncated_frac
    uninformative_groups      all-equal groups (all 0 or all 1) above max_uninformative_frac

The same rules run live in the trainer and on any metrics.jsonl (`rlvr health RUN_DIR`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from rlvr._errors import DataError
from rlvr._io import parse_json, read_text_file


@dataclass(frozen=True)
class HealthThresholds:
    """When each rule fires; the training config's `health:` section."""

    min_reward_std: float = 0.02
    min_entropy: float = 0.05
    max_entropy_drop: float = 0.5  # share of the starting entropy lost
    max_kl: float = 1.0
    max_truncated_frac: float = 0.5
    max_uninformative_frac: float = 0.9
    window: int = 5  # steps a condition must hold before it is reported


@dataclass(frozen=True)
class HealthWarning:
    step: int
    rule: str
    value: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "rule": self.rule, "value": self.value, "message": self.message}


@dataclass(frozen=True)
class _Rule:
    name: str
    metric: str
    fires: Callable[[float, HealthThresholds, float | None], bool]  # (value, thresholds, first value) -> bad?
    message: Callable[[float, HealthThresholds], str]
    immediate: bool = False


# The training config's entropy controls (rlvr/train/objectives.py), named where entropy falls.
_ENTROPY_REMEDIES = ("to keep it up, set algo.entropy_coef=0.001 (an entropy bonus), algo.entropy_control=clip_cov "
                     "(or kl_cov) or algo.top_entropy_fraction=0.2 (train on the high-entropy tokens only)")

RULES = [
    _Rule("reward_variance_collapse", "reward/std", lambda v, t, first: v < t.min_reward_std,
          lambda v, t: f"reward std {v:.3f} < {t.min_reward_std}: rewards no longer differ within groups"),
    _Rule("entropy_collapse", "entropy", lambda v, t, first: v < t.min_entropy,
          lambda v, t: f"entropy {v:.3f} < {t.min_entropy}: the policy has stopped exploring; {_ENTROPY_REMEDIES}"),
    _Rule("entropy_decline", "entropy",
          lambda v, t, first: first is not None and first > 0 and v < (1 - t.max_entropy_drop) * first,
          lambda v, t: f"entropy {v:.3f} fell by more than {t.max_entropy_drop:.0%} of its starting value; "
                       f"{_ENTROPY_REMEDIES}"),
    _Rule("kl_blowup", "kl", lambda v, t, first: v > t.max_kl,
          lambda v, t: f"KL {v:.3f} > {t.max_kl}: the policy is running away from the reference", immediate=True),
    _Rule("truncation_surge", "len/truncated_frac", lambda v, t, first: v > t.max_truncated_frac,
          lambda v, t: f"{v:.0%} of completions hit max_new_tokens"),
    _Rule("uninformative_groups", "groups/informative_frac",
          lambda v, t, first: 1 - v > t.max_uninformative_frac,
          lambda v, t: f"{1 - v:.0%} of groups have all-equal rewards and give no gradient"),
]


class HealthMonitor:
    """Feed it one metrics dict per step; it returns the warnings that start at that step."""

    def __init__(self, thresholds: HealthThresholds) -> None:
        self.thresholds = thresholds
        self.streak = {rule.name: 0 for rule in RULES}
        self.first: dict[str, float] = {}
        self.warnings: list[HealthWarning] = []

    def observe(self, step: int, metrics: dict[str, float]) -> list[HealthWarning]:
        new = []
        for rule in RULES:
            value = metrics.get(rule.metric)
            if value is None:
                continue
            self.first.setdefault(rule.metric, value)
            if not rule.fires(value, self.thresholds, self.first[rule.metric]):
                self.streak[rule.name] = 0
                continue
            self.streak[rule.name] += 1
            needed = 1 if rule.immediate else self.thresholds.window
            if self.streak[rule.name] == needed:  # report the onset once, not every step after
                new.append(HealthWarning(step, rule.name, float(value), rule.message(value, self.thresholds)))
        self.warnings.extend(new)
        return new


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """metrics.jsonl (or a run directory holding one) as a list of dicts."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.exists():
        raise DataError(f"no metrics log at {path}; point at a run directory or a metrics.jsonl file.")
    rows = []
    for lineno, line in enumerate(read_text_file(path, "metrics log").splitlines(), 1):
        if not line.strip():
            continue
        row = parse_json(line, f"{path}:{lineno}")
        if not isinstance(row, dict):
            raise DataError(f"{path}:{lineno}: a metrics line must be a JSON object, got {type(row).__name__}; "
                            "give the metrics.jsonl that `rlvr train` writes.")
        step = row.get("step")
        if isinstance(step, bool) or not isinstance(step, int):
            raise DataError(f"{path}:{lineno}: a metrics line needs an integer 'step', got {step!r}; "
                            "give the metrics.jsonl that `rlvr train` writes.")
        bad = next((r.metric for r in RULES if row.get(r.metric) is not None
                    and (isinstance(row[r.metric], bool) or not isinstance(row[r.metric], (int, float)))), None)
        if bad is not None:
            raise DataError(f"{path}:{lineno}: metric {bad!r} is {row[bad]!r}, not a number; "
                            "give the metrics.jsonl that `rlvr train` writes.")
        rows.append(row)
    return rows


def replay(rows: Iterable[dict[str, Any]], thresholds: HealthThresholds) -> list[HealthWarning]:
    monitor = HealthMonitor(thresholds)
    for row in rows:
        monitor.observe(int(row.get("step", 0)), row)
    return monitor.warnings
