"""Small SVG charts drawn by hand, for a report that must open offline (no plotting library, no script).

    line_chart([Series("reward", [(1, 0.1), (2, 0.4)])], title="Reward", markers=[Marker(2, "step 2: kl")])
    bar_chart(["real", "random"], [Bars("pass@1 gain", [0.4, 0.1], [(0.3, 0.5), (-0.1, 0.3)])], title="Gains")
    scatter_chart([Dots("strict", [(0.2, 0.5, "task-1")])], title="Per task", x_label="base", y_label="trained")
    message_chart("KL to the reference", "KL not computed (beta = 0)")

Each returns one `<svg>` element as a string (well-formed XML, every text escaped) that scales to
its container. The plot area is a `<rect class="plot-area">`; data coordinates map linearly into it
(or by log2 on the x axis with `x_log=True`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Callable, Sequence

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#555555", "#F0E442")
MARKER_COLOR = "#C0392B"
FONT = 12
_CHAR_W = 0.58 * FONT  # average glyph width of a sans-serif font, to lay out labels without measuring


@dataclass(frozen=True)
class Series:
    """One line: (x, y) points in x order; a y of None or NaN breaks the line."""

    label: str
    points: Sequence[tuple[float, float | None]]
    color: str | None = None
    dashed: bool = False


@dataclass(frozen=True)
class Marker:
    """A labelled vertical line at x (a health warning, a checkpoint)."""

    x: float
    label: str


@dataclass(frozen=True)
class Bars:
    """One bar per group, in group order; `intervals` (lo, hi) per bar, or None for one without, draw whiskers."""

    label: str
    values: Sequence[float | None]
    intervals: Sequence[tuple[float, float] | None] | None = None
    color: str | None = None


@dataclass(frozen=True)
class Dots:
    """Scatter points (x, y, name); the name is the point's hover title."""

    label: str
    points: Sequence[tuple[float, float, str]]
    color: str | None = None


@dataclass(frozen=True)
class _Frame:
    """Where the plot area sits in the SVG and how data values map into it."""

    left: float
    top: float
    width: float
    height: float
    x_domain: tuple[float, float]
    y_domain: tuple[float, float]
    x_log: bool = False

    def x(self, value: float) -> float:
        lo, hi = self.x_domain
        if self.x_log:
            value, lo, hi = math.log2(value), math.log2(lo), math.log2(hi)
        return self.left + (value - lo) / (hi - lo) * self.width

    def y(self, value: float) -> float:
        lo, hi = self.y_domain
        return self.top + self.height - (value - lo) / (hi - lo) * self.height


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering [lo, hi], about `count` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-12:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad if lo != 0 else 0.0, hi + pad
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= 0.8 * raw)
    if integer:
        step = max(1.0, round(step))
    first = math.floor(lo / step + 1e-9)
    ticks = [round(first * step, 12)]
    while ticks[-1] < hi - step * 1e-9 or len(ticks) < 2:
        ticks.append(round((first + len(ticks)) * step, 12))  # multiply, not add: no drift
    return ticks


def format_tick(value: float, step: float) -> str:
    """A tick label with as many decimals as the tick spacing needs."""
    if abs(value) >= 10_000:
        return f"{value:.3g}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    if step > 0 and not math.isclose(step * 10**decimals, round(step * 10**decimals)):
        decimals += 1  # 0.25 needs two decimals
    text = f"{value:.{decimals}f}"
    return "0" if text.strip("-0.") == "" else text


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = FONT, fill: str = "#222",
          extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"{extra}>'
            f"{escape(content)}</text>")


def _text_width(content: str, size: int = FONT) -> float:
    return len(content) * _CHAR_W * size / FONT


