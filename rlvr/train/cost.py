"""What a GRPO run will use, estimated from its config: a planning spreadsheet.

    lines = estimate(load_config("grpo.yaml"), Assumptions(mean_len=20, cpu_hour_usd=0.04))
    print(format_estimate(lines))
    print(format_comparison(compare(lines, actual_usage("runs/grpo", lines))))

Every line is (quantity, formula in words, value). Inputs the config does not fix are
assumptions, marked as such in the table: the mean completion length (default: the
max_new_tokens cap, an upper bound), the share of rows that train, the throughputs, the
cost of one check and the prices. Prompt length is the task file's mean characters / 4
(the usual rule of thumb for English text with BPE tokenizers; it misses the chat template),
or exact token counts of the formatted prompts when a tokenizer is given.

Throughput defaults (used when not given) were measured with
`benchmarks/cost_throughput.py` (default options) for smollm2-135m-instruct in float32 on
this project's 2-core CPU machine with nothing else running: the medians of three runs,
178.8 tokens/s generated (195.4, 178.8, 174.3) and 131.5 tokens/s forward+backward (131.5,
133.4, 121.2). A machine shared with other jobs gets far less (the same script gave 14.7
and 34.7 under a load average of 4-9). On a GPU there is no default: measure yours with
that script and pass both. Verifier defaults:
35 ms a code check (median of `benchmarks/code_verifier_latency.py`), 0.25 ms a math-style
check through the worker pool (1,000 bare-number checks, 2 workers, same machine).

Comparison with a finished run reads its metrics.jsonl (per step: time/step_s,
time/generate_s, time/verify_s, len/mean, rows/trained, prompts/drawn) and eval/*.json.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from rlvr._errors import ConfigError, DataError
from rlvr._io import write_json as _write_json
from rlvr.rundir import RunDir, read_jsonl
from rlvr.train.config import TrainConfig

__all__ = ["Assumptions", "Line", "actual_usage", "compare", "estimate", "format_comparison", "format_estimate",
           "prompt_length", "to_json", "write_json"]

# Measured defaults (see the module docstring): tokens/s on a CPU, milliseconds per check.
CPU_GEN_TOKENS_PER_S = 178.8
CPU_TRAIN_TOKENS_PER_S = 131.5
CODE_VERIFY_MS = 35.0
OTHER_VERIFY_MS = 0.25
CHARS_PER_TOKEN = 4.0


@dataclass(frozen=True)
class Assumptions:
    """What the config does not say. None means "use the documented default"."""

    mean_len: float | None = None  # completion tokens per rollout; None = sampling.max_new_tokens
    prompt_tokens: float | None = None  # tokens per prompt; None = from the task file
    informative_frac: float = 1.0  # share of rollouts with a non-zero advantage (the rest do not train)
    gen_tokens_per_s: float | None = None
    train_tokens_per_s: float | None = None
    verify_ms: float | None = None  # one check, CPU milliseconds
    device: Literal["cpu", "cuda"] = "cpu"
    gpus: int = 1  # GPUs the run holds (cuda)
    cpus: int = 2  # CPU cores the run holds (cpu device)
    gpu_hour_usd: float = 0.0
    cpu_hour_usd: float = 0.0  # one CPU core for an hour

    def __post_init__(self) -> None:
        positive = {"mean_len": self.mean_len, "gen_tokens_per_s": self.gen_tokens_per_s,
                    "train_tokens_per_s": self.train_tokens_per_s}
        for name, value in positive.items():
            if value is not None and not value > 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}.")
        for name, value in {"prompt_tokens": self.prompt_tokens, "verify_ms": self.verify_ms,
                            "gpu_hour_usd": self.gpu_hour_usd, "cpu_hour_usd": self.cpu_hour_usd}.items():
            if value is not None and value < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 0, got {value}.")
        if not 0 < self.informative_frac <= 1:
            raise ConfigError(f"--informative-frac must be in (0, 1], got {self.informative_frac}.")
        if self.gpus < 0 or self.cpus < 1:
            raise ConfigError("--gpus must be >= 0 and --cpus at least 1.")


@dataclass(frozen=True)
class Line:
    """One row of the spreadsheet."""

    key: str  # stable name, e.g. "rollouts"
    quantity: str
    formula: str  # in words
    value: float
    unit: str = ""
    assumed: bool = False  # an input the config does not fix


@dataclass(frozen=True)
class PromptLength:
    tokens: float
    how: str  # formula in words
    assumed: bool = True  # an approximation (characters / 4), not a count


# ------------------------------------------------------------------------------------------------
# Prompt length


def _resolve(path: str, config_path: str | os.PathLike | None) -> Path | None:
    """A task file as given (relative to the working directory), else relative to the config file."""
    candidates = [Path(path)]
    if config_path is not None and not Path(path).is_absolute():
        candidates.append(Path(config_path).parent / path)
    return next((p for p in candidates if p.is_file()), None)


def prompt_length(config: TrainConfig, config_path: str | os.PathLike | None = None,
                  tokenizer: str | None = None) -> PromptLength:
    """Mean prompt length of the training tasks: characters / 4, or tokens of the formatted prompt."""
    if not config.data.train:
        return PromptLength(0.0, "data.train is not set: 0 (pass --prompt-tokens)")
    path = _resolve(config.data.train, config_path)
    if path is None:
        return PromptLength(0.0, f"task file {config.data.train} not found: 0 (pass --prompt-tokens)")
    from rlvr.tasks import load_tasks

    prompts = [t.prompt for t in load_tasks(path)]
    if tokenizer is None:
        chars = [len(p) if isinstance(p, str) else sum(len(m["content"]) for m in p) for p in prompts]
        return PromptLength(sum(chars) / len(chars) / CHARS_PER_TOKEN,
                            f"mean characters / {CHARS_PER_TOKEN:g} over the {len(prompts)} prompts of {path} "
                            "(no chat template)")
    policy = _tokenizer_only(tokenizer)
    counts = [len(policy.encode(p)) for p in prompts]
    return PromptLength(sum(counts) / len(counts),
                        f"mean tokens of the {len(prompts)} prompts of {path} as {tokenizer} formats them",
                        assumed=False)


def _tokenizer_only(spec: str) -> Any:
    """A Policy without a model: the engine's own prompt formatting, for counting tokens."""
    from transformers import AutoTokenizer

    from rlvr.models.loading import Policy, resolve_model

    folder = resolve_model(spec)
    return Policy(model=None, tokenizer=AutoTokenizer.from_pretrained(folder), name=spec)  # type: ignore[arg-type]


