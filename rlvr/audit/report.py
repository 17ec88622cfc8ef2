"""Run audit cases through a verifier twice, and report coverage, errors, stability and speed.

    report = run_audit(get_verifier("math"), cases)
    report.summary(); report.to_json()    # drawn by rlvr.report: format_table(report), html_section(report)

Metrics:
    coverage             share of cases judged right (a case counts only if both runs get it right)
    false-positive rate  share of must-fail cases rewarded: what a policy can exploit
    false-negative rate  share of must-pass cases refused: signal that training loses
    verdict              "worth trying RLVR" (coverage >= 0.9), "fix verifier coverage first"
                         (0.7 to 0.9) or "exploitable" (below 0.7)

Running twice. Every case is checked twice and a verdict (reward, reason) that changes is
reported as non-determinism. Verifiers cache verdicts per configuration inside their pool of
worker processes, so a plain second call would only read the cache back. Before each run
`shutdown_workers()` drops every pool with its cache: the second run starts new worker
processes, and visits the cases in reverse order, so state that leaks from one check into
the next shows up too. (Verifiers with `isolated=False` have no pool and no cache; both runs
call them in this process, the code verifier starting a fresh sandbox per check.) Other pools
in this process restart on their next use.

Timing. The first run checks one case at a time, so each latency is one verdict's round trip
(median, p99); the second run checks `processes` cases at a time, which gives throughput
(cases/s) with the parallelism a trainer would use. Worker start-up is excluded.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from rlvr.audit.cases import AuditCase
from rlvr.verifiers import Verdict, Verifier, shutdown_workers

WORTH_TRYING = 0.9
EXPLOITABLE = 0.7


def verdict_words(coverage: float) -> str:
    """The audit's advice for a coverage."""
    if coverage >= WORTH_TRYING:
        return "worth trying RLVR"
    if coverage >= EXPLOITABLE:
        return "fix verifier coverage first"
    return "exploitable"


@dataclass(frozen=True)
class CaseResult:
    """One case's two verdicts and the first one's latency."""

    case: AuditCase
    first: Verdict
    second: Verdict
    seconds: float

    @property
    def stable(self) -> bool:
        return (self.first.reward, self.first.reason) == (self.second.reward, self.second.reason)

    @property
    def false_positive(self) -> bool:
        return not self.case.should_pass and (self.first.passed or self.second.passed)

    @property
    def false_negative(self) -> bool:
        return self.case.should_pass and not (self.first.passed and self.second.passed)

    @property
    def correct(self) -> bool:
        return not (self.false_positive or self.false_negative)


@dataclass
class AuditReport:
    """Everything an audit measured; `summary()` turns it into numbers.

    sources:   cases per source ("suite", "mutations", a case file, "eval").
    dropped:   generated candidates left out as equivalent to the reference, per tag.
    """

    target: str
    results: list[CaseResult]
    serial_s: float
    parallel_s: float
    processes: int
    sources: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        good = [r for r in self.results if r.case.should_pass]
        bad = [r for r in self.results if not r.case.should_pass]
        coverage = _share(sum(r.correct for r in self.results), len(self.results))
        return {
            "target": self.target,
            "cases": len(self.results),
            "must_pass": len(good),
            "must_fail": len(bad),
            "coverage": coverage,
            "false_positive_rate": _share(sum(r.false_positive for r in bad), len(bad)),
            "false_negative_rate": _share(sum(r.false_negative for r in good), len(good)),
            "false_positives": sum(r.false_positive for r in bad),
            "false_negatives": sum(r.false_negative for r in good),
            "nondeterministic": sum(not r.stable for r in self.results),
            "accept_all_coverage": _share(len(good), len(self.results)),
            "verdict": verdict_words(coverage),
            "timing": self.timing(),
            "sources": dict(self.sources),
            "dropped_equivalent": dict(self.dropped),
        }

    def timing(self) -> dict[str, float]:
        latencies = sorted(r.seconds for r in self.results)
        n = len(latencies)
        return {
            "median_ms": 1000 * statistics.median(latencies) if n else 0.0,
            "p99_ms": 1000 * latencies[min(n - 1, math.ceil(0.99 * n) - 1)] if n else 0.0,
            "cases_per_s_serial": _rate(n, self.serial_s),
            "cases_per_s_parallel": _rate(n, self.parallel_s),
            "processes": self.processes,
        }

    def by_tag(self) -> list[dict[str, Any]]:
        """Per tag: cases, coverage, false positives and negatives; worst coverage first."""
        groups: dict[str, list[CaseResult]] = defaultdict(list)
        for result in self.results:
            groups[result.case.tag].append(result)
        rows = [{"tag": tag, "cases": len(rs), "coverage": _share(sum(r.correct for r in rs), len(rs)),
                 "false_positives": sum(r.false_positive for r in rs),
                 "false_negatives": sum(r.false_negative for r in rs),
                 "nondeterministic": sum(not r.stable for r in rs)} for tag, rs in groups.items()]
        return sorted(rows, key=lambda row: (row["coverage"], row["tag"]))

    def worst(self, limit: int = 10) -> list[CaseResult]:
        """The cases judged wrong: false positives first (they are what a policy exploits),
        then false negatives, taking tags in turn so that one failure mode does not fill the list."""
        wrong = [r for r in self.results if not r.correct or not r.stable]
        queues: dict[tuple[int, str], list[CaseResult]] = defaultdict(list)
        for result in wrong:
            queues[(0 if result.false_positive else 1 if result.false_negative else 2, result.case.tag)].append(result)
        picked: list[CaseResult] = []
        for kind in (0, 1, 2):
            lanes = [queue for (k, _), queue in sorted(queues.items()) if k == kind]
            while any(lanes) and len(picked) < limit:
                for lane in lanes:
                    if lane and len(picked) < limit:
                        picked.append(lane.pop(0))
        return picked

    def to_json(self, worst: int = 50) -> dict[str, Any]:
        """The summary, the per-tag table, the worst cases, and every case with its verdicts."""
        return {
            "rlvr_audit": 1,
            "summary": self.summary(),
            "tags": self.by_tag(),
            "worst": [_case_json(r) for r in self.worst(worst)],
            "cases": [_case_json(r) for r in self.results],
        }


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else 0.0


