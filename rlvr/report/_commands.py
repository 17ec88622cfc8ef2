"""What the commands show of their results: the distillation yield, the release gate's rules, and the
pipeline's page. The workflows compute, these functions render, so `rlvr distill`, `rlvr gate` and the
pipeline's stages print the same lines."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any


def format_yield(stats: dict[str, Any]) -> str:
    """One line: tasks with at least one kept completion, and completions kept of those sampled."""
    tasks, sampled = max(stats["tasks"], 1), max(stats["sampled"], 1)
    return (f"yield: {stats['tasks_with_kept']} of {stats['tasks']} tasks have a kept completion "
            f"({stats['tasks_with_kept'] / tasks:.1%}); kept {stats['kept']} of {stats['sampled']} sampled "
            f"completions ({stats['kept'] / sampled:.1%}; {stats['passed']} passed, keep={stats['keep']})")


def format_gate(results: list[dict[str, Any]]) -> str:
    """One line per rule (PASS or FAIL, the metric, why), then whether the candidate ships."""
    lines = [f"  {'PASS' if r['passed'] else 'FAIL'}  {r['metric']:<20} {r['detail']}" for r in results]
    failed = sum(not r["passed"] for r in results)
    lines += ["", f"{'does not ship' if failed else 'ships'}: {len(results) - failed} of {len(results)} rules pass"]
    return "\n".join(lines)


_PRODUCTS = ("model", "dataset", "eval", "compare", "gate", "report")  # a stage's outputs that are files


def pipeline_page(root: Path, state: dict[str, Any]) -> str:
    """One page: every stage with what it produced, the comparisons and gates, links to the GRPO reports.

    state: the pipeline's state (`rlvr.workflows.pipeline.run_pipeline`): its final `model`, `shipped`
    (None without a gate) and `stages`, each the stage's outputs with its `number` and `kind`.
    """
    rows = []
    for s in state["stages"]:
        produced = []
        for key in _PRODUCTS:
            if s.get(key):
                target = Path(s[key])
                link = target.relative_to(root) if target.is_relative_to(root) else target
                produced.append(f'{key}: <a href="{escape(str(link))}">{escape(str(link))}</a>')
        rows.append(f"<tr><td>{s['number']}</td><td>{s['kind']}</td><td>{'<br>'.join(produced)}</td>"
                    f"<td>{'<br>'.join(_stage_result(s))}</td></tr>")
    verdict = {None: "no gate", True: "ships", False: "does not ship"}[state["shipped"]]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>rlvr pipeline</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:6px;text-align:left;
vertical-align:top}}</style></head><body><h1>rlvr pipeline: {escape(str(root))}</h1>
<p>final model: <code>{escape(state['model'])}</code>; release gate: <b>{verdict}</b></p>
<table><tr><th>#</th><th>stage</th><th>wrote</th><th>result</th></tr>{''.join(rows)}</table></body></html>"""


def _stage_result(s: dict[str, Any]) -> list[str]:
    """The result column of one stage: pass rates, verdicts, the gate's decision, the kept count."""
    if s["kind"] == "eval":
        return [f"{escape(n)}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()) for n, m in s["summary"].items()]
    if s["kind"] == "compare":
        lines = [f"{escape(n)}: {escape(v.replace('_', ' '))}" for n, v in s["verdicts"].items()]
        return lines + ([f"<b>warning</b>: {escape(s['warning'])}"] if s.get("warning") else [])
    if s["kind"] == "gate":
        return ["ships" if s["shipped"] else "<b>does not ship</b>: " + escape(", ".join(s["failed"]))]
    if s["kind"] == "distill":
        return [f"{s['kept']} completions kept"]
    return []
