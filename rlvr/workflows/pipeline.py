"""`rlvr pipeline CONFIG`: chain stages (distill, sft, grpo, eval, compare, gate) into one run tree.

    output_dir: runs/r1-style
    model: smollm2-135m-instruct
    stages:
      - distill: {tasks: train.jsonl, k: 16, max_new_tokens: 32, keep: shortest}
      - sft: {overrides: [optim.epochs=3, optim.lr=2e-5]}      # on the last distilled dataset
      - eval: {name: sft, tasks: [heldout.jsonl], k: 8, max_new_tokens: 32}
      - grpo: {config: grpo.yaml, overrides: [run.steps=12]}   # starts from the SFT model
      - eval: {name: grpo, tasks: [heldout.jsonl], k: 8, max_new_tokens: 32}
      - compare: {base: sft, trained: grpo}
      - gate: {baseline: sft, candidate: grpo, rules: {rules: [{metric: pass@1, min_delta: 0.0}]}}

The model threads through the stages: `sft` and `grpo` train the current model and make their
result the current model; `distill` and `eval` sample from it, on the sampler their engine options
name (`engine: vllm`, `gpu_memory_utilization`, `dtype`, `device`, `batch_size`, `precision`, as
`rlvr eval` takes them; a grpo or sft stage's sampler is its config's `sampling:` section). Each stage gets its own
directory `OUTPUT_DIR/NN-TYPE` (a normal run directory for sft and grpo) and a `stage.json`
when it finishes; a rerun skips finished stages whose spec has not changed, so a pipeline
that stopped resumes at the stage that did not finish. A failing gate stops the pipeline
with exit status 1. OUTPUT_DIR/report.html links every stage and the GRPO report.

A distill stage runs the `DistillJob` and an eval stage the `EvalJob` that `rlvr distill` and
`rlvr eval` run (rlvr/workflows/distill.py, evaluation.py): the same checks, files and options
(`split`; for eval `limit` and `strict_references` too), on the current model. A compare stage runs the
`CompareJob` and a gate stage the `GateJob` of `rlvr compare` and `rlvr gate` (comparison.py, gate.py)
on two eval stages' files; a gate's rules (a rules file, or the mapping inline) are read before the
first stage runs.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rlvr._errors import ConfigError
from rlvr._io import atomic_write, check_directory, read_text_file, write_json
from rlvr.models.generation import DEFAULT_K, SamplingParams
from rlvr.models.spec import DEFAULT_MODEL, EngineSpec, engine_spec
from rlvr.rundir import RunDir

if TYPE_CHECKING:
    from rlvr.workflows.distill import DistillJob
    from rlvr.workflows.evaluation import EvalJob

STAGES = ("distill", "sft", "grpo", "eval", "compare", "gate")
# The sampling options of distill and eval stages: SamplingParams' fields, K named `k` as on the command line.
_SAMPLING = {"k" if f.name == "n" else f.name for f in fields(SamplingParams)}
# The sampler options of distill and eval stages: EngineSpec's fields but the model, which threads through the stages.
_ENGINE = {f.name for f in fields(EngineSpec)} - {"model"}
_OPTIONS = {  # the keys each stage accepts; anything else is a typo worth a clear error
    # DistillJob's and EvalJob's options, as `rlvr distill` and `rlvr eval` take them
    "distill": {"tasks", "keep", "per_task", "split", *_SAMPLING, *_ENGINE},
    "sft": {"config", "overrides", "dataset"},
    "grpo": {"config", "overrides"},
    "eval": {"name", "tasks", "split", "limit", "strict_references", *_SAMPLING, *_ENGINE},
    "compare": {"base", "trained"},
    "gate": {"baseline", "candidate", "rules"},
}


def load_pipeline(path: str | Path) -> dict[str, Any]:
    """Read and check the pipeline config: every stage known, every option known, references resolvable."""
    text = read_text_file(path, "pipeline file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"pipeline file {path} is not valid YAML: {str(exc).splitlines()[0]}.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list) or not data["stages"]:
        raise ConfigError(f"pipeline file {path} needs a non-empty `stages:` list.")
    unknown = set(data) - {"output_dir", "model", "stages"}
    if unknown:
        raise ConfigError(f"unknown pipeline key '{sorted(unknown)[0]}'; the keys are output_dir, model, stages.")
    evals: set[str] = set()
    has_dataset = False
    for number, stage in enumerate(data["stages"], 1):
        if not isinstance(stage, dict) or len(stage) != 1:
            raise ConfigError(f"stage {number} must be one mapping like `- eval: {{...}}`.")
        (kind, options), = stage.items()
        options = options or {}
        if kind not in STAGES:
            raise ConfigError(f"stage {number}: unknown stage '{kind}'; the stages are {', '.join(STAGES)}.")
        if not isinstance(options, dict) or set(options) - _OPTIONS[kind]:
            extra = sorted(set(options) - _OPTIONS[kind]) if isinstance(options, dict) else ["(not a mapping)"]
            raise ConfigError(f"stage {number} ({kind}): unknown option '{extra[0]}'; "
                              f"it takes {', '.join(sorted(_OPTIONS[kind]))}.")
        if kind in ("distill", "eval") and not options.get("tasks"):
            raise ConfigError(f"stage {number} ({kind}) needs `tasks`.")
        if kind == "eval":
            if not options.get("name") or options["name"] in evals:
                raise ConfigError(f"stage {number} (eval) needs a `name` not used by an earlier eval.")
            evals.add(options["name"])
        if kind == "sft" and not (has_dataset or options.get("dataset")):
            raise ConfigError(f"stage {number} (sft) has no dataset: put a distill stage before it or give `dataset`.")
        has_dataset = has_dataset or kind == "distill"
        for key in {"compare": ("base", "trained"), "gate": ("baseline", "candidate")}.get(kind, ()):
            if options.get(key) not in evals:
                raise ConfigError(f"stage {number} ({kind}): `{key}` must name an earlier eval stage "
                                  f"({', '.join(sorted(evals)) or 'there is none'}).")
        if kind in ("distill", "eval"):  # a bad engine option fails now, naming its stage
            where = f"stage {number} ({kind}): {{}}"
            engine_spec({k: v for k, v in options.items() if k in _ENGINE}, name=where.format)
        if kind == "gate" and not options.get("rules"):
            raise ConfigError(f"stage {number} (gate) needs `rules` (a mapping or a rules file).")
    data.setdefault("output_dir", "runs/pipeline")
    data.setdefault("model", DEFAULT_MODEL)
    if not isinstance(data["output_dir"], str) or not data["output_dir"]:
        raise ConfigError(f"pipeline file {path}: output_dir must be a folder path, got {data['output_dir']!r}.")
    check_directory(data["output_dir"], f"output_dir of {path}:")
    return data


def run_pipeline(pipeline: dict[str, Any], base_dir: Path = Path("."), progress: bool = True) -> dict[str, Any]:
    """Run (or resume) every stage; returns the state: current model, dataset, evals, stage records."""
    _check_task_files(pipeline, base_dir)
    root = Path(pipeline["output_dir"])
    root.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"model": pipeline["model"], "dataset": None, "evals": {}, "stages": [],
                             "shipped": None}
    total = len(pipeline["stages"])
    for number, stage in enumerate(pipeline["stages"], 1):
        (kind, options), = stage.items()
        options = _paths(kind, options or {}, base_dir)
        folder = root / f"{number:02d}-{kind}"
        spec = {"kind": kind, "options": options, "model": state["model"], "dataset": state["dataset"]}
        done = _finished(folder, spec)
        print(f"\n[{number}/{total}] {kind} {'(finished earlier, reused)' if done else ''}".rstrip(), flush=True)
        if done is None:
            outputs = _RUNNERS[kind](options, state, folder, progress)
            done = {"spec": spec, "outputs": outputs}
            write_json(done, folder / "stage.json")
        outputs = done["outputs"]
        state["model"] = outputs.get("model", state["model"])
        state["dataset"] = outputs.get("dataset", state["dataset"])
        if kind == "eval":
            state["evals"][options["name"]] = outputs["eval"]
        state["stages"].append({"number": number, "kind": kind, "folder": str(folder), **outputs})
        if kind == "gate":
            state["shipped"] = outputs["shipped"]  # earlier gates passed, or the pipeline would have stopped
            if not outputs["shipped"]:
                print("the gate failed: the pipeline stops here.")
                break
    report = _report(root, state)
    print(f"\npipeline finished: {len(state['stages'])} of {total} stages; report {report}")
    return state


def _check_task_files(pipeline: dict[str, Any], base_dir: Path) -> None:
    """Every distill and eval stage's job checked as its command checks it (task files read, verifiers built,
    a plugin path refused unless allowed, options in range), and every gate stage's rules read as `rlvr gate`
    reads them, before the first stage runs: bad input fails before a model loads or a folder is made."""
    from rlvr.workflows.distill import check_distill
    from rlvr.workflows.evaluation import check_eval
    from rlvr.workflows.gate import gate_rules

    root = Path(pipeline["output_dir"])
    state = {"model": pipeline["model"], "dataset": None}
    for number, stage in enumerate(pipeline["stages"], 1):
        (kind, options), = stage.items()
        folder = root / f"{number:02d}-{kind}"
        if kind == "distill":
            check_distill(_distill_job(_paths(kind, options or {}, base_dir), state, folder))
        elif kind == "eval":
            check_eval(_eval_job(_paths(kind, options or {}, base_dir), state, folder))
        elif kind == "gate":  # its metrics files are the eval stages' outputs, read when the gate runs
            try:
                gate_rules(_paths(kind, options, base_dir)["rules"])
            except ConfigError as exc:
                raise ConfigError(f"stage {number} (gate): {exc}") from None


def _paths(kind: str, options: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """File options resolved against the pipeline file's folder, so the pipeline runs from anywhere."""
    def resolve(value: str) -> str:
        path = Path(value)
        return str(path if path.is_absolute() or not (base_dir / path).exists() else base_dir / path)

    out = dict(options)
    for key in ("config", "dataset"):
        if isinstance(out.get(key), str):
            out[key] = resolve(out[key])
    if kind == "gate" and isinstance(out.get("rules"), str):
        out["rules"] = resolve(out["rules"])
    if "tasks" in out:
        out["tasks"] = [resolve(t) for t in ([out["tasks"]] if isinstance(out["tasks"], str) else out["tasks"])]
    return out


