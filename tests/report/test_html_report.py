"""`rlvr report`: every section from a synthetic run, escaping, no URLs, missing data, the CLI.

(Named test_html_report.py: tests/audit/test_report.py already owns the module name test_report.)
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from rlvr.cli import main
from rlvr.evaluate import EvalSettings, combine_sets, evaluate
from rlvr.models import Completion, GenerationResult, SamplingParams
from rlvr.report import build_report, write_report
from rlvr.tasks import Task

SCRIPT_TAG = "<script>alert(1)</script>"
VERIFIER = {"name": "math", "answer": "bare", "isolated": False}  # in-process: fast and deterministic


class AnswerEngine:
    """A fake engine: for prompt i it answers `answers(i, j)` as sample j."""

    def __init__(self, answers):
        self.answers = answers

    def generate(self, prompts, params, progress=None):
        completions = [[Completion(self.answers(i, j), [5] * 3, [-0.5] * 3, "stop") for j in range(params.n)]
                       for i in range(len(prompts))]
        return GenerationResult(completions, [[0]] * len(prompts), new_tokens=3 * params.n * len(prompts),
                                seconds=1.0)


def _tasks(prefix: str, n: int = 12) -> list[Task]:
    return [Task(id=f"{prefix}-{i}", prompt=f"What is {i} + {i}?", reference=str(2 * i), verifier=VERIFIER,
                 split="test") for i in range(n)]


def _record(tasks: list[Task], right: int, name: str, source: str) -> dict:
    """A real eval record (runner.evaluate) where `right` of 4 samples of every task are correct."""
    engine = AnswerEngine(lambda i, j: str(2 * i) if j < right else "no idea")
    return evaluate(engine, tasks, EvalSettings(SamplingParams(n=4), bootstrap_resamples=200), model_name=name,
                    tasks_source=source, progress=False)


def _metrics(step: int) -> dict:
    return {"step": step, "reward/mean": 0.1 * step, "reward/std": 0.2, "pass_rate": 0.09 * step,
            "parseable": 0.5 + 0.05 * step, "entropy": 2.0 - 0.3 * step, "kl": 0.01 * step, "clip_frac": 0.02,
            "len/mean": 40.0 - 3 * step, "len/truncated_frac": 0.3 / step, "groups/informative_frac": 0.6,
            "time/step_s": 12.5, "throughput/tokens_per_s": 150.0, "reason/parse_error": 0.5 - 0.05 * step}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _samples(step: int) -> list[dict]:
    texts = [f"The answer is {SCRIPT_TAG} 42", "4", "no idea & <b>bold</b>", "6"]
    return [{"step": step, "rank": 0, "task_id": f"t-{j // 2}", "sample": j % 2, "text": text,
             "reward": float(j % 2), "reason": "ok" if j % 2 else "parse_error", "advantage": 1.0 if j % 2 else -1.0,
             "kept": True, "tokens": 7, "truncated": False} for j, text in enumerate(texts)]


def _spurious() -> dict:
    arms = [{"name": name, "reward": f"{name} reward", "run_dir": f"runs/{name}", "pass@1": [0.1, 0.1 + gain],
             "pass@k": [0.3, 0.3 + gain / 2], "gain_pass@1": gain, "gain_pass@k": gain / 2}
            for name, gain in (("real", 0.4), ("random", 0.15), ("format", -0.05))]
    return {"rlvr_spurious": 1, "base_rate": 0.03, "base_rate_rollouts": 512, "k": 8, "set": "heldout",
            "arms": arms, "warnings": ["random reward gained +0.150 pass@1"],
            "conclusion": "the real reward beats both controls"}


def _audit() -> dict:
    summary = {"target": "math", "cases": 100, "must_pass": 30, "must_fail": 70, "coverage": 0.97,
               "false_positive_rate": 2 / 70, "false_negative_rate": 1 / 30, "false_positives": 2,
               "false_negatives": 1, "nondeterministic": 0, "accept_all_coverage": 0.3,
               "verdict": "worth trying RLVR", "sources": {"suite": 100}}
    tags = [{"tag": "hack/<injection>", "cases": 4, "coverage": 0.5, "false_positives": 2, "false_negatives": 0,
             "nondeterministic": 0}]
    return {"rlvr_audit": 1, "summary": summary, "tags": tags, "worst": [], "cases": []}


def _bare_run(root: Path, steps: int = 5) -> Path:
    root.mkdir()
    _write_jsonl(root / "metrics.jsonl", [_metrics(s) for s in range(1, steps + 1)])
    return root


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    run = _bare_run(tmp_path_factory.mktemp("runs") / "full")
    config = {"model": "tiny-model", "algo": {"group_size": 4, "beta": 0.0}, "optim": {"lr": 1e-5},
              "data": {"prompts_per_step": 2, "eval": ["in.jsonl", "ood.jsonl"],
                       "reward": {"name": "compose", "parts": [
                           {"verifier": {"name": "math", "answer": "bare"}, "weight": 0.8, "gate": True},
                           {"verifier": "format", "weight": 0.2}]}},
              "run": {"steps": 5}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    _write_jsonl(run / "health.jsonl", [{"step": 3, "rule": "entropy_decline", "value": 1.1,
                                         "message": "entropy 1.100 fell by more than 50% of its starting value"}])
    _write_jsonl(run / "samples.jsonl", _samples(1) + _samples(5))
    (run / "eval").mkdir()
    in_tasks, ood_tasks = _tasks("in"), _tasks("ood")
    # In distribution pass@1 rises (1 -> 3 of 4 right); out of distribution it falls (3 -> 0 of 4).
    base = combine_sets({"in": _record(in_tasks, 1, "base", "in.jsonl"),
                         "ood": _record(ood_tasks, 3, "base", "ood.jsonl")})
    final = combine_sets({"in": _record(in_tasks, 3, "final", "in.jsonl"),
                          "ood": _record(ood_tasks, 0, "final", "ood.jsonl")})
    (run / "eval" / "base.json").write_text(json.dumps(base))
    (run / "eval" / "final.json").write_text(json.dumps(final))
    (run / "spurious.json").write_text(json.dumps(_spurious()))
    (run / "audit.json").write_text(json.dumps(_audit()))
    (run / "summary.json").write_text("{not json: a pipeline's file the report ignores")
    return run


@pytest.fixture(scope="module")
def page(full_run) -> str:
    return build_report(full_run)


def _section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


def test_every_section_is_present_with_its_numbers(page):
    header = page[: page.index('<section id="training">')]
    assert "tiny-model" in header and "0.8 × math(answer=bare) [gate] + 0.2 × format" in header
    assert "Verdict." in header and "entropy collapse" in header  # in gains, ood loses: flagged at the top
    training = _section(page, "training")
    for title in ("Reward and pass rate", "Entropy", "KL to the reference", "Response length",
                  "Truncated and clipped shares", "Informative groups", "Why rollouts failed"):
        assert f">{title}</text>" in training
    assert "entropy_decline" in training and 'class="marker"' in training
    evaluation = _section(page, "eval")
    assert "All task sets side by side" in evaluation
    assert "pass@k on in" in evaluation and "pass@k on ood" in evaluation
    # in: pass@4 is 1 before and after, so the gain is pure compression; ood fell
    assert "search compression" in evaluation and "regression" in evaluation
    spurious = _section(page, "spurious")
    assert "random reward gained +0.150 pass@1" in spurious and 'class="bar"' in spurious
    assert "-0.050" in spurious and "the real reward beats both controls" in spurious
    audit = _section(page, "audit")
    assert "worth trying RLVR" in audit and "2 of 70 bad outputs rewarded" in audit
    assert "hack/&lt;injection&gt;" in audit
    samples = _section(page, "samples")
    assert "Step 1 " in samples and "Step 5 " in samples
    # 4 rollouts a step, rewards 0, 1, 0, 1: the two right ones are "best", the two wrong ones "worst"
    heads = re.findall(r'<span class="tag (best|worst)">.*?reward <b>([0-9.]+)</b>', samples)
    assert heads == [("best", "1.000"), ("best", "1.000"), ("worst", "0.000"), ("worst", "0.000")] * 2


def test_eval_numbers_match_the_comparison(page):
    # in: 1 of 4 right -> 3 of 4 right on every task: pass@1 0.25 -> 0.75, interval of a constant gain
    evaluation = _section(page, "eval")
    assert "0.250 → 0.750" in evaluation and "+0.500" in evaluation
    assert "0.750 → 0.000" in evaluation  # ood


def test_every_svg_parses_as_xml(page):
    svgs = re.findall(r"<svg\b.*?</svg>", page, re.S)
    assert len(svgs) >= 10
    for svg in svgs:
        ET.fromstring(svg)


def test_model_text_is_escaped(page):
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "no idea &amp; &lt;b&gt;bold&lt;/b&gt;" in page


def test_nothing_is_loaded_from_anywhere(page):
    for attribute in re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', page, re.I):
        assert not re.match(r"\s*(https?:)?//", attribute), attribute
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "@import" not in page and "url(" not in page


def test_a_run_with_only_metrics_still_renders_and_says_what_is_missing(tmp_path):
    page = build_report(_bare_run(tmp_path / "bare"))
    assert "Reward and pass rate" in page
    assert "No verdict" in page
    assert "eval/base.json and eval/final.json are missing" in _section(page, "eval")
    assert "No spurious.json" in _section(page, "spurious")
    assert "No audit.json" in _section(page, "audit")
    assert "No samples.jsonl" in _section(page, "samples")
    assert "No config.yaml" in page and "No health.jsonl" in page
    for svg in re.findall(r"<svg\b.*?</svg>", page, re.S):
        ET.fromstring(svg)


def test_a_damaged_optional_file_is_one_line_not_a_failure(tmp_path):
    run = _bare_run(tmp_path / "damaged")
    (run / "eval").mkdir()
    (run / "eval" / "base.json").write_text('{"torn')
    (run / "eval" / "final.json").write_text("{}")
    (run / "spurious.json").write_text("[1, 2]")
    page = build_report(run)
    assert "base.json could not be read" in _section(page, "eval")
    assert "spurious.json could not be read" in _section(page, "spurious")


def test_single_record_eval_files_are_compared(tmp_path):
    run = _bare_run(tmp_path / "single")
    (run / "eval").mkdir()
    tasks = _tasks("in")
    (run / "eval" / "base.json").write_text(json.dumps(_record(tasks, 0, "base", "heldout.jsonl")))
    (run / "eval" / "final.json").write_text(json.dumps(_record(tasks, 4, "final", "heldout.jsonl")))
    page = build_report(run)
    assert "heldout (12 tasks): strict pass@1 0.000 → 1.000" in page
    assert "All task sets side by side" not in page  # one set: no side-by-side table
    assert "entropy collapse" not in page


def test_write_report_defaults_to_the_run_directory(tmp_path):
    run = _bare_run(tmp_path / "w")
    path = write_report(run)
    assert path == run / "report.html" and path.read_text().startswith("<!DOCTYPE html>")
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_cli_writes_the_file_and_prints_its_path(full_run, tmp_path, capsys):
    out = tmp_path / "nested" / "r.html"
    assert main(["report", str(full_run), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_text() == build_report(full_run)


@pytest.mark.parametrize("make", [
    lambda tmp: tmp / "does-not-exist",
    lambda tmp: tmp,  # a directory without metrics.jsonl
])
def test_cli_bad_run_directory_is_one_line_and_exit_2(tmp_path, capsys, make):
    assert main(["report", str(make(tmp_path))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rlvr: error: ") and "\n" not in err
    assert not (tmp_path / "report.html").exists()


def test_a_failure_reason_absent_at_a_step_counts_as_zero_not_missing():
    from rlvr.report._training import _points

    rows = [{"step": 1, "entropy": 2.0}, {"step": 2, "reason/timeout": 0.25}]
    assert _points(rows, "reason/timeout") == [(1, 0.0), (2, 0.25)]
    assert _points(rows, "entropy") == [(1, 2.0), (2, None)]  # other metrics keep their gaps


def test_a_format_only_gain_is_named_so_at_the_top(tmp_path):
    # Base: every answer right but in a sentence (strict fails, neutral passes); trained: bare numbers.
    run = _bare_run(tmp_path / "format")
    (run / "eval").mkdir()
    tasks = _tasks("in")
    settings = EvalSettings(SamplingParams(n=4), bootstrap_resamples=200)
    base = evaluate(AnswerEngine(lambda i, j: f"so it is {2 * i}"), tasks, settings,
                    model_name="base", tasks_source="heldout.jsonl", progress=False)
    (run / "eval" / "base.json").write_text(json.dumps(base))
    (run / "eval" / "final.json").write_text(json.dumps(_record(tasks, 4, "final", "heldout.jsonl")))
    page = build_report(run)
    header = page[: page.index('<section id="training">')]
    assert "format only" in header and "capability gain" not in header
    assert "format-neutral pass@1 1.000 → 1.000" in header
    assert 'class="verdict warn"' in header
    evaluation = _section(page, "eval")
    assert "pass@1 (neutral)" in evaluation and "strict pass@1 gain, decomposed" in evaluation


def test_the_boundary_section_reads_the_same_eval_files(page, tmp_path):
    boundary = _section(page, "boundary")
    assert "<h3>in: 12 tasks, k up to 4</h3>" in boundary and "<h4>strict</h4>" in boundary
    assert "<h4>neutral</h4>" in boundary and "chance base / trained" in boundary
    assert "crossover" in boundary and "SRR" in boundary and "solvable at k = 4" in boundary
    assert 'href="#boundary"' in page
    bare = build_report(_bare_run(tmp_path / "bare"))
    assert "No held-out evaluation to read the boundary from." in _section(bare, "boundary")
