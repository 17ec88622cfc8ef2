"""Does a tool move the reasoning boundary, or only teach the call syntax? A study on the bundled model.

    python benchmarks/tools_boundary.py [--seeds 2] [--k 256] [--heldout 24] [--precision fp32]
    python benchmarks/tools_boundary.py --quick          # 12 held-out problems, k = 16, 4 steps: a pilot
    python benchmarks/tools_boundary.py --analyse DIR    # the tables again, from finished runs

The problems are two-digit multiplications (a * b, a and b from 11 to 99), which SmolLM2-135M-Instruct cannot
do in its head; the training and held-out problems are disjoint. Every prompt is a two-example few-shot
conversation, the way a 135M model learns a format it was never taught (it does not call tools from the
schema alone):

- *tool* prompts show two calculator calls and their results (the `tools` environment, calculator only,
  at most 3 turns and 200 tokens an episode); the reply that counts is the last assistant turn;
- *plain* prompts show two direct answers ("The answer is 3840."), one turn;
- *tool0* prompts are the bare question with the calculator offered (its schema and the call format in the
  system message, as for any template without `tools=`) and no example: the base model measured there (at
  the first seed) says whether the call format had to be taught.

Arms: the base model with the tool and without it (measured once a seed, shared by the runs of that prompt);
GRPO trained with the calculator; GRPO trained without it; and a control trained with the calculator whose
only reward is a well-formed call that ran (`call_reward` 1.0 per such turn, the final reward a constant 0):
it learns the syntax and nothing about the answer. Each trained arm runs `--seeds` seeds. The reward is the
math verifier on the last turn (`answer: bare`: "The answer is 3840." and "3840" both pass); the decisions
read the answer format-neutrally. Every arm is evaluated on the held-out problems at K samples each, and
`rlvr.evaluate.boundary` compares it with its base: pass@k for k = 1 .. K, the crossover, the solvability
table at K and the chance level (each sample scored against another problem's reference). Gains are decided
over seeds and held-out problems (`gains.gain_over_seeds`, delta 0.05).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rlvr._errors import ConfigError
from rlvr._io import replace_own_folder

VERIFIER = {"name": "math", "answer": "bare"}
ENV = {"name": "tools", "tools": ["calculator"], "max_turns": 3, "max_tokens": 200}
SHOTS = [(23, 41), (67, 18)]


@dataclass(frozen=True)
class Sizes:
    train: int = 64
    heldout: int = 24
    k: int = 256
    steps: int = 8
    prompts: int = 6
    group: int = 6
    lr: float = 3e-5
    max_new_tokens: int = 40
    precision: str = "fp32"  # sampling.precision of every arm, the base models' evaluations included


QUICK = Sizes(train=32, heldout=12, k=16, steps=4, prompts=4, group=4)

# name: (prompt, training reward, the env's call reward); None = not trained (the base model)
ARMS = {
    "base, no tool": ("plain", None, 0.0),
    "base + calculator, no examples": ("tool0", None, 0.0),
    "base + calculator": ("tool", None, 0.0),
    "GRPO + calculator": ("tool", VERIFIER, 0.0),
    "GRPO, no tool": ("plain", VERIFIER, 0.0),
    "control: call syntax only": ("tool", {"name": "random", "p": 0.0}, 1.0),
}


def _call(a: int, b: int) -> str:
    return '<tool_call>{"name": "calculator", "arguments": {"expression": "%d * %d"}}</tool_call>' % (a, b)


def _prompt(a: int, b: int, style: str) -> list[dict]:
    if style == "tool0":
        return [{"role": "user", "content": f"What is {a} * {b}?"}]
    messages: list[dict] = []
    for x, y in SHOTS:
        messages.append({"role": "user", "content": f"What is {x} * {y}?"})
        if style == "tool":
            messages += [{"role": "assistant", "content": _call(x, y)}, {"role": "tool", "content": str(x * y)}]
        messages.append({"role": "assistant", "content": f"The answer is {x * y}."})
    return messages + [{"role": "user", "content": f"What is {a} * {b}?"}]


def _problems(sizes: Sizes) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Disjoint training and held-out problems, the same for every seed (the seeds vary the training)."""
    pairs = [(a, b) for a in range(11, 100) for b in range(11, 100) if (a, b) not in SHOTS]
    random.Random(0).shuffle(pairs)
    return pairs[: sizes.train], pairs[sizes.train : sizes.train + sizes.heldout]