def _verifier_text(config: TrainConfig, config_path: str | os.PathLike | None) -> str:
    """The training verifier spec as text: the reward override, else the first task's verifier."""
    if config.data.reward:
        return json.dumps(config.data.reward)
    path = _resolve(config.data.train, config_path) if config.data.train else None
    if path is not None:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
        try:
            return json.dumps(json.loads(first).get("verifier", "math"))
        except (json.JSONDecodeError, AttributeError):
            return "math"
    return "math"


def _eval_tasks(config: TrainConfig, config_path: str | os.PathLike | None) -> tuple[int, list[str]]:
    """How many held-out tasks the run evaluates (at the start and at the end), and the missing files."""
    total, missing = 0, []
    for name in config.data.eval_files:
        path = _resolve(name, config_path)
        if path is None:
            missing.append(name)
            continue
        with open(path, encoding="utf-8") as f:
            total += sum(1 for line in f if line.strip())
    return total, missing


# ------------------------------------------------------------------------------------------------
# The estimate


def estimate(config: TrainConfig, assumptions: Assumptions = Assumptions(),
             prompt: PromptLength | None = None, config_path: str | os.PathLike | None = None) -> list[Line]:
    """The planning table for one config."""
    a = assumptions
    prompt = prompt or prompt_length(config, config_path)
    if a.prompt_tokens is not None:
        prompt = PromptLength(a.prompt_tokens, "--prompt-tokens", assumed=False)
    d, s = config.data, config.sampling
    lines: list[Line] = []

    def add(key: str, quantity: str, formula: str, value: float, unit: str = "", assumed: bool = False) -> float:
        lines.append(Line(key, quantity, formula, float(value), unit, assumed))
        return float(value)

    drawn = f" (dynamic_filter draws up to {d.max_draws}x more)" if d.dynamic_filter else ""
    prompts = add("prompts_per_step", "prompts per step", "data.prompts_per_step" + drawn, d.prompts_per_step)
    k = add("group_size", "completions per prompt (K)", "algo.group_size", config.algo.group_size)
    steps = add("steps", "steps", "run.steps", config.run.steps)
    rollouts = add("rollouts", "rollouts", "prompts per step x K x steps", prompts * k * steps)
    if a.mean_len is not None:
        length = add("completion_len", "completion length", "--mean-len", a.mean_len, "tokens", True)
    else:
        length = add("completion_len", "completion length", "sampling.max_new_tokens (an upper bound; --mean-len)",
                     s.max_new_tokens, "tokens", True)
    gen_tokens = add("completion_tokens", "tokens generated", "rollouts x completion length", rollouts * length,
                     "tokens")
    p_len = add("prompt_len", "prompt length", prompt.how, prompt.tokens, "tokens", prompt.assumed)
    add("prompt_tokens", "prompt tokens read", "rollouts x prompt length (each sample reads its prompt)",
        rollouts * p_len, "tokens")
    rows = add("rows_trained", "rows trained",
               "rollouts x data.keep_frac x --informative-frac (zero-advantage rows are skipped)",
               rollouts * d.keep_frac * a.informative_frac)
    passes = config.algo.ppo_epochs + (1 / 3 if config.algo.beta > 0 else 0.0)
    ref = " + 1/3 for the reference forward (algo.beta > 0)" if config.algo.beta > 0 else ""
    train_tokens = add("train_tokens", "training tokens (forward+backward)",
                       f"rows trained x (prompt + completion length) x (algo.ppo_epochs{ref})",
                       rows * (p_len + length) * passes, "tokens")

    gen_tps, train_tps, how = _throughputs(a)
    gen_tps = add("gen_tokens_per_s", "generation throughput", how[0], gen_tps, "tokens/s", how[0] != "given")
    train_tps = add("train_tokens_per_s", "training throughput", how[1], train_tps, "tokens/s", how[1] != "given")
    gen_s = add("generate_s", "generation time", "tokens generated / generation throughput", gen_tokens / gen_tps, "s")
    train_s = add("train_s", "training time", "training tokens / training throughput", train_tokens / train_tps, "s")

    verifier = _verifier_text(config, config_path)
    if a.verify_ms is not None:
        verify_ms = add("verify_ms", "one check", "--verify-ms", a.verify_ms, "ms", True)
    else:
        is_code = '"code"' in verifier or verifier == "code"
        verify_ms = add("verify_ms", "one check",
                        f"default for {'code' if is_code else 'math-style'} checks (measured; --verify-ms)",
                        CODE_VERIFY_MS if is_code else OTHER_VERIFY_MS, "ms", True)
    verify_cpu_s = add("verify_cpu_s", "verifier CPU time", "rollouts x one check", rollouts * verify_ms / 1000, "s")
    workers = d.verifier_workers  # the trainer's verifier processes (rlvr.train.rollouts.verify)
    verify_s = add("verify_s", "verification time", f"verifier CPU time / {workers} worker processes "
                   "(data.verifier_workers)", verify_cpu_s / workers, "s")
    step_s = add("steps_s", "time in steps", "generation + training + verification", gen_s + train_s + verify_s, "s")
    add("step_s", "time per step", "time in steps / steps", step_s / steps, "s")

    eval_tasks, missing = _eval_tasks(config, config_path)
    eval_s = 0.0
    if config.data.eval_files:
        note = f" ({', '.join(missing)} not found: not counted)" if missing else ""
        eval_rollouts = add("eval_rollouts", "evaluation rollouts",
                            f"held-out tasks ({eval_tasks}) x data.eval_k x 2 (base and final){note}",
                            eval_tasks * d.eval_k * 2)
        eval_cpu_s = eval_rollouts * verify_ms / 1000
        eval_s = add("eval_s", "evaluation time",
                     f"evaluation rollouts x completion length / generation throughput + their checks / {workers} "
                     "workers", eval_rollouts * length / gen_tps + eval_cpu_s / workers, "s")
        verify_cpu_s += eval_cpu_s
    wall_s = add("wall_s", "wall time", "time in steps + evaluation (model loading not counted)", step_s + eval_s, "s")
    hours = wall_s / 3600
    if a.device == "cuda":
        gpu_h = add("gpu_hours", "GPU-hours", f"wall time x {a.gpus} GPU(s)", hours * a.gpus, "h")
        cpu_h = add("cpu_hours", "CPU core-hours", "verifier CPU time (steps and evaluation)", verify_cpu_s / 3600, "h")
    else:
        gpu_h = add("gpu_hours", "GPU-hours", "device cpu: none", 0.0, "h")
        cpu_h = add("cpu_hours", "CPU core-hours", f"wall time x {a.cpus} cores (verifiers share them)",
                    hours * a.cpus, "h")
    if a.gpu_hour_usd or a.cpu_hour_usd:
        add("cost_usd", "cost", f"GPU-hours x ${a.gpu_hour_usd:g} + CPU core-hours x ${a.cpu_hour_usd:g}",
            gpu_h * a.gpu_hour_usd + cpu_h * a.cpu_hour_usd, "$", True)
    return lines


