"""Health rules over a metrics log: the failure modes of RLVR runs, caught while they start.

Each rule reads the per-step metrics and fires once when its condition has held for a window of
consecutive steps (KL blow-up fires at once). The window is `window` steps, or a quarter of the run's
planned length when that is shorter (at least 3): an 8-step run whose entropy fell 89 % in 8 steps
would otherwise end before a 5-step window could fill.

    reward_variance_collapse  reward/std below min_reward_std: groups stop carrying signal
    entropy_collapse          entropy below min_entropy
    entropy_decline           entropy lost more than max_entropy_drop of its starting value
    kl_blowup                 kl above max_kl: the policy ran away from its anchor
    truncation_surge          len/truncated_frac above max_truncated_frac
    uninformative_groups      all-equal groups (all 0 or all 1) above max_uninformative_frac
    nonfinite_updates         update/nonfinite_steps above 0: an update's loss or gradient norm was not
                              finite and the trainer skipped it (fires at once)
    reward_metric_divergence  reward/mean rose while pass_rate/neutral fell, both by min_divergence or
                              more over the trend window: the policy learns the reward, not the task

The divergence compares robust (Theil-Sen) trends over the trend window: half the run, at most
4 x window steps, at least 3. A series logged only at some steps is fitted over as many of its points,
which span more steps. Its warning's value is the fitted change of pass_rate/neutral (negative). At
the default min_divergence of 0.1, flat series with per-step noise of 0.06 raise it in about 3 % of
200-step runs (seeded simulation); noisier logs want a larger min_divergence.

The same rules run live in the trainer and on any metrics.jsonl (`rlvr health RUN_DIR`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from rlvr._errors import ConfigError, DataError
from rlvr.rundir import RunDir, read_numbered_jsonl


def _threshold(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class HealthThresholds:
    """When each rule fires; the training config's `health:` section."""

    min_reward_std: float = _threshold(0.02, "warn when the within-group reward std falls below this")
    min_entropy: float = _threshold(0.05, "warn when the sampled tokens' entropy falls below this")
    max_entropy_drop: float = _threshold(0.5, "warn when entropy has lost more than this share of its starting "
                                              "value")
    max_kl: float = _threshold(1.0, "warn at once when the KL to the reference exceeds this")
    max_truncated_frac: float = _threshold(0.5, "warn when more than this share of completions hit max_new_tokens")
    max_uninformative_frac: float = _threshold(0.9, "warn when more than this share of groups have all-equal "
                                                    "rewards")
    min_divergence: float = _threshold(0.1, "warn when reward/mean rises and pass_rate/neutral falls by more than "
                                            "this over the trend window (> 0)")
    min_explained_variance: float = _threshold(0.0, "ppo: warn when the critic's explained variance stays below "
                                                    "this (0: its values predict the returns no better than their "
                                                    "mean)")
    window: int = _threshold(5, "steps a condition must hold before it is reported, at least 1 (fewer in runs "
                                "under 4 x window)")

    def __post_init__(self) -> None:
        if not self.window >= 1:
            raise ConfigError(f"health.window is {self.window}; give the number of steps a condition must hold, "
                              "at least 1.")
        if not self.min_divergence > 0:  # 0 would read every flat stretch of noise as a divergence
            raise ConfigError(f"health.min_divergence is {self.min_divergence}; give a positive change, e.g. 0.1.")


@dataclass(frozen=True)
class HealthWarning:
    step: int
    rule: str
    value: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "rule": self.rule, "value": self.value, "message": self.message}


@dataclass(frozen=True)
class HealthRule:
    """One failure mode: `fires(value, thresholds, first value of the metric)` says whether this step's value of
    `metric` is bad; the rule warns (once, with `message(value, thresholds)`) when that has held for the
    window, or at once when `immediate`. Add one with `register_health_rule`."""

    name: str
    metric: str
    fires: Callable[[float, HealthThresholds, float | None], bool]  # (value, thresholds, first value) -> bad?
    message: Callable[[float, HealthThresholds], str]
    immediate: bool = False


