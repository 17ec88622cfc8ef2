"""`rlvr cost CONFIG`: a planning estimate of what a GRPO run will use, before it runs.

    rlvr cost grpo.yaml run.steps=200 --mean-len 40 --gen-tokens-per-s 2500 --train-tokens-per-s 20000 \\
        --device cuda --gpu-hour-usd 2.5
    rlvr cost --run runs/grpo          # the run's own config.yaml, compared with what it used

Prints one line per quantity: its name, the formula in words, the value, "(assumed)" where it
rests on an assumption rather than the config. With `--run`, also each quantity the run logged,
estimated against actual, with the ratio actual / estimate. The arithmetic is in `cost.py`.
"""

from __future__ import annotations

import argparse
import os

from rlvr._errors import ConfigError
from rlvr._io import check_not_input, check_writable
from rlvr.cli._common import config_arguments
from rlvr.rundir import RunDir

SUMMARY = "Estimate what a GRPO config will use (rollouts, tokens, hours, money); compare with a finished run."
EXAMPLE = ("rlvr cost grpo.yaml run.steps=200 --mean-len 40 --device cuda --gen-tokens-per-s 2500 "
           "--train-tokens-per-s 20000 --gpu-hour-usd 2.5\n"
           "  rlvr cost --run runs/grpo --json cost.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rlvr cost`, added to the subcommand's parser."""
    parser.add_argument("config", nargs="?", help="YAML training config (default: RUN/config.yaml with --run)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, as for `rlvr train`")
    parser.add_argument("--run", metavar="RUN_DIR", help="a finished run: compare the estimate with what it used")
    parser.add_argument("--mean-len", type=float, metavar="TOKENS",
                        help="expected completion length (default: sampling.max_new_tokens, an upper bound)")
    parser.add_argument("--prompt-tokens", type=float, metavar="TOKENS",
                        help="prompt length (default: the task file's mean characters / 4)")
    parser.add_argument("--tokenizer", nargs="?", const="", metavar="MODEL",
                        help="count prompt tokens exactly with this model's tokenizer and chat template "
                             "(no value: the config's model)")
    parser.add_argument("--informative-frac", type=float, default=1.0, metavar="X",
                        help="share of rollouts with a non-zero advantage, the rows that train (default 1)")
    parser.add_argument("--gen-tokens-per-s", type=float, metavar="N",
                        help="generation throughput (default on cpu: a measured SmolLM2-135M number; "
                             "measure yours with benchmarks/cost_throughput.py)")
    parser.add_argument("--train-tokens-per-s", type=float, metavar="N", help="forward+backward throughput")
    parser.add_argument("--verify-ms", type=float, metavar="MS",
                        help="CPU milliseconds of one check (default 35 for code, 0.25 otherwise)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="where the run trains (default auto: cuda when this machine has one)")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs the run holds, for GPU-hours (default 1)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1,
                        help="CPU cores the run holds on a cpu device (default: this machine's)")
    parser.add_argument("--gpu-hour-usd", type=float, default=0.0, help="price of one GPU-hour")
    parser.add_argument("--cpu-hour-usd", type=float, default=0.0, help="price of one CPU core-hour")
    parser.add_argument("--json", metavar="OUT", help="also write the estimate (and comparison) as JSON")


def run(args: argparse.Namespace) -> int:
    from rlvr.train.config import load_config
    from rlvr.train.cost import (
        Assumptions,
        actual_usage,
        compare,
        estimate,
        format_comparison,
        format_estimate,
        prompt_length,
        to_json,
        write_json,
    )

    config_file, overrides = config_arguments(args)
    if config_file is None and args.run:
        config_file = str(RunDir(args.run).config)
    if config_file is None and not overrides:
        raise ConfigError("give a training config (or --run RUN_DIR to use that run's config.yaml).")
    config = load_config(config_file, overrides)
    if args.json:
        check_writable(args.json, "--json")
        run_files = [RunDir(args.run).metrics, RunDir(args.run).config] if args.run else []
        check_not_input(args.json, [*([config_file] if config_file else []), config.data.train, *run_files], "--json")
    assumptions = Assumptions(
        mean_len=args.mean_len, prompt_tokens=args.prompt_tokens, informative_frac=args.informative_frac,
        gen_tokens_per_s=args.gen_tokens_per_s, train_tokens_per_s=args.train_tokens_per_s, verify_ms=args.verify_ms,
        device=_device(args.device), gpus=args.gpus, cpus=args.cpus, gpu_hour_usd=args.gpu_hour_usd,
        cpu_hour_usd=args.cpu_hour_usd,
    )
    tokenizer = None if args.tokenizer is None else (args.tokenizer or config.model)
    prompt = None if args.prompt_tokens is not None else prompt_length(config, config_file, tokenizer)
    lines = estimate(config, assumptions, prompt, config_file)
    comparison = compare(lines, actual_usage(args.run, lines, assumptions)) if args.run else None
    print(f"estimate for {config_file or 'the default config'}"
          + (f" with {' '.join(overrides)}" if overrides else "") + f" on {assumptions.device}:\n")
    print(format_estimate(lines))
    if comparison is not None:
        print(f"\n{args.run}: estimate against what the run used\n")
        print(format_comparison(comparison))
    if args.json:
        write_json(to_json(lines, comparison, assumptions), args.json)
        print(f"\nwrote {args.json}")
    return 0


def _device(choice: str) -> str:
    if choice != "auto":
        return choice
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