def _throughputs(a: Assumptions) -> tuple[float, float, tuple[str, str]]:
    gen, train = a.gen_tokens_per_s, a.train_tokens_per_s
    if a.device == "cuda" and (gen is None or train is None):
        raise ConfigError("there is no measured default throughput for a GPU; measure yours with "
                          "benchmarks/cost_throughput.py and pass --gen-tokens-per-s and --train-tokens-per-s.")
    default = "assumed: measured for smollm2-135m on a busy 2-core CPU (pass {})"
    how = ("given" if gen is not None else default.format("--gen-tokens-per-s"),
           "given" if train is not None else default.format("--train-tokens-per-s"))
    return gen or CPU_GEN_TOKENS_PER_S, train or CPU_TRAIN_TOKENS_PER_S, how


# ------------------------------------------------------------------------------------------------
# What a finished run used


def _read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = RunDir(run_dir).metrics
    rows = read_jsonl(path, "--run metrics log")
    if not rows:
        raise DataError(f"{path} has no steps; the run has not finished a step yet.")
    return rows


def actual_usage(run_dir: str | os.PathLike, lines: list[Line], assumptions: Assumptions = Assumptions()
                 ) -> dict[str, float]:
    """What the run used, under the keys of the estimate.

    Measured: steps, prompts, rollouts, lengths, rows trained, and the times. Derived with the
    estimate's prompt length (the run does not log it): training tokens and training throughput.
    Hours and cost price the measured wall time as the estimate does.
    """
    run_dir = Path(run_dir)
    rows = _read_metrics(run_dir)
    need = ("time/step_s", "time/generate_s", "time/verify_s", "len/mean", "rows/trained", "prompts/drawn")
    for key in need:
        if any(key not in row for row in rows):
            raise DataError(f"{RunDir(run_dir).metrics} has steps without '{key}'; it is not a GRPO run of rlvr.")
    est = {line.key: line.value for line in lines}
    k = est["group_size"]
    rollouts = sum(r["prompts/drawn"] * k for r in rows)
    gen_tokens = sum(r["len/mean"] * r["prompts/drawn"] * k for r in rows)
    trained = sum(r["rows/trained"] for r in rows)
    # Rows that trained are an unknown subset of their step: give them the step's mean length.
    passes = est["train_tokens"] / max(est["rows_trained"] * (est["prompt_len"] + est["completion_len"]), 1e-9)
    train_tokens = sum(r["rows/trained"] * (est["prompt_len"] + r["len/mean"]) for r in rows) * passes
    generate_s = sum(r["time/generate_s"] for r in rows)
    verify_s = sum(r["time/verify_s"] for r in rows)
    steps_s = sum(r["time/step_s"] for r in rows)
    train_s = steps_s - generate_s - verify_s
    out = {
        "steps": float(len(rows)), "rollouts": rollouts, "completion_len": gen_tokens / max(rollouts, 1),
        "completion_tokens": gen_tokens, "rows_trained": trained,
        "train_tokens": train_tokens, "gen_tokens_per_s": gen_tokens / max(generate_s, 1e-9),
        "train_tokens_per_s": train_tokens / max(train_s, 1e-9), "generate_s": generate_s, "train_s": train_s,
        "verify_s": verify_s, "steps_s": steps_s, "step_s": steps_s / len(rows),
        "prompts_per_step": sum(r["prompts/drawn"] for r in rows) / len(rows),
    }
    evals = [_eval_summary(p) for p in RunDir(run_dir).eval_files()]
    evals = [e for e in evals if e is not None]
    if evals:
        out["eval_rollouts"] = sum(e["tasks"] * e["k"] for e in evals)
        out["eval_s"] = sum(e["wall_s"] for e in evals)
    out["wall_s"] = steps_s + out.get("eval_s", 0.0)
    a, hours = assumptions, out["wall_s"] / 3600
    if a.device == "cuda":
        out["gpu_hours"] = hours * a.gpus  # the verifiers' CPU time is not logged: no CPU-hours
    else:
        out["gpu_hours"], out["cpu_hours"] = 0.0, hours * a.cpus
        if "cost_usd" in est:
            out["cost_usd"] = out["cpu_hours"] * a.cpu_hour_usd
    if a.device == "cuda" and "cost_usd" in est and not a.cpu_hour_usd:
        out["cost_usd"] = out["gpu_hours"] * a.gpu_hour_usd
    return out


