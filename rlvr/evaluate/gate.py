"""A release gate: named metrics of a candidate against a baseline, under written rules.

Rules file (YAML):

    rules:
      - {metric: reasoning, min_delta: 0.0}        # must not fall; use a positive value to demand a rise
      - {metric: helpfulness, max_drop: 0.03}      # may fall by at most 0.03
      - {metric: false_refusals, max_rise: 0.02}   # a bad metric: may rise by at most 0.02
      - {metric: pass@1, min: 0.25}                # absolute floor for the candidate

Metric files are eval files (`rlvr eval`: their summary's pass@k and other numbers; a
multi-set eval file names them by set, `heldout/pass@1`; the format-neutral reading is
`neutral/pass@1`) or plain JSON
`{"metrics": {"name": value, ...}}`. A metric missing from either file is a
violation: a gate never passes on missing evidence. So is a metric that is not a finite number
(NaN, Infinity: JSON as Python writes it), in either file; a number too large for a float (a
400-digit integer) makes the file unreadable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import yaml

from rlvr._errors import ConfigError, DataError
from rlvr._io import read_json_file, read_text_file

_KINDS = ("min_delta", "max_drop", "max_rise", "min", "max")


@dataclass(frozen=True)
class Rule:
    metric: str
    kind: str
    limit: float

    def check(self, baseline: float | None, candidate: float | None) -> tuple[bool, str]:
        if candidate is None or (baseline is None and self.kind not in ("min", "max")):
            return False, "missing from " + ("the candidate" if candidate is None else "the baseline")
        for name, value in (("candidate", candidate), ("baseline", baseline)):
            if value is not None and not math.isfinite(value):
                return False, f"the {name}'s value is {value}, not a finite number"
        delta = None if baseline is None else candidate - baseline
        ok = {
            "min_delta": lambda: delta >= self.limit,
            "max_drop": lambda: delta >= -self.limit,
            "max_rise": lambda: delta <= self.limit,
            "min": lambda: candidate >= self.limit,
            "max": lambda: candidate <= self.limit,
        }[self.kind]()
        shown = f"{candidate:.4g}" if delta is None else f"{baseline:.4g} -> {candidate:.4g} ({delta:+.4g})"
        return ok, f"{shown}; rule {self.kind} {self.limit:g}"


def parse_rules(data: Any) -> list[Rule]:
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list) or not data["rules"]:
        raise ConfigError(
            "a rules file needs a non-empty 'rules' list, e.g. rules: [{metric: pass@1, max_drop: 0.02}]."
        )
    rules = []
    for i, item in enumerate(data["rules"], 1):
        if not isinstance(item, dict) or not isinstance(item.get("metric"), str):
            raise ConfigError(f"rule {i} needs a 'metric' name.")
        kinds = [k for k in item if k != "metric"]
        if len(kinds) != 1 or kinds[0] not in _KINDS:
            raise ConfigError(f"rule {i} ({item['metric']}) needs exactly one of {', '.join(_KINDS)}.")
        limit = item[kinds[0]]
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not _finite(limit):
            raise ConfigError(f"rule {i} ({item['metric']}): {kinds[0]} must be a finite number.")
        rules.append(Rule(item["metric"], kinds[0], float(limit)))
    return rules


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def metrics_of(record: Any) -> dict[str, float]:
    """Named numbers of an eval file (summary) or of a {"metrics": {...}} file."""
    if not isinstance(record, dict):
        return {}
    out: dict[str, float] = {}
    for name, sub in (record.get("sets") or {}).items():  # a multi-set eval file: heldout/pass@1, ...
        out.update({f"{name}/{key}": value for key, value in metrics_of(sub).items()})
    for key, value in record.get("summary", {}).items():
        if isinstance(value, dict) and isinstance(value.get("value"), (int, float)):
            out[key] = float(value["value"])
        elif key == "neutral" and isinstance(value, dict):  # the format-neutral reading: neutral/pass@1, ...
            out.update({f"neutral/{k}": float(v["value"]) for k, v in value.items()
                        if isinstance(v, dict) and isinstance(v.get("value"), (int, float))})
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
    for key, value in record.get("metrics", {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
    return out


def read_metrics_file(path: str) -> dict[str, float]:
    """The named numbers of a metrics file (an eval file or {"metrics": {...}}); DataError naming the
    file when it is not one, so a wrong file is not read as one with every metric missing."""
    record = read_json_file(path, "metrics file")
    problem = _shape_problem(record)
    if problem:
        raise DataError(f"metrics file {path} {problem}; give an eval file from `rlvr eval` or "
                        '{"metrics": {"name": value, ...}}.')
    try:
        return metrics_of(record)
    except OverflowError:  # float() of an integer of hundreds of digits
        raise DataError(f"metrics file {path} holds a number too large for a float; a metric is a number such as "
                        "0.42.") from None


def _shape_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"holds a JSON {type(record).__name__}, not an object"
    if not any(key in record for key in ("metrics", "summary", "sets")):
        return "has none of the keys 'metrics', 'summary' or 'sets'"
    for key in ("metrics", "summary", "sets"):
        if not isinstance(record.get(key, {}), dict):
            return f"has a '{key}' that is not an object"
    for name, sub in record.get("sets", {}).items():
        problem = _shape_problem(sub)
        if problem:
            return f"(set {name!r}) {problem}"
    return None


def read_rules_file(path: str) -> list[Rule]:
    """The rules of a YAML rules file; ConfigError naming the file for anything wrong with it."""
    text = read_text_file(path, "rules file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"rules file {path} is not valid YAML: {str(exc).splitlines()[0]}.") from None
    try:
        return parse_rules(data)
    except ConfigError as exc:
        raise ConfigError(f"rules file {path}: {exc}") from None


def run_gate(rules: list[Rule], baseline: dict[str, float], candidate: dict[str, float]) -> list[dict[str, Any]]:
    results = []
    for rule in rules:
        ok, detail = rule.check(baseline.get(rule.metric), candidate.get(rule.metric))
        results.append({"metric": rule.metric, "passed": ok, "detail": detail})
    return results