_Rule = HealthRule  # the built-in rules below are written with the short name


# The training config's entropy controls (rlvr/train/objectives/), named where entropy falls.
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
    _Rule("critic_not_learning", "critic/explained_variance", lambda v, t, first: v < t.min_explained_variance,
          lambda v, t: f"the critic's explained variance {v:.3f} < {t.min_explained_variance:g}: its values predict "
                       "the returns no better than their mean, so its advantages are noise; raise "
                       "critic.warmup_steps or critic.lr, or use algo.name=grpo"),
    _Rule("nonfinite_updates", "update/nonfinite_steps", lambda v, t, first: v > 0,
          lambda v, t: f"{v:.0f} update(s) had a loss or gradient norm that was not finite and were skipped; the "
                       "run stops after optim.max_nonfinite_steps of them", immediate=True),
]


def register_health_rule(rule: HealthRule) -> HealthRule:
    """Add a rule to RULES: the trainer's live checks, `rlvr health` and `replay` all run it from then on.
    A name already taken is a ConfigError (a rule is never replaced by accident)."""
    if not isinstance(rule, HealthRule):
        raise ConfigError(f"register_health_rule expects a HealthRule, got {type(rule).__name__}.")
    if rule.name in {r.name for r in RULES} | {DIVERGENCE}:
        raise ConfigError(f"a health rule named '{rule.name}' exists already; give the new rule another name.")
    RULES.append(rule)
    return rule


DIVERGENCE = "reward_metric_divergence"
_DIVERGENCE_METRICS = ("reward/mean", "pass_rate/neutral")  # (rises, falls)


def windows(thresholds: HealthThresholds, total_steps: int | None) -> tuple[int, int]:
    """(hold, trend) in steps for a run of `total_steps` planned steps (None: a long run).

    hold: how long a condition must last; `window`, or a quarter of a shorter run (at least 3).
    trend: the span a trend is fitted over; half the run, at most 4 x window, at least 3.
    """
    if total_steps is None:
        return thresholds.window, max(3, 4 * thresholds.window)
    quarter = math.ceil(total_steps / 4)
    hold = min(thresholds.window, max(3, quarter))
    return hold, max(3, hold, min(math.ceil(total_steps / 2), 4 * thresholds.window))


