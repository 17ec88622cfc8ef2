"""What several commands share: `key=value` words, `CONFIG key=value` arguments, the sampling flags
(generated from the one `SamplingParams`), reading a pair of eval files, and a quiet transformers.

Import-light: building the `rlvr` parser imports this module.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
from typing import Any, Callable

import yaml

from rlvr._errors import ConfigError

Handler = Callable[[argparse.Namespace], int]


def command(sub: argparse._SubParsersAction, name: str, summary: str, example: str,
            handler: Handler) -> argparse.ArgumentParser:
    """A subcommand's parser: its summary, an example under the options, and the handler it runs."""
    parser = sub.add_parser(name, help=summary, description=summary, epilog=f"example:\n  {example}",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=handler)
    return parser


def options(pairs: list[str]) -> dict[str, Any]:
    """Parse `key=value` words; values are read as YAML scalars (2 -> int, true -> bool), and a number
    YAML 1.1 leaves as text (1e-3) is read as the config loader reads it, as a float."""
    from rlvr.train.config import read_number

    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"expected key=value, got '{pair}'.")
        try:
            parsed[key] = yaml.safe_load(value) if value else ""
        except (yaml.YAMLError, RecursionError):
            parsed[key] = value
        number = read_number(value) if parsed[key] == value else None
        if number is not None and math.isfinite(number):
            parsed[key] = number
    return parsed


def add_config_arguments(parser: argparse.ArgumentParser, example_override: str = "algo.beta=0.04") -> None:
    """`CONFIG [key=value ...]`: an optional YAML file, then overrides."""
    parser.add_argument("config", nargs="?", help="YAML config file (optional: defaults plus overrides work too)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help=f"config overrides, e.g. {example_override}")


def config_arguments(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """(config file, overrides) of `CONFIG [key=value ...]`; the file is optional, so a first
    word with "=" that is not an existing file is an override."""
    config_file, overrides = args.config, list(args.overrides)
    if config_file and "=" in config_file and not os.path.exists(config_file):
        config_file, overrides = None, [config_file, *overrides]
    return config_file, overrides


def quiet_transformers() -> None:
    """transformers' and DeepSpeed's chatter off: a command prints its own progress."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("DeepSpeed").addFilter(_no_cpu_accelerator_notice)


def _no_cpu_accelerator_notice(record: logging.LogRecord) -> bool:
    """With DeepSpeed installed, accelerate imports it inside every save_pretrained, and on a machine
    without a GPU that import logs "Setting accelerator to CPU ...": not news to a CPU user."""
    return "Setting accelerator to CPU" not in record.getMessage()


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


# The flag of each SamplingParams field; K is `--k` on the command line, as in pass@k.
_FLAGS = {"n": "--k"}
CLI_SAMPLING_DEFAULTS = {"n": 8}  # the commands sample K = 8 per task unless told otherwise


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per `SamplingParams` field (name, type, default and help come from the field), plus
    --batch-size, the HF engine's rows decoded together. Used by eval, curate and distill."""
    from rlvr.models.generation import SamplingParams

    defaults = SamplingParams(**CLI_SAMPLING_DEFAULTS)
    for field in sorted(dataclasses.fields(SamplingParams), key=lambda f: f.name != "n"):  # --k first
        default = getattr(defaults, field.name)
        flag = _FLAGS.get(field.name, "--" + field.name.replace("_", "-"))
        parser.add_argument(flag, dest=field.name, type=type(default), default=default,
                            help=f"{field.metadata['help']} (default {default})")
    parser.add_argument("--batch-size", type=_batch_size, default="auto", help="rows decoded together (default auto)")


def sampling_settings(args: argparse.Namespace, **evaluator: Any) -> Any:
    """EvalSettings from `add_sampling_arguments`' flags, checked (one sentence) before any model loads."""
    from rlvr.evaluate import EvalSettings
    from rlvr.models.generation import SamplingParams

    sampling = SamplingParams(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SamplingParams)})
    return EvalSettings(sampling=sampling, **evaluator)


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
