"""`rlvr gate` as a function: a candidate's metrics against a baseline's, under written rules.

    from rlvr.workflows.gate import GateJob, gate_candidate
    gate_candidate(GateJob("base.json", "candidate.json", rules="rules.yaml"))["shipped"]

The rules are a YAML rules file, or the same content as a mapping (`{"rules": [{"metric": "pass@1",
"min_delta": 0.0}]}`, as a pipeline's gate stage may write them inline); the metric files are eval files
or `{"metrics": {...}}` (rlvr/evaluate/gate.py). The command line and the pipeline's gate stage both
build a `GateJob` and call `gate_candidate`: the rules are read the same way, the same lines are printed,
and the command turns `shipped` into its exit status (1 on a violated rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from rlvr.evaluate.gate import Rule

Metrics = dict[str, float]


@dataclass(frozen=True)
class GateJob:
    """One release decision: the two metrics files, the rules, and where the results go as JSON."""

    baseline: str  # eval file or {"metrics": {...}} JSON of the baseline
    candidate: str  # the same for the candidate
    rules: str | Mapping[str, Any]  # a YAML rules file, or its content as a mapping
    json: str | None = None  # where to write {"results": [...], "shipped": bool}; None: print only

    def check(self) -> tuple[list[Rule], Metrics, Metrics]:
        """(the rules, the baseline's metrics, the candidate's): the rules, the JSON output (never an input)
        and both metrics files read and checked before the gate runs; the first problem is one sentence."""
        from rlvr._io import check_not_input, check_writable
        from rlvr.evaluate.gate import read_metrics_file

        rules = gate_rules(self.rules)
        if self.json:
            check_writable(self.json, "--json")
            inputs = [self.baseline, self.candidate, *([self.rules] if isinstance(self.rules, str) else [])]
            check_not_input(self.json, inputs, "--json")
        return rules, read_metrics_file(self.baseline), read_metrics_file(self.candidate)


def gate_rules(rules: str | Mapping[str, Any]) -> list[Rule]:
    """The rules of a rules file (ConfigError naming it for anything wrong) or of a mapping; the pipeline
    reads its gate stages' rules with this before its first stage runs."""
    from rlvr.evaluate.gate import parse_rules, read_rules_file

    return read_rules_file(rules) if isinstance(rules, str) else parse_rules(rules)


def gate_candidate(job: GateJob, *, say: Callable[[str], Any] = print) -> dict[str, Any]:
    """Check, apply every rule, hand the lines to `say` (one per rule, then whether the candidate ships) and
    write `job.json`; returns {"results": one {metric, passed, detail} per rule, "shipped": all passed}."""
    from rlvr._io import write_json
    from rlvr.evaluate.gate import run_gate
    from rlvr.report import format_gate

    rules, baseline, candidate = job.check()
    results = run_gate(rules, baseline, candidate)
    say(format_gate(results))
    record = {"results": results, "shipped": all(r["passed"] for r in results)}
    if job.json:
        write_json(record, job.json)
    return record
