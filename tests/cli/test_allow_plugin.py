"""Data files run no code, command by command: every command that reads a file naming a verifier.

A task or eval file names `tracemod:check`, a module in tmp_path (on sys.path) whose import appends
to a marker file. Without an opt-in the command exits 2 with one sentence naming the opt-in, imports
nothing and writes nothing; with `--allow-plugin tracemod` (or `plugins: [tracemod]` in a training
config) it runs and the module is imported. The analysis commands read saved verdicts instead.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
import yaml

from conftest import save_tiny_model
from rlvr.cli import main
from rlvr.verifiers import shutdown_workers

SPEC = "tracemod:check"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("plugins") / "model")


def _eval_record(passed_neutral: bool) -> dict:
    """An eval file whose tasks name the plugin; without passed_neutral (an older file) compare would
    have to read the samples again with each task's verifier."""
    tasks = [{"id": i, "split": "train", "n": 2, "passed": 1, "mean_reward": 0.5, "reference": r, "verifier": SPEC,
              "meta": {}, **({"passed_neutral": 1} if passed_neutral else {})} for i, r in (("1", "2"), ("2", "3"))]
    samples = [{"task_id": t["id"], "sample": j, "text": "7", "passed": j == 0, "reward": float(j == 0)}
               for t in tasks for j in range(2)]
    return {"rlvr_eval": 1, "model": "m", "tasks_source": "tasks.jsonl", "settings": {"k": 2},
            "summary": {"pass@1": {"value": 0.5, "ci": [0.5, 0.5]}}, "tasks": tasks, "samples": samples}


