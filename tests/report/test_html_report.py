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


# ---------------------------------------------------------------------------------------------
# Issue 24: KL at beta = 0, the per-task scatter, gain whiskers and neutral pass@k, replayed health rules


def _figure(section: str, title: str) -> ET.Element:
    """The <svg> whose aria-label is `title`, parsed."""
    (svg,) = [s for s in re.findall(r"<svg\b.*?</svg>", section, re.S) if f'aria-label="{title}"' in s]
    return ET.fromstring(svg)


def _run_with(tmp_path: Path, name: str, rows: list[dict], config: dict | None = None,
              health: list[dict] | None = None) -> Path:
    run = tmp_path / name
    run.mkdir()
    _write_jsonl(run / "metrics.jsonl", rows)
    if config is not None:
        (run / "config.yaml").write_text(yaml.safe_dump(config))
    if health is not None:
        _write_jsonl(run / "health.jsonl", health)
    return run


@pytest.mark.parametrize("logged_kl", [None, 0.0])  # today's trainer logs none at beta = 0; older ones logged 0
def test_kl_at_beta_0_says_not_computed_instead_of_a_zero_line(tmp_path, logged_kl):
    rows = [{k: v for k, v in _metrics(s).items() if k != "kl"} | ({} if logged_kl is None else {"kl": logged_kl})
            for s in range(1, 6)]
    training = _section(build_report(_run_with(tmp_path, "b0", rows, {"algo": {"beta": 0.0}})), "training")
    kl = _figure(training, "KL to the reference")
    assert "KL not computed (beta = 0)" in [t.text for t in kl.iter("text")]
    assert not list(kl.iter("polyline")) and not list(kl.iter("circle"))
    assert "<td>KL</td>" not in training  # nor a 0.000 -> 0.000 row in the summary table


def test_kl_with_a_reference_model_is_drawn(tmp_path):
    rows = [_metrics(s) for s in range(1, 6)]
    training = _section(build_report(_run_with(tmp_path, "b1", rows, {"algo": {"beta": 0.04}})), "training")
    kl = _figure(training, "KL to the reference")
    assert [p.get("data-label") for p in kl.iter("polyline")] == ["KL"] and "not computed" not in training
    assert "<td>KL</td>" in training


def test_the_per_task_scatter_has_one_point_per_task_on_the_right_side_of_the_diagonal(page):
    evaluation = _section(page, "eval")
    for name, side in (("in", "above"), ("ood", "below")):  # in: 1 -> 3 of 4 right on every task; ood: 3 -> 0
        for reading in ("strict", "neutral"):
            svg = _figure(evaluation, f"Per task on {name}, {reading}: base vs trained pass rate")
            points = [c for c in svg.iter("circle") if c.get("class") == "point"]
            assert len(points) == 12
            moves = [tuple(map(float, c.find("title").text.split(": ")[1].split(" → "))) for c in points]
            assert all((t > b) if side == "above" else (t < b) for b, t in moves)
            notes = [t.text for t in svg.iter("text") if t.get("class") == "count"]
            assert notes[1:4] == ([f"above the diagonal (gain): {12 if side == 'above' else 0}",
                                   f"below it (loss): {0 if side == 'above' else 12}", "on it (unchanged): 0"])


def test_mixed_tasks_fall_on_both_sides(tmp_path):
    run = _bare_run(tmp_path / "mixed")
    (run / "eval").mkdir()
    tasks = _tasks("in")
    # Trained: all 4 right on tasks 0-5, none on 6-11; base: 2 of 4 right everywhere.
    trained = evaluate(AnswerEngine(lambda i, j: str(2 * i) if i < 6 else "no idea"), tasks,
                       EvalSettings(SamplingParams(n=4), bootstrap_resamples=200), model_name="final",
                       tasks_source="heldout.jsonl", progress=False)
    (run / "eval" / "base.json").write_text(json.dumps(_record(tasks, 2, "base", "heldout.jsonl")))
    (run / "eval" / "final.json").write_text(json.dumps(trained))
    evaluation = _section(build_report(run), "eval")
    svg = _figure(evaluation, "Per task on heldout, strict: base vs trained pass rate")
    assert len([c for c in svg.iter("circle") if c.get("class") == "point"]) == 12
    assert [t.text for t in svg.iter("text") if t.get("class") == "count"] == [
        "12 tasks, strict reading", "above the diagonal (gain): 6", "below it (loss): 6", "on it (unchanged): 0",
        "raised to always right: 6", "dropped to never right: 6"]


