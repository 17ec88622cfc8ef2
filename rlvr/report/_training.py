"""The report's training sections: curves from metrics.jsonl with health warnings, and example rollouts."""

from __future__ import annotations

import re
import statistics
from dataclasses import fields
from typing import Any

from rlvr._errors import ConfigError
from rlvr.monitor import HealthThresholds, replay
from rlvr.monitor.health import DIVERGENCE
from rlvr.report._html import e, f3, figure, note, signed, table
from rlvr.report._load import Run, number
from rlvr.report.svg import Marker, Series, line_chart, message_chart
from rlvr.rundir import RunDir

# (title, [(metric, legend label)], y-axis label, show health markers). Shares get a fixed 0-1 axis.
_CHARTS: list[tuple[str, list[tuple[str, str]], str, bool]] = [
    ("Reward and pass rate", [("reward/mean", "reward (mean)"), ("pass_rate", "pass rate"),
                              ("pass_rate/neutral", "pass rate, format-neutral"), ("parseable", "parseable")],
     "share of rollouts", False),
    ("Entropy", [("entropy", "entropy")], "nats per token", True),
    ("KL to the reference", [("kl", "KL")], "KL", True),
    ("Response length", [("len/mean", "mean length")], "tokens", False),
    ("Truncated and clipped shares", [("len/truncated_frac", "truncated (hit max_new_tokens)"),
                                      ("clip_frac", "clipped tokens")], "share", False),
    ("Informative groups", [("groups/informative_frac", "informative (rewards differ)"),
                            ("groups/all_zero_frac", "all wrong"), ("groups/all_one_frac", "all right")],
     "share of groups", False),
    # PPO's critic (algo.name=ppo); a GRPO run logs none of these, so its report leaves them out
    ("Critic: value loss and values", [("critic/value_loss", "value loss"), ("critic/value_mean", "value (mean)"),
                                       ("critic/return_mean", "return (mean)")], "value", False),
    ("Critic: explained variance", [("critic/explained_variance", "explained variance"),
                                    ("critic/value_clip_frac", "value-clipped tokens")], "share", True),
    ("Generation throughput", [("throughput/tokens_per_s", "generated tokens/s")], "tokens / s", False),
    # Model FLOPs per second over the host's measured peak (rlvr/train/runtime/mfu.py): how far each phase is
    # from what the machine can do.
    ("Model FLOPs utilisation", [("mfu/generate", "generation"), ("mfu/update", "update")],
     "share of the measured peak", False),
]
_SUMMARY_METRICS = [("reward/mean", "reward (mean)"), ("pass_rate", "pass rate"),
                    ("pass_rate/neutral", "pass rate, format-neutral"), ("parseable", "parseable"),
                    ("entropy", "entropy"), ("kl", "KL"), ("len/mean", "mean length (tokens)"),
                    ("len/truncated_frac", "truncated share"), ("groups/informative_frac", "informative groups")]


def _points(metrics: list[dict[str, Any]], key: str) -> list[tuple[float, float | None]]:
    # The trainer logs a reason/<code> share only at steps where that reason occurred: absent is 0.
    default = 0.0 if key.startswith("reason/") else None
    return [(row["step"], number(row.get(key, default))) for row in metrics]


def _has(metrics: list[dict[str, Any]], key: str) -> bool:
    return any(number(row.get(key)) is not None for row in metrics)


def _share_axis(series: list[Series]) -> tuple[float, float] | None:
    """0-1 when every value is a share, so that charts of shares compare at a glance."""
    values = [y for s in series for _, y in s.points if y is not None]
    return (0.0, 1.0) if values and all(0.0 <= v <= 1.0 for v in values) else None