def _case_json(result: CaseResult) -> dict[str, Any]:
    return {
        **result.case.to_dict(),
        "passed": result.first.passed,
        "reward": result.first.reward,
        "reason": result.first.reason,
        "detail": result.first.detail,
        "second": {"reward": result.second.reward, "reason": result.second.reason},
        "correct": result.correct,
        "stable": result.stable,
        "ms": 1000 * result.seconds,
    }


# ------------------------------------------------------------------------------------------
# Running


def run_audit(verifier: Verifier, cases: Sequence[AuditCase], *, target: str = "", processes: int = 2,
              progress: bool = True, sources: dict[str, int] | None = None,
              dropped: dict[str, int] | None = None) -> AuditReport:
    """Check every case twice (see the module docstring) and collect the verdicts."""
    pairs = [(case.completion, case.reference) for case in cases]
    shutdown_workers()  # no verdict cached before the audit is read back
    _warm_up(verifier, 1)  # start a worker outside the timed run
    start = time.perf_counter()
    first, seconds = _one_at_a_time(verifier, pairs, progress)
    serial_s = time.perf_counter() - start
    shutdown_workers()  # the second run: new worker processes, empty verdict cache
    _warm_up(verifier, processes)
    start = time.perf_counter()
    second = _batched(verifier, pairs[::-1], processes, progress)[::-1]
    parallel_s = time.perf_counter() - start
    results = [CaseResult(*row) for row in zip(cases, first, second, seconds)]
    return AuditReport(target or verifier.name, results, serial_s, parallel_s, processes,
                       dict(sources or {}), dict(dropped or {}))


def _warm_up(verifier: Verifier, processes: int) -> None:
    """Start `processes` worker processes before the clock runs (distinct pairs: identical ones
    are checked once). A verifier without workers (isolated=False) needs no warm-up."""
    if verifier.isolated:
        pairs = [(f"rlvr audit: warm-up check {i}", "0") for i in range(processes)]
        verifier.verify_batch(pairs, workers=processes)


def _one_at_a_time(verifier: Verifier, pairs: list, progress: bool) -> tuple[list[Verdict], list[float]]:
    verdicts, seconds = [], []
    for pair in tqdm(pairs, desc="audit run 1", unit="case", disable=not progress, dynamic_ncols=True):
        start = time.perf_counter()
        verdicts.append(verifier.verify_batch([pair])[0])
        seconds.append(time.perf_counter() - start)
    return verdicts, seconds


def _batched(verifier: Verifier, pairs: list, processes: int, progress: bool) -> list[Verdict]:
    verdicts: list[Verdict] = []
    chunk = 16 * processes  # small enough to keep the bar moving, large enough to keep workers busy
    with tqdm(total=len(pairs), desc="audit run 2", unit="case", disable=not progress, dynamic_ncols=True) as bar:
        for begin in range(0, len(pairs), chunk):
            verdicts += verifier.verify_batch(pairs[begin : begin + chunk], workers=processes)
            bar.update(min(chunk, len(pairs) - begin))
    return verdicts