def _legend(items: Sequence[tuple[str, str, bool]], left: float, top: float, width: float) -> tuple[list[str], float]:
    """Legend entries (label, colour, dashed) laid out in rows from (left, top); returns parts and height."""
    parts, x, y = [], left, top
    for label, color, dashed in items:
        item_w = 22 + _text_width(label) + 16
        if x > left and x + item_w > left + width:
            x, y = left, y + FONT + 6
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        parts.append(f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 18:.1f}" y2="{y - 4:.1f}" stroke="{color}" '
                     f'stroke-width="2.5"{dash}/>')
        parts.append(_text(x + 22, y, label))
        x += item_w
    return parts, y - top + FONT + 6


def _frame_box(title: str, legend_items: Sequence[tuple[str, str, bool]], width: int, height: int,
               x_label: str, y_label: str, y_ticks: Sequence[str]) -> tuple[list[str], float, float, float, float]:
    """Title and legend at the top; returns those parts and the plot area (left, top, width, height)."""
    parts: list[str] = []
    top = 8.0
    if title:
        parts.append(_text(8, top + FONT + 2, title, size=FONT + 2, extra=' font-weight="600"'))
        top += FONT + 10
    left = 14 + max((_text_width(t) for t in y_ticks), default=0) + (18 if y_label else 0)
    right = 16.0
    legend, legend_h = _legend(legend_items, left, top + FONT + 2, width - left - right)
    parts += legend
    top += legend_h + 8
    bottom = 24 + (FONT + 6 if x_label else 0)
    return parts, left, top, width - left - right, height - top - bottom


def _axes(frame: _Frame, x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[tuple[float, str]],
          x_label: str, y_label: str) -> list[str]:
    """Grid lines, tick labels and axis titles."""
    parts = [f'<rect class="plot-area" x="{frame.left:.1f}" y="{frame.top:.1f}" width="{frame.width:.1f}" '
             f'height="{frame.height:.1f}" fill="#fcfcfc" stroke="#bbb"/>']
    bottom = frame.top + frame.height
    for value, label in y_ticks:
        y = frame.y(value)
        parts.append(f'<line x1="{frame.left:.1f}" y1="{y:.1f}" x2="{frame.left + frame.width:.1f}" y2="{y:.1f}" '
                     'stroke="#e6e6e6"/>')
        parts.append(_text(frame.left - 6, y + 4, label, anchor="end", fill="#555"))
    for value, label in x_ticks:
        x = frame.x(value)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom:.1f}" x2="{x:.1f}" y2="{bottom + 4:.1f}" stroke="#888"/>')
        parts.append(_text(x, bottom + FONT + 5, label, anchor="middle", fill="#555"))
    if x_label:
        parts.append(_text(frame.left + frame.width / 2, bottom + 2 * FONT + 10, x_label, anchor="middle",
                           fill="#444"))
    if y_label:
        cx, cy = 4 + FONT, frame.top + frame.height / 2
        parts.append(_text(cx, cy, y_label, anchor="middle", fill="#444",
                           extra=f' transform="rotate(-90 {cx:.1f} {cy:.1f})"'))
    return parts


def _svg(width: int, height: int, title: str, parts: list[str]) -> str:
    label = escape(title or "chart")
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="{label}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">'
            + "".join(parts) + "</svg>")


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _y_ticks(values: Sequence[float], y_range: tuple[float, float] | None) -> list[float]:
    if y_range is not None:
        return nice_ticks(*y_range)
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if lo > 0 and lo < 0.3 * hi:
        lo = 0.0  # a scale that starts at zero reads honestly unless the data sit far from it
    return nice_ticks(lo, hi)


def _x_ticks(lo: float, hi: float, log: bool, integer: bool) -> list[float]:
    if log:
        return [2.0**p for p in range(math.floor(math.log2(lo)), math.ceil(math.log2(hi)) + 1)
                if lo <= 2.0**p <= hi]
    return [t for t in nice_ticks(lo, hi, count=6, integer=integer) if lo - 1e-9 <= t <= hi + 1e-9]


