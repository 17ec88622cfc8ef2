"""Bad input, command by command: one sentence on stderr, exit 2, found before any model loads,
and nothing in the working folder created or changed.

Each row is (command line, words the sentence must hold). `{name}` in a command line is a file
made fresh in tmp_path by `inputs` (or the tiny model, saved outside tmp_path).
"""

from __future__ import annotations

import json
import os

import pytest

from conftest import save_tiny_model
from rlvr.cli import main

NON_UTF8 = b"caf\xe9\n"


def _task(id_="a", prompt="What is 3 + 4 ?", reference="7", verifier="math") -> str:
    return json.dumps({"id": id_, "prompt": prompt, "reference": reference, "verifier": verifier}) + "\n"


EVAL_TASK = {"id": "a", "split": "train", "n": 2, "passed": 1, "passed_neutral": 1, "mean_reward": 0.5,
             "reference": "7", "verifier": "math", "meta": {}}
EVAL = {"rlvr_eval": 1, "model": "m", "tasks_source": "tasks.jsonl", "settings": {"k": 2},
        "summary": {"pass@1": {"value": 0.5, "ci": [0.5, 0.5]}}, "tasks": [EVAL_TASK], "samples": []}

FILES: dict[str, bytes | str] = {
    "tasks": _task("a") + _task("b", "What is 12 * 7 ?", "84"),
    "latin1": NON_UTF8,
    "deep": '{"id": "a", "prompt": ' + "[" * 1000 + "]" * 1000 + ', "reference": "1"}\n',
    "bigint": '{"id": "a", "prompt": "p", "reference": ' + "9" * 5000 + "}\n",
    "surrogate": '{"id": "a", "prompt": "p \\ud800", "reference": "1"}\n',
    "unknown_verifier": _task(verifier="nosuch"),
    "eval": json.dumps(EVAL),
    "tasks_5": json.dumps({"tasks": 5}),
    "tasks_list": json.dumps({"tasks": [1, 2]}),
    "bad_record": json.dumps({**EVAL, "tasks": [{"id": "a", "n": 2}]}),
    "json_list": "[1, 2]",
    "metrics": json.dumps({"metrics": {"pass@1": 0.5}}),
    "rules": "rules:\n  - {metric: pass@1, max_drop: 0.1}\n",
    "metrics_lists": "[1, 2]\n",
    "metrics_nostep": '{"reward/std": 0.5}\n',
    "sft": json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "7"}]}),
    "a_file": "a regular file\n",
}