def training_section(run: Run) -> str:
    metrics = run.metrics
    warnings = health_warnings(run)
    markers = _markers(warnings)
    charts = []
    for title, keys, y_label, with_markers in [*_CHARTS, _reasons_chart(metrics)]:
        if title == "KL to the reference" and not _kl_computed(run):
            charts.append(figure(message_chart(title, "KL not computed (beta = 0)"),
                                 "beta = 0: no reference model was loaded, so there is no KL to draw (a line at 0 "
                                 "would read as measured and found to be zero)."))
            continue
        series = [Series(label, _points(metrics, key)) for key, label in keys if _has(metrics, key)]
        if not series:
            continue
        y_range = _share_axis(series) if "share" in y_label else None
        svg = line_chart(series, title=title, x_label="step", y_label=y_label, y_range=y_range,
                         markers=markers if with_markers else ())
        charts.append(figure(svg, _caption(run, title, with_markers and bool(markers))))
    return (
        '<section id="training"><h2>Training</h2>'
        + f'<p class="sub">{e(_timing_line(metrics))}</p>'
        + _summary_table(metrics, skip=() if _kl_computed(run) else ("kl",))
        + f'<div class="grid">{"".join(charts)}</div>'
        + _health_list(run, warnings)
        + "</section>"
    )


def _reasons_chart(metrics: list[dict[str, Any]]) -> tuple[str, list[tuple[str, str]], str, bool]:
    """Why rollouts failed (reason/<code> shares), when the trainer logged them."""
    codes = sorted({key for row in metrics for key in row if key.startswith("reason/")})
    return ("Why rollouts failed", [(key, key.removeprefix("reason/")) for key in codes], "share of rollouts", False)


def _markers(health: list[dict[str, Any]]) -> list[Marker]:
    """One marker per step that raised warnings, naming the rules."""
    by_step: dict[float, list[str]] = {}
    for row in health:
        step = number(row.get("step"))
        if step is not None:
            by_step.setdefault(step, []).append(str(row.get("rule", "warning")))
    return [Marker(step, f"{step:g}: {', '.join(rules)}") for step, rules in sorted(by_step.items())]


def _config_section(run: Run, name: str) -> dict[str, Any]:
    section = (run.config.data or {}).get(name) if run.config.ok else None
    return section if isinstance(section, dict) else {}


def _kl_computed(run: Run) -> bool:
    """False for a run with beta = 0 that logged no KL other than 0 (older trainers logged a 0 for it)."""
    beta = number(_config_section(run, "algo").get("beta"))
    return not (beta == 0 and not any(number(r.get("kl")) for r in run.metrics))


def _caption(run: Run, title: str, marked: bool) -> str:
    if title == "KL to the reference" and not any(number(r.get("kl")) for r in run.metrics):
        return "KL is 0 throughout." + (" Dashed red lines: health warnings (listed below)." if marked else "")
    return "Dashed red lines: health warnings (listed below)." if marked else ""


def _timing_line(metrics: list[dict[str, Any]]) -> str:
    first, last = metrics[0]["step"], metrics[-1]["step"]
    line = f"{len(metrics)} steps logged (steps {first:g} to {last:g})"
    times = [v for v in (number(r.get("time/step_s")) for r in metrics) if v is not None]
    if times:
        line += f"; {sum(times) / 60:.1f} min of training, median {statistics.median(times):.1f} s per step"
    rates = [v for v in (number(r.get("throughput/tokens_per_s")) for r in metrics) if v is not None]
    if rates:
        line += f"; median generation throughput {statistics.median(rates):.0f} tokens/s"
    shares = {phase: [v for v in (number(r.get(f"mfu/{phase}")) for r in metrics) if v is not None]
              for phase in ("generate", "update")}
    if all(shares.values()):
        line += (f"; median MFU {statistics.median(shares['generate']):.1%} generating, "
                 f"{statistics.median(shares['update']):.1%} updating")
    return line + "."


def _summary_table(metrics: list[dict[str, Any]], skip: tuple[str, ...] = ()) -> str:
    first, last = metrics[0], metrics[-1]
    rows = []
    for key, label in _SUMMARY_METRICS:
        a, b = number(first.get(key)), number(last.get(key))
        if (a is None and b is None) or key in skip:
            continue
        scale = max(abs(a or 0.0), abs(b or 0.0))
        change = _short(b - a, scale, signed=True) if a is not None and b is not None else "–"
        rows.append([e(label), _short(a, scale), _short(b, scale), change])
    if not rows:
        return ""
    return table(["metric", f"step {first['step']:g}", f"step {last['step']:g}", "change"], rows)


