"""The trainer under `accelerate launch` with 2 CPU processes (gloo): ranks share work, stay in sync;
every recipe in examples/accelerate/ runs: ddp.yaml, and the sharded fsdp.yaml and deepspeed_zero{2,3}.yaml
train to the same weights as ddp.yaml and resume exactly."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import save_tiny_model

HERE = Path(__file__).parent


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate's launcher is not on PATH")
def test_two_cpu_processes_train_in_sync(tmp_path):
    tiny_run(tmp_path, optim={"lr": 1e-3, "micro_batch": 3},
             run={"steps": 3, "checkpoint_every": 1, "output_dir": str(tmp_path / "run")})
    env = {**os.environ, "PYTHONPATH": str(HERE), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no",
         "--dynamo_backend", "no", "-m", "rlvr.cli", "train", str(tmp_path / "config.yaml")],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert all(m["prompts/drawn"] == 4 for m in metrics)  # two prompts on each of two ranks
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert {s["rank"] for s in samples} == {0, 1} and len(samples) == 3 * 4 * 4
    sync = [json.loads(line) for line in (run / "sync.jsonl").read_text().splitlines()]
    assert [s["step"] for s in sync] == [1, 2, 3]
    assert all(len(s["checksums"]) == 2 and s["checksums"][0] == s["checksums"][1] for s in sync)
    assert any(m["rows/trained"] > 0 for m in metrics)  # the ranks really trained, not just agreed


ROOT = HERE.parent.parent


def tiny_run(tmp_path: Path, **sections: dict) -> Path:
    """A tiny model, 8 tasks and a 2-step config in tmp_path; returns the config file."""
    save_tiny_model(tmp_path / "model")
    tasks = [{"id": f"t{i}", "prompt": f"What is {i} + {i + 1} ?", "reference": str(2 * i + 1),
              "verifier": "rewards_for_tests:even_words"} for i in range(8)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    config = {
        "model": str(tmp_path / "model"),
        "sampling": {"max_new_tokens": 6, "batch_size": 16},
        "algo": {"group_size": 4, "beta": 0.05},
        "optim": {"lr": 1e-2, "micro_batch": 3},
        "data": {"train": str(tmp_path / "train.jsonl"), "prompts_per_step": 4},
        # seed 4: at step 1 rank 1 draws only all-equal groups and joins the gradient sum with no rows
        # (its metrics must still line up with rank 0's); at step 2 both ranks train
        "run": {"steps": 2, "checkpoint_every": 1, "seed": 4, "output_dir": str(tmp_path / "run")},
        "plugins": ["rewards_for_tests"],  # every rank reads it before building the task file's verifiers
        **sections,
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path / "config.yaml"


def launch(config_file: str, train_config: Path, *overrides: str, resume: bool = False,
           launch_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(HERE), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        ["accelerate", "launch", "--config_file", str(ROOT / "examples" / "accelerate" / config_file), *launch_args,
         "-m", "rlvr.cli", "train", *(["--resume"] if resume else []), str(train_config), *overrides],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate's launcher is not on PATH")
def test_ddp_recipe_trains_lora_in_sync(tmp_path):
    pytest.importorskip("peft")
    proc = launch("ddp.yaml", tiny_run(tmp_path, lora={"enabled": True, "r": 4, "alpha": 8}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert {s["rank"] for s in samples} == {0, 1} and all(m["prompts/drawn"] == 4 for m in metrics)
    sync = [json.loads(line) for line in (run / "sync.jsonl").read_text().splitlines()]
    assert [s["step"] for s in sync] == [1, 2]
    assert all(len(s["checksums"]) == 2 and s["checksums"][0] == s["checksums"][1] for s in sync)
    assert metrics[0]["rows/trained"] > 0 and metrics[-1]["kl"] > 0  # the adapters trained, identically
    assert (run / "checkpoints" / "step-2" / "adapter_model.safetensors").exists()
    assert (run / "model" / "model.safetensors").exists()  # rank 0 merged and saved the model


SHARDED = ["fsdp.yaml", "deepspeed_zero2.yaml", "deepspeed_zero3.yaml"]
needs_launcher = pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate's launcher is not on PATH")


def _needs(recipe: str) -> None:
    if recipe.startswith("deepspeed"):
        pytest.importorskip("deepspeed")


def _weights(run: Path, step: int) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run / "checkpoints" / f"step-{step}" / "model.safetensors"))


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _sharded_config(tmp_path: Path) -> Path:
    """Warm-up, a KL reference (sharded too) and held-out sets: every path that sharding changes. In float32:
    the recipes reduce in different orders, which bf16 rounding would turn into differences of ~1e-3. Each row
    runs whole under ddp too (optim.share_prompts needs the fused head, which sharded ranks do not use), so the
    micro-batches hold the same rows in every recipe."""
    config = tiny_run(tmp_path, optim={"lr": 1e-2, "micro_batch": 3, "warmup_steps": 1, "mixed_precision": "fp32",
                                       "share_prompts": False})
    data = yaml.safe_load(config.read_text())
    data["data"].update(eval=str(tmp_path / "train.jsonl"), eval_k=2)
    config.write_text(yaml.safe_dump(data))
    return config


@pytest.fixture(scope="module")
def ddp_reference(tmp_path_factory):
    """Three steps under ddp.yaml: the weights every sharded recipe must reach."""
    if shutil.which("accelerate") is None:
        pytest.skip("accelerate's launcher is not on PATH")
    folder = tmp_path_factory.mktemp("ddp")
    proc = launch("ddp.yaml", _sharded_config(folder), "run.steps=3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder / "run"


@needs_launcher
@pytest.mark.parametrize("recipe", SHARDED)
def test_sharded_recipe_matches_ddp_and_resumes_exactly(tmp_path, recipe, ddp_reference):
    """Two steps, a stop, a resume to step 3: the same weights, losses and evaluations as ddp.yaml.

    float32 (`--mixed_precision no`), so the only difference left is the order of floating-point sums.
    """
    _needs(recipe)
    config = _sharded_config(tmp_path)
    first = launch(recipe, config, launch_args=("--mixed_precision", "no"))
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "run"
    assert [m["step"] for m in _metrics(run)] == [1, 2]
    resumed = launch(recipe, config, "run.steps=3", resume=True, launch_args=("--mixed_precision", "no"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("run directory:") == 1  # printed by rank 0 only

    ours, reference = _weights(run, 3), _weights(ddp_reference, 3)
    assert sorted(ours) == sorted(reference)
    start = _weights_of_base(tmp_path)
    assert max(float((reference[k] - start[k]).abs().max()) for k in reference) > 1e-3  # training moved them
    # 2e-5: ZeRO-3 against ddp measured 1.6e-5 after 3 steps, their losses equal to 1e-7 and grad norms to 2e-7 (1e-5
    # held before the sampler's fast step, rlvr/models/fast_decode.py, changed the old log-probs' last bits).
    assert max(float((ours[k].float() - reference[k]).abs().max()) for k in reference) < 2e-5
    for got, want in zip(_metrics(run), _metrics(ddp_reference), strict=True):
        assert got["step"] == want["step"] and got["rows/trained"] == want["rows/trained"]
        for key in ("loss", "kl", "grad_norm", "lr"):
            assert got[key] == pytest.approx(want[key], abs=1e-5), key
    assert _metrics(run)[-1]["kl"] > 0  # the sharded KL reference took part
    for name in ("base", "final"):  # rank 0 evaluated alone while the weights were gathered
        got, want = (json.loads((folder / "eval" / f"{name}.json").read_text()) for folder in (run, ddp_reference))
        assert got["tasks"] == want["tasks"] and got["samples"] == want["samples"]
    assert not (run / "sync.jsonl").exists()  # no replica checksums: the ranks hold different shards


def _weights_of_base(tmp_path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(tmp_path / "model" / "model.safetensors"))


@needs_launcher
@pytest.mark.parametrize("recipe", SHARDED)
def test_sharded_recipe_runs_as_written_in_bf16(tmp_path, recipe):
    """The recipe file unchanged (mixed_precision: bf16): it trains, evaluates and saves a loadable model."""
    _needs(recipe)
    assert yaml.safe_load((ROOT / "examples" / "accelerate" / recipe).read_text())["mixed_precision"] == "bf16"
    proc = launch(recipe, _sharded_config(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    assert [m["step"] for m in _metrics(run)] == [1, 2] and _metrics(run)[0]["rows/trained"] > 0
    assert (run / "eval" / "final.json").exists()
    from rlvr.models import load_policy

    policy = load_policy(str(run / "checkpoints" / "step-2"))
    start = _weights_of_base(tmp_path)
    moved = {k: float((v.float() - start[k]).abs().max()) for k, v in policy.model.state_dict().items() if k in start}
    assert max(moved.values()) > 1e-3


@needs_launcher
@pytest.mark.parametrize("recipe", ["fsdp.yaml", "deepspeed_zero2.yaml"])
def test_sharded_weights_only_checkpoints(tmp_path, recipe):
    """run.checkpoint_optimizer=false under a sharded recipe: every rank skips the optimizer state together (FSDP
    gathers it collectively; DeepSpeed writes it per rank), the full weights are written, and --resume refuses the
    checkpoint in one sentence."""
    _needs(recipe)
    config = _sharded_config(tmp_path)
    proc = launch(recipe, config, "run.checkpoint_optimizer=false", launch_args=("--mixed_precision", "no"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = tmp_path / "run" / "checkpoints" / "step-2"
    assert (folder / "weights_only").exists() and not (folder / "deepspeed").exists()
    start, trained = _weights_of_base(tmp_path), _weights(tmp_path / "run", 2)
    assert sorted(trained) == sorted(start) and max(float((trained[k] - start[k]).abs().max()) for k in start) > 1e-3
    again = launch(recipe, config, "run.steps=3", resume=True, launch_args=("--mixed_precision", "no"))
    # each rank exits with 2 and its sentence; accelerate's launcher itself exits with 1 when a rank fails
    assert again.returncode != 0 and "rlvr: error: " in again.stderr and "cannot be resumed exactly" in again.stderr
    assert not (tmp_path / "run" / "checkpoints" / "step-3").exists()


def _layout(monkeypatch, variables: dict[str, str], lora: bool = False, engine: str = "hf"):
    from rlvr.train.runtime.distributed import Dist
    from rlvr.train.runtime.sharding import layout_for_launch

    for name in [n for n in os.environ if n.startswith(("ACCELERATE_", "FSDP_"))]:
        monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return layout_for_launch(Dist(), lora=lora, engine=engine)


def test_the_launch_environment_picks_the_layout(monkeypatch):
    assert _layout(monkeypatch, {}).name == "ddp"
    fsdp = _layout(monkeypatch, {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2",
                                 "FSDP_RESHARD_AFTER_FORWARD": "false", "ACCELERATE_MIXED_PRECISION": "bf16"})
    assert (fsdp.name, fsdp.sharded, fsdp.reshard, fsdp.bf16) == ("FSDP", True, False, True)
    if importlib.util.find_spec("deepspeed") is not None:
        ds = _layout(monkeypatch, {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3",
                                   "ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE": "cpu"})
        assert (ds.name, ds.stage) == ("DeepSpeed", 3)
        assert ds._config(1, 3)["zero_optimization"] == {"stage": 3, "offload_optimizer": {"device": "cpu"}}


@pytest.mark.parametrize("variables, lora, engine, message", [
    ({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "1"}, False, "hf", "FSDP2 only; set fsdp_version: 2"),
    ({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "FSDP_AUTO_WRAP_POLICY": "SIZE_BASED_WRAP"}, False, "hf",
     "SIZE_BASED_WRAP is not supported"),
    ({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "ACCELERATE_MIXED_PRECISION": "fp16"}, False, "hf",
     "mixed_precision fp16 is not supported"),
    ({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2"}, True, "hf", "LoRA training is not sharded with FSDP"),
    ({"ACCELERATE_USE_DEEPSPEED": "true"}, False, "vllm", "sampling.engine=vllm does not run under DeepSpeed"),
])
def test_unsupported_sharded_launches_fail_in_one_sentence(monkeypatch, variables, lora, engine, message):
    from rlvr._errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        _layout(monkeypatch, variables, lora=lora, engine=engine)


@pytest.mark.parametrize("variables, message", [
    ({"ACCELERATE_DEEPSPEED_CONFIG_FILE": "ds.json"}, "remove deepspeed_config_file"),
    ({"ACCELERATE_GRADIENT_ACCUMULATION_STEPS": "4"}, "gradient_accumulation_steps: 1"),
    ({"ACCELERATE_DEEPSPEED_ZERO_STAGE": "0"}, "zero_stage must be 1, 2 or 3"),
])
def test_deepspeed_settings_rlvr_cannot_honour_are_refused(monkeypatch, variables, message):
    pytest.importorskip("deepspeed")
    from rlvr._errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        _layout(monkeypatch, {"ACCELERATE_USE_DEEPSPEED": "true", **variables})


def test_deepspeed_missing_says_how_to_install_it(monkeypatch):
    import builtins

    from rlvr._errors import ConfigError

    real_import = builtins.__import__

    def no_deepspeed(name, *args, **kwargs):
        if name == "deepspeed" or name.startswith("deepspeed."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_deepspeed)
    with pytest.raises(ConfigError, match=r"pip install 'rlvr\[deepspeed\]'"):
        _layout(monkeypatch, {"ACCELERATE_USE_DEEPSPEED": "true"})


def test_a_checkpoint_resumes_only_under_the_layout_that_wrote_it(tmp_path, monkeypatch):
    """FSDP's optimizer state is a gathered state dict, DeepSpeed's lives in per-rank files: no mixing."""
    import torch

    from rlvr._errors import ConfigError
    from rlvr.train.config import load_config
    from rlvr.train.trainer import train

    for name in [n for n in os.environ if n.startswith(("ACCELERATE_", "FSDP_"))]:
        monkeypatch.delenv(name)
    config = load_config(tiny_run(tmp_path), ["run.steps=1"])
    run = train(config, progress=False)
    state_file = run / "checkpoints" / "step-1" / "trainer_state.pt"
    state = torch.load(state_file, weights_only=False)
    assert state["layout"] == "ddp"
    torch.save({**state, "layout": "DeepSpeed"}, state_file)
    with pytest.raises(ConfigError, match="written by a DeepSpeed launch; resume it with the same accelerate recipe"):
        train(load_config(tiny_run(tmp_path), ["run.steps=2"]), resume=True, progress=False)
