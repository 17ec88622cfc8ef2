"""The report's MFU panel: mfu/generate and mfu/update drawn on a 0-1 axis, their medians in the timing line."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from rlvr.report import build_report


def _training(page: str) -> str:
    return re.search(r'<section id="training">(.*?)</section>', page, re.S).group(1)


def _run(tmp_path, rows):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def test_the_mfu_of_each_phase_is_drawn_and_summarised(tmp_path):
    rows = [{"step": s, "reward/mean": 0.1 * s, "time/step_s": 10.0, "throughput/tokens_per_s": 100.0,
             "mfu/generate": 0.05 + 0.01 * s, "mfu/update": 0.2} for s in range(1, 6)]
    training = _training(build_report(_run(tmp_path, rows)))
    (svg,) = [s for s in re.findall(r"<svg\b.*?</svg>", training, re.S)
              if 'aria-label="Model FLOPs utilisation"' in s]
    labels = [p.get("data-label") for p in ET.fromstring(svg).iter("polyline")]
    assert labels == ["generation", "update"]
    assert "median MFU 8.0% generating, 20.0% updating" in training


def test_a_run_without_mfu_has_no_panel(tmp_path):
    rows = [{"step": s, "reward/mean": 0.1 * s, "time/step_s": 10.0} for s in range(1, 4)]
    training = _training(build_report(_run(tmp_path, rows)))
    assert "Model FLOPs utilisation" not in training and "MFU" not in training