def _labelled(ticks: Sequence[float], fmt: Callable[[float, float], str]) -> list[tuple[float, str]]:
    step = min((b - a for a, b in zip(ticks, ticks[1:])), default=1.0)
    return [(t, fmt(t, step)) for t in ticks]


def line_chart(
    series: Sequence[Series],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    markers: Sequence[Marker] = (),
    y_range: tuple[float, float] | None = None,
    x_log: bool = False,
    x_integer: bool = True,
    width: int = 540,
    height: int = 280,
) -> str:
    """Lines over a shared x axis, with ticks, a legend and labelled vertical markers.

    y_range fixes the y axis (e.g. (0, 1) for shares); otherwise it covers the data with round
    ticks. x_log spaces x by log2 (pass@k over k = 1, 2, 4, ...). Points are drawn as dots with
    a hover title when there are few enough to tell apart.
    """
    xs = [x for s in series for x, y in s.points if _finite(y)] + [m.x for m in markers]
    ys = [y for s in series for _, y in s.points if _finite(y)]
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x_hi - x_lo < 1e-12:
        x_lo, x_hi = (x_lo / 2, x_hi * 2) if x_log else (x_lo - 1, x_hi + 1)
    y_ticks = _y_ticks(ys, y_range)
    y_labels = _labelled(y_ticks, format_tick)
    colors = [s.color or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]
    parts, left, top, plot_w, plot_h = _frame_box(
        title, [(s.label, c, s.dashed) for s, c in zip(series, colors)], width, height, x_label, y_label,
        [label for _, label in y_labels])
    frame = _Frame(left, top, plot_w, plot_h, (x_lo, x_hi), (y_ticks[0], y_ticks[-1]), x_log)
    x_labels = _labelled(_x_ticks(x_lo, x_hi, x_log, x_integer), format_tick)
    parts += _axes(frame, x_labels, y_labels, x_label, y_label)
    parts += _marker_parts(frame, markers)
    n_points = sum(len(s.points) for s in series)
    for s, color in zip(series, colors):
        parts += _line_parts(frame, s, color, dots=n_points <= 120)
    return _svg(width, height, title, parts)


def _line_parts(frame: _Frame, series: Series, color: str, dots: bool) -> list[str]:
    parts, run = [], []
    dash = ' stroke-dasharray="6 4"' if series.dashed else ""
    label = escape(series.label)
    for x, y in [*series.points, (math.nan, None)]:  # the sentinel flushes the last run
        if _finite(y):
            run.append((frame.x(x), frame.y(y)))
            if dots:
                parts.append(f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="2.6" fill="{color}">'
                             f"<title>{label}: {escape(f'{x:g}')}, {y:.4g}</title></circle>")
            continue
        if len(run) > 1:
            coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
            parts.insert(0, f'<polyline class="series" data-label="{label}" points="{coords}" fill="none" '
                            f'stroke="{color}" stroke-width="2" stroke-linejoin="round"{dash}/>')
        run = []
    return parts


def _marker_parts(frame: _Frame, markers: Sequence[Marker]) -> list[str]:
    """Dashed vertical lines; labels stack in up to three rows so that neighbours do not overlap. With
    more than six markers, or no room left, a line goes unlabelled: labels would hide the data."""
    parts: list[str] = []
    label_all = len(markers) <= 6
    row_ends: list[float] = []  # right edge of the last label in each row
    right_edge = frame.left + frame.width
    for marker in sorted(markers, key=lambda m: m.x):
        x = frame.x(marker.x)
        parts.append(f'<line class="marker" x1="{x:.1f}" y1="{frame.top:.1f}" x2="{x:.1f}" '
                     f'y2="{frame.top + frame.height:.1f}" stroke="{MARKER_COLOR}" stroke-width="1.5" '
                     f'stroke-dasharray="4 3"/>')
        label_w = _text_width(marker.label, FONT - 1)
        flip = x + 4 + label_w > right_edge  # no room on the right: write it leftwards of the line
        start, end = (x - 4 - label_w, x - 4) if flip else (x + 4, x + 4 + label_w)
        row = next((i for i, edge in enumerate(row_ends) if start > edge + 6), len(row_ends))
        y = frame.top + 14 + row * (FONT + 3)
        if not label_all or row >= 3 or y > frame.top + frame.height - 4:
            continue
        if row == len(row_ends):
            row_ends.append(end)
        row_ends[row] = end
        parts.append(_text(end if flip else start, y, marker.label, anchor="end" if flip else "start",
                           size=FONT - 1, fill=MARKER_COLOR,
                           extra=' stroke="#fcfcfc" stroke-width="3" paint-order="stroke"'))
    return parts


