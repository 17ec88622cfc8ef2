"""The report's result sections: held-out evaluation (base vs trained), spurious-reward controls, verifier audit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rlvr.report._html import e, f3, figure, interval, note, signed, table
from rlvr.report._load import Loaded, Run, number
from rlvr.report.svg import Bars, Dots, Series, bar_chart, line_chart, scatter_chart
from rlvr.rundir import RunDir

_BASE, _FINAL = (f"{RunDir.EVAL}/{name}.json" for name in ("base", "final"))  # as the messages name them

VERDICT_CLASS = {"capability_gain": "good", "search_compression": "good", "no_change": "warn",
                 "mode_collapse": "bad", "regression": "bad", "format_only": "warn",
                 "format_gain_accuracy_loss": "bad", "format_loss": "warn"}


@dataclass(frozen=True)
class SetComparison:
    """One task set evaluated before and after training, and `gains.compare` of the two."""

    name: str
    base: dict[str, Any]
    trained: dict[str, Any]
    result: dict[str, Any]

    @property
    def k(self) -> int:
        return int(self.result["k"])

    @property
    def neutral(self) -> dict[str, Any]:
        """The format-neutral reading (files compared before it existed read as strictly)."""
        return self.result.get("neutral", self.result)

    @property
    def gained(self) -> bool:  # neutral pass@1 rose beyond the 95 % interval
        return self.neutral["compression_gain_ci"][0] > 0

    @property
    def lost(self) -> bool:  # neutral pass@1 or pass@k fell beyond the interval (as gains.compare_sets reads it)
        return self.neutral["compression_gain_ci"][1] < 0 or self.neutral["capability_gain_ci"][1] < 0


def compare_sets(run: Run) -> tuple[list[SetComparison], list[str]]:
    """Every task set present in both eval files, compared; and one line per thing that is missing."""
    from rlvr._errors import DataError
    from rlvr.evaluate import eval_sets
    from rlvr.evaluate.gains import compare

    if run.base_eval.problem == run.final_eval.problem == "missing":
        return [], [f"No held-out evaluation in this run: {_BASE} and {_FINAL} are missing "
                    "(set data.eval in the training config)."]
    problems = [_eval_problem(name, loaded) for name, loaded in (("base", run.base_eval), ("final", run.final_eval))]
    if any(problems):
        return [], [p for p in problems if p]
    try:
        base, final = eval_sets(run.base_eval.data), eval_sets(run.final_eval.data)
    except (KeyError, TypeError, AttributeError):
        return [], [f"{_BASE} or {_FINAL} is not an rlvr eval file."]
    if len(base) == len(final) == 1:  # one set each: the same tasks even if the files were named differently
        base = {name: record for name, record in zip(final, base.values())}
    notes = [f"task set '{name}' is only in eval/{where}.json; it cannot be compared."
             for names, other, where in ((base, final, "base"), (final, base, "final")) for name in names
             if name not in other]
    comparisons = []
    for name in [n for n in final if n in base]:
        try:
            comparisons.append(SetComparison(name, base[name], final[name], compare(base[name], final[name])))
        except (DataError, KeyError, TypeError, ValueError) as exc:
            notes.append(f"task set '{name}' could not be compared: {exc}")
    return comparisons, notes


def _eval_problem(name: str, loaded: Loaded) -> str:
    if loaded.ok:
        return ""
    if loaded.problem == "missing":
        return f"No eval/{name}.json in this run: the {name} model was not evaluated, so nothing can be compared."
    return f"eval/{name}.json: {loaded.problem}"


def collapse_warning(comparisons: list[SetComparison]) -> str:
    """Words for one set gaining pass@1 while another set loses pass@1 or pass@k, or ''."""
    gained = [f"'{c.name}'" for c in comparisons if c.gained]
    lost = [f"'{c.name}'" for c in comparisons if c.lost]
    if not any(g != lost_name for g in gained for lost_name in lost):  # one mode-collapsed set is its own verdict
        return ""
    return (f"{', '.join(gained)} gained pass@1 while {', '.join(lost)} lost pass@1 or pass@k (95 % intervals): "
            "an in-distribution gain with an out-of-distribution loss is the signature of entropy collapse, the "
            "policy narrowing onto what it was trained on.")


def verdict_sentence(c: SetComparison) -> str:
    r, n, k = c.result, c.neutral, c.k
    return (f"{c.name} ({r['tasks']} tasks): strict pass@1 {f3(r['base']['pass@1'])} → {f3(r['trained']['pass@1'])} "
            f"({signed(r['compression_gain'])}), pass@{k} {f3(r['base'][f'pass@{k}'])} → "
            f"{f3(r['trained'][f'pass@{k}'])}; format-neutral pass@1 {f3(n['base']['pass@1'])} → "
            f"{f3(n['trained']['pass@1'])} ({signed(n['compression_gain'])}), pass@{k} {f3(n['base'][f'pass@{k}'])} → "
            f"{f3(n['trained'][f'pass@{k}'])}: {r['verdict_words']}.")


# ---------------------------------------------------------------------------------------------
# Held-out evaluation


def eval_section(comparisons: list[SetComparison], notes: list[str]) -> str:
    parts = ['<section id="eval"><h2>Held-out evaluation</h2>']
    parts += [note(n, "warn" if "could not" in n or "not an rlvr" in n else "note") for n in notes]
    if len(comparisons) > 1:
        parts.append(_sets_table(comparisons))
    parts += [_one_set(c) for c in comparisons]
    return "".join(parts) + "</section>"


def _sets_table(comparisons: list[SetComparison]) -> str:
    rows = []
    for c in comparisons:
        k = c.k
        for label, r in (("strict", c.result), ("neutral", c.neutral)):
            verdict = c.result["verdict"]
            rows.append([e(c.name) if label == "strict" else "", str(r["tasks"]) if label == "strict" else "", label,
                         f"{f3(r['base']['pass@1'])} → {f3(r['trained']['pass@1'])}",
                         f"{signed(r['compression_gain'])} {interval(r['compression_gain_ci'], True)}",
                         f"pass@{k}: {f3(r['base'][f'pass@{k}'])} → {f3(r['trained'][f'pass@{k}'])}",
                         f"{signed(r['capability_gain'])} {interval(r['capability_gain_ci'], True)}",
                         f'<span class="{VERDICT_CLASS.get(verdict, "")}">{e(verdict.replace("_", " "))}</span>'
                         if label == "strict" else ""])
    warning = collapse_warning(comparisons)
    return ("<h3>All task sets side by side</h3>"
            + table(["set", "tasks", "reading", "pass@1", "Δ pass@1", "pass@k", "Δ pass@k", "verdict"], rows,
                    numeric=(1, 3, 4, 5, 6))
            + (f'<p class="verdict bad">{e(warning)}</p>' if warning else ""))


def _one_set(c: SetComparison) -> str:
    r, n, k = c.result, c.neutral, c.k
    curve = line_chart(
        [Series("base, strict", list(enumerate(r["curve"]["base"], 1)), dashed=True),
         Series("trained, strict", list(enumerate(r["curve"]["trained"], 1))),
         Series("base, neutral", list(enumerate(n["curve"]["base"], 1)), dashed=True),
         Series("trained, neutral", list(enumerate(n["curve"]["trained"], 1)))],
        title=f"pass@k on {c.name}", x_label="k (samples per task)", y_label="pass@k", y_range=(0.0, 1.0),
        x_log=k >= 4)
    rows = [_row("pass@1 (strict)", r, "pass@1", "compression_gain"),
            _row(f"pass@{k} (strict)", r, f"pass@{k}", "capability_gain"),
            _row("pass@1 (neutral)", n, "pass@1", "compression_gain"),
            _row(f"pass@{k} (neutral)", n, f"pass@{k}", "capability_gain")]
    for key, label in (("parseable", "parseable answers"), ("truncated_frac", "truncated")):
        b, t = _summary_value(c.base, key), _summary_value(c.trained, key)
        if b is not None and t is not None:
            rows.append([label, f3(b), f3(t), signed(t - b)])
    tr, tr_n = r["transitions"], n["transitions"]
    ratio = n["compression_ratio"]
    facts = [
        ("initial gap (neutral)", f"{f3(n['initial_gap'])} (base pass@{k} − pass@1: what the base could find but "
                                  "not first)"),
        ("compression ratio (neutral)", "undefined: the base model had no gap" if ratio is None
         else f"{ratio:.2f} (pass@1 gain / initial gap: the share of the gap turned into pass@1)"),
        (f"tasks solved (pass@{k} > 0), neutral", f"both {tr_n['both']}, trained only {tr_n['trained_only']}, "
                                                  f"base only {tr_n['base_only']}, neither {tr_n['neither']}"),
        (f"tasks solved (pass@{k} > 0), strict", f"both {tr['both']}, trained only {tr['trained_only']}, "
                                                 f"base only {tr['base_only']}, neither {tr['neither']}"),
    ]
    if n.get("support"):  # compare records from before these fields lack them
        crossing = n.get("crossover")
        facts.append((f"crossover and support at k = {k}, neutral",
                      ("no crossover: the trained model is not ahead at k = 1" if crossing == 1 else
                       f"no crossover up to k = {k}" if crossing is None else
                       f"the base catches up at k = {crossing}") + "; " + ", ".join(
                          f"{key} {'n/a' if v is None else f'{v:.2f}'}" for key, v in n["support"].items())
                      + " (rlvr boundary: intervals, chance level, CoT-pass@k)"))
    if r.get("format"):
        f = r["format"]
        facts.append(("strict pass@1 gain, decomposed",
                      f"{signed(f['strict_gain'])} = format {signed(f['format'])} (right but unreadable before "
                      f"training) + accuracy {signed(f['accuracy'])} (format-neutral pass@1 change) − still "
                      f"unreadable after {f3(f['unread_after'])}"))
    details = "".join(f"<dt>{e(name)}</dt><dd>{e(value)}</dd>" for name, value in facts)
    numbers = (table(["", "base", "trained", "change (95 % interval)"], rows)
               + f'<dl class="config">{details}</dl>')
    return (f"<h3>{e(c.name)}: {r['tasks']} tasks, k = {k}</h3>"
            f'<p class="verdict {VERDICT_CLASS.get(r["verdict"], "")}">{e(r["verdict_words"])}</p>'
            f'<div class="grid">{figure(curve, _CURVE_CAPTION)}<div>{numbers}</div></div>'
            f'<div class="grid">{_per_task_figures(c)}</div>')


def per_task_rates(c: SetComparison, reading: str) -> list[tuple[float, float, str]]:
    """(base pass rate, trained pass rate, task id) of every task in both eval files, in one reading:
    the per-problem view behind the set's mean, where a few tasks can carry a gain or a loss."""
    from rlvr.evaluate.gains import neutral_counts

    def rates(record: dict[str, Any]) -> dict[str, float]:
        tasks = {t["id"]: t for t in record["tasks"] if number(t.get("n"))}
        passed = (neutral_counts(record)[0] if reading == "neutral"
                  else {i: t["passed"] for i, t in tasks.items()})
        return {i: passed[i] / t["n"] for i, t in tasks.items() if number(passed.get(i)) is not None}

    base, trained = rates(c.base), rates(c.trained)
    return [(base[i], trained[i], str(i)) for i in trained if i in base]


