"""`rlvr verify`: one completion against a reference: reward, reason and detail."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rlvr._errors import ConfigError
from rlvr.cli._common import add_plugin_argument, options

SUMMARY = "Verify one completion against a reference and print reward, reason and detail."
EXAMPLE = "rlvr verify --verifier math --reference 1/2 --completion 'so \\boxed{0.5}'"

# Verifiers whose reference is plain text: `verify --reference` passes it as given, so the math
# interval [0, 1) is an interval, not broken JSON. Every other verifier (code, sql, structured,
# rubric, compose, lean, remote, reasoning_gym, plugins) gets a reference starting with [ or { as JSON.
TEXT_REFERENCES = ("math", "format", "random")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verifier", required=True, help="verifier name, e.g. math")
    parser.add_argument("--reference", required=True,
                        help=f"reference answer; read as JSON when it starts with [ or {{, except for the verifiers "
                             f"whose reference is text ({', '.join(TEXT_REFERENCES)}), so that the math interval "
                             "[0, 1) stays an interval")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--completion", help="the completion text")
    source.add_argument("--file", help="read the completion from this file")
    parser.add_argument("--option", action="append", default=[], metavar="key=value",
                        help="verifier option (repeatable)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    from rlvr._io import read_text_file
    from rlvr.verifiers import allow_plugins, get_verifier
    from rlvr.verifiers._plugins import is_address

    typed = options(args.option)
    if ":" in args.verifier:  # a path typed here is the user's own choice: that one path is allowed
        allow_plugins(args.verifier)
    if args.verifier == "remote" and is_address(typed.get("url")):
        allow_plugins(typed["url"])  # so is an endpoint typed here
    verifier = get_verifier(args.verifier, **typed)
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