def _eval_summary(path: Path) -> dict[str, float] | None:
    try:
        summary = json.loads(path.read_text(encoding="utf-8")).get("summary", {})
        return {"tasks": float(summary["tasks"]), "k": float(summary["k"]), "wall_s": float(summary["wall_s"])}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError):
        return None  # an eval file without timings (older runs): not compared


def compare(lines: list[Line], actual: dict[str, float]) -> list[dict[str, Any]]:
    """The lines the run can check: estimate, actual and actual / estimate."""
    out = []
    for line in lines:
        if line.key in actual:
            value = actual[line.key]
            ratio = value / line.value if line.value else math.nan
            out.append({"key": line.key, "quantity": line.quantity, "unit": line.unit, "estimate": line.value,
                        "actual": value, "ratio": ratio})
    return out


# ------------------------------------------------------------------------------------------------
# Output


def _number(value: float, unit: str = "") -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "$":
        return f"${value:,.2f}"
    if unit == "h":
        return f"{value:,.3f} h"
    if unit == "s":
        return f"{value:,.1f} s" + (f" ({value / 3600:.2f} h)" if value >= 3600 else "")
    text = f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.3g}"
    return f"{text} {unit}".rstrip()


def format_estimate(lines: list[Line]) -> str:
    width = max(len(line.quantity) for line in lines) + 2
    formula_width = min(max(len(line.formula) for line in lines), 90) + 2
    out = [f"{'quantity':<{width}}{'formula':<{formula_width}}value", "-" * (width + formula_width + 16)]
    for line in lines:
        mark = "  (assumed)" if line.assumed else ""
        out.append(f"{line.quantity:<{width}}{line.formula:<{formula_width}}{_number(line.value, line.unit)}{mark}")
    return "\n".join(out)