def _per_task_figures(c: SetComparison) -> str:
    """One scatter per reading: base against trained pass rate, one point per task, the diagonal drawn."""
    figures = []
    for reading, color in (("strict", "#0072B2"), ("neutral", "#009E73")):
        try:
            points = per_task_rates(c, reading)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return note(f"{c.name}: the eval files hold no per-task counts to plot.", "warn")
        above = sum(t > b for b, t, _ in points)
        below = sum(t < b for b, t, _ in points)
        top, bottom = sum(b < 1 and t == 1 for b, t, _ in points), sum(b > 0 and t == 0 for b, t, _ in points)
        notes = [f"{len(points)} tasks, {reading} reading", f"above the diagonal (gain): {above}",
                 f"below it (loss): {below}", f"on it (unchanged): {len(points) - above - below}",
                 f"raised to always right: {top}", f"dropped to never right: {bottom}"]
        svg = scatter_chart([Dots(f"one point per task, {reading}", points, color=color)],
                            title=f"Per task on {c.name}, {reading}: base vs trained pass rate",
                            x_label="base pass rate", y_label="trained pass rate", notes=notes)
        figures.append(figure(svg, _SCATTER_CAPTION))
    return "".join(figures)


_SCATTER_CAPTION = ("One point per held-out task: its pass rate over the samples before (x) and after (y) training. "
                    "Above the diagonal the trained model passes the task more often, below it less often; tasks "
                    "pulled up to 1 from the middle are compression, tasks pushed down to 0 were lost. A step of "
                    "one sample is noise, not a finding.")


