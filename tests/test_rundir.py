"""The run directory's owner: its one torn-line rule, as every former reader of a log now sees it, its appends,
the resume's log trimming, and the checkpoint paths."""

from __future__ import annotations

import json

import pytest

from rlvr._errors import ConfigError, DataError
from rlvr.cli import main
from rlvr.monitor import read_metrics
from rlvr.report._load import load_run
from rlvr.rundir import RunDir, read_jsonl, read_numbered_jsonl
from rlvr.train.cost import _read_metrics
from rlvr.workflows.spurious import training_signal

STEPS = [{"step": 1, "entropy": 1.5, "rows/trained": 4}, {"step": 2, "entropy": 1.4, "rows/trained": 2}]
LINES = "".join(json.dumps(row) + "\n" for row in STEPS)


def _run(tmp_path, metrics: str | bytes):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_bytes(metrics if isinstance(metrics, bytes) else metrics.encode())
    (run / "samples.jsonl").write_text(json.dumps({"step": 1, "advantage": -0.5}) + "\n")
    return run


def _resume(run):
    RunDir(run).drop_logs_after(10)  # what the trainer does after loading the checkpoint of step 10
    return RunDir(run).read(RunDir.METRICS)


# Every reader of metrics.jsonl before RunDir, each through its own entry point: the number of steps it read.
READERS = {
    "report": lambda run: len(load_run(run).metrics),
    "health": lambda run: len(read_metrics(run)),
    "cost": lambda run: len(_read_metrics(run)),
    "spurious": lambda run: training_signal(run)["steps"],
    "resume": lambda run: len(_resume(run)),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("torn", [b'{"step": 3, "entropy": 1.', b'{"step": 3, "text": "caf\xc3'],
                         ids=["cut-json", "cut-character"])  # the kill split the UTF-8 of "é"
def test_a_torn_last_line_is_dropped_by_every_reader(tmp_path, reader, torn):
    assert READERS[reader](_run(tmp_path, LINES.encode() + torn)) == 2


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("text, line", [
    (LINES + '{"step": 3, "entr\n', 3),  # ends with its newline: written whole, so damaged, not torn
    ('{"step": 1}\n{"step": 2, "entr\n{"step": 3}\n', 2),
    ('{"step": 1}\n[1, 2]\n{"step": 3}\n', 2),
], ids=["last-with-newline", "middle", "not-an-object"])
def test_a_bad_line_is_one_error_naming_file_and_line_for_every_reader(tmp_path, reader, text, line):
    run = _run(tmp_path, text)
    with pytest.raises(DataError, match=rf"metrics\.jsonl:{line}: .*fix or remove that line"):
        READERS[reader](run)


@pytest.mark.parametrize("command", ["health", "report"])
def test_the_commands_read_a_torn_log_and_refuse_a_damaged_one(tmp_path, capsys, command):
    run = _run(tmp_path, LINES + '{"step": 3, "ent')
    assert main([command, str(run)]) == 0
    (run / "metrics.jsonl").write_text('{"step": 1}\n{bad\n{"step": 3}\n')
    assert main([command, str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rlvr: error: ") and "\n" not in err and "metrics.jsonl:2" in err


def test_the_reader_skips_blank_lines_keeps_a_whole_last_line_and_numbers_lines(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1}\n\n  \n{"step": 4}')  # a last line that parses is kept, newline or not
    assert read_jsonl(path) == [{"step": 1}, {"step": 4}]
    assert read_numbered_jsonl(path) == [(1, {"step": 1}), (4, {"step": 4})]
    path.write_bytes(b'{"step": 1}\n{"text": "caf\xe9"}\n{"step": 3}\n')
    with pytest.raises(DataError, match=r"log\.jsonl:2: not UTF-8"):
        read_jsonl(path)
    with pytest.raises(ConfigError, match="cannot read run log"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_append_writes_whole_lines_that_read_back(tmp_path):
    runs = RunDir(tmp_path)
    runs.append(RunDir.METRICS, [{"step": 1, "loss": float("nan")}, {"step": 1, "text": "é\n"}])
    runs.append(RunDir.METRICS, [])
    text = runs.metrics.read_text()
    assert text == '{"step": 1, "loss": NaN}\n{"step": 1, "text": "\\u00e9\\n"}\n'  # as the trainer always wrote
    assert runs.read(RunDir.METRICS)[1] == {"step": 1, "text": "é\n"}


def test_resume_keeps_earlier_lines_byte_for_byte_and_drops_later_steps(tmp_path):
    runs = RunDir(tmp_path)
    kept = '{"step": 1, "x": 0.1000}\n{"step": 2, "x": 2e-3}\n'  # not how json.dumps would write them
    runs.metrics.write_text(kept + '{"step": 3}\n{"step": 4, "x"')
    runs.health.write_text('{"step": 3, "rule": "kl_blowup"}\n')
    runs.drop_logs_after(2)
    assert runs.metrics.read_text() == kept and runs.health.read_text() == ""
    runs.samples.write_text('{"step": 1}\n{"advantage": 0.5}\n{"step": 2}\n')
    with pytest.raises(DataError, match=r"samples\.jsonl:2: not a log line with a step"):
        runs.drop_logs_after(2)


def test_checkpoint_paths(tmp_path):
    runs = RunDir(tmp_path)
    assert runs.latest_checkpoint() is None and not runs.has_checkpoint() and runs.checkpoint_steps() == []
    with pytest.raises(ConfigError, match="no trained model"):
        runs.final_model()
    for step in (10, 2):
        runs.checkpoint(step).mkdir(parents=True)
    runs.point_latest_at(10)
    assert runs.latest_pointer.read_text() == "step-10" and runs.has_checkpoint()
    assert runs.checkpoint_steps() == [2, 10]  # by number, not by name
    assert runs.latest_checkpoint() == runs.final_model() == tmp_path / "checkpoints" / "step-10"
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    assert runs.final_model() == tmp_path / "model"  # the merged LoRA model wins
    assert runs.eval_file("base") == runs.base_eval == tmp_path / "eval" / "base.json"