@pytest.fixture
def work(tmp_path, tiny_model, monkeypatch):
    """A working folder of inputs naming the plugin; the plugin module and its marker live outside it."""
    modules, work = tmp_path / "modules", tmp_path / "work"
    modules.mkdir()
    work.mkdir()
    marker = tmp_path / "imported.txt"
    (modules / "tracemod.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).open('a').write('x\\n')\n\n"
                                         "def check(completion, reference):\n    return 1.0\n")
    monkeypatch.syspath_prepend(str(modules))
    monkeypatch.chdir(work)
    tasks = [{"id": i, "prompt": f"What is {i} + 1 ?", "reference": "2", "verifier": SPEC} for i in ("1", "2")]
    (work / "tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    (work / "old.json").write_text(json.dumps(_eval_record(passed_neutral=False)))
    (work / "new.json").write_text(json.dumps(_eval_record(passed_neutral=True)))
    config = {"model": str(tiny_model), "sampling": {"max_new_tokens": 3, "batch_size": 8}, "algo": {"group_size": 2},
              "data": {"train": "tasks.jsonl", "eval": "tasks.jsonl", "eval_k": 1, "prompts_per_step": 2,
                       "verifier_workers": 1},
              "run": {"steps": 1, "output_dir": "run"}}
    (work / "train.yaml").write_text(yaml.safe_dump(config))
    stages = [{"eval": {"name": "e", "tasks": "tasks.jsonl", "k": 1, "max_new_tokens": 2}}]
    (work / "pipeline.yaml").write_text(yaml.safe_dump({"output_dir": "pipe", "model": str(tiny_model),
                                                        "stages": stages}))
    yield work, marker
    sys.modules.pop("tracemod", None)
    shutdown_workers()  # no worker that imported tracemod serves a later test


SAMPLE = "--k 1 --max-new-tokens 2 --batch-size 4"
# Every command that reads a file whose tasks name a verifier, and builds those verifiers.
READS_VERIFIERS = [
    "tasks show tasks.jsonl",
    f"eval --model {{model}} --tasks tasks.jsonl {SAMPLE} --verifier-workers 1 -o out.json",
    f"curate --tasks tasks.jsonl --model {{model}} {SAMPLE} --band 0 1 -o out.jsonl",
    f"distill --model {{model}} --tasks tasks.jsonl {SAMPLE} --verifier-workers 1 -o out.jsonl",
    "train train.yaml",
    "spurious train.yaml",
    "pipeline pipeline.yaml",
    "boundary old.json old.json --resamples 10",  # the chance baseline verifies every sample again
]


def _run(command: str, tiny_model) -> int:
    return main(command.replace("{model}", str(tiny_model)).split())


def _listing(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("command", READS_VERIFIERS)
def test_a_plugin_named_in_a_file_is_refused_before_it_is_imported(command, work, tiny_model, capsys):
    folder, marker = work
    before = _listing(folder)
    assert _run(command, tiny_model) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlvr: ")]
    assert len(err) == 1 and "--allow-plugin tracemod" in err[0] and "tracemod:check" in err[0], err
    assert not marker.exists() and "tracemod" not in sys.modules
    assert _listing(folder) == before  # nothing half-written


@pytest.mark.parametrize("command", [c for c in READS_VERIFIERS if not c.startswith(("train", "spurious"))])
def test_allow_plugin_lets_the_command_import_it(command, work, tiny_model, capsys):
    folder, marker = work
    assert _run(command + " --allow-plugin tracemod", tiny_model) == 0, capsys.readouterr().err
    assert marker.exists()


def test_the_training_config_plugins_key_lets_a_run_import_it(work, tiny_model, capsys):
    folder, marker = work
    assert main(["train", "train.yaml", "plugins=[tracemod]"]) == 0, capsys.readouterr().err
    assert marker.exists() and (folder / "run" / "metrics.jsonl").exists()


@pytest.mark.parametrize("command", [
    "compare old.json old.json --resamples 10",  # an older file: the neutral reading falls back to saved verdicts
    "compare new.json new.json --resamples 10",
    "boundary old.json old.json --resamples 10 --no-chance",
    "curate --tasks tasks.jsonl --from-eval new.json --band 0 1 -o kept.jsonl",  # copies the tasks, builds nothing
])
def test_analysis_commands_use_saved_verdicts_and_import_nothing(command, work, tiny_model, capsys):
    folder, marker = work
    assert _run(command, tiny_model) == 0, capsys.readouterr().err
    assert not marker.exists() and "tracemod" not in sys.modules


def test_os_popen_in_a_task_file_runs_no_command(work, tiny_model, capsys):
    """The issue's exploit: a task whose verifier is os:popen, a sample text that is a shell command."""
    folder, _ = work
    pwned = folder.parent / "pwned"
    task = {"id": "a", "prompt": "p", "reference": "1", "verifier": "os:popen"}
    (folder / "evil.jsonl").write_text(json.dumps(task) + "\n")
    record = _eval_record(passed_neutral=False)
    for t in record["tasks"]:
        t["verifier"] = "os:popen"
    for s in record["samples"]:
        s["text"] = f"touch {pwned}"
    (folder / "evil.json").write_text(json.dumps(record))
    assert main(["tasks", "show", "evil.jsonl"]) == 2
    assert main(["boundary", "evil.json", "evil.json", "--resamples", "10"]) == 2
    assert main(["compare", "evil.json", "evil.json", "--resamples", "10"]) == 0
    assert "--allow-plugin os " in capsys.readouterr().err and not pwned.exists()


def test_a_path_typed_on_the_command_line_is_its_own_opt_in(work, capsys):
    """`rlvr verify --verifier MOD:FN` and `rlvr audit MOD:FN` name the code themselves: no file is involved."""
    folder, marker = work
    assert main(["verify", "--verifier", SPEC, "--reference", "1", "--completion", "x", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reward"] == 1.0 and marker.exists()
    marker.unlink()
    sys.modules.pop("tracemod", None)
    case = {"completion": "x", "reference": "1", "should_pass": True, "tag": "t"}
    (folder / "cases.jsonl").write_text(json.dumps(case) + "\n")
    assert main(["audit", SPEC, "--cases", "cases.jsonl", "--processes", "1", "--min-coverage", "0"]) == 0
    assert marker.exists() and "coverage" in capsys.readouterr().out
    # What the user typed is allowed, not the rest of its module:
    rubric = json.dumps({"criteria": [{"name": "c", "weight": 1, "check": "tracemod:other"}]})
    assert main(["verify", "--verifier", "rubric", "--reference", rubric, "--completion", "x", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reason"] == "bad_reference"


@pytest.mark.parametrize("flag", ["os; rm -rf ~", "", "mod:a b"])
def test_a_bad_allow_plugin_is_one_sentence(flag, work, capsys):
    assert main(["tasks", "show", "tasks.jsonl", "--allow-plugin", flag]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlvr: error: ") and "module" in err[0]
    assert not work[1].exists()


def test_a_training_config_with_a_bad_plugin_is_one_sentence(work, capsys):
    assert main(["train", "train.yaml", "plugins=['os; rm']"]) == 2
    assert "each entry of plugins is a dotted Python module name" in capsys.readouterr().err
    assert not os.path.exists("run")