_CURVE_CAPTION = ("Dashed: base model; solid: trained model. Strict: the task's verifier; neutral: the answer read "
                  "in any format.")


def _row(label: str, r: dict[str, Any], key: str, gain: str) -> list[str]:
    return [label, f"{f3(r['base'][key])} {interval(r['base'][key + '_ci'])}",
            f"{f3(r['trained'][key])} {interval(r['trained'][key + '_ci'])}",
            f"{signed(r[gain])} {interval(r[gain + '_ci'], True)}"]


def _summary_value(record: dict[str, Any], key: str) -> float | None:
    summary = record.get("summary")
    return number(summary.get(key)) if isinstance(summary, dict) else None


# ---------------------------------------------------------------------------------------------
# Spurious-reward controls (spurious.json, written by `rlvr spurious`)


def spurious_section(loaded: Loaded) -> str:
    head = '<section id="spurious"><h2>Spurious-reward controls</h2>'
    if not loaded.ok:
        text = (f"No {RunDir.SPURIOUS} in this run: no random- or format-reward control was trained (rlvr spurious)."
                if loaded.problem == "missing" else loaded.problem)
        return head + note(text, "note" if loaded.problem == "missing" else "warn") + "</section>"
    data = loaded.data
    arms = [a for a in data.get("arms") or [] if isinstance(a, dict)]
    if not arms:
        return head + note(f"{RunDir.SPURIOUS} lists no arms; rerun rlvr spurious.", "warn") + "</section>"
    k = data.get("k", "k")
    parts = [head]
    if data.get("warnings"):
        parts.append('<ul class="warnings">' + "".join(f'<li class="warn">{e(w)}</li>' for w in data["warnings"])
                     + "</ul>")
    if data.get("conclusion"):
        parts.append(f'<p class="verdict">{e(data["conclusion"])}</p>')
    facts = [f"set <code>{e(data.get('set', '?'))}</code>"]
    if number(data.get("base_rate")) is not None:
        facts.append(f"base rate {f3(data['base_rate'])}"
                     + (f" over {data['base_rate_rollouts']} rollouts" if data.get("base_rate_rollouts") else ""))
    parts.append(f'<p class="sub">{"; ".join(facts)}.</p>')
    rows = [[f"<b>{e(a.get('name', '?'))}</b>" + (' <span class="bad">too weak to conclude</span>'
                                                   if a.get("too_weak") else ""),
             e(a.get("reward", "")), _before_after(a.get("pass@1")), signed(a.get("gain_pass@1")),
             _neutral_gain(a), _before_after(a.get("pass@k")), signed(a.get("gain_pass@k")), _trained_on(a),
             f"<code>{e(a.get('run_dir', ''))}</code>"] for a in arms]
    # Each strict gain with its neutral twin beside it, in a lighter shade of the same colour.
    colors = {("pass@1", "strict"): "#0072B2", ("pass@1", "neutral"): "#56B4E9",
              ("pass@k", "strict"): "#D55E00", ("pass@k", "neutral"): "#E69F00"}
    bars = [Bars(f"{reading} {metric.replace('@k', f'@{k}')} gain", [gain_mean(a, reading, key) for a in arms],
                 [gain_interval(a, reading, key) for a in arms], color=colors[metric, reading])
            for metric, key in (("pass@1", "gain_pass@1"), ("pass@k", "gain_pass@k"))
            for reading in ("strict", "neutral")]
    chart = bar_chart([str(a.get("name", "?")) for a in arms], bars,
                      title="Gain over the base model, per reward (mean over seeds)", y_label="gain")
    parts.append(table(["arm", "reward", "pass@1 (strict)", "gain", "neutral pass@1 gain (per seed)", f"pass@{k}",
                        "gain", "trained on", "run"], rows, numeric=(2, 3, 5, 6))
                 + figure(chart, _GAIN_CAPTION, narrow=True))
    return "".join(parts) + "</section>"