def _finished(folder: Path, spec: dict[str, Any]) -> dict[str, Any] | None:
    try:
        done = json.loads((folder / "stage.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return done if done.get("spec") == json.loads(json.dumps(spec)) else None


# ---------------------------------------------------------------------------------------------
# The stages: each takes (options, state, folder, progress) and returns its outputs.


def _settings(options: dict[str, Any]) -> Any:
    from rlvr.evaluate import EvalSettings

    sampling = {("n" if key == "k" else key): value for key, value in options.items() if key in _SAMPLING}
    return EvalSettings(sampling=SamplingParams(**{"n": DEFAULT_K, **sampling}))


def _engine(options: dict[str, Any], state: dict[str, Any], **defaults: Any) -> EngineSpec:
    """The stage's sampler: the current model, with the stage's engine options over `defaults`."""
    return engine_spec({**defaults, **{k: v for k, v in options.items() if k in _ENGINE}, "model": state["model"]})


def _distill_job(options: dict[str, Any], state: dict[str, Any], folder: Path) -> DistillJob:
    """The stage as the `DistillJob` `rlvr distill` would run, on the current model (weights in float32)."""
    from rlvr.workflows.distill import DistillJob

    # The SFT data is sampled in float32 unless the stage says otherwise (auto would pick bfloat16 on a GPU).
    return DistillJob(_engine(options, state, dtype="float32"), tuple(options["tasks"]),
                      str(folder / "sft.jsonl"), settings=_settings(options), keep=options.get("keep", "all"),
                      per_task=options.get("per_task"), split=options.get("split"))


def _eval_job(options: dict[str, Any], state: dict[str, Any], folder: Path) -> EvalJob:
    """The stage as the `EvalJob` `rlvr eval` would run, on the current model."""
    from rlvr.workflows.evaluation import EvalJob

    return EvalJob(_engine(options, state), tuple(options["tasks"]), output=str(folder / "eval.json"),
                   settings=_settings(options), split=options.get("split"), limit=options.get("limit", 0),
                   strict_references=options.get("strict_references", False))


def _distill(options: dict[str, Any], state: dict[str, Any], folder: Path, progress: bool) -> dict[str, Any]:
    from rlvr.workflows.distill import run_distill

    job = _distill_job(options, state, folder)
    rows, _ = run_distill(job, progress=progress)
    return {"dataset": job.output, "kept": len(rows)}


def _sft(options: dict[str, Any], state: dict[str, Any], folder: Path, progress: bool) -> dict[str, Any]:
    from rlvr.sft.trainer import train_sft
    from rlvr.sft.config import load_sft_config

    overrides = [*options.get("overrides", []), f"model={state['model']}",
                 f"data.train={options.get('dataset') or state['dataset']}", f"run.output_dir={folder}",
                 "run.save_model=true"]
    run_dir = train_sft(load_sft_config(options.get("config"), overrides), progress=progress)
    return {"model": str(RunDir(run_dir).model)}


def _grpo(options: dict[str, Any], state: dict[str, Any], folder: Path, progress: bool) -> dict[str, Any]:
    from rlvr.train import final_model, train
    from rlvr.train.config import load_config

    config = load_config(options.get("config"), [*options.get("overrides", []), f"model={state['model']}",
                                                 f"run.output_dir={folder}"])
    run_dir = train(config, progress=progress)
    outputs = {"model": str(final_model(run_dir)), "run_dir": str(run_dir)}
    try:
        from rlvr.report import write_report

        outputs["report"] = str(write_report(run_dir))
    except ImportError:
        pass
    return outputs


def _eval(options: dict[str, Any], state: dict[str, Any], folder: Path, progress: bool) -> dict[str, Any]:
    from rlvr.workflows.evaluation import run_eval

    job = _eval_job(options, state, folder)
    records = run_eval(job, progress=progress)
    summary = {n: {k: v["value"] for k, v in r["summary"].items() if k.startswith("pass@")} for n, r in records.items()}
    return {"eval": job.output, "summary": summary}


def _compare(options: dict[str, Any], state: dict[str, Any], folder: Path, progress: bool) -> dict[str, Any]:
    """The `CompareJob` `rlvr compare BASE TRAINED` would run, on the two eval stages' files. compare.json keeps
    every task set's comparison under its name (`{"sets": ..., "warning": ...}`), one set too, where
    `rlvr compare --json` writes that set's record alone."""
    from rlvr.workflows.comparison import CompareJob, run_compare

    result = run_compare(CompareJob(state["evals"][options["base"]], state["evals"][options["trained"]]))
    write_json(result, folder / "compare.json")
    return {"compare": str(folder / "compare.json"),
            "verdicts": {name: r["verdict"] for name, r in result["sets"].items()}, "warning": result["warning"]}


def _gate(options: dict[str, Any], state: dict[str, Any], folder: Path, progress: bool) -> dict[str, Any]:
    """The `GateJob` `rlvr gate BASELINE CANDIDATE --rules R` would run, on the two eval stages' files."""
    from rlvr.workflows.gate import GateJob, gate_candidate

    job = GateJob(state["evals"][options["baseline"]], state["evals"][options["candidate"]], rules=options["rules"],
                  json=str(folder / "gate.json"))
    record = gate_candidate(job)
    return {"gate": job.json, "shipped": record["shipped"],
            "failed": [r["metric"] for r in record["results"] if not r["passed"]]}


_RUNNERS = {"distill": _distill, "sft": _sft, "grpo": _grpo, "eval": _eval, "compare": _compare, "gate": _gate}


def _report(root: Path, state: dict[str, Any]) -> Path:
    """OUTPUT_DIR/report.html: every stage with what it produced (drawn by rlvr.report.pipeline_page)."""
    from rlvr.report import pipeline_page

    page = pipeline_page(root, state)
    return atomic_write(root / "report.html", lambda f: f.write(page))
