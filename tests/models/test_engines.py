"""The one engine factory: `EngineSpec` (each option defined once, checked in one sentence that names the
option as the user wrote it), `open_engine`, and the CLI flags and config keys generated from the spec."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from conftest import make_tiny_policy, save_tiny_model
from rlvr._errors import ConfigError
from rlvr.models import DEFAULT_MODEL, EngineSpec, HFEngine, open_engine
from rlvr.models.spec import GPU_MEMORY_SHARE, engine_spec


def test_every_option_has_one_default_and_a_help_sentence():
    spec = EngineSpec()
    assert (spec.model, spec.dtype, spec.device, spec.engine, spec.batch_size, spec.precision,
            spec.gpu_memory_utilization) == (DEFAULT_MODEL, "auto", "auto", "hf", "auto", "fp32", GPU_MEMORY_SHARE)
    assert all(f.metadata["help"].strip() for f in dataclasses.fields(EngineSpec))


def test_the_defaults_elsewhere_are_the_spec_s():
    """The training and SFT configs, the pipeline and the vLLM engine take their defaults from the spec."""
    import inspect

    from rlvr.models import VLLMEngine
    from rlvr.train.config import load_config, sampler_spec
    from rlvr.sft.config import load_sft_config

    train, sft = load_config(None, []), load_sft_config(None, [])
    assert train.model == sft.model == DEFAULT_MODEL
    assert train.sampling.gpu_memory_utilization == sft.sampling.gpu_memory_utilization == GPU_MEMORY_SHARE
    assert inspect.signature(VLLMEngine).parameters["gpu_memory_utilization"].default == GPU_MEMORY_SHARE
    # The SFT evaluation keeps sizing its batches to the free memory; training decodes 32 rows at a time.
    assert sampler_spec(sft) == EngineSpec(dtype="float32")
    assert sampler_spec(train, "cpu") == EngineSpec(dtype="float32", device="cpu", batch_size=32)


@pytest.mark.parametrize("values, message", [
    ({"engine": "sglang"}, "engine must be hf or vllm, got 'sglang'"),
    ({"precision": "fp16"}, "precision must be one of auto, fp32, bf16, got 'fp16'"),  # auto added by issue 28
    ({"dtype": "int8"}, "dtype must be one of auto, float32, bfloat16, float16, got 'int8'"),
    ({"batch_size": 0}, "batch_size must be a positive integer or 'auto', got 0"),
    ({"batch_size": True}, "batch_size must be a positive integer or 'auto', got True"),
    ({"gpu_memory_utilization": 0}, r"gpu_memory_utilization must be in \(0, 1\], got 0"),
    ({"gpu_memory_utilization": float("nan")}, r"gpu_memory_utilization must be in \(0, 1\], got nan"),
    ({"model": ""}, "model must be a non-empty name, got ''"),
])
def test_a_bad_option_is_one_sentence_naming_it(values, message):
    with pytest.raises(ConfigError, match=f"^{message}\\.$"):
        EngineSpec(**values)
    flag = "--" + next(iter(values)).replace("_", "-")
    with pytest.raises(ConfigError, match=f"^{flag}{message[len(next(iter(values))):]}\\.$"):
        engine_spec(values, name=lambda key: "--" + key.replace("_", "-"))


def test_an_unknown_option_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown engine option gpu_share; the options are batch_size, device"):
        engine_spec({"gpu_share": 0.5})


def test_the_cli_flags_are_generated_from_the_spec():
    from rlvr.cli._common import OneLineParser, add_engine_arguments, engine_spec_of

    parser = OneLineParser(prog="rlvr x")
    add_engine_arguments(parser)
    flags = {a.dest: a for a in parser._actions if a.dest != "help"}
    assert set(flags) == {f.name for f in dataclasses.fields(EngineSpec)}
    assert flags["model"].required and flags["engine"].choices == ("hf", "vllm")
    assert "(default 0.3)" in flags["gpu_memory_utilization"].help
    args = parser.parse_args(["--model", "m", "--engine", "vllm", "--batch-size", "4",
                              "--gpu-memory-utilization", "0.5", "--precision", "bf16"])
    assert engine_spec_of(args) == EngineSpec(model="m", engine="vllm", batch_size=4, gpu_memory_utilization=0.5,
                                              precision="bf16")
    with pytest.raises(ConfigError, match=r"^--gpu-memory-utilization must be in \(0, 1\], got 1.5\.$"):
        engine_spec_of(parser.parse_args(["--model", "m", "--gpu-memory-utilization", "1.5"]))
    optional = argparse.ArgumentParser()
    add_engine_arguments(optional, model="optional")
    assert optional.parse_args([]).model is None


def test_config_keys_are_named_in_the_error():
    from rlvr.sft.config import load_sft_config

    with pytest.raises(ConfigError, match=r"^sampling\.batch_size must be a positive integer or 'auto', got 0\.$"):
        load_sft_config(None, ["sampling.batch_size=0"])
    assert load_sft_config(None, ["sampling.engine=vllm"]).sampling.engine == "vllm"


def test_open_engine_loads_the_model_and_puts_the_named_sampler_on_it(tmp_path):
    save_tiny_model(tmp_path)
    policy, engine = open_engine(EngineSpec(model=str(tmp_path), dtype="float32", device="cpu", batch_size=3,
                                            precision="bf16"))
    assert isinstance(engine, HFEngine) and engine.policy is policy
    assert (engine.batch_size, engine.bf16, str(policy.device), str(policy.model.dtype)) == (3, True, "cpu",
                                                                                          "torch.float32")


def test_open_engine_on_a_loaded_policy_loads_nothing():
    tiny = make_tiny_policy()
    policy, engine = open_engine(EngineSpec(model="no-such-model"), policy=tiny)  # the model is never resolved
    assert policy is tiny and engine.policy is tiny and engine.batch_size == "auto" and not engine.bf16


def test_a_device_this_machine_lacks_fails_before_the_model_loads(tmp_path):
    with pytest.raises(ConfigError, match="--device 'nosuch' is not a device"):
        open_engine(EngineSpec(model=str(tmp_path / "no-such-model"), device="nosuch"))