_GAIN_CAPTION = ("Whiskers: each gain's 95 % interval as rlvr spurious recorded it (with one seed it spans the "
                 f"held-out tasks only, not training seeds); a bar without one has no interval in {RunDir.SPURIOUS}. "
                 "Strict: the task's verifier; neutral: the answer read in any format.")


def gain_mean(arm: dict[str, Any], reading: str, key: str) -> float | None:
    """An arm's mean gain (key "gain_pass@1" or "gain_pass@k") in one reading; the strict one of a file
    from before readings under its old top-level name."""
    summary = arm.get(reading)
    gain = summary.get(key) if isinstance(summary, dict) else None
    if isinstance(gain, dict):
        return number(gain.get("mean"))
    return number(arm.get(key)) if reading == "strict" else None


def gain_interval(arm: dict[str, Any], reading: str, key: str) -> tuple[float, float] | None:
    """The 95 % interval the report draws on an arm's gain, or None when spurious.json has none.

    The one place that chooses it: the interval `rlvr spurious` saved with that gain (over seeds, and
    over held-out problems where it had per-task counts), else (one seed) that seed's paired bootstrap
    over tasks (evaluate.gains), else a file's old top-level one.
    """
    summary = arm.get(reading)
    gain = summary.get(key) if isinstance(summary, dict) else None
    candidates = [gain.get("interval") if isinstance(gain, dict) else None]
    seeds = arm.get("seeds")
    only = seeds[0].get(reading) if isinstance(seeds, list) and len(seeds) == 1 and isinstance(seeds[0], dict) \
        else None
    if isinstance(only, dict):
        candidates.append(only.get(f"{key}_ci"))
    if reading == "strict":
        candidates.append(arm.get(f"{key}_ci"))
    for pair in candidates:
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and None not in (number(pair[0]), number(pair[1])):
            return float(pair[0]), float(pair[1])
    return None


