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
result the current model; `distill` and `eval` sample from it. Each stage gets its own
directory `OUTPUT_DIR/NN-TYPE` (a normal run directory for sft and grpo) and a `stage.json`
when it finishes; a rerun skips finished stages whose spec has not changed, so a pipeline
that stopped resumes at the stage that did not finish. A failing gate stops the pipeline
with exit status 1. OUTPUT_DIR/report.html links every stage and the GRPO report.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from rlvr._errors import ConfigError
from rlvr._io import atomic_write, check_directory, read_text_file, write_json
from rlvr.models.generation import SamplingParams

STAGES = ("distill", "sft", "grpo", "eval", "compare", "gate")
# The sampling options of distill and eval stages: SamplingParams' fields, K named `k` as on the command line.
_SAMPLING = {"k" if f.name == "n" else f.name for f in fields(SamplingParams)}
_OPTIONS = {  # the keys each stage accepts; anything else is a typo worth a clear error
    "distill": {"tasks", "keep", "per_task", *_SAMPLING},
    "sft": {"config", "overrides", "dataset"},
    "grpo": {"config", "overrides"},
    "eval": {"name", "tasks", *_SAMPLING},
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
        if kind == "gate" and not options.get("rules"):
            raise ConfigError(f"stage {number} (gate) needs `rules` (a mapping or a rules file).")
    data.setdefault("output_dir", "runs/pipeline")
    data.setdefault("model", "smollm2-135m-instruct")
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
    """Every distill and eval stage's task file read and its verifiers built (a plugin path refused unless
    allowed) before the first stage runs: bad input fails before a model loads or a folder is made."""
    from rlvr.tasks.judge import check_verifiers

    for stage in pipeline["stages"]:
        (kind, options), = stage.items()
        if kind in ("distill", "eval"):
            for path, tasks in _load_tasks(_paths(kind, options or {}, base_dir)).values():
                check_verifiers(tasks, path)


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
    return EvalSettings(sampling=SamplingParams(**{"n": 8, **sampling}))


def _load_tasks(options: dict[str, Any]) -> dict[str, tuple[str, list]]:
    """The stage's task sets: {name: (path, tasks)}."""
    from rlvr.evaluate.runner import set_name
    from rlvr.tasks import load_tasks

    return {set_name(path): (path, load_tasks(path)) for path in options["tasks"]}


def _distill(options: dict[str, Any], state: dict[str, Any], folder: Path, progress: bool) -> dict[str, Any]:
    from rlvr._io import write_jsonl
    from rlvr.models import HFEngine, load_policy
    from rlvr.workflows.distill import distill, format_yield

    tasks = [t for _, group in _load_tasks(options).values() for t in group]
    settings = _settings(options)
    policy = load_policy(state["model"], dtype="float32")
    rows, record = distill(HFEngine(policy), tasks, settings, options.get("keep", "all"), options.get("per_task"),
                           model_name=state["model"], tasks_source=", ".join(options["tasks"]), progress=progress)
    if not rows:
        raise ConfigError(f"distill kept no completion ({format_yield(record['distill'])}); sample more (k) "
                          "or use easier tasks.")
    write_jsonl(rows, folder / "sft.jsonl")
    write_json(record, folder / "sft.jsonl.eval.json")
    print(format_yield(record["distill"]))
    return {"dataset": str(folder / "sft.jsonl"), "kept": len(rows)}


def _sft(options: dict[str, Any], state: dict[str, Any], folder: Path, progress: bool) -> dict[str, Any]:
    from rlvr.train.sft import train_sft
    from rlvr.train.sft_config import load_sft_config

    overrides = [*options.get("overrides", []), f"model={state['model']}",
                 f"data.train={options.get('dataset') or state['dataset']}", f"run.output_dir={folder}",
                 "run.save_model=true"]
    run_dir = train_sft(load_sft_config(options.get("config"), overrides), progress=progress)
    return {"model": str(run_dir / "model")}


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
    from rlvr.evaluate import combine_sets, evaluate_sets
    from rlvr.models import HFEngine, load_policy

    engine = HFEngine(load_policy(state["model"]))
    records = evaluate_sets(engine, _load_tasks(options), _settings(options), model_name=state["model"],
                            progress=progress)
    write_json(combine_sets(records), folder / "eval.json")
    summary = {n: {k: v["value"] for k, v in r["summary"].items() if k.startswith("pass@")} for n, r in records.items()}
    return {"eval": str(folder / "eval.json"), "summary": summary}


def _compare(options: dict[str, Any], state: dict[str, Any], folder: Path, progress: bool) -> dict[str, Any]:
    from rlvr.evaluate.gains import compare_sets, format_comparison_sets

    base, trained = (json.loads(Path(state["evals"][options[k]]).read_text()) for k in ("base", "trained"))
    result = compare_sets(base, trained)
    write_json(result, folder / "compare.json")
    print(format_comparison_sets(result))
    return {"compare": str(folder / "compare.json"),
            "verdicts": {name: r["verdict"] for name, r in result["sets"].items()}, "warning": result["warning"]}


def _gate(options: dict[str, Any], state: dict[str, Any], folder: Path, progress: bool) -> dict[str, Any]:
    from rlvr.evaluate.gate import metrics_of, parse_rules, run_gate

    rules = options["rules"]
    if isinstance(rules, str):
        try:
            rules = yaml.safe_load(Path(rules).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read gate rules {options['rules']}: {exc}.") from None
    baseline, candidate = (metrics_of(json.loads(Path(state["evals"][options[k]]).read_text()))
                           for k in ("baseline", "candidate"))
    results = run_gate(parse_rules(rules), baseline, candidate)
    for r in results:
        print(f"  {'PASS' if r['passed'] else 'FAIL'}  {r['metric']:<20} {r['detail']}")
    shipped = all(r["passed"] for r in results)
    print("ships" if shipped else "does not ship")
    write_json({"results": results, "shipped": shipped}, folder / "gate.json")
    return {"gate": str(folder / "gate.json"), "shipped": shipped,
            "failed": [r["metric"] for r in results if not r["passed"]]}


_RUNNERS = {"distill": _distill, "sft": _sft, "grpo": _grpo, "eval": _eval, "compare": _compare, "gate": _gate}


def _report(root: Path, state: dict[str, Any]) -> Path:
    """One page: every stage with what it produced, the comparisons and gates, links to the GRPO reports."""
    from html import escape

    rows = []
    for s in state["stages"]:
        produced = []
        for key in ("model", "dataset", "eval", "compare", "gate", "report"):
            if s.get(key):
                target = Path(s[key])
                link = target.relative_to(root) if target.is_relative_to(root) else target
                produced.append(f'{key}: <a href="{escape(str(link))}">{escape(str(link))}</a>')
        extra = []
        if s["kind"] == "eval":
            extra = [f"{escape(n)}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items())
                     for n, m in s["summary"].items()]
        if s["kind"] == "compare":
            extra = [f"{escape(n)}: {escape(v.replace('_', ' '))}" for n, v in s["verdicts"].items()]
            extra += [f"<b>warning</b>: {escape(s['warning'])}"] if s.get("warning") else []
        if s["kind"] == "gate":
            extra = ["ships" if s["shipped"] else "<b>does not ship</b>: " + escape(", ".join(s["failed"]))]
        if s["kind"] == "distill":
            extra = [f"{s['kept']} completions kept"]
        rows.append(f"<tr><td>{s['number']}</td><td>{s['kind']}</td><td>{'<br>'.join(produced)}</td>"
                    f"<td>{'<br>'.join(extra)}</td></tr>")
    verdict = {None: "no gate", True: "ships", False: "does not ship"}[state["shipped"]]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>rlvr pipeline</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:6px;text-align:left;
vertical-align:top}}</style></head><body><h1>rlvr pipeline: {escape(str(root))}</h1>
<p>final model: <code>{escape(state['model'])}</code>; release gate: <b>{verdict}</b></p>
<table><tr><th>#</th><th>stage</th><th>wrote</th><th>result</th></tr>{''.join(rows)}</table></body></html>"""
    path = root / "report.html"
    return atomic_write(path, lambda f: f.write(page))