def _write_tasks(path: Path, pairs: list[tuple[int, int]], style: str, split: str, call_reward: float = 0.0) -> Path:
    env = {**ENV, **({"call_reward": call_reward} if call_reward else {})}
    rows = [{"id": f"{a}x{b}", "prompt": _prompt(a, b, style), "reference": str(a * b), "verifier": VERIFIER,
             "split": split, **({"env": env} if style.startswith("tool") else {})} for a, b in pairs]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(root: Path, model: str, sizes: Sizes, train_file: Path, heldout: Path, reward: dict, seed: int,
            out: Path) -> Path:
    import yaml

    config = {
        "model": model,
        "sampling": {"max_new_tokens": sizes.max_new_tokens, "temperature": 1.0, "precision": sizes.precision},
        "algo": {"group_size": sizes.group, "beta": 0.0},
        "optim": {"lr": sizes.lr, "micro_batch": 4},
        "data": {"train": str(train_file), "eval": str(heldout), "eval_k": sizes.k,
                 "prompts_per_step": sizes.prompts, "reward": reward},
        "run": {"steps": sizes.steps, "seed": seed, "output_dir": str(out), "checkpoint_every": sizes.steps},
    }
    path = root / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _folder(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")


def run(args: argparse.Namespace) -> None:
    from rlvr.train.config import load_config
    from rlvr.train.trainer import train

    sizes = replace(QUICK if args.quick else Sizes(k=args.k, heldout=args.heldout), precision=args.precision)
    root = replace_own_folder(args.output_dir, lambda name: name in ("sizes.json", "tasks")
                              or name.startswith("seed"), "--output-dir")
    (root / "tasks").mkdir()
    (root / "sizes.json").write_text(json.dumps({**sizes.__dict__, "seeds": args.seeds, "model": args.model}))
    train_pairs, heldout_pairs = _problems(sizes)
    files = {style: (_write_tasks(root / "tasks" / f"train_{style}.jsonl", train_pairs, style, "train"),
                     _write_tasks(root / "tasks" / f"heldout_{style}.jsonl", heldout_pairs, style, "test"))
             for style in ("tool", "plain", "tool0")}
    control_train = _write_tasks(root / "tasks" / "train_tool_call_reward.jsonl", train_pairs, "tool", "train",
                                 call_reward=1.0)

    for seed in range(args.seeds):
        (root / f"seed{seed}").mkdir()
        bases: dict[str, Path] = {}
        for name, (style, reward, call_reward) in ARMS.items():
            if reward is None:
                continue
            out = root / f"seed{seed}" / _folder(name)
            train_file = control_train if call_reward else files[style][0]
            config = load_config(_config(root / f"seed{seed}", args.model, sizes, train_file, files[style][1],
                                         reward, seed, out))
            if style not in bases:  # the base model on this prompt, at this seed: shared by the arms that use it
                bases[style] = base_eval(root, seed, style, sizes, args.model, config, files[style][1])
            (out / "eval").mkdir(parents=True)
            shutil.copyfile(bases[style], out / "eval" / "base.json")  # the trainer sees it is done and reuses it
            print(f"\n== seed {seed}: {name}", flush=True)
            start = time.perf_counter()
            train(config, progress=False)
            (out / "wall_s").write_text(f"{time.perf_counter() - start:.1f}\n")
        if seed == 0:  # an arm never trained (the call format without examples): the first seed says it
            for style in {style for style, reward, _ in ARMS.values() if reward is None} - set(bases):
                base_eval(root, seed, style, sizes, args.model, config, files[style][1])


def base_eval(root: Path, seed: int, style: str, sizes: Sizes, model: str, config: Any, heldout: Path) -> Path:
    """The base model on the held-out problems in one prompt style at one seed, sampled as the trainer's own
    evaluation samples (its settings, so the trainer reuses the file): seed{S}/base_{style}.json."""
    from rlvr.evaluate import EvalSettings, combine_sets, evaluate_sets, write_eval
    from rlvr.models import HFEngine, SamplingParams, load_policy
    from rlvr.tasks import load_tasks

    print(f"\n== seed {seed}: the base model, {style} prompts: {sizes.heldout} problems x {sizes.k}", flush=True)
    start = time.perf_counter()
    policy = load_policy(model, dtype=config.dtype)
    settings = EvalSettings(SamplingParams.from_decoding(config.sampling, n=sizes.k, seed=seed))
    engine = HFEngine(policy, precision=sizes.precision)
    records = evaluate_sets(engine, {heldout.stem: (str(heldout), load_tasks(heldout))}, settings,
                            model_name=f"{model} (base)", progress=False)
    path = root / f"seed{seed}" / f"base_{style}.json"
    write_eval(combine_sets(records), path)
    Path(f"{path}.wall_s").write_text(f"{time.perf_counter() - start:.1f}\n")
    return path


def _eval(path: Path) -> dict:
    return json.loads(path.read_text())


def _set(record: dict) -> dict:
    from rlvr.evaluate.runner import eval_sets

    (only,) = eval_sets(record).values()
    return only


def analyse(root: Path, delta: float = 0.05) -> str:
    from rlvr.evaluate.boundary import boundary
    from rlvr.evaluate.decide import interval_text
    from rlvr.evaluate.gains import gain_over_seeds, pass_counts

    sizes = json.loads((root / "sizes.json").read_text())
    seeds = sorted(int(p.name[4:]) for p in root.glob("seed*") if (p / "base_plain.json").exists())
    lines = [f"{sizes['heldout']} held-out two-digit multiplications, {sizes['k']} samples each; {len(seeds)} seeds "
             f"per trained arm ({sizes['steps']} steps of {sizes['prompts']} prompts x {sizes['group']}); "
             f"{sizes['model']}, sampled in {sizes.get('precision', 'fp32')}", "",
             "neutral reading (the answer read in any format): base -> arm, at k = 1 and K"]

    def summary(label: str, base: dict, trained: dict) -> str:
        b = boundary(base, trained, resamples=1000)["readings"]["neutral"]
        k, s, cross = b["k"][-1], b["solvability"], b["crossover"]
        cross_text = ("arm not ahead at k = 1" if cross == 1 else
                      f"none up to {k}" if cross is None or cross > k else f"k = {cross}")
        chance = (f"; chance pass@{k} {b['base_chance'][-1]:.3f} / {b['trained_chance'][-1]:.3f}"
                  if "base_chance" in b and "trained_chance" in b else "")
        return (f"  {label:<36} pass@1 {b['base'][0]:.3f} -> {b['trained'][0]:.3f}, pass@{k} {b['base'][-1]:.3f} -> "
                f"{b['trained'][-1]:.3f}; crossover {cross_text}; solved at {k}: both {s['both']}, base only "
                f"{s['base_only']}, arm only {s['trained_only']}, neither {s['neither']}{chance}")

    for seed in seeds:
        plain, tool = (_set(_eval(root / f"seed{seed}" / f"base_{style}.json")) for style in ("plain", "tool"))
        lines.append(summary(f"base: no tool -> calculator (seed {seed})", plain, tool))
        zero_shot = root / f"seed{seed}" / "base_tool0.json"
        if zero_shot.exists():
            record = _set(_eval(zero_shot))
            calls = sum(any("<tool_call>" in t["text"] for t in s.get("turns", []) if t["role"] == "assistant")
                        for s in record["samples"])
            lines.append(summary(f"base: calculator without -> with examples (seed {seed})", record, tool)
                         + f"; without examples {calls} of {len(record['samples'])} samples call the tool")
    for name, (style, reward, _) in ARMS.items():
        if reward is None:
            continue
        for seed in seeds:
            final = root / f"seed{seed}" / _folder(name) / "eval" / "final.json"
            if final.exists():
                base = _set(_eval(root / f"seed{seed}" / f"base_{style}.json"))
                lines.append(summary(f"{name} (seed {seed})", base, _set(_eval(final))))
    lines += ["", f"gains over each arm's own base model, over seeds and held-out problems (neutral; 95 % interval; "
                  f"decision at delta {delta})"]
    for name, (style, reward, _) in ARMS.items():
        if reward is None:
            continue
        finals = [root / f"seed{s}" / _folder(name) / "eval" / "final.json" for s in seeds]
        if not finals or not all(f.exists() for f in finals):
            continue
        counts = [next(iter(pass_counts(_eval(root / f"seed{s}" / f"base_{style}.json"), _eval(f)).values()))
                  for s, f in zip(seeds, finals)]
        k = min(min(c["n_trained"]) for c in counts)
        for label, gain in (("pass@1", gain_over_seeds(counts, "neutral", delta=delta)),
                            (f"pass@{k}", gain_over_seeds(counts, "neutral", delta=delta, k=k))):
            lines.append(f"  {name:<28} {label:<8} {interval_text(gain)}")
        trained = [sum(json.loads(line).get("rows/trained", 0) for line in
                       (f.parents[1] / "metrics.jsonl").read_text().splitlines()) for f in finals]
        lines.append(f"  {'':<28} rows trained per seed: {', '.join(map(str, trained))}"
                     + (" (no group ever held a reward: the arm never received a gradient, so its 'no gain' "
                        "says the recipe cannot start, not that training failed to help)" if not any(trained) else ""))
    # What rewarding the answer bought beyond rewarding a well-formed call: the control as the base.
    real, control = ("GRPO + calculator", "control: call syntax only")
    pairs = [(root / f"seed{s}" / _folder(control) / "eval" / "final.json",
              root / f"seed{s}" / _folder(real) / "eval" / "final.json") for s in seeds]
    if pairs and all(a.exists() and b.exists() for a, b in pairs):
        counts = [next(iter(pass_counts(_eval(a), _eval(b)).values())) for a, b in pairs]
        lines += ["", f"{real} against the control (the control as the base: what rewarding the answer bought beyond "
                      "a well-formed call)",
                  f"  {real:<28} pass@1   {interval_text(gain_over_seeds(counts, 'neutral', delta=delta))}"]
    walls = [float(p.read_text()) for p in root.rglob("*wall_s")]
    lines += ["", f"wall time of the runs and base evaluations: {sum(walls) / 60:.1f} min"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--k", type=int, default=256, help="samples per held-out problem (the largest k)")
    parser.add_argument("--heldout", type=int, default=24, help="held-out problems (default 24)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="sampling.precision of every arm and base evaluation (bf16: a bf16 copy of the float32 "
                             "weights samples, the trainer's mismatch correction on; the updates stay float32)")
    parser.add_argument("--quick", action="store_true", help="a pilot: 12 held-out problems, k = 16, 4 steps")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--output-dir", default="runs/tools_boundary")
    parser.add_argument("--analyse", metavar="DIR", help="print the tables of finished runs in DIR; train nothing")
    args = parser.parse_args()
    if args.k < 1 or args.heldout < 2 or args.seeds < 1:
        parser.error("--k and --seeds must be at least 1 and --heldout at least 2 (the intervals span problems).")
    if args.analyse:
        print(analyse(Path(args.analyse)))
        return
    from rlvr.cli._common import quiet_transformers

    quiet_transformers()
    start = time.perf_counter()
    try:
        run(args)
    except ConfigError as exc:  # a bad --output-dir: one sentence, exit 2, nothing deleted
        parser.error(str(exc))
    print(analyse(Path(args.output_dir)))
    print(f"\nwall time {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