def _spurious_from_runs(seeds: int) -> dict:
    """spurious.json as `rlvr spurious` writes it, from real eval records: the base answers every task right
    but in a sentence (strict 0, neutral 1); the real arm answers 6 (or 7) of 12 tasks bare and right and the
    rest not at all, so it gains strictly and loses format-neutral pass@4; the random arm changes nothing."""
    from rlvr.evaluate.gains import compare
    from rlvr.workflows.spurious import summarise_arms

    tasks = _tasks("held")
    settings = EvalSettings(SamplingParams(n=4), bootstrap_resamples=200)

    def record(answer) -> dict:
        return evaluate(AnswerEngine(answer), tasks, settings, model_name="m", tasks_source="held.jsonl",
                        progress=False)

    base = record(lambda i, j: f"so it is {2 * i}")
    trained = {"real": [record(lambda i, j, s=s: str(2 * i) if i < 6 + s else "no idea") for s in range(seeds)],
               "random": [base] * seeds}
    signal = {"rows": 40, "informative_frac": 0.5, "mean_abs_advantage": 0.3}
    results = [{"name": name, "reward": name, "runs": [
        {"seed": s, "run_dir": f"runs/{name}-{s}", "sets": {"held": compare(base, runs[s], resamples=200)},
         "trained": signal} for s in range(seeds)]} for name, runs in trained.items()]
    return summarise_arms(results, 0.0, "measured", 100, 4)


@pytest.mark.parametrize("seeds", [1, 2])
def test_the_gain_chart_draws_neutral_pass_at_k_and_every_bar_with_its_interval(tmp_path, seeds):
    run = _bare_run(tmp_path / "spurious")
    record = _spurious_from_runs(seeds)
    (run / "spurious.json").write_text(json.dumps(record))
    spurious = _section(build_report(run), "spurious")
    chart = _figure(spurious, "Gain over the base model, per reward (mean over seeds)")
    legend = {t.text for t in chart.iter("text")}
    assert {"strict pass@1 gain", "neutral pass@1 gain", "strict pass@4 gain", "neutral pass@4 gain"} <= legend
    bars = {r.find("title").text.rsplit(": ", 1)[0]: float(r.find("title").text.rsplit(": ", 1)[1])
            for r in chart.iter("rect") if r.get("class") == "bar"}
    assert len(bars) == 8  # 2 arms x 4 gains
    real = record["arms"][0]
    assert bars["real, neutral pass@4 gain"] == pytest.approx(real["neutral"]["gain_pass@k"]["mean"], abs=1e-3)
    assert bars["real, neutral pass@4 gain"] < -0.4 < 0.4 < bars["real, strict pass@1 gain"]  # strict up, neutral down
    whiskers = {g.find("title").text.split(": 95 % interval ")[0]: g.find("title").text.split("interval ")[1]
                for g in chart.iter("g") if g.get("class") == "whisker"}
    assert set(whiskers) == set(bars)  # every gain drawn carries its interval
    expected = (real["neutral"]["gain_pass@k"]["interval"] if seeds > 1
                else real["seeds"][0]["neutral"]["gain_pass@k_ci"])  # one seed: the bootstrap over tasks
    assert whiskers["real, neutral pass@4 gain"] == f"[{expected[0]:+.3f}, {expected[1]:+.3f}]"


# The demo's real arm: entropy 2.38 -> 0.26 in 8 steps, and (here) reward up while the neutral pass rate fell.
_DEMO = [{"step": s + 1, "entropy": h, "reward/mean": 0.2 + 0.05 * s, "pass_rate/neutral": 0.6 - 0.04 * s}
         for s, h in enumerate([2.38, 2.05, 1.71, 1.52, 1.30, 1.02, 0.61, 0.26])]


def test_rules_the_run_did_not_record_are_replayed_and_the_divergence_is_named(tmp_path):
    run = _run_with(tmp_path, "demo", _DEMO, {"run": {"steps": 8}}, health=[])  # an older trainer: no warning
    training = _section(build_report(run), "training")
    health = training[training.index("Health warnings"):]
    assert "entropy_decline <span class=\"note\">(replayed)</span>" in health
    assert "reward_metric_divergence <span class=\"note\">(replayed)</span>" in health
    assert "<b>Reward–metric divergence</b> from step 5" in training
    entropy = _figure(training, "Entropy")
    assert any(t.text == "8: entropy_decline" for t in entropy.iter("text"))  # and marked on the chart