def _gain(arm: dict[str, Any], reading: str) -> dict[str, Any] | None:
    """An arm's pass@1 gain across seeds ({mean, seeds, interval}); None in a file from before seeds."""
    gain = arm[reading].get("gain_pass@1") if isinstance(arm.get(reading), dict) else None
    return gain if isinstance(gain, dict) else None


def _neutral_gain(arm: dict[str, Any]) -> str:
    gain = _gain(arm, "neutral")
    if not gain:
        return "–"
    seeds = ", ".join(signed(v) for v in gain.get("seeds") or [])
    spread = f" {interval(gain['interval'], True)}" if gain.get("interval") else ""
    return f"{signed(gain.get('mean'))}{spread} ({seeds})"


def _trained_on(arm: dict[str, Any]) -> str:
    if number(arm.get("rows_trained")) is None:
        return "–"
    return (f"{arm['rows_trained']} rows, informative groups {f3(arm.get('informative_frac'))}, "
            f"mean |advantage| {f3(arm.get('mean_abs_advantage'))}")


def _before_after(pair: Any) -> str:
    if isinstance(pair, (list, tuple)) and len(pair) == 2:
        return f"{f3(pair[0])} → {f3(pair[1])}"
    return "–"


# ---------------------------------------------------------------------------------------------
# Verifier audit (audit.json, written by `rlvr audit --json`)

_AUDIT_CLASS = {"worth trying RLVR": "good", "fix verifier coverage first": "warn"}


