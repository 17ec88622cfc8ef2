"""What several commands share: `key=value` words, `CONFIG key=value` arguments, the sampling flags
(generated from the one `SamplingParams`), `--allow-plugin`, reading a pair of eval files, and a quiet
transformers.

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


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag or value is a ConfigError (one sentence) rather than the usage and an
    exit: `--batch-size 0` reads like any other bad input. Subcommand parsers inherit the class."""

    def error(self, message: str) -> Any:
        raise ConfigError(f"{self.prog}: {message.rstrip('.')}; see `{self.prog} --help`.")


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
    from rlvr.config import read_number

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


def add_plugin_argument(parser: argparse.ArgumentParser) -> None:
    """`--allow-plugin MODULE` (repeatable), for the commands that build verifiers named in a file: a task's
    "module:function" verifier imports (runs) that module, so a data file may name one only when the user
    allowed its module here. `main` applies the flag before the command runs (verifiers/_plugins.py)."""
    parser.add_argument("--allow-plugin", action="append", default=[], metavar="MODULE",
                        help="let task, eval and config files name 'MODULE:function' verifiers; importing MODULE "
                             "(and its submodules) runs its code, so allow only code you trust; an http(s) "
                             "address allows remote verifiers at its origin, which decide the rewards (repeatable)")


def allow_plugin_arguments(args: argparse.Namespace) -> None:
    """Allow the modules of `--allow-plugin`, each checked to be a module name (one sentence if not)."""
    modules = getattr(args, "allow_plugin", None)
    if modules:
        from rlvr.verifiers import allow_plugins

        allow_plugins(*modules)


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


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per `SamplingParams` field (name, type, default and help come from the field). Used by eval,
    curate and distill, with `add_engine_arguments`."""
    from rlvr.models.generation import DEFAULT_K, SamplingParams

    defaults = SamplingParams(n=DEFAULT_K)
    for field in sorted(dataclasses.fields(SamplingParams), key=lambda f: f.name != "n"):  # --k first
        default = getattr(defaults, field.name)
        flag = _FLAGS.get(field.name, "--" + field.name.replace("_", "-"))
        parser.add_argument(flag, dest=field.name, type=type(default), default=default,
                            help=f"{field.metadata['help']} (default {default})")


def add_engine_arguments(parser: argparse.ArgumentParser, model: str = "required") -> None:
    """One flag per `EngineSpec` field (name, choices, default and help come from the field): --model, --dtype,
    --device, --engine, --batch-size, --precision, --gpu-memory-utilization. Used by every command that samples.

    model: "required", or "optional" for a command that can do without one (curate --from-eval: no default)."""
    import typing

    from rlvr.models.spec import EngineSpec

    hints = typing.get_type_hints(EngineSpec)
    for field in dataclasses.fields(EngineSpec):
        flag = _engine_flag(field.name)
        if field.name == "model":
            parser.add_argument(flag, required=model == "required", help=field.metadata["help"])
            continue
        kind: dict[str, Any] = {"type": type(field.default)}
        if typing.get_origin(hints[field.name]) is typing.Literal:
            kind = {"choices": typing.get_args(hints[field.name])}
        elif field.name == "batch_size":
            kind = {"type": _batch_size}
        parser.add_argument(flag, default=field.default, help=f"{field.metadata['help']} (default {field.default})",
                            **kind)


def engine_spec_of(args: argparse.Namespace) -> Any:
    """The EngineSpec of `add_engine_arguments`' flags, each bad value one sentence naming its flag. Whether this
    machine can run the engine and device is `check_spec`'s question, asked before the model loads."""
    from rlvr.models.spec import EngineSpec, engine_spec

    return engine_spec({f.name: getattr(args, f.name) for f in dataclasses.fields(EngineSpec)}, name=_engine_flag)


def _engine_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def sampling_settings(args: argparse.Namespace, **evaluator: Any) -> Any:
    """EvalSettings from `add_sampling_arguments`' flags, checked (one sentence) before any model loads."""
    from rlvr.evaluate import EvalSettings
    from rlvr.models.generation import SamplingParams

    sampling = SamplingParams(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SamplingParams)})
    return EvalSettings(sampling=sampling, **evaluator)


def read_eval_pair(args: argparse.Namespace) -> tuple[dict, dict]:
    """For boundary (compare reads its pairs through `CompareJob`): --resamples, --seed and the --json output
    (never an input, --tasks included) checked, then both eval files read and checked, all before any work,
    by the reader `rlvr compare` uses (rlvr.workflows.comparison.read_eval_pair)."""
    from rlvr.workflows.comparison import read_eval_pair as read

    return read(args.base, args.trained, resamples=args.resamples, seed=args.seed, json=args.json,
                inputs=getattr(args, "tasks", None) or [])
