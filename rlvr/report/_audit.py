"""The verifier audit as a terminal table (`format_table`, what `rlvr audit` prints) and as an HTML fragment
(`html_section`, what `rlvr audit --html` writes): rlvr.audit measures, this module draws.

    report = run_audit(get_verifier("math"), cases)      # rlvr.audit
    print(format_table(report)); html_section(report)

Every string from a case (model output, references, notes) is HTML-escaped in the fragment.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlvr.audit.report import AuditReport, CaseResult


def format_table(report: AuditReport, worst: int = 10) -> str:
    """The summary, per-tag table and worst cases, for a terminal."""
    s = report.summary()
    t = s["timing"]
    sources = ", ".join(f"{n} {name}" for name, n in s["sources"].items())
    lines = [
        f"audit of {s['target']}: {s['cases']} cases" + (f" ({sources})" if sources else ""),
        "",
        f"coverage          {s['coverage']:.4f}   share of cases judged right (both runs)",
        f"false positives   {s['false_positive_rate']:.4f}   {s['false_positives']} of {s['must_fail']} "
        "bad outputs rewarded",
        f"false negatives   {s['false_negative_rate']:.4f}   {s['false_negatives']} of {s['must_pass']} "
        "good outputs refused",
        f"non-deterministic {s['nondeterministic']:>6}   verdicts that changed between the two runs",
        f"verdict           {s['verdict']}",
        f"(a check that accepts everything would score {s['accept_all_coverage']:.4f} on these cases)",
        "",
        f"{'tag':<34}{'cases':>7}{'coverage':>10}{'FP':>6}{'FN':>6}",
    ]
    for row in report.by_tag():
        lines.append(f"{row['tag'][:33]:<34}{row['cases']:>7}{row['coverage']:>10.3f}"
                     f"{row['false_positives']:>6}{row['false_negatives']:>6}")
    if s["dropped_equivalent"]:
        dropped = ", ".join(f"{tag} {n}" for tag, n in sorted(s["dropped_equivalent"].items()))
        lines += ["", f"left out by the oracle (mutants equivalent to the reference, variants it does not pass, "
                      f"hangs): {dropped}"]
    wrong = report.worst(worst)
    if wrong:
        lines += ["", f"worst cases ({len(wrong)} shown):"]
        lines += [_worst_line(r) for r in wrong]
    lines += ["", f"timing: median {t['median_ms']:.1f} ms, p99 {t['p99_ms']:.1f} ms per check one at a time; "
                  f"{t['cases_per_s_parallel']:.1f} cases/s with {t['processes']} processes "
                  f"({t['cases_per_s_serial']:.1f} one at a time)"]
    return "\n".join(lines)


def _kind(result: CaseResult) -> str:
    return "FP" if result.false_positive else "FN" if result.false_negative else "unstable"


def _worst_line(result: CaseResult) -> str:
    case, verdict = result.case, result.first
    again = "" if result.stable else f" then {result.second.reason}"
    return (f"  {_kind(result):<8} {case.tag}: {_short(case.completion, 70)} vs {_short(case.reference, 30)}\n"
            f"           {verdict.reason}{again}: {_short(verdict.detail, 90, quote=False)}"
            + (f"  [{case.note}]" if case.note else ""))


def _short(value: Any, limit: int, quote: bool = True) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return repr(text) if quote else text


def html_section(report: AuditReport, worst: int = 10) -> str:
    """The audit as an HTML fragment (one <section>) that a report page can include."""
    s, e = report.summary(), html.escape
    t = s["timing"]
    rows = "".join(
        f"<tr><td>{e(r['tag'])}</td><td>{r['cases']}</td><td>{r['coverage']:.3f}</td>"
        f"<td>{r['false_positives']}</td><td>{r['false_negatives']}</td></tr>" for r in report.by_tag())
    items = "".join(
        f"<li><b>{_kind(r)}</b> <code>{e(r.case.tag)}</code>: <pre>{e(_short(r.case.completion, 300, False))}</pre>"
        f"reference <code>{e(_short(r.case.reference, 120, False))}</code>; verdict "
        f"<code>{e(r.first.reason)}</code> {e(_short(r.first.detail, 200, False))}"
        + (f" <i>{e(r.case.note)}</i>" if r.case.note else "") + "</li>" for r in report.worst(worst))
    verdict_class = {"worth trying RLVR": "good", "fix verifier coverage first": "warn"}.get(s["verdict"], "bad")
    return (
        f'<section class="rlvr-audit">\n<h2>Verifier audit: {e(s["target"])}</h2>\n'
        f'<p class="verdict {verdict_class}"><b>{e(s["verdict"])}</b>: coverage {s["coverage"]:.4f} '
        f"over {s['cases']} cases</p>\n<dl>"
        f"<dt>false-positive rate</dt><dd>{s['false_positive_rate']:.4f} "
        f"({s['false_positives']} of {s['must_fail']} bad outputs rewarded)</dd>"
        f"<dt>false-negative rate</dt><dd>{s['false_negative_rate']:.4f} "
        f"({s['false_negatives']} of {s['must_pass']} good outputs refused)</dd>"
        f"<dt>non-deterministic verdicts</dt><dd>{s['nondeterministic']}</dd>"
        f"<dt>latency</dt><dd>median {t['median_ms']:.1f} ms, p99 {t['p99_ms']:.1f} ms; "
        f"{t['cases_per_s_parallel']:.1f} cases/s with {t['processes']} processes</dd></dl>\n"
        f"<table><thead><tr><th>tag</th><th>cases</th><th>coverage</th><th>FP</th><th>FN</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>\n"
        + (f"<h3>Worst cases</h3>\n<ol>{items}</ol>\n" if items else "")
        + "</section>\n"
    )