def audit_section(loaded: Loaded) -> str:
    head = '<section id="audit"><h2>Verifier audit</h2>'
    summary = loaded.data.get("summary") if loaded.ok else None
    if not isinstance(summary, dict):
        missing = loaded.problem == "missing"
        text = (f"No {RunDir.AUDIT} in this run: the verifier was not audited (rlvr audit VERIFIER --json "
                f"RUN_DIR/{RunDir.AUDIT})." if missing else loaded.problem or f"{RunDir.AUDIT} has no summary.")
        return head + note(text, "note" if missing else "warn") + "</section>"
    s = summary
    verdict = str(s.get("verdict", ""))
    facts = [
        ("coverage", f"{f3(s.get('coverage'))} of {s.get('cases', '?')} cases judged right in both runs"
                     + (f" (a check that accepts everything would score {f3(s['accept_all_coverage'])})"
                        if number(s.get("accept_all_coverage")) is not None else "")),
        ("false positives", f"{s.get('false_positives', '?')} of {s.get('must_fail', '?')} bad outputs rewarded "
                            f"(rate {f3(s.get('false_positive_rate'))})"),
        ("false negatives", f"{s.get('false_negatives', '?')} of {s.get('must_pass', '?')} good outputs refused "
                            f"(rate {f3(s.get('false_negative_rate'))})"),
        ("non-deterministic", f"{s.get('nondeterministic', '?')} verdicts changed between the two runs"),
    ]
    if isinstance(s.get("sources"), dict) and s["sources"]:
        facts.append(("case sources", ", ".join(f"{n} {name}" for name, n in s["sources"].items())))
    dl = "".join(f"<dt>{e(name)}</dt><dd>{e(value)}</dd>" for name, value in facts)
    parts = [head, f'<p class="verdict {_AUDIT_CLASS.get(verdict, "bad")}">Audit of <code>{e(s.get("target", "?"))}'
                   f"</code>: <b>{e(verdict)}</b></p>", f'<dl class="config">{dl}</dl>']
    weak = [t for t in loaded.data.get("tags") or [] if isinstance(t, dict)
            and (t.get("false_positives") or t.get("false_negatives") or t.get("nondeterministic"))]
    if weak:
        rows = [[e(t.get("tag", "")), str(t.get("cases", "")), f3(t.get("coverage")), str(t.get("false_positives", 0)),
                 str(t.get("false_negatives", 0))] for t in weak[:12]]
        parts.append("<h3>Case tags with errors</h3>" + table(["tag", "cases", "coverage", "FP", "FN"], rows))
    return "".join(parts) + "</section>"


# ---------------------------------------------------------------------------------------------
# The reasoning boundary (`rlvr boundary` on the same two eval files)


def boundary_section(comparisons: list[SetComparison]) -> str:
    """Per set and reading: pass@k with intervals and the chance level, the crossover, solvability and
    support, as `rlvr boundary` computes them from eval/base.json and eval/final.json."""
    from rlvr.evaluate.boundary import boundary

    head = '<section id="boundary"><h2>Reasoning boundary</h2>'
    if not comparisons:
        return head + note("No held-out evaluation to read the boundary from.") + "</section>"
    parts = [head, '<p class="sub">Did training find answers the base could not, or sharpen what it had? The '
                   "smallest k at which the base catches up is the crossover; support metrics after Wu et al. "
                   "(SRR retention, NDR discovery, NSCR net change, SDS their harmonic summary); chance: each "
                   "sample scored against another task's answer. Large k (rlvr eval --k 256) shows more.</p>"]
    for c in comparisons:
        try:
            result = boundary(c.base, c.trained)  # the same resamples and seed as compare: intervals agree
        except (KeyError, TypeError, ValueError) as exc:
            parts.append(note(f"{c.name}: the boundary could not be computed ({exc}).", "warn"))
            continue
        parts.append(f"<h3>{e(c.name)}: {result['tasks']} tasks, k up to {result['k']}</h3>")
        for reading, x in result["readings"].items():
            chance = "base_chance" in x
            rows = [[str(k), f3(x["base"][j]), f3(x["trained"][j]),
                     f"{signed(x['trained'][j] - x['base'][j])} {interval(x['delta_ci'][j], True)}"]
                    + ([f"{f3(x['base_chance'][j])} / {f3(x.get('trained_chance', [None] * len(x['k']))[j])}"]
                       if chance else []) for j, k in enumerate(x["k"])]
            s, support = x["solvability"], x["support"]
            crossing = x["crossover"]
            words = ("none: the trained model is not ahead at k = 1" if crossing == 1 else
                     f"none up to k = {result['k']}" if crossing is None else f"k = {crossing}")
            facts = (f"crossover {words}; solvable at k = {result['k']}: both {s['both']}, base only "
                     f"{s['base_only']}, trained only {s['trained_only']}, neither {s['neither']}; "
                     + ", ".join(f"{key} {'n/a' if v is None else f'{v:.2f}'}" for key, v in support.items()))
            parts.append(f"<h4>{e(reading)}</h4>"
                         + table(["k", "base", "trained", "change (95 % interval)"]
                                 + (["chance base / trained"] if chance else []), rows)
                         + f'<p class="sub">{e(facts)}</p>')
    return "".join(parts) + "</section>"