def bar_chart(
    groups: Sequence[str],
    bars: Sequence[Bars],
    *,
    title: str = "",
    y_label: str = "",
    value_format: str = "{:+.3f}",
    width: int = 540,
    height: int = 280,
) -> str:
    """Grouped bars (one group per name, one bar per `Bars` in each) from a zero line, labelled with values,
    with a whisker over each bar that has an interval."""
    values = [v for b in bars for v in [*b.values, *(end for i in b.intervals or () if i for end in i)]
              if _finite(v)]
    # 15 % headroom keeps the value labels of the tallest bars inside the plot area.
    y_ticks = nice_ticks(1.15 * min([0.0, *values]), 1.15 * max([0.0, *values]))
    y_labels = _labelled(y_ticks, format_tick)
    colors = [b.color or PALETTE[i % len(PALETTE)] for i, b in enumerate(bars)]
    parts, left, top, plot_w, plot_h = _frame_box(
        title, [(b.label, c, False) for b, c in zip(bars, colors)], width, height, "", y_label,
        [label for _, label in y_labels])
    frame = _Frame(left, top, plot_w, plot_h, (0.0, float(max(len(groups), 1))), (y_ticks[0], y_ticks[-1]))
    parts += _axes(frame, [(i + 0.5, name) for i, name in enumerate(groups)], y_labels, "", y_label)
    zero = frame.y(0.0)
    slot = frame.width / max(len(groups), 1)
    bar_w = 0.7 * slot / max(len(bars), 1)
    for j, (b, color) in enumerate(zip(bars, colors)):
        for i, value in enumerate(b.values):
            if not _finite(value):
                continue
            x = frame.left + i * slot + 0.15 * slot + j * bar_w
            y = frame.y(value)
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{min(y, zero):.1f}" width="{bar_w - 2:.1f}" '
                         f'height="{abs(zero - y):.1f}" fill="{color}"><title>{escape(groups[i])}, '
                         f'{escape(b.label)}: {value:.4g}</title></rect>')
            ci = b.intervals[i] if b.intervals and i < len(b.intervals) else None
            if ci is not None and _finite(ci[0]) and _finite(ci[1]):
                parts += _whisker(frame, x + (bar_w - 2) / 2, ci, escape(f"{groups[i]}, {b.label}"))
                y = min(y, frame.y(max(ci))) if value >= 0 else max(y, frame.y(min(ci)))  # the label clears it
            label_y = y - 4 if value >= 0 else y + FONT + 2
            text = value_format.format(value)
            size = FONT - 1 if _text_width(text, FONT - 1) <= bar_w else FONT - 3  # narrow bars: smaller labels
            parts.append(_text(x + (bar_w - 2) / 2, label_y, text, anchor="middle", size=size, fill="#333"))
    parts.append(f'<line x1="{frame.left:.1f}" y1="{zero:.1f}" x2="{frame.left + frame.width:.1f}" y2="{zero:.1f}" '
                 'stroke="#333"/>')
    return _svg(width, height, title, parts)


