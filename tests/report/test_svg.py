"""The hand-drawn SVG charts: data points land where the axes say, ticks are round, text is escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from rlvr.report.svg import (Bars, Dots, Marker, Series, bar_chart, format_tick, line_chart, message_chart,
                             nice_ticks, scatter_chart)


def _plot_area(root: ET.Element) -> tuple[float, float, float, float]:
    rect = next(r for r in root.iter("rect") if r.get("class") == "plot-area")
    return tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))


def _polyline(root: ET.Element, label: str) -> list[tuple[float, float]]:
    line = next(p for p in root.iter("polyline") if p.get("data-label") == label)
    return [tuple(map(float, pair.split(","))) for pair in line.get("points").split()]


def test_points_map_linearly_into_the_plot_area():
    svg = line_chart([Series("a", [(0, 0.0), (5, 0.5), (10, 1.0)]), Series("b", [(0, 1.0), (10, 0.25)])],
                     y_range=(0.0, 1.0), x_integer=False)
    root = ET.fromstring(svg)
    left, top, width, height = _plot_area(root)
    bottom, right = top + height, left + width
    a = _polyline(root, "a")
    assert a[0] == pytest.approx((left, bottom), abs=0.06)  # (0, 0): bottom-left corner
    assert a[1] == pytest.approx((left + width / 2, top + height / 2), abs=0.06)  # (5, 0.5): the middle
    assert a[2] == pytest.approx((right, top), abs=0.06)  # (10, 1): top-right corner
    assert _polyline(root, "b")[1] == pytest.approx((right, top + 0.75 * height), abs=0.06)


def test_log_x_axis_spaces_powers_of_two_evenly_and_ticks_them():
    root = ET.fromstring(line_chart([Series("p", [(k, k / 8) for k in range(1, 9)])], x_log=True))
    xs = [x for x, _ in _polyline(root, "p")]
    assert xs[1] - xs[0] == pytest.approx(xs[3] - xs[1], abs=0.15) == pytest.approx(xs[7] - xs[3], abs=0.15)
    labels = [t.text for t in root.iter("text")]
    assert {"1", "2", "4", "8"} <= set(labels) and "3" not in labels


def test_missing_values_break_the_line_and_markers_are_labelled():
    series = Series("m", [(1, 1.0), (2, 2.0), (3, None), (4, 4.0), (5, float("nan")), (6, 6.0), (7, 7.0)])
    root = ET.fromstring(line_chart([series], markers=[Marker(4, "4: kl_blowup"), Marker(4.2, "4.2: close")]))
    runs = [p for p in root.iter("polyline") if p.get("data-label") == "m"]
    assert len(runs) == 2  # (1, 2) and (6, 7); the lone point 4 is a dot only
    assert len([c for c in root.iter("circle")]) == 5
    marker_texts = [t for t in root.iter("text") if t.text in ("4: kl_blowup", "4.2: close")]
    assert len(marker_texts) == 2
    assert marker_texts[0].get("y") != marker_texts[1].get("y")  # close markers stack instead of overlapping


def test_text_is_escaped_and_the_svg_stays_well_formed():
    svg = line_chart([Series("<script>alert(1)</script> & co", [(1, 1), (2, 2)])], title="a < b")
    assert "<script>" not in svg
    root = ET.fromstring(svg)
    assert any(t.text == "<script>alert(1)</script> & co" for t in root.iter("text"))


def test_bar_chart_bars_start_at_zero_and_point_the_right_way():
    root = ET.fromstring(bar_chart(["real", "random"], [Bars("gain", [0.5, -0.25])]))
    left, top, width, height = _plot_area(root)
    up, down = [r for r in root.iter("rect") if r.get("class") == "bar"]
    zero = float(up.get("y")) + float(up.get("height"))
    assert float(down.get("y")) == pytest.approx(zero, abs=0.06)  # the negative bar hangs from the zero line
    assert float(up.get("height")) == pytest.approx(2 * float(down.get("height")), abs=0.2)
    assert top <= float(up.get("y")) and zero + float(down.get("height")) <= top + height + 0.06


@pytest.mark.parametrize("lo, hi, expected", [
    (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0.08, 2.26, [0, 0.5, 1.0, 1.5, 2.0, 2.5]),
    (42, 181, [0, 50, 100, 150, 200]),
    (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),  # a flat series still gets an axis
])
def test_nice_ticks_cover_the_range_with_round_steps(lo, hi, expected):
    assert nice_ticks(lo, hi) == pytest.approx(expected)


def test_tick_labels_have_the_decimals_the_step_needs():
    assert [format_tick(v, 0.25) for v in (0, 0.25, 1)] == ["0", "0.25", "1.00"]
    assert [format_tick(v, 50) for v in (0, 150)] == ["0", "150"]


# ---------------------------------------------------------------------------------------------
# Whiskers, the per-task scatter and the "not computed" frame


def test_whiskers_span_the_interval_and_the_axis_makes_room_for_them():
    root = ET.fromstring(bar_chart(["real", "random"], [Bars("gain", [0.1, 0.2], [(-0.3, 0.5), None])]))
    left, top, width, height = _plot_area(root)
    (whisker,) = [g for g in root.iter("g") if g.get("class") == "whisker"]  # the bar without an interval has none
    stem = next(whisker.iter("line"))
    ys = sorted(float(stem.get(k)) for k in ("y1", "y2"))
    bar = next(r for r in root.iter("rect") if r.get("class") == "bar")
    zero = float(bar.get("y")) + float(bar.get("height"))
    per_unit = float(bar.get("height")) / 0.1
    assert ys[0] == pytest.approx(zero - 0.5 * per_unit, abs=0.3)  # hi = +0.5
    assert ys[1] == pytest.approx(zero + 0.3 * per_unit, abs=0.3)  # lo = -0.3, below the zero line
    assert top <= ys[0] and ys[1] <= top + height  # inside the plot area although the bars end at 0.2
    assert "[-0.300, +0.500]" in whisker.find("title").text


def test_scatter_draws_one_circle_per_point_and_the_diagonal_through_the_corners():
    points = [(0.2, 0.6, "gained"), (0.8, 0.3, "lost"), (0.5, 0.5, "same"), (0.5, 0.5, "same too")]
    root = ET.fromstring(scatter_chart([Dots("tasks", points)], title="per task"))
    left, top, width, height = _plot_area(root)
    circles = [c for c in root.iter("circle") if c.get("class") == "point"]
    assert len(circles) == 4  # stacked points are two circles, not one
    diagonal = next(line for line in root.iter("line") if line.get("class") == "diagonal")
    assert (float(diagonal.get("x1")), float(diagonal.get("y1"))) == pytest.approx((left, top + height), abs=0.06)
    assert (float(diagonal.get("x2")), float(diagonal.get("y2"))) == pytest.approx((left + width, top), abs=0.06)
    assert width == pytest.approx(height, abs=0.06)  # square: the diagonal is y = x

    def side(circle: ET.Element) -> float:  # > 0 above the diagonal (in SVG, y grows downwards)
        x = (float(circle.get("cx")) - left) / width
        y = (top + height - float(circle.get("cy"))) / height
        return y - x

    gained, lost, same = (next(c for c in circles if c.find("title").text.startswith(n)) for n in ("gained", "lost",
                                                                                                    "same:"))
    assert side(gained) > 0.3 and side(lost) < -0.4 and side(same) == pytest.approx(0, abs=0.01)
    assert [t.text for t in root.iter("text") if t.get("class") == "stack"] == ["2"]  # the two on (0.5, 0.5)


def test_message_chart_says_why_there_is_no_line():
    root = ET.fromstring(message_chart("KL to the reference", "KL not computed (beta = 0) & <none>"))
    assert [t.text for t in root.iter("text")] == ["KL to the reference", "KL not computed (beta = 0) & <none>"]
    assert not list(root.iter("polyline")) and not list(root.iter("circle"))