def format_comparison(rows: list[dict[str, Any]]) -> str:
    width = max((len(r["quantity"]) for r in rows), default=8) + 2
    out = [f"{'quantity':<{width}}{'estimate':>22}{'actual':>22}{'actual/estimate':>17}", "-" * (width + 61)]
    for r in rows:
        ratio = "n/a" if math.isnan(r["ratio"]) else f"{r['ratio']:.2f}"
        out.append(f"{r['quantity']:<{width}}{_number(r['estimate'], r['unit']):>22}"
                   f"{_number(r['actual'], r['unit']):>22}{ratio:>17}")
    return "\n".join(out)


def write_json(payload: dict[str, Any], path: str | os.PathLike) -> None:
    """Write atomically: a crash never leaves a half-written file."""
    _write_json(payload, path, allow_nan=False, default=str)


def to_json(lines: list[Line], comparison: list[dict[str, Any]] | None, assumptions: Assumptions) -> dict[str, Any]:
    def clean(value: Any) -> Any:
        return None if isinstance(value, float) and math.isnan(value) else value

    return {
        "assumptions": asdict(assumptions),
        "estimate": [asdict(line) for line in lines],
        "comparison": [{k: clean(v) for k, v in row.items()} for row in comparison] if comparison is not None else None,
    }
