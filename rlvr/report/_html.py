"""HTML building blocks of the report: escaping, number formats, tables, notes, and the page style."""

from __future__ import annotations

import html
from typing import Any, Collection, Sequence

from rlvr.report._load import number


def e(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute. Every string from a run goes through here."""
    return html.escape(str(value), quote=True)


def f3(value: Any) -> str:
    v = number(value)
    return "–" if v is None else f"{v:.3f}"


def signed(value: Any) -> str:
    v = number(value)
    return "–" if v is None else f"{v:+.3f}"


def interval(pair: Any, sign: bool = False) -> str:
    """'[0.815, 0.974]' on its own line from a two-number list, or '' when there is none."""
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or None in map(number, pair):
        return ""
    fmt = signed if sign else f3
    return f'<br><span class="ci">[{fmt(pair[0])}, {fmt(pair[1])}]</span>'


_NUM = ' class="num"'


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Collection[int] | None = None) -> str:
    """A table of HTML cells (escape text before passing it); `numeric` columns (default: all but the
    first) align right in tabular figures."""
    right = set(range(1, len(header))) if numeric is None else set(numeric)

    def cells(tag: str, row: Sequence[str]) -> str:
        return "".join(f"<{tag}{_NUM if i in right else ''}>{cell}</{tag}>" for i, cell in enumerate(row))

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    head = f"<thead><tr>{cells('th', header)}</tr></thead>"
    return f'<div class="scroll"><table>{head}<tbody>{body}</tbody></table></div>'


def note(text: str, kind: str = "note") -> str:
    """One line of plain text: 'note' (grey), 'warn' (amber) or 'bad' (red)."""
    return f'<p class="{kind}">{e(text)}</p>'


def figure(svg: str, caption: str = "", narrow: bool = False) -> str:
    """A chart with an optional caption; narrow ones keep a readable size when they stand alone."""
    caption_html = f"<figcaption>{e(caption)}</figcaption>" if caption else ""
    return f'<figure class="{"narrow" if narrow else ""}">{svg}{caption_html}</figure>'


STYLE = """
:root { --ink: #1d1d1f; --muted: #5f6368; --line: #e3e3e3; --good: #1e7b34; --warn: #a05a00; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 28px 28px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
p { margin: 6px 0; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
nav { margin: 10px 0 4px; color: var(--muted); }
nav a { color: #0b57d0; text-decoration: none; margin-right: 14px; }
.sub { color: var(--muted); margin: 0 0 12px; }
.verdict { border-left: 5px solid #888; background: #f5f5f5; padding: 10px 14px; margin: 12px 0; font-size: 16px; }
.verdict.good { border-color: var(--good); background: #eef7f0; }
.verdict.warn { border-color: var(--warn); background: #fff6e6; }
.verdict.bad { border-color: var(--bad); background: #fdeeee; }
.verdict.good, .verdict.warn, .verdict.bad { color: var(--ink); font-weight: 400; }
.scroll { overflow-x: auto; }
figure.narrow { max-width: 600px; }
.note { color: var(--muted); font-style: italic; }
.good { color: var(--good); font-weight: 600; }
.warn { color: var(--warn); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
.warnings { border: 1px solid #e8b04a; background: #fff8e8; padding: 8px 14px 8px 30px; margin: 10px 0; }
.warnings li { margin: 3px 0; }
dl.config { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.config dt { color: var(--muted); }
dl.config dd { margin: 0; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 14px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #f7f7f7; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ci { color: var(--muted); font-size: 12px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 14px 22px;
  align-items: start; }
figure { margin: 0; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 2px; }
details { margin: 8px 0; }
summary { cursor: pointer; color: var(--muted); }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f6f6; border: 1px solid var(--line);
  padding: 8px 10px; margin: 4px 0 12px; max-height: 16em; overflow: auto; }
.sample-head { font-size: 13px; color: var(--muted); margin-top: 10px; }
.sample-head b { color: var(--ink); }
.tag { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px; font-weight: 600; }
.tag.best { background: #e3f1e6; color: var(--good); }
.tag.worst { background: #fbe4e3; color: var(--bad); }
.turn { margin: 0 0 6px; }
.turn .role { font-size: 12px; color: var(--muted); margin: 2px 0 0; }
.turn pre { margin: 0 0 4px; }
.turn.observation pre { background: #eef3fb; border-style: dashed; }
.toolcall { background: #fff4d6; outline: 1px solid #e8cf8a; }
"""
