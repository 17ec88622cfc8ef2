"""Bad input through every command, in-process: how many give one clean sentence?

    python benchmarks/cli_sweep.py [--verbose] [--only eval]

Each case runs `rlvr.cli.main(argv)` in a fresh folder holding its inputs (a tiny model saved
from tests/conftest.py, small task, eval and config files) and is put in one bucket:

    clean      exit 2, stderr one line `rlvr: error: ...`, no model loaded, no file touched
    late       a clean error, but only after the model loaded or after files were written
    unclean    exit 2 with more than one line on stderr (argparse usage, a warning, ...)
    traceback  an exception escaped main() (or the case ran past --case-timeout seconds)
    accepted   exit 0 or 1: bad input that the command took

The kinds of bad input: missing, empty, binary, non-UTF-8, malformed, wrong shape, out of
range, unwritable output (parent is a file, output is a directory), special-file output (a
FIFO), an output that is an input (by name or through a link) and a special input (a FIFO,
which a reader waits on forever: a traceback at --case-timeout). To count the code before a
change, run the same script against another checkout:
`git worktree add /tmp/before HEAD && PYTHONPATH=/tmp/before python benchmarks/cli_sweep.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # conftest.save_tiny_model

NON_UTF8 = b"caf\xe9 \xff\xfe\n"
BINARY = bytes(range(256)) * 4
DEEP = "[" * 1000 + "]" * 1000


def _task(id_: str = "a", prompt: str = "What is 3 + 4 ?", reference: str = "7", verifier="math") -> str:
    return json.dumps({"id": id_, "prompt": prompt, "reference": reference, "verifier": verifier})


def setup_inputs(folder: Path, model: str, eval_record: dict) -> dict[str, str]:
    """The files every case may use, made fresh in `folder`; returns their paths by name."""
    files: dict[str, bytes | str] = {
        "tasks": _task("a") + "\n" + _task("b", "What is 12 * 7 ?", "84") + "\n",
        "empty": "",
        "binary": BINARY,
        "latin1": NON_UTF8,
        "malformed": '{"id": "a", "prompt": \n',
        "wrong_shape": "[1, 2]\n",
        "deep": '{"id": "a", "prompt": ' + DEEP + ', "reference": "1"}\n',
        "bigint": '{"id": "a", "prompt": "p", "reference": ' + "9" * 5000 + "}\n",
        "surrogate": '{"id": "a", "prompt": "p \\ud800", "reference": "1"}\n',
        "unknown_verifier": _task("a", verifier="nosuch") + "\n",
        "eval": json.dumps(eval_record),
        "eval_tasks_5": json.dumps({"tasks": 5}),
        "eval_tasks_list": json.dumps({"tasks": [1, 2]}),
        "json_list": "[1, 2]",
        "eval_bad_record": json.dumps({**eval_record, "tasks": [{"id": "a"}]}),
        "metrics": json.dumps({"metrics": {"pass@1": 0.5}}),
        "rules": "rules:\n  - {metric: pass@1, max_drop: 0.1}\n",
        "rules_list": "[1, 2]\n",
        "rules_bad_yaml": "rules: [\n",
        "metrics_lists": "[1, 2]\n[3, 4]\n",
        "metrics_nostep": '{"reward": 0.5}\n',
        "sft": json.dumps({"messages": [{"role": "user", "content": "What is 3 + 4 ?"},
                                        {"role": "assistant", "content": "7"}]}) + "\n",
        "a_file": "not a folder\n",
    }
    paths = {}
    for name, content in files.items():
        path = folder / f"{name}.txt"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        paths[name] = str(path)
    (folder / "a_dir").mkdir()
    paths["a_dir"] = str(folder / "a_dir")
    os.mkfifo(folder / "fifo")
    paths["fifo"] = str(folder / "fifo")
    paths["under_file"] = str(folder / "a_file.txt" / "out.json")
    paths["missing"] = str(folder / "missing.txt")
    paths["model"] = model
    run = folder / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_bytes(NON_UTF8)
    paths["run_latin1"] = str(run)
    paths["config"] = str(folder / "grpo.yaml")
    Path(paths["config"]).write_text(
        f"model: {model}\ndata: {{train: {paths['tasks']}, prompts_per_step: 1}}\nalgo: {{group_size: 2}}\n"
        f"sampling: {{max_new_tokens: 2, batch_size: 4}}\nrun: {{steps: 1, output_dir: {folder / 'out'}}}\n")
    _outputs_and_inputs(folder, paths, eval_record)
    paths["pipeline_under_file"] = str(folder / "pipe.yaml")
    Path(paths["pipeline_under_file"]).write_text(
        f"output_dir: {paths['a_file']}\nmodel: {model}\nstages:\n"
        f"  - eval: {{name: base, tasks: [{paths['tasks']}], k: 1, max_new_tokens: 2}}\n")
    return paths


def _outputs_and_inputs(folder: Path, paths: dict[str, str], eval_record: dict) -> None:
    """The inputs of the rows on outputs that are inputs, special inputs and broken eval files."""
    first = eval_record["tasks"][0]
    extra_sample = {**eval_record["samples"][0], "sample": first["n"]}
    files = {
        "tasks_link": None,
        "eval_nosamples": {**eval_record, "samples": []},
        "eval_dup": {**eval_record, "tasks": [first, first]},
        "eval_oversampled": {**eval_record, "samples": [*eval_record["samples"], extra_sample]},
        "eval_huge_n": {**eval_record, "tasks": [{**t, "n": 2_000_000_000} for t in eval_record["tasks"]]},
        "metrics_400_digits": '{"metrics": {"pass@1": ' + "9" * 400 + "}}",
    }
    for name, content in files.items():
        path = folder / f"{name}.txt"
        if content is None:
            path.symlink_to(paths["tasks"])
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content))
        paths[name] = str(path)
    with open(folder / "sparse.json", "wb") as f:  # 2 GiB that take no disk
        f.truncate(2 << 30)
    paths["sparse"] = str(folder / "sparse.json")
    for name, line in (("run_ok", '{"step": 1, "reward": 0.5}'),
                       ("run_deep", '{"step": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"),
                       ("run_bigint", '{"step": 1, "x": ' + "9" * 5000 + "}")):
        (folder / name).mkdir()
        (folder / name / "metrics.jsonl").write_text(line + "\n")
        paths[name] = str(folder / name)


# (command, kind, argv) with {name} filled from setup_inputs
CASES: list[tuple[str, str, str]] = [
    # eval
    ("eval", "missing", "eval --model {model} --tasks {missing}"),
    ("eval", "empty", "eval --model {model} --tasks {empty}"),
    ("eval", "binary", "eval --model {model} --tasks {binary}"),
    ("eval", "non-utf8", "eval --model {model} --tasks {latin1}"),
    ("eval", "malformed", "eval --model {model} --tasks {malformed}"),
    ("eval", "wrong shape", "eval --model {model} --tasks {wrong_shape}"),
    ("eval", "malformed", "eval --model {model} --tasks {deep}"),
    ("eval", "out of range", "eval --model {model} --tasks {bigint}"),
    ("eval", "malformed", "eval --model {model} --tasks {surrogate} --k 1 --max-new-tokens 2"),
    ("eval", "wrong shape", "eval --model {model} --tasks {unknown_verifier} --k 1 --max-new-tokens 2"),
    ("eval", "out of range", "eval --model {model} --tasks {tasks} --limit -1 --k 1 --max-new-tokens 2"),
    ("eval", "out of range", "eval --model {model} --tasks {tasks} --temperature nan --k 1 --max-new-tokens 2"),
    ("eval", "out of range", "eval --model {model} --tasks {tasks} --temperature inf --k 1 --max-new-tokens 2"),
    ("eval", "out of range", "eval --model {model} --tasks {tasks} --verifier-workers 0 --k 1 --max-new-tokens 2"),
    ("eval", "out of range", "eval --model {model} --tasks {tasks} --verifier-workers -3 --k 1 --max-new-tokens 2"),
    ("eval", "out of range", "eval --model {model} --tasks {tasks} --device nosuch --k 1 --max-new-tokens 2"),
    ("eval", "unwritable output", "eval --model {model} --tasks {tasks} --k 1 --max-new-tokens 2 -o {under_file}"),
    ("eval", "unwritable output", "eval --model {model} --tasks {tasks} --k 1 --max-new-tokens 2 -o {a_dir}"),
    ("eval", "special output", "eval --model {model} --tasks {tasks} --k 1 --max-new-tokens 2 -o {fifo}"),
    # tasks
    ("tasks show", "missing", "tasks show {missing}"),
    ("tasks show", "empty", "tasks show {empty}"),
    ("tasks show", "binary", "tasks show {binary}"),
    ("tasks show", "non-utf8", "tasks show {latin1}"),
    ("tasks show", "malformed", "tasks show {deep}"),
    ("tasks show", "out of range", "tasks show {bigint}"),
    ("tasks show", "malformed", "tasks show {surrogate}"),
    ("tasks show", "wrong shape", "tasks show {unknown_verifier}"),
    ("tasks show", "wrong shape", "tasks show {a_dir}"),
    ("tasks make", "out of range", "tasks make arithmetic digits=5000 --n 2 -o out.jsonl"),
    ("tasks make", "out of range", "tasks make arithmetic digits=9 --n 100000000 -o out.jsonl"),
    ("tasks make", "out of range", "tasks make arithmetic --n -1 -o out.jsonl"),
    ("tasks make", "unwritable output", "tasks make arithmetic --n 2 -o {under_file}"),
    ("tasks make", "unwritable output", "tasks make arithmetic --n 2 -o {a_dir}"),
    ("tasks make", "special output", "tasks make arithmetic --n 2 -o {fifo}"),
    # verify
    ("verify", "missing", "verify --verifier math --reference 1 --file {missing}"),
    ("verify", "non-utf8", "verify --verifier math --reference 1 --file {latin1}"),
    ("verify", "binary", "verify --verifier math --reference 1 --file {binary}"),
    ("verify", "wrong shape", "verify --verifier nosuch --reference 1 --completion 1"),
    ("verify", "malformed", "verify --verifier math --reference 1 --completion 1 --option tolerance=abc"),
    # compare
    ("compare", "missing", "compare {missing} {eval}"),
    ("compare", "empty", "compare {empty} {eval}"),
    ("compare", "non-utf8", "compare {latin1} {eval}"),
    ("compare", "binary", "compare {binary} {eval}"),
    ("compare", "malformed", "compare {malformed} {eval}"),
    ("compare", "wrong shape", "compare {eval_tasks_5} {eval}"),
    ("compare", "wrong shape", "compare {eval_tasks_list} {eval}"),
    ("compare", "wrong shape", "compare {json_list} {eval}"),
    ("compare", "out of range", "compare {eval} {eval} --resamples 0"),
    ("compare", "out of range", "compare {eval} {eval} --resamples -5"),
    ("compare", "unwritable output", "compare {eval} {eval} --resamples 10 --json {under_file}"),
    ("compare", "unwritable output", "compare {eval} {eval} --resamples 10 --json {a_dir}"),
    ("compare", "special output", "compare {eval} {eval} --resamples 10 --json {fifo}"),
    # gate
    ("gate", "missing", "gate {missing} {metrics} --rules {rules}"),
    ("gate", "non-utf8", "gate {latin1} {metrics} --rules {rules}"),
    ("gate", "wrong shape", "gate {json_list} {metrics} --rules {rules}"),
    ("gate", "non-utf8", "gate {metrics} {metrics} --rules {latin1}"),
    ("gate", "wrong shape", "gate {metrics} {metrics} --rules {rules_list}"),
    ("gate", "malformed", "gate {metrics} {metrics} --rules {rules_bad_yaml}"),
    ("gate", "missing", "gate {metrics} {metrics} --rules {missing}"),
    # curate
    ("curate", "missing", "curate --tasks {tasks} --from-eval {missing} -o out.jsonl"),
    ("curate", "non-utf8", "curate --tasks {tasks} --from-eval {latin1} -o out.jsonl"),
    ("curate", "wrong shape", "curate --tasks {tasks} --from-eval {eval_bad_record} -o out.jsonl"),
    ("curate", "wrong shape", "curate --tasks {tasks} --from-eval {json_list} -o out.jsonl"),
    ("curate", "unwritable output", "curate --tasks {tasks} --from-eval {eval} --band 0 1 -o {under_file}"),
    ("curate", "unwritable output", "curate --tasks {tasks} --from-eval {eval} --band 0 1 -o {a_dir}"),
    ("curate", "special output", "curate --tasks {tasks} --from-eval {eval} --band 0 1 -o {fifo}"),
    # health
    ("health", "missing", "health {missing}"),
    ("health", "non-utf8", "health {run_latin1}"),
    ("health", "wrong shape", "health {metrics_lists}"),
    ("health", "wrong shape", "health {metrics_nostep}"),
    ("health", "malformed", "health {metrics_nostep} --set min_entropy=abc"),
    ("health", "malformed", "health {metrics_nostep} --set window=abc"),
    ("health", "wrong shape", "health {metrics_nostep} --set nosuch=1"),
    # report
    ("report", "missing", "report {missing}"),
    ("report", "non-utf8", "report {run_latin1}"),
    # train
    ("train", "missing", "train {missing}"),
    ("train", "non-utf8", "train {latin1}"),
    ("train", "wrong shape", "train {json_list}"),
    ("train", "out of range", "train {config} sampling.temperature=0"),
    ("train", "out of range", "train {config} sampling.temperature=-1"),
    ("train", "out of range", "train {config} sampling.temperature=nan"),
    ("train", "out of range", "train {config} sampling.top_p=1.5"),
    ("train", "out of range", "train {config} sampling.top_k=-1"),
    ("train", "out of range", "train {config} data.eval_k=0"),
    ("train", "wrong shape", "train {config} data.train={unknown_verifier}"),
    ("train", "unwritable output", "train {config} run.output_dir={a_file}"),
    # sft
    ("sft", "non-utf8", "sft {latin1}"),
    ("sft", "unwritable output", "sft model={model} data.train={sft} run.output_dir={a_file}"),
    # distill
    ("distill", "out of range", "distill --model {model} --tasks {tasks} --temperature nan -o out.jsonl"),
    ("distill", "unwritable output", "distill --model {model} --tasks {tasks} --k 1 --max-new-tokens 2 "
                                     "-o {under_file}"),
    ("distill", "unwritable output", "distill --model {model} --tasks {tasks} --k 1 --max-new-tokens 2 -o {a_dir}"),
    # cost
    ("cost", "non-utf8", "cost {latin1}"),
    ("cost", "unwritable output", "cost {config} --device cpu --json {under_file}"),
    ("cost", "unwritable output", "cost {config} --device cpu --json {a_dir}"),
    ("cost", "special output", "cost {config} --device cpu --json {fifo}"),
    # pipeline, demo, spurious
    ("pipeline", "non-utf8", "pipeline {latin1}"),
    ("pipeline", "wrong shape", "pipeline {json_list}"),
    ("pipeline", "unwritable output", "pipeline {pipeline_under_file}"),
    ("demo", "unwritable output", "demo --model {model} --output-dir {a_file}"),
    ("spurious", "non-utf8", "spurious {latin1}"),
    # outputs that are inputs, special inputs, seeds and sizes, broken eval files (issue 22)
    ("eval", "output is input", "eval --model {model} --tasks {tasks} --k 1 --max-new-tokens 2 -o {tasks}"),
    ("eval", "output is input", "eval --model {model} --tasks {tasks_link} --k 1 --max-new-tokens 2 -o {tasks}"),
    ("report", "output is input", "report {run_ok} -o {run_ok}/metrics.jsonl"),
    ("compare", "output is input", "compare {eval} {eval_nosamples} --resamples 10 --json {eval}"),
    ("boundary", "output is input", "boundary {eval} {eval} --resamples 10 --json {eval}"),
    ("curate", "output is input", "curate --tasks {tasks} --from-eval {eval} --band 0 1 -o {tasks}"),
    ("distill", "output is input", "distill --model {model} --tasks {tasks} --k 1 --max-new-tokens 2 -o {tasks}"),
    ("eval", "special input", "eval --model {model} --tasks {fifo} --k 1 --max-new-tokens 2"),
    ("tasks show", "special input", "tasks show {fifo}"),
    ("gate", "special input", "gate {metrics} {metrics} --rules {fifo}"),
    ("compare", "special input", "compare {fifo} {eval}"),
    ("train", "special input", "train {config} data.reward_correction={fifo}"),
    ("gate", "out of range", "gate {metrics} {metrics_400_digits} --rules {rules}"),
    ("eval", "out of range", "eval --model {model} --tasks {tasks} --k 1 --max-new-tokens 2 --seed -1"),
    ("eval", "out of range", "eval --model {model} --tasks {tasks} --k 1 --max-new-tokens 2 --seed 4294967296"),
    ("compare", "out of range", "compare {eval} {eval} --resamples 10 --seed -1"),
    ("boundary", "out of range", "boundary {eval} {eval} --resamples 10 --seed 4294967296"),
    ("demo", "out of range", "demo --quick --model {model} --seed -1 --output-dir demo"),
    ("train", "out of range", "train {config} run.seed=-1"),
    ("compare", "out of range", "compare {eval} {eval} --resamples 1000000000"),
    ("compare", "wrong shape", "compare {eval_oversampled} {eval} --resamples 10"),
    ("boundary", "wrong shape", "boundary {eval_oversampled} {eval} --resamples 10"),
    ("report", "malformed", "report {run_deep}"),
    ("report", "out of range", "report {run_bigint}"),
    ("boundary", "out of range", "boundary {eval_huge_n} {eval_huge_n} --resamples 10"),
    ("compare", "out of range", "compare {sparse} {eval} --resamples 10"),
    ("compare", "wrong shape", "compare {eval_nosamples} {eval_nosamples} --resamples 10"),
    ("compare", "wrong shape", "compare {eval_dup} {eval} --resamples 10"),
    ("boundary", "wrong shape", "boundary {eval_dup} {eval} --resamples 10"),
    ("boundary", "missing", "boundary {eval} {eval} --resamples 10 --base-model {missing}"),
    ("eval", "out of range", "eval --model {model} --tasks {tasks} --k 1 --max-new-tokens 2 --batch-size 0"),
    ("spurious", "malformed", "spurious {config} --format-reward ["),
    ("spurious", "wrong shape", "spurious {config} data.eval={tasks} --base-rate 0.3"),
    ("eval", "out of range", "eval --model {model} --tasks {tasks} --k 1 --max-new-tokens 2 "
                             "--gpu-memory-utilization 2"),
]


def _snapshot(folder: Path) -> dict[str, tuple]:
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            out[os.path.relpath(path, folder)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


class _Timeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


def run_case(argv: list[str], folder: Path, timeout: int) -> tuple[str, str]:
    """(bucket, detail) of one case run in `folder`."""
    from rlvr.cli import main

    before = _snapshot(folder)
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(folder)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(timeout)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
    except _Timeout:
        return "traceback", f"still running after {timeout} s"
    except Exception as exc:  # noqa: BLE001 - counting escapes is the point
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return "traceback", last[:160]
    finally:
        signal.alarm(0)
        os.chdir(cwd)
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    if code in (0, 1):
        return "accepted", f"exit {code}"
    if "loading" in out.getvalue() or _snapshot(folder) != before:
        return "late", (lines or [""])[-1][:160]
    if len(lines) != 1 or not lines[0].startswith("rlvr: error:") or "Traceback" in err.getvalue():
        return "unclean", " | ".join(lines)[:160]
    return "clean", lines[0][:160]


def make_eval_record() -> dict:
    """A real eval record of two tasks, from a fake engine (no model)."""
    from rlvr.evaluate import EvalSettings, evaluate
    from rlvr.models import Completion, GenerationResult, SamplingParams
    from rlvr.tasks import Task

    class Fixed:
        def generate(self, prompts, params, progress=None):
            rows = [[Completion(text=t, token_ids=[1], logprobs=[0.0], finish_reason="stop")
                     for t in ("7", "84", "1", "2")[: params.n]] for _ in prompts]
            return GenerationResult(completions=rows, prompt_token_ids=[[1]] * len(prompts), new_tokens=1,
                                    seconds=1.0)

    tasks = [Task("a", "What is 3 + 4 ?", "7", {"name": "math", "answer": "bare"}),
             Task("b", "What is 12 * 7 ?", "84", {"name": "math", "answer": "bare"})]
    return evaluate(Fixed(), tasks, EvalSettings(SamplingParams(n=4), bootstrap_resamples=10, verifier_workers=1),
                    progress=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print every case and its outcome")
    parser.add_argument("--only", help="only the cases of this command")
    parser.add_argument("--case-timeout", type=int, default=60, help="seconds before a case counts as a hang")
    args = parser.parse_args(argv)

    from conftest import save_tiny_model

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    start = time.perf_counter()
    counts: dict[str, int] = {}
    by_kind: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = save_tiny_model(Path(tmp) / "tiny")
        record = make_eval_record()
        for i, (command, kind, template) in enumerate(CASES):
            if args.only and command != args.only:
                continue
            folder = Path(tmp) / f"case{i:03d}"
            folder.mkdir()
            paths = setup_inputs(folder, str(model), record)
            argv_ = [word.format(**paths) for word in template.split()]
            bucket, detail = run_case(argv_, folder, args.case_timeout)
            counts[bucket] = counts.get(bucket, 0) + 1
            by_kind.setdefault(kind, {}).setdefault(bucket, 0)
            by_kind[kind][bucket] += 1
            if args.verbose or bucket != "clean":
                print(f"{bucket:<9} {command:<10} {kind:<17} {template}\n          {detail}", flush=True)
    total = sum(counts.values())
    print(f"\n{total} cases in {time.perf_counter() - start:.0f} s: "
          + ", ".join(f"{b} {counts.get(b, 0)}" for b in ("clean", "late", "unclean", "traceback", "accepted")))
    for kind, buckets in sorted(by_kind.items()):
        print(f"  {kind:<18} " + ", ".join(f"{b} {n}" for b, n in sorted(buckets.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
