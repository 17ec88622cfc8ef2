"""`rlvr boundary BASE.json TRAINED.json`: pass@k to large k, the crossover, solvability, support, chance."""

from __future__ import annotations

import argparse

from rlvr.cli._common import add_plugin_argument, quiet_transformers, read_eval_pair

SUMMARY = ("The reasoning boundary at large k: pass@k curves with intervals, the crossover, per-problem "
           "solvability, support retention and discovery, and the chance level, on both readings.")
EXAMPLE = ("rlvr eval --model base --tasks heldout.jsonl --k 256 --max-new-tokens 32 -o base.json\n"
           "  rlvr eval --model runs/grpo/checkpoints/step-12 --tasks heldout.jsonl --k 256 --max-new-tokens 32 "
           "-o trained.json\n  rlvr boundary base.json trained.json --json boundary.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="eval file of the base model")
    parser.add_argument("trained", help="eval file of the trained model")
    parser.add_argument("--resamples", type=int, default=2000,
                        help="paired bootstrap resamples (default 2000, as in compare, so the intervals at k = 1 "
                             "and K agree; at most 100,000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of the chance derangement")
    parser.add_argument("--no-chance", action="store_true",
                        help="skip the chance baseline (it verifies every sample again against another task)")
    parser.add_argument("--base-model", metavar="M",
                        help="also measure the base likelihood of each model's correct completions under this model "
                             "(the base: alias, folder, .gguf or hub id); teacher-forced, one forward pass each")
    parser.add_argument("--tasks", nargs="+", metavar="FILE",
                        help="task files with the prompts, for --base-model with eval files that do not hold them "
                             "(written before rlvr saved prompts)")
    parser.add_argument("--json", metavar="OUT", help="also write the result as JSON")
    add_plugin_argument(parser)


def run(args: argparse.Namespace) -> int:
    from rlvr._io import write_json
    from rlvr.evaluate.boundary import boundary_sets, format_boundary

    base, trained = read_eval_pair(args)
    prompts = _prompts(base, args.tasks) if args.base_model else {}
    if args.base_model:
        from rlvr.models import resolve_model

        resolve_model(args.base_model)  # a missing model fails now, not after the whole boundary is computed
    result = boundary_sets(base, trained, resamples=args.resamples, seed=args.seed, chance=not args.no_chance)
    print(format_boundary(result))
    if args.base_model:
        from rlvr.evaluate.boundary import base_likelihood, format_likelihood
        from rlvr.evaluate.runner import eval_sets
        from rlvr.models import load_policy

        quiet_transformers()
        print(f"\nloading {args.base_model} for the base likelihood ...", flush=True)
        policy = load_policy(args.base_model, dtype="float32")
        base_sets, trained_sets = eval_sets(base), eval_sets(trained)
        if len(base_sets) == len(trained_sets) == 1:
            base_sets = dict(zip(trained_sets, base_sets.values()))
        for name in result["sets"]:
            likelihood = base_likelihood(policy, prompts, base_sets[name], trained_sets[name])
            result["sets"][name]["base_likelihood"] = likelihood
            print(f"\n== task set {name} ==\n" + format_likelihood(likelihood))
    if args.json:
        write_json(result, args.json)
        print(f"\nwrote {args.json}")
    return 0


def _prompts(base: dict, task_files: list[str] | None) -> dict:
    """Task id -> prompt, from the eval file (rlvr saves them) or the given task files; checked before
    the model loads."""
    from rlvr._errors import ConfigError
    from rlvr.evaluate.runner import eval_sets
    from rlvr.tasks import load_tasks

    prompts = {t["id"]: t["prompt"] for r in eval_sets(base).values() for t in r["tasks"] if "prompt" in t}
    for path in task_files or []:
        prompts.update({t.id: t.prompt for t in load_tasks(path)})
    missing = [t["id"] for r in eval_sets(base).values() for t in r["tasks"] if t["id"] not in prompts]
    if missing:
        raise ConfigError(f"--base-model needs the prompts and {len(missing)} tasks have none (e.g. {missing[0]}); "
                          "give the task files with --tasks.")
    return prompts