def theil_sen(points: list[tuple[float, float]]) -> float:
    """The median of the pairwise slopes: a trend that one outlying step cannot swing."""
    slopes = [(y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(points) for x2, y2 in points[i + 1:] if x2 != x1]
    return statistics.median(slopes) if slopes else 0.0


class HealthMonitor:
    """Feed it one metrics dict per step; it returns the warnings that start at that step.

    total_steps, the run's planned length, shortens the windows of short runs (see `windows`).
    """

    def __init__(self, thresholds: HealthThresholds, total_steps: int | None = None) -> None:
        self.thresholds = thresholds
        self.hold, self.trend = windows(thresholds, total_steps)
        self.streak = {name: 0 for name in [*(rule.name for rule in RULES), DIVERGENCE]}
        self.first: dict[str, float] = {}
        self.recent: dict[str, list[tuple[int, float]]] = {m: [] for m in _DIVERGENCE_METRICS}  # the trend window
        self.warnings: list[HealthWarning] = []

    def observe(self, step: int, metrics: dict[str, float]) -> list[HealthWarning]:
        new = []
        for rule in RULES:
            value = metrics.get(rule.metric)
            if value is None:
                continue
            self.first.setdefault(rule.metric, value)
            bad = rule.fires(value, self.thresholds, self.first[rule.metric])
            if self._held(rule.name, bad, 1 if rule.immediate else self.hold):
                new.append(HealthWarning(step, rule.name, float(value), rule.message(value, self.thresholds)))
        changes = self._trends(step, metrics)
        if changes is not None:
            rise, fall = changes
            bad = rise >= self.thresholds.min_divergence and fall <= -self.thresholds.min_divergence
            if self._held(DIVERGENCE, bad, self.hold):
                new.append(HealthWarning(step, DIVERGENCE, fall, _divergence_message(rise, fall, self.trend)))
        self.warnings.extend(new)
        return new

    def _held(self, name: str, bad: bool, needed: int) -> bool:
        """Count a condition's streak; True at the step it reaches `needed` (the onset, reported once)."""
        self.streak[name] = self.streak.get(name, 0) + 1 if bad else 0
        return self.streak[name] == needed

    def _trends(self, step: int, metrics: dict[str, Any]) -> tuple[float, float] | None:
        """The fitted change of reward/mean and of pass_rate/neutral over the trend window, or None while
        either series has fewer than 3 points. Each series is fitted over its last `trend` points: for one
        logged at every step that is the last `trend` steps, for one logged at some steps a longer span."""
        for metric, points in self.recent.items():
            value = metrics.get(metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                points.append((step, float(value)))
            del points[:-self.trend]
        if any(len(points) < 3 for points in self.recent.values()):
            return None
        rise, fall = (theil_sen(self.recent[m]) * (self.trend - 1) for m in _DIVERGENCE_METRICS)
        return rise, fall

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps so that a resumed run's rules continue where they were."""
        return {"streak": dict(self.streak), "first": dict(self.first),
                "recent": {m: list(points) for m, points in self.recent.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        """Undo `state()`; a checkpoint from before the trend rules restores its streaks and starts the trends."""
        self.streak.update(state["streak"])
        self.first = dict(state["first"])
        self.recent.update({m: [tuple(p) for p in points] for m, points in state.get("recent", {}).items()})


def _divergence_message(rise: float, fall: float, trend: int) -> str:
    return (f"training reward rose by {rise:.3f} while the format-neutral pass rate fell by {-fall:.3f} over the "
            f"last {trend} steps: the policy is learning the reward, not the task; read {RunDir.SAMPLES} for "
            "what the reward pays for and audit the verifier (rlvr audit)")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """metrics.jsonl (or a run directory holding one) as a list of dicts, under the run directory's
    torn-line rule (rlvr.rundir)."""
    path = Path(path)
    if path.is_dir():
        path = RunDir(path).metrics
    if not path.exists():
        raise DataError(f"no metrics log at {path}; point at a run directory or a {RunDir.METRICS} file.")
    rows = []
    for lineno, row in read_numbered_jsonl(path, "metrics log"):
        step = row.get("step")
        if isinstance(step, bool) or not isinstance(step, int):
            raise DataError(f"{path}:{lineno}: a metrics line needs an integer 'step', got {step!r}; "
                            f"give the {RunDir.METRICS} that `rlvr train` writes.")
        bad = next((m for m in [*(r.metric for r in RULES), *_DIVERGENCE_METRICS] if row.get(m) is not None
                    and (isinstance(row[m], bool) or not isinstance(row[m], (int, float)))), None)
        if bad is not None:
            raise DataError(f"{path}:{lineno}: metric {bad!r} is {row[bad]!r}, not a number; "
                            f"give the {RunDir.METRICS} that `rlvr train` writes.")
        rows.append(row)
    return rows


def replay(rows: Iterable[dict[str, Any]], thresholds: HealthThresholds,
           total_steps: int | None = None) -> list[HealthWarning]:
    """The warnings of a logged run. total_steps: its planned length; by default its last logged step
    (a run cut short reads as a short run: its windows are shorter, not longer, than the trainer's)."""
    rows = list(rows)
    if total_steps is None:
        total_steps = max((int(row.get("step", 0)) for row in rows), default=0) or None
    monitor = HealthMonitor(thresholds, total_steps)
    for row in rows:
        monitor.observe(int(row.get("step", 0)), row)
    return monitor.warnings