ROWS = [
    # 1. output paths are checked before the work
    ("eval --model {model} --tasks {tasks} --k 1 -o {a_file}/out.json", "is not a directory"),
    ("eval --model {model} --tasks {tasks} --k 1 -o {a_dir}", "is a directory"),
    ("tasks make arithmetic --n 2 -o {a_file}/out.jsonl", "is not a directory"),
    ("tasks make arithmetic --n 2 -o {a_dir}", "is a directory"),
    ("curate --tasks {tasks} --from-eval {eval} --band 0 1 -o {a_file}/out.jsonl", "is not a directory"),
    ("curate --tasks {tasks} --model {model} --k 1 -o {a_dir}", "is a directory"),
    ("distill --model {model} --tasks {tasks} --k 1 -o {a_file}/out.jsonl", "is not a directory"),
    ("distill --model {model} --tasks {tasks} --k 1 -o {a_dir}", "is a directory"),
    ("compare {eval} {eval} --resamples 10 --json {a_file}/out.json", "is not a directory"),
    ("compare {eval} {eval} --resamples 10 --json {a_dir}", "is a directory"),
    ("cost --device cpu model={model} data.train={tasks} --json {a_file}/out.json", "is not a directory"),
    ("cost --device cpu model={model} data.train={tasks} --json {a_dir}", "is a directory"),
    ("train model={model} data.train={tasks} run.output_dir={a_file}", "run.output_dir"),
    ("sft model={model} data.train={sft} run.output_dir={a_file}", "run.output_dir"),
    ("pipeline {pipeline}", "output_dir"),
    ("demo --model {model} --output-dir {a_file}", "--output-dir"),
    # 2. input files: non-UTF-8, too deep, too long, not text, wrong shape
    ("verify --verifier math --reference 1 --file {latin1}", "not UTF-8"),
    ("compare {latin1} {eval}", "not UTF-8"),
    ("gate {latin1} {metrics} --rules {rules}", "not UTF-8"),
    ("gate {metrics} {metrics} --rules {latin1}", "not UTF-8"),
    ("curate --tasks {tasks} --from-eval {latin1} -o out.jsonl", "not UTF-8"),
    ("train {latin1}", "not UTF-8"),
    ("pipeline {latin1}", "not UTF-8"),
    ("health {latin1}", "not UTF-8"),
    ("report {run_latin1}", "not UTF-8"),
    ("tasks show {deep}", "too deeply"),
    ("eval --model {model} --tasks {deep}", "too deeply"),
    ("tasks show {bigint}", "4300 digits"),
    ("eval --model {model} --tasks {bigint}", "4300 digits"),
    ("tasks show {surrogate}", "surrogate"),
    ("eval --model {model} --tasks {surrogate}", "surrogate"),
    ("compare {tasks_5} {eval}", "'tasks'"),
    ("compare {tasks_list} {eval}", "tasks[0]"),
    ("curate --tasks {tasks} --from-eval {bad_record} -o out.jsonl", "'passed'"),
    ("gate {json_list} {metrics} --rules {rules}", "list"),
    ("health {metrics_lists}", ":1:"),
    ("health {metrics_nostep}", "'step'"),
    ("boundary {latin1} {eval}", "not UTF-8"),
    ("boundary {tasks_5} {eval}", "'tasks'"),
    ("boundary {eval} {eval} --resamples 10 --json {a_file}/out.json", "is not a directory"),
    ("compare {eval} {eval} --resamples 0", "--resamples"),
    ("compare {eval} {eval} --resamples -5", "--resamples"),
    ("health {metrics} --set min_entropy=abc", "health.min_entropy"),
    # 3. accepted but wrong
    ("eval --model {model} --tasks {tasks} --limit -1", "--limit"),
    ("eval --model {model} --tasks {tasks} --temperature nan", "finite"),
    ("eval --model {model} --tasks {tasks} --temperature inf", "finite"),
    ("eval --model {model} --tasks {tasks} --verifier-workers 0", "verifier workers"),
    ("eval --model {model} --tasks {tasks} --verifier-workers -3", "verifier workers"),
    ("health {metrics} --set window=abc", "health.window"),
    # health windows and the reward-metric divergence threshold
    ("health {metrics} --set window=0", "health.window"),
    ("health {metrics} --set min_divergence=-0.1", "health.min_divergence"),
    ("health {metrics} --set min_divergence=nan", "health.min_divergence"),
    ("train model={model} data.train={tasks} health.window=0", "health.window"),
    ("train model={model} data.train={tasks} sampling.temperature=0", "advantage"),
    ("tasks make arithmetic digits=5000 --n 2 -o out.jsonl", "digits"),
    ("tasks make arithmetic digits=9 --n 100000000 -o out.jsonl", "1,000,000"),
    # 4. found late
    ("tasks show {unknown_verifier}", "task 'a'"),
    ("eval --model {model} --tasks {unknown_verifier}", "task 'a'"),
    ("train model={model} data.train={unknown_verifier}", "task 'a'"),
    ("train model={model} data.train={tasks} sampling.temperature=-1", "sampling.temperature"),
    ("train model={model} data.train={tasks} sampling.top_p=1.5", "sampling.top_p"),
    ("train model={model} data.train={tasks} sampling.top_k=-1", "sampling.top_k"),
    ("train model={model} data.train={tasks} data.eval_k=0", "data.eval_k"),
    # training numbers that overflow float32 (issue 22): refused before the model loads or config.yaml is written
    ("train model={model} data.train={run2_samples} run.output_dir={run2}", "the run's samples.jsonl"),
    ("train model={model} data.train={tasks} algo.mismatch_cap=1e39", "float32's range"),
    ("train model={model} data.train={tasks} algo.clip_high=1e39", "algo.clip_high"),
    ("train model={model} data.train={tasks} algo.w_reinforce_weight=1e39", "algo.w_reinforce_weight"),
    ("train model={model} data.train={tasks} algo.entropy_coef=1e39", "algo.entropy_coef"),
    ("train model={model} data.train={tasks} algo.mismatch=token_mask algo.mismatch_cap=1 algo.mismatch_cap_min=1",
     "lower algo.mismatch_cap_min"),
    # PPO with a learned critic (issue 27): the critic's keys and GAE's ranges
    ("train model={model} data.train={tasks} algo.name=ppo critic.lrr=1e-5", "unknown config key 'critic.lrr'"),
    ("train model={model} data.train={tasks} algo.name=ppo critic.lr=-1e-5", "critic.lr must be positive"),
    ("train model={model} data.train={tasks} algo.name=ppo algo.gamma=1.5", "algo.gamma must be in [0, 1]"),
    ("train model={model} data.train={tasks} algo.name=ppo algo.lam=-0.1", "algo.lam must be in [0, 1]"),
    ("train model={model} data.train={tasks} algo.name=reinforce", "'algo.name' must be one of 'grpo', 'ppo'"),
    ("train model={model} data.train={tasks} algo.group_size=1", "algo.name=ppo trains on one"),
    ("train model={model} data.train={tasks} algo.kl_in_reward=0.05", "with algo.name=grpo use algo.beta"),
    ("train model={model} data.train={tasks} algo.name=ppo data.dynamic_filter=true", "data.dynamic_filter=false"),
    # engine options (one EngineSpec): the same flags and checks on every command that samples
    ("distill --model {model} --tasks {tasks} -o out.jsonl --gpu-memory-utilization 0", "--gpu-memory-utilization"),
    ("curate --model {model} --tasks {tasks} -o out.jsonl --gpu-memory-utilization 1.5", "--gpu-memory-utilization"),
    ("curate --model {model} --tasks {tasks} -o out.jsonl --engine sglang", "--engine"),
    ("distill --model {model} --tasks {tasks} -o out.jsonl --precision fp16", "--precision"),
    ("curate --model {model} --tasks {tasks} -o out.jsonl --device nosuch", "--device"),
    ("distill --model {model} --tasks {tasks} -o out.jsonl --device nosuch", "--device"),
    ("sft model={model} data.train={tasks} sampling.batch_size=0", "sampling.batch_size"),
    ("sft model={model} data.train={tasks} sampling.gpu_memory_utilization=2", "sampling.gpu_memory_utilization"),
    ("pipeline {pipeline_engine}", "stage 1 (eval): batch_size"),
    ("eval --model {model} --tasks {tasks} --device nosuch", "--device"),
    pytest.param("eval --model {model} --tasks {tasks} --device cuda", "--device", id="device-cuda-without-cuda",
                 marks=pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")),
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture
def inputs(tmp_path, tiny_model):
    paths = {"model": str(tiny_model)}
    for name, content in FILES.items():
        path = tmp_path / f"{name}.txt"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        paths[name] = str(path)
    (tmp_path / "a_dir").mkdir()
    paths["a_dir"] = str(tmp_path / "a_dir")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_bytes(NON_UTF8)
    paths["run_latin1"] = str(tmp_path / "run")
    (tmp_path / "run2").mkdir()  # a task file that sits where the run would write its samples
    (tmp_path / "run2" / "samples.jsonl").write_text(FILES["tasks"])
    paths["run2"], paths["run2_samples"] = str(tmp_path / "run2"), str(tmp_path / "run2" / "samples.jsonl")
    (tmp_path / "pipe.yaml").write_text(f"output_dir: {paths['a_file']}\nmodel: {tiny_model}\nstages:\n"
                                        f"  - eval: {{name: base, tasks: [{paths['tasks']}], k: 1}}\n")
    paths["pipeline"] = str(tmp_path / "pipe.yaml")
    (tmp_path / "pipe_engine.yaml").write_text(f"model: {tiny_model}\nstages:\n"  # engine options
                                               f"  - eval: {{name: base, tasks: [{paths['tasks']}], batch_size: 0}}\n")
    paths["pipeline_engine"] = str(tmp_path / "pipe_engine.yaml")
    return paths


def snapshot(folder) -> dict[str, tuple[int, int, int]]:
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            out[os.path.relpath(os.path.join(root, name), folder)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


@pytest.mark.parametrize(("command", "words"), ROWS)
def test_bad_input_is_one_sentence_before_any_work(command, words, inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    assert main([word.format(**inputs) for word in command.split()]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlvr: error: "), err
    assert words in lines[0]
    assert "loading" not in out  # found before the model loads
    assert snapshot(tmp_path) == before


def test_verify_reads_a_math_interval_as_text_and_scientific_options_as_numbers(capsys):
    assert main(["verify", "--verifier", "math", "--reference", "[0, 1)", "--completion", "\\boxed{[0, 1)}"]) == 0
    assert main(["verify", "--verifier", "math", "--reference", "[0, 1]", "--completion", "\\boxed{[0, 1)}"]) == 0
    interval, closed = capsys.readouterr().out.split("reward")[1:]
    assert interval.startswith(" 1 ") and closed.startswith(" 0 ")  # [0, 1) is right, [0, 1] is not
    assert main(["verify", "--verifier", "math", "--reference", "0.5", "--completion", "\\boxed{0.5004}",
                 "--option", "tolerance=1e-3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True


def test_tasks_show_clips_a_huge_first_prompt(tmp_path, capsys):
    path = tmp_path / "big.jsonl"
    path.write_text(_task(prompt="x" * 1_000_000))
    assert main(["tasks", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert len(out) < 2000 and "more characters" in out


# ------------------------------------------------------------------------------------------
# Outputs never destroy inputs, special inputs, seeds and sizes, broken eval files (issue 22).

EVAL_SAMPLES = {**EVAL, "samples": [{"task_id": "a", "sample": j, "text": "7", "passed": True} for j in range(2)]}

FILES_22: dict[str, str] = {
    "eval_s": json.dumps(EVAL_SAMPLES),
    "eval_s2": json.dumps(EVAL_SAMPLES),
    "eval_nosamples": json.dumps(EVAL),
    "eval_dup": json.dumps({**EVAL_SAMPLES, "tasks": [EVAL_TASK, EVAL_TASK]}),
    "eval_oversampled": json.dumps({**EVAL_SAMPLES, "samples": EVAL_SAMPLES["samples"] * 2}),
    "eval_huge_n": json.dumps({**EVAL_SAMPLES, "tasks": [{**EVAL_TASK, "n": 2_000_000_000}]}),
    "metrics_400_digits": '{"metrics": {"pass@1": ' + "9" * 400 + "}}",
    "rules_nan": "rules:\n  - {metric: pass@1, max_drop: .nan}\n",
}

ROWS_22 = [
    # an output that is an input, by name or through a link
    ("eval --model {model} --tasks {tasks} --k 1 -o {tasks}", "is the input file"),
    ("eval --model {model} --tasks {tasks_link} --k 1 -o {tasks}", "is the input file"),
    ("report {run_ok} -o {run_ok}/metrics.jsonl", "is the input file"),
    ("compare {eval_s} {eval_s2} --resamples 10 --json {eval_s}", "is the input file"),
    ("boundary {eval_s} {eval_s2} --resamples 10 --json {eval_s2}", "is the input file"),
    ("curate --tasks {tasks} --from-eval {eval_s} --band 0 1 -o {tasks}", "is the input file"),
    ("curate --tasks {tasks} --from-eval {eval_s} --band 0 1 -o {eval_s}", "is the input file"),
    ("distill --model {model} --tasks {tasks} --k 1 -o {tasks}", "is the input file"),
    # a FIFO as an input is refused, not opened (the open would block forever)
    ("eval --model {model} --tasks {fifo}", "is a FIFO"),
    ("tasks show {fifo}", "is a FIFO"),
    ("gate {metrics} {metrics} --rules {fifo}", "is a FIFO"),
    ("compare {fifo} {eval_s}", "is a FIFO"),
    ("train model={model} data.train={tasks} data.reward_correction={fifo}", "is a FIFO"),
    # seeds: numpy and torch take [0, 2**32 - 1]; eval found out after sampling
    ("eval --model {model} --tasks {tasks} --k 1 --seed -1", "2**32 - 1"),
    ("eval --model {model} --tasks {tasks} --k 1 --seed 4294967296", "2**32 - 1"),
    ("compare {eval_s} {eval_s2} --resamples 10 --seed -1", "--seed"),
    ("boundary {eval_s} {eval_s2} --resamples 10 --seed 4294967296", "--seed"),
    ("demo --model {model} --seed -1 --output-dir demo", "--seed"),
    ("train model={model} data.train={tasks} run.seed=-1", "run.seed"),
    ("train model={model} data.train={tasks} run.seed=4294967296", "run.seed"),
    # sizes: a 44.7 GiB bootstrap, an n that makes boundary spin, a sparse 2 GiB file, huge numbers
    ("compare {eval_s} {eval_s2} --resamples 1000000000", "--resamples"),
    ("boundary {eval_huge_n} {eval_s} --resamples 10", "more than 1,000,000"),
    ("compare {sparse} {eval_s} --resamples 10", "RLVR_MAX_JSON_BYTES"),
    ("report {run_deep}", "too deeply"),
    ("report {run_bigint}", "4300 digits"),
    ("gate {metrics} {metrics_400_digits} --rules {rules}", "too large for a float"),
    ("gate {metrics} {metrics} --rules {rules_nan}", "must be a finite number"),
    # decisions, plans and --seeds auto (issue 24)
    ("compare {eval_s} {eval_s2} {eval_s}", "in pairs"),
    ("compare {eval_s} {eval_s2} --delta 0", "--delta"),
    ("compare {eval_s} {eval_s2} --delta nan", "--delta"),
    ("compare {eval_s} {eval_s2} {eval_s} {eval_nosamples} --json {eval_nosamples}", "is the input file"),
    ("compare {eval_s} {eval_s2} {eval_s} {eval_nosamples}", "eval_nosamples.txt"),  # a later pair is checked too
    ("plan {eval_s} {eval_s2} --power 1.5", "--power"),
    ("plan {eval_s} {eval_s2} {eval_s2}", "in pairs"),
    ("spurious {config} --seeds auto --max-seeds 1", "--max-seeds"),
    ("spurious {config} --seeds 2 --max-seeds 4", "--max-seeds"),
    ("spurious {config} --seeds many", "--seeds"),
    ("spurious {config} --delta 2", "--delta"),
    ("demo --model {model} --seeds auto --max-seeds 1 --output-dir demo", "--max-seeds"),
    ("demo --model {model} --delta -0.1 --output-dir demo", "--delta"),
    # eval files that cannot be what they claim
    ("compare {eval_oversampled} {eval_s} --resamples 10", "2 saved samples"[1:]),
    ("boundary {eval_oversampled} {eval_s} --resamples 10", "saved samples but n = 2"),
    ("compare {eval_nosamples} {eval_s} --resamples 10", "'samples' is empty"),
    ("boundary {eval_s} {eval_nosamples} --resamples 10", "'samples' is empty"),
    ("compare {eval_dup} {eval_s} --resamples 10", "appears twice"),
    ("boundary {eval_dup} {eval_s} --resamples 10", "appears twice"),
    # found late, or many lines, or ignored
    ("boundary {eval_s} {eval_s2} --resamples 10 --base-model {missing} --tasks {tasks}", "is not a local folder"),
    ("eval --model {model} --tasks {tasks} --batch-size 0", "--batch-size"),
    ("spurious {config} --format-reward [", "--format-reward"),
    ("spurious {config} data.eval={tasks} --base-rate 0.3", "--base-rate"),
    ("eval --model {model} --tasks {tasks} --gpu-memory-utilization 2", "--gpu-memory-utilization"),
]


@pytest.fixture
def inputs_22(inputs, tmp_path):
    """`inputs`, plus links, a FIFO, a sparse file, run directories and broken eval files."""
    paths = dict(inputs)
    for name, content in FILES_22.items():
        (tmp_path / f"{name}.txt").write_text(content)
        paths[name] = str(tmp_path / f"{name}.txt")
    (tmp_path / "tasks_link.txt").symlink_to(paths["tasks"])
    paths["tasks_link"] = str(tmp_path / "tasks_link.txt")
    os.mkfifo(tmp_path / "fifo")
    paths["fifo"] = str(tmp_path / "fifo")
    with open(tmp_path / "sparse.json", "wb") as f:  # 2 GiB that take no disk
        f.truncate(2 << 30)
    paths["sparse"] = str(tmp_path / "sparse.json")
    paths["missing"] = str(tmp_path / "missing")
    for name, line in (("run_ok", '{"step": 1, "reward": 0.5}'),
                       ("run_deep", '{"step": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"),
                       ("run_bigint", '{"step": 1, "x": ' + "9" * 5000 + "}")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.jsonl").write_text(line + "\n")
        paths[name] = str(tmp_path / name)
    (tmp_path / "grpo.yaml").write_text(f"model: {paths['model']}\ndata: {{train: {paths['tasks']}}}\n"
                                        f"run: {{output_dir: {tmp_path / 'out'}}}\n")
    paths["config"] = str(tmp_path / "grpo.yaml")
    return paths


@pytest.mark.parametrize(("command", "words"), ROWS_22)
def test_outputs_spare_inputs_and_bad_input_is_one_sentence(command, words, inputs_22, tmp_path, monkeypatch,
                                                            capsys):
    test_bad_input_is_one_sentence_before_any_work(command, words, inputs_22, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize(("baseline", "candidate"), [("0.5", "Infinity"), ("0.5", "NaN"), ("NaN", "0.9")])
def test_a_metric_that_is_not_finite_fails_the_gate(baseline, candidate, tmp_path, capsys):
    files = {}
    for name, value in (("baseline", baseline), ("candidate", candidate)):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text('{"metrics": {"pass@1": %s}}' % value)
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {metric: pass@1, max_drop: 0.1}\n")
    assert main(["gate", str(files["baseline"]), str(files["candidate"]), "--rules", str(rules)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "not a finite number" in out and "does not ship" in out
