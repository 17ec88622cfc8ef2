"""The GRPO loop on a tiny model: logs, checkpoints, exact resume after SIGKILL, config errors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch
import yaml

from conftest import save_tiny_model, train_until_killed
from rlvr._errors import ConfigError
from rlvr.train.config import load_config
from rlvr.train.trainer import Trainer, train

HERE = Path(__file__).parent
VOLATILE = ("time/", "throughput/", "mfu/")  # timings, and the shares of the peak made of them


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    save_tiny_model(root / "model")
    tasks = [
        {"id": f"t{i}", "prompt": f"What is {i} + {i + 1} ?", "reference": str(2 * i + 1),
         "verifier": "rewards_for_tests:slow_even_words", "meta": {"difficulty": i % 3}}
        for i in range(10)
    ]
    (root / "train.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    config = {
        "model": str(root / "model"),
        "sampling": {"max_new_tokens": 6, "batch_size": 16},
        "algo": {"group_size": 4, "beta": 0.05, "clip_high": 0.28},
        "optim": {"lr": 1e-3, "micro_batch": 8},
        "data": {"train": str(root / "train.jsonl"), "prompts_per_step": 3},
        "run": {"steps": 4, "checkpoint_every": 2, "seed": 3},
        "plugins": ["rewards_for_tests"],  # the task file names its functions: the config opts in
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


@pytest.fixture(autouse=True)
def importable_rewards(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def stable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.startswith(VOLATILE)} for row in rows]


@pytest.fixture(scope="module")
def uninterrupted(setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "a"
    config = load_config(setup / "config.yaml", [f"run.output_dir={out}"])
    os.environ["PYTHONPATH"] = str(HERE)
    sys.path.insert(0, str(HERE))
    train(config, progress=False)
    return out


def test_run_directory_holds_everything(uninterrupted):
    names = {p.name for p in uninterrupted.iterdir()}
    assert {"config.yaml", "metrics.jsonl", "samples.jsonl", "checkpoints"} <= names
    metrics = read(uninterrupted / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    for name in ["reward/mean", "reward/std", "pass_rate", "groups/informative_frac", "entropy", "kl", "clip_frac",
                 "len/mean", "len/truncated_frac", "time/step_s", "time/generate_s", "time/verify_s",
                 "throughput/tokens_per_s"]:
        assert name in metrics[0], name
    samples = read(uninterrupted / "samples.jsonl")
    assert len(samples) == 4 * 3 * 4 and {"text", "reward", "reason", "advantage"} <= set(samples[0])
    assert sorted(p.name for p in (uninterrupted / "checkpoints").iterdir()) == ["latest", "step-2", "step-4"]
    assert yaml.safe_load((uninterrupted / "config.yaml").read_text())["algo"]["beta"] == 0.05


def test_training_changes_the_weights_and_logs_a_kl(uninterrupted, setup):
    metrics = read(uninterrupted / "metrics.jsonl")
    trained = [m for m in metrics if m["rows/trained"] > 0]
    assert trained and trained[0]["step"] < trained[-1]["step"]
    # The policy moved away from the frozen reference (KL is measured on trained rows, so read it at
    # the last step that had any: with these seeded samples the last step's groups are all equal).
    assert trained[-1]["kl"] > 0
    from safetensors.torch import load_file

    before = load_file(str(setup / "model" / "model.safetensors"))
    after = load_file(str(uninterrupted / "checkpoints" / "step-4" / "model.safetensors"))
    assert any((before[k] - after[k]).abs().max() > 0 for k in after)


def test_sigkill_then_resume_gives_the_same_metrics(setup, uninterrupted, tmp_path):
    out = tmp_path / "b"
    cmd = [sys.executable, "-m", "rlvr.cli", "train", str(setup / "config.yaml"), f"run.output_dir={out}"]
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    train_until_killed(cmd, env, out)  # past the step-2 checkpoint, before step 4's
    assert (out / "checkpoints" / "step-2").exists() and not (out / "checkpoints" / "step-4").exists()
    for name in ("samples.jsonl", "metrics.jsonl"):  # what a kill between buffered writes leaves: a cut line
        with open(out / name, "a", encoding="utf-8") as f:
            f.write('{"step": 4, "text": "What is 3 +')

    config = load_config(setup / "config.yaml", [f"run.output_dir={out}"])
    train(config, resume=True, progress=False)
    resumed, reference = read(out / "metrics.jsonl"), read(uninterrupted / "metrics.jsonl")
    assert [m["step"] for m in resumed] == [1, 2, 3, 4]
    for got, want in zip(stable(resumed), stable(reference)):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-7), (got["step"], key)
    assert len(read(out / "samples.jsonl")) == len(read(uninterrupted / "samples.jsonl"))


@pytest.mark.parametrize("resume", [False, True])
def test_a_run_killed_before_its_first_checkpoint_starts_over(setup, uninterrupted, tmp_path, resume, capsys):
    out = tmp_path / "early"
    out.mkdir()
    (out / "config.yaml").write_text((uninterrupted / "config.yaml").read_text())
    for name in ("metrics.jsonl", "samples.jsonl"):  # step 1 logged, step 2 cut off by the kill
        rows = [line for line in (uninterrupted / name).read_text().splitlines() if json.loads(line)["step"] == 1]
        (out / name).write_text("".join(line + "\n" for line in rows) + '{"step": 2, "rew')
    config = load_config(setup / "config.yaml", [f"run.output_dir={out}", "run.steps=2"])
    train(config, resume=resume, progress=False)
    assert "stopped before its first checkpoint: starting it over from step 0" in capsys.readouterr().out
    got, want = read(out / "metrics.jsonl"), read(uninterrupted / "metrics.jsonl")[:2]
    assert [m["step"] for m in got] == [1, 2]
    for row, reference in zip(stable(got), stable(want)):
        assert row == pytest.approx(reference, rel=1e-5, abs=1e-7)
    assert [s["step"] for s in read(out / "samples.jsonl")] == [1] * 12 + [2] * 12


def test_refuses_to_overwrite_a_run_and_to_resume_nothing(setup, uninterrupted, tmp_path):
    with pytest.raises(ConfigError, match="already holds a run"):
        train(load_config(setup / "config.yaml", [f"run.output_dir={uninterrupted}"]), progress=False)
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(load_config(setup / "config.yaml", [f"run.output_dir={tmp_path / 'new'}"]), resume=True, progress=False)


def test_a_weights_only_checkpoint_is_the_same_model_and_refuses_to_resume(setup, uninterrupted, tmp_path):
    """run.checkpoint_optimizer=false: the same trained weights, a third of the size, and --resume says why not
    before any model loads."""
    from safetensors.torch import load_file

    out = tmp_path / "light"
    train(load_config(setup / "config.yaml", [f"run.output_dir={out}", "run.checkpoint_optimizer=false"]),
          progress=False)
    assert stable(read(out / "metrics.jsonl")) == stable(read(uninterrupted / "metrics.jsonl"))
    light, full = out / "checkpoints" / "step-4", uninterrupted / "checkpoints" / "step-4"
    ours, theirs = load_file(str(light / "model.safetensors")), load_file(str(full / "model.safetensors"))
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert (light / "weights_only").exists() and not (full / "weights_only").exists()
    assert (light / "trainer_state.pt").stat().st_size * 10 < (full / "trainer_state.pt").stat().st_size
    with pytest.raises(ConfigError, match="without the optimizer state .* cannot be resumed exactly"):
        Trainer(load_config(setup / "config.yaml", [f"run.output_dir={out}"]), resume=True, progress=False)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_weight_that_is_not_finite_is_found(bad):
    from rlvr.train.runtime.checkpoint import _first_nonfinite

    weights = {"a": torch.randn(50), "b": torch.randn(7, 9).bfloat16(), "steps": torch.arange(4), "e": torch.empty(0)}
    assert _first_nonfinite(weights) is None
    weights["b"][3, 4] = bad
    assert _first_nonfinite(weights) == "b"


def test_dynamic_filter_pruning_and_median_run(setup, tmp_path):
    config = load_config(setup / "config.yaml", [
        f"run.output_dir={tmp_path / 'c'}", "run.steps=2", "data.dynamic_filter=true", "data.keep_frac=0.5",
        "algo.baseline=median", "algo.beta=0", "algo.ppo_epochs=2", "data.truncated=mask",
        "algo.aggregation=constant_normaliser",
    ])
    train(config, progress=False)
    metrics = read(tmp_path / "c" / "metrics.jsonl")
    assert all(m["prompts/drawn"] >= 3 for m in metrics)
    samples = read(tmp_path / "c" / "samples.jsonl")
    assert any(not s["kept"] for s in samples)  # pruning dropped half of each group
    assert all("kl" not in m for m in metrics)  # beta 0: no reference model, so no KL (not a fake 0)
    assert all(0 < m.get("reason/mismatch", 0) < 1 for m in metrics)  # failure reasons reach the metrics


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["algo.bta=0.1"], "unknown config key 'algo.bta'"),
        (["algo.baseline=mode"], "must be one of 'mean', 'median'"),
        (["optim.lr=fast"], "optim.lr' must be float"),
        (["algo.group_size=1"], "group_size must be at least 2"),
        (["nonsense"], "an override is key=value"),
    ],
)
def test_config_errors_are_one_sentence(setup, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(setup / "config.yaml", overrides)


def test_task_stream_schedules_and_resumes_its_position():
    from rlvr.tasks import Task
    from rlvr.train.rollouts import TaskStream

    tasks = [Task(id=f"t{i}", prompt="p", reference="1", meta={"difficulty": 3 - i % 3, "pass_rate": i / 10})
             for i in range(6)]
    by_difficulty = TaskStream(tasks, seed=0, schedule="difficulty").take(6)
    assert [t.meta["difficulty"] for t in by_difficulty] == sorted(t.meta["difficulty"] for t in tasks)
    by_rate = TaskStream(tasks, seed=0, schedule="pass_rate").take(6)
    assert [t.id for t in by_rate] == ["t5", "t4", "t3", "t2", "t1", "t0"]
    stream = TaskStream(tasks, seed=1, schedule="shuffle")
    first = stream.take(4)
    state = stream.state()
    rest = stream.take(5)  # crosses into the next epoch, which is shuffled differently
    again = TaskStream(tasks, seed=1, schedule="shuffle")
    again.load(state)
    assert again.take(5) == rest and {t.id for t in first + rest[:2]} == {t.id for t in tasks}


def test_scientific_notation_without_a_dot_is_a_float():
    assert load_config(None, ["optim.lr=1e-5"]).optim.lr == 1e-5


def test_tensorboard_and_wandb_offline_loggers(setup, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "logged"
    overrides = [f"run.output_dir={out}", "run.steps=2", "run.loggers=[tensorboard, wandb]"]
    config = load_config(setup / "config.yaml", overrides)
    train(config, progress=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("reward/mean")] == [1, 2]
    assert list((out / "wandb").glob("offline-run-*/run-*.wandb"))


def test_unknown_or_missing_logger_fails_before_loading_anything(setup, tmp_path):
    with pytest.raises(ConfigError, match="unknown logger 'neptune'"):
        train(load_config(setup / "config.yaml", [f"run.output_dir={tmp_path}/x", "run.loggers=[neptune]"]))
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        with pytest.raises(ConfigError, match="pip install mlflow"):
            train(load_config(setup / "config.yaml", [f"run.output_dir={tmp_path}/y", "run.loggers=[mlflow]"]))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_length_control_shapes_rewards():
    import torch

    from rlvr.train.rollouts import Rollouts
    from rlvr.train.rewards import reward_signal as _shape_rewards

    rollouts = Rollouts(
        tasks=[], prompt_ids=[], completion_ids=[[[1] * 4, [1] * 8]], old_logprobs=[], texts=[],
        truncated=torch.tensor([[False, True]]), verdicts=[], rewards=torch.tensor([[1.0, 1.0]]),
        neutral=torch.tensor([[True, True]]),
    )
    keep = load_config(None, ["sampling.max_new_tokens=8"])
    assert _shape_rewards(rollouts, keep).tolist() == [[1.0, 1.0]]
    penalise = load_config(None, ["sampling.max_new_tokens=8", "data.truncated=penalise"])
    assert _shape_rewards(rollouts, penalise).tolist() == [[1.0, 0.0]]  # a truncated answer earns nothing
    per_token = load_config(None, ["sampling.max_new_tokens=8", "data.length_penalty=0.5"])
    assert _shape_rewards(rollouts, per_token).tolist() == [[0.75, 0.5]]


def test_the_neutral_pass_rate_reads_rollouts_with_the_tasks_own_verifiers(setup, tmp_path):
    # Trained on a random reward, the rollouts are still read by the tasks' verifier (even_words here).
    from rewards_for_tests import even_words

    config = load_config(setup / "config.yaml", [f"run.output_dir={tmp_path / 'r'}", "run.steps=2", "algo.beta=0",
                                                 "data.reward={name: random, p: 0.5}", "data.verifier_workers=1"])
    train(config, progress=False)
    metrics, samples = read(tmp_path / "r" / "metrics.jsonl"), read(tmp_path / "r" / "samples.jsonl")
    for step in (1, 2):
        rows = [s for s in samples if s["step"] == step]
        assert [s["neutral"] for s in rows] == [bool(even_words(s["text"], None)) for s in rows]
        assert metrics[step - 1]["pass_rate/neutral"] == pytest.approx(sum(s["neutral"] for s in rows) / len(rows))
        assert metrics[step - 1]["pass_rate"] == pytest.approx(sum(s["reward"] == 1.0 for s in rows) / len(rows))
    with pytest.raises(ConfigError, match="verifier_workers"):
        load_config(setup / "config.yaml", ["data.verifier_workers=0"])


def test_a_lenient_training_reward_warns(setup, tmp_path):
    config = load_config(setup / "config.yaml", [f"run.output_dir={tmp_path / 'l'}", "run.steps=1", "algo.beta=0",
                                                 "data.reward={name: math, answer: lenient}"])
    with pytest.warns(UserWarning, match="leniently"):
        train(config, progress=False)


def test_training_raises_no_future_or_deprecation_warning(setup, tmp_path):
    """A run (sampling, verification, the update with its defaults, a KL reference, checkpoints) warns of no
    API that is going away: transformers 5.x's `past_key_values` rename was one, on every decoding step."""
    import warnings

    config = load_config(setup / "config.yaml", [f"run.output_dir={tmp_path / 'run'}", "run.steps=2"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(config, progress=False)
    noisy = sorted({f"{w.category.__name__}: {w.message} ({w.filename})" for w in caught
                    if issubclass(w.category, (FutureWarning, DeprecationWarning))})
    assert noisy == []