def test_a_recorded_divergence_is_named_at_the_top_and_not_replayed_twice(tmp_path):
    recorded = [{"step": 5, "rule": "reward_metric_divergence", "value": -0.12, "message": "reward rose, metric fell"}]
    run = _run_with(tmp_path, "rec", _DEMO, {"run": {"steps": 8}}, health=recorded)
    (run / "eval").mkdir()
    tasks = _tasks("in")
    (run / "eval" / "base.json").write_text(json.dumps(_record(tasks, 1, "base", "heldout.jsonl")))
    (run / "eval" / "final.json").write_text(json.dumps(_record(tasks, 2, "final", "heldout.jsonl")))
    page = build_report(run)
    header = page[: page.index('<section id="training">')]
    assert "<b>Reward–metric divergence</b>: during training the reward rose" in header
    training = _section(page, "training")
    assert training.count("<td>reward_metric_divergence") == 1  # the recorded row; the replay does not repeat it
    assert "<td>entropy_decline <span" in training  # the rule the run did not record is replayed


def test_odd_health_thresholds_and_spurious_arms_do_not_break_the_report(tmp_path):
    config = {"health": {"window": 0, "min_entropy": "high"}, "run": {"steps": "eight"}}
    run = _run_with(tmp_path, "odd", _DEMO, config, health=[])
    record = _spurious_from_runs(1)
    record["arms"][1].update({"neutral": "not a dict", "seeds": [{"neutral": [1, 2]}], "gain_pass@1_ci": ["a", 1]})
    (run / "spurious.json").write_text(json.dumps(record))
    page = build_report(run)
    assert "entropy_decline <span" in _section(page, "training")  # replayed with the default thresholds
    chart = _figure(_section(page, "spurious"), "Gain over the base model, per reward (mean over seeds)")
    whiskers = [g.find("title").text for g in chart.iter("g") if g.get("class") == "whisker"]
    assert len([w for w in whiskers if w.startswith("real,")]) == 4
    assert not [w for w in whiskers if w.startswith("random, neutral")]  # the damaged reading: no interval to draw


def test_an_episode_shows_its_turns_with_tool_calls_and_observations_set_apart(tmp_path):
    run = _bare_run(tmp_path / "episodes", steps=1)
    call = '<tool_call>{"name": "calculator", "arguments": {"expression": "37*29"}}</tool_call>'
    turns = [{"role": "user", "text": "What is 37*29?"}, {"role": "assistant", "text": f"Let me check. {call}"},
             {"role": "tool", "text": f"1073 {SCRIPT_TAG}"}, {"role": "assistant", "text": "It is 1073."}]
    row = {"step": 1, "task_id": "t", "sample": 0, "text": "It is 1073.", "reward": 1.0, "reason": "ok",
           "tokens": 30, "turns": turns, "stop": "done"}
    _write_jsonl(run / "samples.jsonl", [row, {**row, "sample": 1, "reward": 0.0, "turns": turns[:2],
                                               "stop": "tokens"}])
    section = _section(build_report(run), "samples")
    assert "episode of 2 turns, ended by done" in section and "episode of 1 turns, ended by tokens" in section
    observation = re.search(r'<div class="turn observation"><p class="role">tool</p><pre>(.*?)</pre>', section)
    assert observation and observation.group(1) == "1073 &lt;script&gt;alert(1)&lt;/script&gt;"
    assert ('Let me check. <span class="toolcall">&lt;tool_call&gt;{&quot;name&quot;: &quot;calculator&quot;'
            in section)
    assert '<div class="turn"><p class="role">assistant</p><pre>It is 1073.</pre>' in section
    assert SCRIPT_TAG not in section


# Issue 27: a PPO run's critic curves
def test_a_ppo_runs_critic_is_drawn_and_a_grpo_run_has_no_critic_chart(tmp_path):
    critic = {"critic/value_loss": 0.1, "critic/value_mean": 0.3, "critic/return_mean": 0.4,
              "critic/explained_variance": -0.1, "critic/value_clip_frac": 0.05}
    rows = [_metrics(s) | {k: v + 0.01 * s for k, v in critic.items()} for s in range(1, 6)]
    training = _section(build_report(_run_with(tmp_path, "ppo", rows, {"algo": {"name": "ppo"}})), "training")
    explained = _figure(training, "Critic: explained variance")
    assert [p.get("data-label") for p in explained.iter("polyline")] == ["explained variance",
                                                                          "value-clipped tokens"]
    values = _figure(training, "Critic: value loss and values")
    assert [p.get("data-label") for p in values.iter("polyline")] == ["value loss", "value (mean)", "return (mean)"]
    grpo = _section(build_report(_run_with(tmp_path, "grpo", [_metrics(s) for s in range(1, 6)])), "training")
    assert "Critic" not in grpo
