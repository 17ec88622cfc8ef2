"""Spurious-reward controls: would training with a meaningless reward have "improved" the model too?

    rlvr spurious examples/grpo_arithmetic.yaml --format

Runs the same training config several times, changing only the reward:

    real     the config's reward (the verifier under test)
    random   1.0 with probability p, p = the real reward's mean on the base model's rollouts
             of the training prompts, so the control sees the same amount of reward
    format   (optional) the format part of the reward alone: right form, any answer

Every arm is a normal run directory with the same seed, steps and held-out evaluation (the
base evaluation is measured once and shared). If a control raises held-out pass@1 by more
than 5 points, or by more than half of the real gain, the real gain may be a side effect of
training (format drift, shorter answers, clipping bias), not of what the verifier checks.
The result goes to ROOT/spurious.json and into the real arm's run directory, where
`rlvr report` shows it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rlvr._errors import ConfigError
from rlvr._io import write_json

SPURIOUS_FORMAT = 1
WARN_ABSOLUTE = 0.05  # a control gain above 5 points of pass@1 ...
WARN_RELATIVE = 0.5  # ... or above half of the real gain is a warning


@dataclass(frozen=True)
class Arm:
    name: str
    reward: str | dict  # verifier spec for data.reward ("" = the tasks' own verifiers)
    description: str


def format_part(reward: str | dict) -> dict | None:
    """The `format` verifier inside a reward spec (a compose part, or the spec itself), if any."""
    if isinstance(reward, dict):
        if reward.get("name") == "format":
            return reward
        for part in reward.get("parts", []) if reward.get("name") == "compose" else []:
            spec = part.get("verifier") if isinstance(part, dict) else None
            if isinstance(spec, dict) and spec.get("name") == "format" or spec == "format":
                return spec if isinstance(spec, dict) else {"name": "format"}
    return None


def arms(config: Any, base_rate: float, controls: tuple[str, ...], format_reward: str | dict | None = None
         ) -> list[Arm]:
    """The real arm and the requested controls, with their reward specs."""
    real = config.data.reward or "the tasks' own verifiers"
    out = [Arm("real", config.data.reward, f"the config's reward: {_describe(real)}")]
    for control in controls:
        if control == "random":
            out.append(Arm("random", {"name": "random", "p": round(base_rate, 6), "seed": config.run.seed},
                           f"random: 1.0 with probability p = {base_rate:.3f} (the real reward's base rate)"))
        elif control == "format":
            spec = format_reward or format_part(config.data.reward)
            if spec is None:
                raise ConfigError("the config's reward has no `format` part to use as the format-only control; "
                                  "give one with --format-reward '{name: format, answer: bare}'.")
            out.append(Arm("format", spec, f"format only: {_describe(spec)}"))
        else:
            raise ConfigError(f"unknown control '{control}'; the controls are random and format.")
    return out


def _describe(spec: str | dict) -> str:
    return spec if isinstance(spec, str) else json.dumps(spec, separators=(", ", ": "))


def measure_base_rate(config: Any, prompts: int, progress: bool = True) -> tuple[float, int]:
    """Mean real reward over the base model's rollouts of `prompts` training prompts (K each)."""
    from rlvr.evaluate.runner import EvalSettings, evaluate
    from rlvr.models import HFEngine, load_policy
    from rlvr.tasks import load_tasks

    tasks = load_tasks(config.data.train)
    if config.data.reward:
        tasks = [replace(t, verifier=config.data.reward) for t in tasks]
    tasks = tasks[:prompts]
    s = config.sampling
    settings = EvalSettings(k=config.algo.group_size, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
                            max_new_tokens=s.max_new_tokens, seed=config.run.seed)
    policy = load_policy(config.model, dtype=config.dtype)
    record = evaluate(HFEngine(policy, batch_size=s.batch_size), tasks, settings, model_name=config.model,
                      tasks_source=config.data.train, progress=progress)
    return record["summary"]["mean_reward"], len(tasks) * config.algo.group_size


def run_spurious(config: Any, root: str | Path, *, controls: tuple[str, ...] = ("random",),
                 format_reward: str | dict | None = None, base_rate: float | None = None,
                 rate_source: str = "given", rate_prompts: int = 16, progress: bool = True) -> dict[str, Any]:
    """Train every arm (reusing finished ones) and return the spurious.json record.

    base_rate: p for the random arm; None measures it on `rate_prompts` training prompts.
    rate_source: how a given base rate was obtained, for the record (e.g. "measured by rlvr demo").
    """
    from rlvr.train.trainer import train

    if not config.data.eval_files:
        raise ConfigError("rlvr spurious needs held-out tasks to measure gains on; set data.eval.")
    root = Path(root)
    source = rate_source
    rollouts = 0
    if base_rate is None:
        base_rate, rollouts = measure_base_rate(config, rate_prompts, progress)
        source = "measured"
    if not 0.0 <= base_rate <= 1.0:
        raise ConfigError(f"the base rate must be in [0, 1], got {base_rate}.")
    plan = arms(config, base_rate, controls, format_reward)  # bad controls fail before any training
    results = []
    for arm in plan:
        arm_config = replace(config, data=replace(config.data, reward=arm.reward),
                             run=replace(config.run, output_dir=str(root / arm.name)))
        run_dir = Path(arm_config.run.output_dir)
        if _finished(run_dir, arm_config):
            print(f"[{arm.name}] reusing the finished run in {run_dir}", flush=True)
        else:
            print(f"[{arm.name}] training with {arm.description}", flush=True)
            shared_base = root / plan[0].name / "eval" / "base.json"
            if arm is not plan[0] and shared_base.exists() and not (run_dir / "metrics.jsonl").exists():
                (run_dir / "eval").mkdir(parents=True, exist_ok=True)  # same model, seed, tasks: same base eval
                shutil.copyfile(shared_base, run_dir / "eval" / "base.json")
            train(arm_config, progress=progress)
        results.append(_arm_result(arm, run_dir))
    record = summarise_arms(results, base_rate, source, rollouts, config.data.eval_k)
    write_json(record, root / "spurious.json")
    write_json(record, root / plan[0].name / "spurious.json")  # where `rlvr report` looks for it
    return record