def _whisker(frame: _Frame, x: float, interval: tuple[float, float], label: str) -> list[str]:
    """A vertical line from lo to hi with short caps: the bar's 95 % interval."""
    lo, hi = frame.y(min(interval)), frame.y(max(interval))
    title = f"<title>{label}: 95 % interval [{min(interval):+.3f}, {max(interval):+.3f}]</title>"
    return [f'<g class="whisker" stroke="#222" stroke-width="1.3">{title}'
            f'<line x1="{x:.1f}" y1="{lo:.1f}" x2="{x:.1f}" y2="{hi:.1f}"/>'
            f'<line x1="{x - 4:.1f}" y1="{lo:.1f}" x2="{x + 4:.1f}" y2="{lo:.1f}"/>'
            f'<line x1="{x - 4:.1f}" y1="{hi:.1f}" x2="{x + 4:.1f}" y2="{hi:.1f}"/></g>']


def scatter_chart(
    dots: Sequence[Dots],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    diagonal: bool = True,
    notes: Sequence[str] = (),
    width: int = 540,
    height: int = 320,
) -> str:
    """Points on a square 0-1 by 0-1 plot (shares such as per-task pass rates), with the y = x diagonal:
    above it y is larger than x. One translucent circle per point; points on the same spot read darker
    and are counted beside it. `notes`, lines of text (counts, say), fill the room right of the square."""
    ticks = nice_ticks(0.0, 1.0)
    labels = _labelled(ticks, format_tick)
    colors = [d.color or PALETTE[i % len(PALETTE)] for i, d in enumerate(dots)]
    parts, left, top, plot_w, plot_h = _frame_box(
        title, [(d.label, c, False) for d, c in zip(dots, colors)], width, height, x_label, y_label,
        [label for _, label in labels])
    side = min(plot_w, plot_h)  # square: the diagonal at 45 degrees
    frame = _Frame(left, top, side, side, (0.0, 1.0), (0.0, 1.0))
    parts += _axes(frame, labels, labels, x_label, y_label)
    if diagonal:
        parts.append(f'<line class="diagonal" x1="{frame.x(0):.1f}" y1="{frame.y(0):.1f}" x2="{frame.x(1):.1f}" '
                     f'y2="{frame.y(1):.1f}" stroke="#888" stroke-dasharray="5 4"/>')
    for d, color in zip(dots, colors):
        stacks: dict[tuple[float, float], int] = {}  # points drawn on the same spot
        for x, y, name in d.points:
            if _finite(x) and _finite(y):
                parts.append(f'<circle class="point" cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="4.5" '
                             f'fill="{color}" fill-opacity="0.45" stroke="{color}">'
                             f"<title>{escape(name)}: {x:.3g} → {y:.3g}</title></circle>")
                spot = (round(frame.x(x)), round(frame.y(y)))
                stacks[spot] = stacks.get(spot, 0) + 1
        parts += [_text(cx + 7, cy - 5, f"{n}", size=FONT - 2, fill="#333", extra=' class="stack"')
                  for (cx, cy), n in stacks.items() if n > 1]  # how many points a darker circle hides
    for i, line in enumerate(notes):
        parts.append(_text(left + side + 24, top + FONT + 4 + i * (FONT + 8), line, fill="#333",
                           extra=' class="count"'))
    return _svg(width, height, title, parts)


def message_chart(title: str, message: str, *, width: int = 540, height: int = 280) -> str:
    """A chart's frame with a sentence where the data would be: for a quantity that was not computed,
    which a line at zero would misreport as measured and found to be zero."""
    parts, left, top, plot_w, plot_h = _frame_box(title, [], width, height, "", "", [])
    parts.append(f'<rect class="plot-area" x="{left:.1f}" y="{top:.1f}" width="{plot_w:.1f}" height="{plot_h:.1f}" '
                 'fill="#f6f6f6" stroke="#bbb" stroke-dasharray="4 3"/>')
    parts.append(_text(left + plot_w / 2, top + plot_h / 2 + FONT / 3, message, anchor="middle", size=FONT + 1,
                       fill="#555", extra=' class="message"'))
    return _svg(width, height, title, parts)
