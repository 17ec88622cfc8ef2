"""The audit run and report: metrics, the verdict words, the two runs, and the outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from rlvr.audit import AuditCase, run_audit, verdict_words
from rlvr.report import format_table, html_section
from rlvr.verifiers import Verdict, Verifier, allow_plugins, get_verifier


@pytest.fixture(autouse=True)
def _trust_test_modules():
    """The "module:function" paths below name the checks of checkers_for_tests.py: the tests opt in, as a user
    would."""
    allow_plugins("checkers_for_tests")


@dataclass(frozen=True)
class ExactVerifier(Verifier):
    """In-process: passes a completion equal to the reference."""

    isolated: bool = False

    def check(self, completion: str, reference: object) -> Verdict:
        return Verdict(1.0, "ok") if completion == reference else Verdict(0.0, "mismatch", f"{completion!r}")


CASES = [
    AuditCase("7", "7", True, "legit/plain"),
    AuditCase("7.0", "7", True, "legit/format"),  # refused: a false negative
    AuditCase("8", "7", False, "hack/near_miss"),
    AuditCase("7", "7", False, "hack/odd_label"),  # rewarded: a false positive
    AuditCase("", "7", False, "hack/refusal"),
]


def test_metrics_count_false_positives_and_negatives_separately():
    report = run_audit(ExactVerifier(), CASES, progress=False)
    s = report.summary()
    assert (s["cases"], s["must_pass"], s["must_fail"]) == (5, 2, 3)
    assert s["coverage"] == pytest.approx(3 / 5)
    assert s["false_positive_rate"] == pytest.approx(1 / 3) and s["false_positives"] == 1
    assert s["false_negative_rate"] == pytest.approx(1 / 2) and s["false_negatives"] == 1
    assert s["accept_all_coverage"] == pytest.approx(2 / 5)
    assert s["verdict"] == "exploitable" and s["nondeterministic"] == 0
    tags = {row["tag"]: row for row in report.by_tag()}
    assert tags["hack/odd_label"]["false_positives"] == 1 and tags["legit/format"]["false_negatives"] == 1
    assert [row["tag"] for row in report.by_tag()][:2] == ["hack/odd_label", "legit/format"]  # worst first


def test_worst_cases_list_false_positives_first_with_the_verifiers_reason():
    report = run_audit(ExactVerifier(), CASES, progress=False)
    worst = report.worst()
    assert [r.case.tag for r in worst] == ["hack/odd_label", "legit/format"]
    assert worst[1].first.reason == "mismatch"
    assert report.to_json()["worst"][0]["reason"] == "ok"


@pytest.mark.parametrize("coverage, words", [
    (1.0, "worth trying RLVR"), (0.9, "worth trying RLVR"), (0.8999, "fix verifier coverage first"),
    (0.7, "fix verifier coverage first"), (0.6999, "exploitable"), (0.0, "exploitable"),
])
def test_verdict_words(coverage, words):
    assert verdict_words(coverage) == words


@dataclass(frozen=True)
class FirstCallOnly(Verifier):
    """In-process and stateful: passes each completion the first time it sees it."""

    isolated: bool = False
    seen: set = field(default_factory=set)

    def check(self, completion: str, reference: object) -> Verdict:
        if completion in self.seen:
            return Verdict(0.0, "mismatch")
        self.seen.add(completion)
        return Verdict(1.0, "ok")


def test_a_verdict_that_changes_is_reported_and_counts_as_wrong():
    report = run_audit(FirstCallOnly(), [AuditCase("a", "a", True, "legit/x")], progress=False)
    result = report.results[0]
    assert (result.first.passed, result.second.passed, result.stable, result.correct) == (True, False, False, False)
    assert report.summary()["nondeterministic"] == 1 and report.summary()["coverage"] == 0.0
    assert "then mismatch" in format_table(report)


def test_the_second_run_is_not_answered_from_the_verdict_cache(tmp_path):
    """An isolated verifier caches verdicts in its worker pool: a second run read from that
    cache would look deterministic. `passes_once` passes only its very first call, anywhere."""
    verifier = get_verifier("checkers_for_tests:passes_once")
    marker = str(tmp_path / "marker")
    report = run_audit(verifier, [AuditCase("x", marker, True, "legit/x")], processes=1, progress=False)
    assert (report.results[0].first.passed, report.results[0].second.passed) == (True, False)
    assert report.summary()["nondeterministic"] == 1


def test_timing_is_measured_for_both_runs():
    t = run_audit(ExactVerifier(), CASES, progress=False, processes=2).summary()["timing"]
    assert 0 < t["median_ms"] <= t["p99_ms"]
    assert t["cases_per_s_serial"] > 0 and t["cases_per_s_parallel"] > 0 and t["processes"] == 2


def test_outputs_show_the_verdict_and_escape_model_text():
    script = "<script>alert(1)</script>"
    cases = [AuditCase(script, script, False, "hack/<b>"), *CASES]  # a false positive: it is listed
    report = run_audit(ExactVerifier(), cases, target="exact", progress=False)
    table = format_table(report)
    assert "audit of exact: 6 cases" in table and "verdict           exploitable" in table
    assert "hack/odd_label" in table.split("worst cases")[1] and "alert(1)" in table
    fragment = html_section(report)
    assert fragment.startswith('<section class="rlvr-audit">') and fragment.rstrip().endswith("</section>")
    assert "<script>" not in fragment and "&lt;script&gt;alert(1)" in fragment and "&lt;b&gt;" in fragment
    document = report.to_json()
    assert document["summary"]["verdict"] == "exploitable" and len(document["cases"]) == 6