def _finished(run_dir: Path, config: Any) -> bool:
    import yaml

    try:
        saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return False
    return saved == config.to_dict() and (run_dir / "eval" / "final.json").exists()


def _arm_result(arm: Arm, run_dir: Path) -> dict[str, Any]:
    from rlvr.evaluate.gains import compare_sets

    base = json.loads((run_dir / "eval" / "base.json").read_text())
    final = json.loads((run_dir / "eval" / "final.json").read_text())
    sets = compare_sets(base, final)["sets"]
    return {"name": arm.name, "reward": arm.description, "run_dir": str(run_dir), "sets": sets}


def summarise_arms(results: list[dict[str, Any]], base_rate: float, source: str, rollouts: int,
                   k: int) -> dict[str, Any]:
    """Gains per arm on the first held-out set, the warnings, and a conclusion in words."""
    headline = next(iter(results[0]["sets"]))
    arms_out = []
    for r in results:
        c = r["sets"][headline]
        kk = c["k"]
        arms_out.append({
            "name": r["name"], "reward": r["reward"], "run_dir": r["run_dir"],
            "pass@1": [c["base"]["pass@1"], c["trained"]["pass@1"]],
            "pass@k": [c["base"][f"pass@{kk}"], c["trained"][f"pass@{kk}"]],
            "gain_pass@1": c["compression_gain"], "gain_pass@1_ci": c["compression_gain_ci"],
            "gain_pass@k": c["capability_gain"], "gain_pass@k_ci": c["capability_gain_ci"],
            "verdict": c["verdict"],
            "sets": {name: {"gain_pass@1": s["compression_gain"], "gain_pass@k": s["capability_gain"]}
                     for name, s in r["sets"].items()},
        })
    real_gain = arms_out[0]["gain_pass@1"]
    warnings = []
    for arm in arms_out[1:]:
        gain = arm["gain_pass@1"]
        if gain > WARN_ABSOLUTE:
            warnings.append(f"the {arm['name']} control raised held-out pass@1 by {gain:+.3f} "
                            f"(more than {WARN_ABSOLUTE:.2f})")
        elif real_gain > 0 and gain > WARN_RELATIVE * real_gain:
            warnings.append(f"the {arm['name']} control raised held-out pass@1 by {gain:+.3f}, more than half "
                            f"of the real run's {real_gain:+.3f}")
    if warnings:
        conclusion = ("a control reward moved held-out pass@1 too: part of the real gain may be a side effect of "
                      "training (format, length, clipping), not of what the verifier checks")
    elif real_gain > WARN_ABSOLUTE:
        conclusion = (f"the controls did not reproduce the real gain ({real_gain:+.3f}): it comes from the "
                      "verifier's signal, not from training as such")
    else:
        conclusion = f"no arm moved held-out pass@1 by more than {WARN_ABSOLUTE:.2f}, the real one included"
    return {"rlvr_spurious": SPURIOUS_FORMAT, "base_rate": base_rate, "base_rate_source": source,
            "base_rate_rollouts": rollouts, "k": k, "set": headline, "arms": arms_out, "warnings": warnings,
            "conclusion": conclusion}


def format_spurious(record: dict[str, Any]) -> str:
    """The table `rlvr spurious` prints."""
    lines = [
        f"held-out set {record['set']}; base rate p = {record['base_rate']:.3f} "
        f"({record['base_rate_source']}" + (f" over {record['base_rate_rollouts']} rollouts)" if
                                            record["base_rate_rollouts"] else ")"),
        "",
        f"{'arm':<8}{'pass@1 base -> trained':>24}{'gain':>8}   95 % interval   {'pass@k gain':>11}",
    ]
    for arm in record["arms"]:
        b, t = arm["pass@1"]
        low, high = arm["gain_pass@1_ci"]
        lines.append(f"{arm['name']:<8}{b:>13.3f} -> {t:.3f}{arm['gain_pass@1']:>+8.3f}   "
                     f"[{low:+.3f}, {high:+.3f}]{arm['gain_pass@k']:>+13.3f}")
    lines.append("")
    lines += [f"warning: {w}" for w in record["warnings"]]
    lines.append(f"conclusion: {record['conclusion']}")
    return "\n".join(lines)
