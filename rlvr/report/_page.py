"""The report page: header with the verdict, then one section per kind of data the run holds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from rlvr._errors import ConfigError
from rlvr._io import atomic_write, check_not_input
from rlvr.monitor.health import DIVERGENCE
from rlvr.report._html import STYLE, e, note
from rlvr.report._load import Run, load_run, run_files
from rlvr.report._results import (
    VERDICT_CLASS,
    SetComparison,
    audit_section,
    boundary_section,
    collapse_warning,
    compare_sets,
    eval_section,
    spurious_section,
    verdict_sentence,
)
from rlvr.report._training import health_warnings, samples_section, training_section
from rlvr.rundir import RunDir

_SECTIONS = [("training", "Training"), ("eval", "Held-out evaluation"), ("boundary", "Reasoning boundary"),
             ("spurious", "Spurious-reward controls"),
             ("audit", "Verifier audit"), ("samples", "Example rollouts")]


def build_report(run_dir: str | os.PathLike) -> str:
    """The HTML report of a run directory, as one self-contained page (inline SVG, no script, no URL).

    metrics.jsonl is required; every other file (config.yaml, health.jsonl, samples.jsonl,
    eval/base.json and eval/final.json, spurious.json, audit.json) adds its section when present,
    and a one-line note says what is missing otherwise.
    """
    run = load_run(run_dir)
    comparisons, eval_notes = compare_sets(run)
    body = [
        _header(run, comparisons),
        training_section(run),
        eval_section(comparisons, eval_notes),
        boundary_section(comparisons),
        spurious_section(run.spurious),
        audit_section(run.audit),
        samples_section(run),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>rlvr report: {e(_model(run) or run.path.resolve().name)}</title><style>{STYLE}</style></head>\n"
            "<body><main>\n" + "\n".join(body) + "\n</main></body></html>\n")


def write_report(run_dir: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """Build the report and write it atomically (default RUN_DIR/report.html); returns the path written.
    An output that is one of the files the report reads (-o RUN_DIR/metrics.jsonl) is refused first."""
    path = Path(output) if output is not None else RunDir(run_dir).report
    check_not_input(path, run_files(run_dir), "-o")
    html = build_report(run_dir)
    try:
        atomic_write(path, lambda f: f.write(html))
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}; pick another -o path.") from None
    return path


# ---------------------------------------------------------------------------------------------
# Header


def _model(run: Run) -> str:
    return str((run.config.data or {}).get("model", ""))


def _header(run: Run, comparisons: list[SetComparison]) -> str:
    parts = [f"<header><h1>rlvr report: {e(_model(run) or run.path.resolve().name)}</h1>",
             f'<p class="sub">run directory <code>{e(run.path.resolve())}</code></p>',
             _verdict(run, comparisons), _config(run),
             "<nav>" + "".join(f'<a href="#{anchor}">{e(title)}</a>' for anchor, title in _SECTIONS) + "</nav>"]
    return "".join(parts) + "</header>"


def _verdict(run: Run, comparisons: list[SetComparison]) -> str:
    """The verdict in plain words, from the held-out comparison; warnings that qualify it follow."""
    if not comparisons:
        return '<p class="verdict">No verdict: this run has no base and final evaluation of the same tasks ' \
               "(see Held-out evaluation).</p>"
    worst = max(comparisons, key=lambda c: ("good", "", "warn", "bad").index(VERDICT_CLASS.get(c.result["verdict"],
                                                                                                  "")))
    kind = VERDICT_CLASS.get(worst.result["verdict"], "")
    lines = [e(verdict_sentence(c)) for c in comparisons]
    warning = collapse_warning(comparisons)
    if warning:
        kind, lines = "bad", [*lines, f"<b>{e(warning)}</b>"]
    spurious = run.spurious.data if run.spurious.ok else {}
    if spurious.get("warnings"):
        kind = "bad" if kind == "bad" else "warn"
        lines.append(f"<b>The spurious-reward controls raised {len(spurious['warnings'])} warning(s)</b>: the gain "
                     "may not come from the reward's content (see below).")
    if any(w.get("rule") == DIVERGENCE for w in health_warnings(run)):
        kind = "bad" if kind == "bad" else "warn"
        lines.append("<b>Reward–metric divergence</b>: during training the reward rose while the format-neutral "
                     "pass rate fell (see Training, health warnings).")
    return f'<div class="verdict {kind}"><b>Verdict.</b> ' + "<br>".join(lines) + "</div>"


def _config(run: Run) -> str:
    if not run.config.ok:
        text = "No config.yaml in this run." if run.config.problem == "missing" else run.config.problem
        return note(text, "note" if run.config.problem == "missing" else "warn")
    config = run.config.data
    section = {name: config.get(name) if isinstance(config.get(name), dict) else {}
               for name in ("algo", "optim", "data", "run", "sampling")}
    items = [
        ("model", config.get("model")),
        ("steps", section["run"].get("steps")),
        ("group size", section["algo"].get("group_size")),
        ("prompts per step", section["data"].get("prompts_per_step")),
        ("learning rate", section["optim"].get("lr")),
        ("beta (KL weight)", section["algo"].get("beta")),
        ("max new tokens", section["sampling"].get("max_new_tokens")),
        ("reward", describe_reward(section["data"].get("reward", ""))),
        ("train tasks", section["data"].get("train")),
        ("held-out tasks", section["data"].get("eval")),
    ]
    rows = "".join(f"<dt>{e(name)}</dt><dd>{e(_plain(value))}</dd>" for name, value in items
                   if value not in (None, "", []))
    full = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    return (f'<dl class="config">{rows}</dl>'
            f"<details><summary>full config.yaml</summary><pre>{e(full)}</pre></details>")


def _plain(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def describe_reward(spec: Any) -> str:
    """A verifier spec in one line: 'math', 'math(answer=bare)', '0.2 × format(...) + 0.8 × math(...) [gate]'."""
    if spec in ("", None):
        return "each task's own verifier"
    if isinstance(spec, str):
        return spec
    if not isinstance(spec, dict):
        return str(spec)
    options = {k: v for k, v in spec.items() if k not in ("name", "parts")}
    if spec.get("name") == "compose" and isinstance(spec.get("parts"), list):
        terms = []
        for part in spec["parts"]:
            if isinstance(part, dict):
                gate = " [gate]" if part.get("gate") else ""
                terms.append(f"{_plain(part.get('weight', 1))} × {describe_reward(part.get('verifier'))}{gate}")
        return " + ".join(terms) + (f" ({_options(options)})" if options else "")
    return f"{spec.get('name', '?')}" + (f"({_options(options)})" if options else "")


def _options(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_plain(v)}" for k, v in options.items())