def _short(value: float | None, scale: float, signed: bool = False) -> str:
    """Three decimals for shares and entropies, fewer for token counts (scale: the row's largest value)."""
    if value is None:
        return "–"
    decimals = 3 if scale < 10 else 1 if scale < 1000 else 0
    return f"{value:{'+' if signed else ''}.{decimals}f}"


def health_warnings(run: Run) -> list[dict[str, Any]]:
    """health.jsonl's warnings, then those the current rules find in metrics.jsonl for rules health.jsonl
    never raised (a run logged before a rule existed, or with longer windows), marked "replayed"."""
    recorded = [r for r in run.health.data or [] if isinstance(r, dict)]
    seen = {str(r.get("rule")) for r in recorded}
    replayed = [{**w.to_dict(), "replayed": True} for w in _replay(run) if w.rule not in seen]
    return recorded + replayed


def _replay(run: Run) -> list[Any]:
    """The health rules over metrics.jsonl, with the run's own thresholds and planned length where its
    config.yaml gives them."""
    section = _config_section(run, "health")
    default = HealthThresholds()
    values = {f.name: type(getattr(default, f.name))(section[f.name]) for f in fields(HealthThresholds)
              if number(section.get(f.name)) is not None}
    try:
        thresholds = HealthThresholds(**values)
    except ConfigError:  # a config that training would have refused: read it with the defaults
        thresholds = default
    steps = number(_config_section(run, "run").get("steps"))
    rows = [{key: value for key, value in row.items() if number(value) is not None} for row in run.metrics]
    return replay(rows, thresholds, int(steps) if steps and steps >= 1 else None)


def _health_list(run: Run, warnings: list[dict[str, Any]]) -> str:
    parts = []
    if not run.health.ok:
        missing = run.health.problem == "missing"
        parts.append(note(f"No {RunDir.HEALTH} in this run: health warnings were not recorded." if missing
                          else run.health.problem, "note" if missing else "warn"))
    if not warnings:
        return "".join(parts) + note("No health warnings: every health rule held throughout the run"
                                     + ("." if run.health.ok else f" (replayed on {RunDir.METRICS})."))
    divergence = next((w for w in warnings if w.get("rule") == DIVERGENCE), None)
    if divergence is not None:
        parts.append(f'<p class="verdict bad"><b>Reward–metric divergence</b> from step '
                     f"{number(divergence.get('step')) or 0:g}: {e(divergence.get('message', ''))}.</p>")
    rows = [[f"{number(r.get('step')) or 0:g}", e(r.get("rule", "")) + (" <span class=\"note\">(replayed)</span>"
                                                                      if r.get("replayed") else ""),
             f3(r.get("value")), e(r.get("message", ""))] for r in warnings]
    replayed = any(r.get("replayed") for r in warnings)
    return "".join(parts) + ('<h3 class="warn">Health warnings</h3>'
                             + table(["step", "rule", "value", "message"], rows, numeric=(0, 2))
                             + (note(f"Replayed: found by the current health rules in {RunDir.METRICS}, not recorded "
                                     "by the run (its trainer predates the rule or used longer windows).")
                                if replayed else ""))


# ---------------------------------------------------------------------------------------------
# Example rollouts

_PER_KIND = 3  # best and worst rollouts shown per step
_MAX_CHARS = 1500


def samples_section(run: Run) -> str:
    head = '<section id="samples"><h2>Example rollouts</h2>'
    if not run.samples.ok:
        return head + note(f"No {RunDir.SAMPLES} in this run: no rollouts to show." if run.samples.problem == "missing"
                           else run.samples.problem, "note" if run.samples.problem == "missing" else "warn") \
            + "</section>"
    rows = [r for r in run.samples.data if number(r.get("step")) is not None]
    if not rows:
        return head + note(f"{RunDir.SAMPLES} holds no rollouts.") + "</section>"
    steps = sorted({r["step"] for r in rows})
    blocks = []
    for step in dict.fromkeys([steps[0], steps[-1]]):  # first and last, once when they are the same
        chosen = _best_and_worst([r for r in rows if r["step"] == step])
        total = sum(r["step"] == step for r in rows)
        blocks.append(f"<h3>Step {step:g} <span class=\"note\">({len(chosen)} of {total} rollouts: best and worst "
                      "reward)</span></h3>" + "".join(_sample(kind, r) for kind, r in chosen))
    return head + "".join(blocks) + "</section>"


def _best_and_worst(rows: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The highest and the lowest rewards of a step, from different tasks where the step has them."""
    ranked = sorted(rows, key=lambda r: -(number(r.get("reward")) or 0.0))  # stable: file order breaks ties
    n_best = min(_PER_KIND, (len(ranked) + 1) // 2)  # a step with few rollouts splits them evenly
    best = _spread(ranked, n_best)
    rest = [r for r in ranked if not any(r is b for b in best)]
    worst = _spread(rest[::-1], min(_PER_KIND, len(rest)))[::-1]
    return [("best", r) for r in best] + [("worst", r) for r in worst]


def _spread(ranked: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The first n rows of a ranking by reward; among equal rewards, tasks not shown yet come first."""
    picked, tasks, remaining = [], set(), list(ranked)
    while remaining and len(picked) < n:
        top = number(remaining[0].get("reward"))
        tied = [r for r in remaining if number(r.get("reward")) == top]
        row = next((r for r in tied if r.get("task_id") not in tasks), tied[0])
        picked.append(row)
        tasks.add(row.get("task_id"))
        remaining = [r for r in remaining if r is not row]
    return picked


def _sample(kind: str, row: dict[str, Any]) -> str:
    text = str(row.get("text", ""))
    clipped = text if len(text) <= _MAX_CHARS else text[:_MAX_CHARS] + f"\n… ({len(text) - _MAX_CHARS} more characters)"
    facts = [f"reward <b>{f3(row.get('reward'))}</b>", f"reason <code>{e(row.get('reason', ''))}</code>"]
    if number(row.get("advantage")) is not None:
        facts.append(f"advantage {signed(row.get('advantage'))}")
    if number(row.get("tokens")) is not None:
        facts.append(f"{row['tokens']:g} tokens" + (" (truncated)" if row.get("truncated") else ""))
    if row.get("kept") is False:
        facts.append("not trained on")
    facts.append(f"task <code>{e(row.get('task_id', ''))}</code> sample {e(row.get('sample', ''))}")
    turns = row.get("turns")
    if isinstance(turns, list) and turns:
        facts.append(f"episode of {sum(isinstance(t, dict) and t.get('role') == 'assistant' for t in turns)} turns, "
                     f"ended by {e(row.get('stop', '?'))}")
        body = episode_html(turns)
    else:
        body = f"<pre>{e(clipped)}</pre>"
    return f'<p class="sample-head"><span class="tag {kind}">{kind}</span> ' + " · ".join(facts) + "</p>" + body


_TOOL_CALL = re.compile(r"(<tool_call>.*?(?:</tool_call>|$))", re.DOTALL)


def episode_html(turns: list[Any]) -> str:
    """An episode turn by turn: what the policy wrote (its tool calls marked) apart from what the environment
    answered (observations framed differently), each turn clipped on its own."""
    blocks, answered = [], False
    for turn in turns:
        if not isinstance(turn, dict):
            continue
        role, text = str(turn.get("role", "?")), str(turn.get("text", ""))
        observation = answered and role != "assistant"  # what came back after the policy's first turn
        answered |= role == "assistant"
        if len(text) > _MAX_CHARS:
            text = text[:_MAX_CHARS] + f"\n… ({len(text) - _MAX_CHARS} more characters)"
        shown = "".join(f'<span class="toolcall">{e(part)}</span>' if part.startswith("<tool_call>") and
                        role == "assistant" else e(part) for part in _TOOL_CALL.split(text))
        label = role + (" (cut by the token limit)" if turn.get("truncated") else "")
        blocks.append(f'<div class="turn{" observation" if observation else ""}"><p class="role">{e(label)}</p>'
                      f"<pre>{shown}</pre></div>")
    return "".join(blocks)
