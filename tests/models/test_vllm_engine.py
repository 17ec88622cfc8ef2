"""VLLMEngine: error paths, and its mapping to vLLM's API through a fake `vllm` module (no GPU here).

The fake records what the engine passes to `vllm.LLM`, `vllm.SamplingParams` and
`LLM.generate`, and answers with RequestOutput-shaped objects. The last test runs the real
vLLM against HFEngine and is skipped unless vllm imports and a CUDA GPU is visible.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from conftest import make_tiny_policy
from rlvr._errors import ConfigError, ModelError
from rlvr.models import HFEngine, SamplingParams, VLLMEngine, load_policy, make_engine
from rlvr.models.logprobs import sequence_logprobs

PROMPTS = ["What is 3 + 4 ?", "What is 12 * 7 ? Reply with only the final number .", "a b c"]
EOS = 4  # <|im_end|> in the tiny vocabulary


# ---------------------------------------------------------------------------------------------
# The fake vllm module


@dataclass
class Logprob:
    logprob: float
    rank: int


@dataclass
class CompletionOutput:
    index: int
    token_ids: list[int]
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None
    text: str = ""  # detokenize=False: vLLM leaves the text empty


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]


def fake_logprob(prompt_index: int, sample: int, step: int) -> float:
    return -0.01 * (1 + step) - 0.1 * sample - prompt_index


class FakeSamplingParams:
    def __init__(self, **kwargs):
        if kwargs.get("temperature", 1.0) < 1e-5 and kwargs.get("n", 1) > 1:  # as vllm/sampling_params.py
            raise ValueError("n must be 1 when using greedy sampling")
        self.kwargs = kwargs
        self.__dict__.update(kwargs)


@dataclass
class FakeLLM:
    """Sample j of prompt i: tokens from a rule; even samples end with EOS, odd ones hit max_tokens.

    Sample 0 samples EOS as its last allowed token, which vLLM reports as "length" (it checks the
    cap first). Every logprob dict also holds a decoy token ranked first: the engine must pick the
    sampled token's entry.
    """

    kwargs: dict
    calls: list = field(default_factory=list)
    pushes: list = field(default_factory=list)
    resets: int = 0
    finish_override: str | None = None

    def __post_init__(self):
        runner = types.SimpleNamespace(model=types.SimpleNamespace(load_weights=self._load_weights))
        self.llm_engine = types.SimpleNamespace(
            model_executor=types.SimpleNamespace(driver_worker=types.SimpleNamespace(model_runner=runner))
        )

    def _load_weights(self, weights):
        self.pushes.append({name: tensor.detach().clone() for name, tensor in weights})

    def reset_prefix_cache(self):
        self.resets += 1

    def generate(self, prompts, sampling_params, use_tqdm=True):
        self.calls.append((prompts, sampling_params))
        results = []
        for i, (prompt, sp) in enumerate(zip(prompts, sampling_params)):
            outputs = []
            for j in range(sp.n):
                length = sp.max_tokens if j % 2 else max(1, sp.max_tokens - j)
                ids = [10 + (len(prompt["prompt_token_ids"]) + i + j + t) % 50 for t in range(length)]
                if j % 2 == 0:
                    ids[-1] = EOS
                logprobs = [{99: Logprob(-0.001, 1), t: Logprob(fake_logprob(i, j, s), 2)} for s, t in enumerate(ids)]
                reason = self.finish_override or ("length" if length == sp.max_tokens else "stop")
                outputs.append(CompletionOutput(j, ids, logprobs, reason))
            results.append(RequestOutput(prompt["prompt_token_ids"], outputs[::-1]))  # any order: .index counts
        return results


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.__version__ = "0.11.0"
    module.instances = []

    def llm(**kwargs):
        instance = FakeLLM(kwargs)
        module.instances.append(instance)
        return instance

    module.LLM = llm
    module.SamplingParams = FakeSamplingParams
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    return module


@pytest.fixture(scope="module")
def saved_policy(tmp_path_factory):
    """The tiny policy, saved to a folder and loaded from it (vLLM loads models from folders)."""
    folder = tmp_path_factory.mktemp("tiny")
    tiny = make_tiny_policy()
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    return load_policy(folder, dtype="float32", device="cpu")


# ---------------------------------------------------------------------------------------------
# Errors


def test_missing_vllm_names_pip(monkeypatch, saved_policy):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    with pytest.raises(ModelError, match="pip install vllm; needs a CUDA GPU"):
        VLLMEngine(saved_policy)
    with pytest.raises(ModelError, match="pip install vllm"):
        make_engine("vllm", saved_policy)


def test_vllm_without_cuda_is_a_model_error(fake_vllm, monkeypatch, saved_policy):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError, match="needs a CUDA GPU and none is visible"):
        VLLMEngine(saved_policy)
    assert fake_vllm.instances == []  # nothing was started


def test_old_vllm_policy_without_folder_and_bad_options(fake_vllm, saved_policy):
    with pytest.raises(ConfigError, match="gpu_memory_utilization"):
        VLLMEngine(saved_policy, gpu_memory_utilization=1.5)
    with pytest.raises(ModelError, match="neither; save it with save_pretrained"):
        VLLMEngine(make_tiny_policy())  # built in memory: no folder for vLLM to load
    fake_vllm.__version__ = "0.9.2"
    with pytest.raises(ModelError, match=r"too old.*vllm>=0\.10\.2"):
        VLLMEngine(saved_policy)
    assert fake_vllm.instances == []


def test_data_parallel_ranks_are_refused(fake_vllm, monkeypatch, saved_policy):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="single process"):
        VLLMEngine(saved_policy)


# ---------------------------------------------------------------------------------------------
# The mapping to vLLM


def test_llm_options_and_initial_weight_push(fake_vllm, saved_policy):
    engine = VLLMEngine(saved_policy, gpu_memory_utilization=0.25, max_model_len=128)
    (llm,) = fake_vllm.instances
    assert llm.kwargs == {
        "model": saved_policy.model.name_or_path, "dtype": "float32", "gpu_memory_utilization": 0.25,
        "logprobs_mode": "processed_logprobs", "max_model_len": 128,
    }
    assert Path(llm.kwargs["model"]).joinpath("config.json").exists()
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"  # the model object stays in this process
    assert len(llm.pushes) == 1 and llm.resets == 1  # the in-memory weights, pushed once at construction
    assert engine.policy is saved_policy


def test_bf16_sampling_loads_vllm_in_bfloat16(fake_vllm, saved_policy):
    from rlvr.models import make_engine

    make_engine("vllm", saved_policy, precision="bf16")
    (llm,) = fake_vllm.instances
    assert llm.kwargs["dtype"] == "bfloat16"


def test_sampling_params_and_prompts(fake_vllm, saved_policy):
    engine = VLLMEngine(saved_policy)
    params = SamplingParams(n=3, temperature=0.7, top_p=1.0, top_k=0, max_new_tokens=5, seed=7)
    engine.generate(PROMPTS, params)
    (prompts, requests), = fake_vllm.instances[0].calls
    assert prompts == [{"prompt_token_ids": saved_policy.encode(p)} for p in PROMPTS]
    for request in requests:
        kwargs = dict(request.kwargs)
        seed = kwargs.pop("seed")
        assert isinstance(seed, int) and 0 <= seed < 2**31 - 3
        assert kwargs == {"n": 3, "temperature": 0.7, "top_p": 1.0, "top_k": 0, "max_tokens": 5, "logprobs": 0,
                          "stop_token_ids": sorted(saved_policy.eos_token_ids), "detokenize": False}
    # Sample j of a prompt gets seed + j in vLLM: the prompts' seed ranges must not overlap.
    seeds = [r.seed for r in requests]
    ranges = [set(range(s, s + 3)) for s in seeds]
    assert all(not (a & b) for k, a in enumerate(ranges) for b in ranges[k + 1 :])
    engine.generate(PROMPTS, params)
    engine.generate(PROMPTS, SamplingParams(n=3, temperature=0.7, max_new_tokens=5, seed=8))
    again, other = [[r.seed for r in call[1]] for call in fake_vllm.instances[0].calls[1:]]
    assert again == seeds and other != seeds


def test_request_seeds_follow_the_prompt_not_its_position(fake_vllm, saved_policy):
    engine = VLLMEngine(saved_policy)
    params = SamplingParams(n=3, temperature=0.7, max_new_tokens=5, seed=7)
    for prompts in [PROMPTS, PROMPTS[::-1], PROMPTS[1:2], [PROMPTS[0], PROMPTS[0]]]:
        engine.generate(prompts, params)
    forward, backward, alone, twice = [[r.seed for r in call[1]] for call in fake_vllm.instances[0].calls]
    assert backward == forward[::-1] and alone == forward[1:2]
    assert twice[0] == forward[0] and twice[1] != twice[0]  # a second copy of a prompt gets new samples


def test_outputs_become_completions_in_order(fake_vllm, saved_policy):
    engine = VLLMEngine(saved_policy)
    progress = []
    result = engine.generate(PROMPTS, SamplingParams(n=4, temperature=1.0, max_new_tokens=4),
                             progress=lambda s, t: progress.append((s, t)))
    assert result.prompt_token_ids == [saved_policy.encode(p) for p in PROMPTS]
    assert [len(group) for group in result.completions] == [4, 4, 4]
    total = 0
    for i, (prompt_ids, group) in enumerate(zip(result.prompt_token_ids, result.completions)):
        for j, c in enumerate(group):
            length = 4 if j % 2 else max(1, 4 - j)
            expected = [10 + (len(prompt_ids) + i + j + t) % 50 for t in range(length)]
            if j % 2 == 0:
                expected[-1] = EOS
            assert c.token_ids == expected  # sorted by .index, not in the order vLLM listed them
            assert c.logprobs == [fake_logprob(i, j, s) for s in range(length)]  # the sampled token's, not the decoy's
            assert all(type(x) is float for x in c.logprobs)
            # Even samples end with EOS, sample 0 at the token limit (vLLM: "length"; HFEngine: "stop").
            assert c.finish_reason == ("stop" if j % 2 == 0 else "length")
            assert c.text == saved_policy.decode(expected[:-1] if j % 2 == 0 else expected)
            total += length
    assert result.new_tokens == total and result.tokens_per_s > 0
    assert progress == [(12, total)]


def test_greedy_asks_vllm_for_one_sample_and_copies_it(fake_vllm, saved_policy):
    engine = VLLMEngine(saved_policy)
    result = engine.generate(PROMPTS, SamplingParams(n=3, temperature=0, top_k=5, max_new_tokens=4))
    (_, requests), = fake_vllm.instances[0].calls
    assert [r.n for r in requests] == [1, 1, 1]
    for group in result.completions:
        assert len(group) == 3 and all(c == group[0] for c in group)
        assert group[1].token_ids is not group[0].token_ids  # copies, not one shared list
    assert result.new_tokens == sum(len(group[0].token_ids) for group in result.completions)


def test_truncated_sampling_recomputes_logprobs_with_the_policy(fake_vllm, saved_policy):
    # vLLM's processed logprobs are renormalised after top-k/top-p; the engine recomputes them.
    engine = VLLMEngine(saved_policy)
    params = SamplingParams(n=2, temperature=0.8, top_k=5, top_p=0.9, max_new_tokens=5)
    result = engine.generate(PROMPTS, params)
    for prompt_ids, group in zip(result.prompt_token_ids, result.completions):
        for c in group:
            ids = torch.tensor([prompt_ids + c.token_ids])
            with torch.no_grad():
                logits = saved_policy.model(ids).logits[0, len(prompt_ids) - 1 : -1]  # (T, V), one row, no padding
            expected = torch.log_softmax(logits.float() / params.temperature, -1).gather(
                -1, torch.tensor(c.token_ids)[:, None]).squeeze(-1)
            assert torch.allclose(torch.tensor(c.logprobs), expected, atol=1e-5)


def test_policy_logprobs_match_hfengine(saved_policy):
    # The recomputation against the reference sampler: HFEngine's logprobs of its own samples.
    params = SamplingParams(n=3, temperature=0.7, top_k=4, max_new_tokens=6, seed=1)
    result = HFEngine(saved_policy, batch_size=4).generate(PROMPTS, params)
    prompts = [p for p, group in zip(result.prompt_token_ids, result.completions) for _ in group]
    completions = [c for group in result.completions for c in group]
    values = sequence_logprobs(saved_policy.model, prompts, [c.token_ids for c in completions], 0.7,
                               device=saved_policy.device, rows_per_batch=4)
    for value, c in zip(values, completions):
        assert torch.allclose(torch.tensor(value), torch.tensor(c.logprobs), atol=1e-4)


def test_unsupported_temperatures_and_bad_outputs(fake_vllm, saved_policy):
    engine = VLLMEngine(saved_policy)
    for temperature in (0.005, 2.5):
        with pytest.raises(ConfigError, match="temperature 0 or in"):
            engine.generate(PROMPTS, SamplingParams(temperature=temperature))
    fake_vllm.instances[0].finish_override = "abort"
    with pytest.raises(ModelError, match="finish reason 'abort'"):
        engine.generate(PROMPTS, SamplingParams(max_new_tokens=3))
    assert engine.generate([], SamplingParams()).completions == []


# ---------------------------------------------------------------------------------------------
# Weights


def test_push_weights_sends_every_parameter(fake_vllm, saved_policy):
    engine = VLLMEngine(saved_policy)
    llm = fake_vllm.instances[0]
    model = saved_policy.model
    with torch.no_grad():
        model.model.norm.weight.add_(1.0)  # an "optimizer step"
    try:
        count = engine.push_weights()
        pushed = llm.pushes[-1]
        assert count == len(pushed) and llm.resets == 2
        assert list(pushed) == [name for name, _ in model.named_parameters()]  # tied weights once
        for name, param in model.named_parameters():
            assert torch.equal(pushed[name], param)
        assert engine.push_weights({"model.norm.weight": torch.zeros(32)}) == 1
        assert list(llm.pushes[-1]) == ["model.norm.weight"]
    finally:
        with torch.no_grad():
            model.model.norm.weight.sub_(1.0)


def test_push_weights_merges_lora_adapters(fake_vllm, tmp_path):
    peft = pytest.importorskip("peft")
    tiny = make_tiny_policy(seed=2)
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    policy = load_policy(tmp_path, dtype="float32", device="cpu")
    base_names = [name for name, _ in policy.model.named_parameters()]
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    adapted = peft.get_peft_model(policy.model, config)
    with torch.no_grad():
        for name, param in adapted.named_parameters():
            if "lora_B" in name:
                param.normal_()  # B starts at zero: make the adapter change something
    policy.model = adapted
    ids = torch.tensor([policy.encode(PROMPTS[0])])
    with torch.no_grad():
        before = adapted(ids).logits
    engine = VLLMEngine(policy)
    pushed = fake_vllm.instances[0].pushes[-1]
    assert list(pushed) == base_names
    with torch.no_grad():
        after = adapted(ids).logits
        merged = dict(adapted.merge_and_unload().named_parameters())
    assert torch.allclose(before, after, atol=1e-5)  # unmerged again after the push
    for name in base_names:
        assert torch.allclose(pushed[name], merged[name], atol=1e-6), name
    assert not torch.equal(pushed["model.layers.0.self_attn.q_proj.weight"],
                           dict(make_tiny_policy(seed=2).model.named_parameters())[
                               "model.layers.0.self_attn.q_proj.weight"])
    assert engine.policy is policy


# ---------------------------------------------------------------------------------------------
# Config, trainer and CLI


def test_config_chooses_the_engine():
    from rlvr.train.config import load_config

    config = load_config(None, ["sampling.engine=vllm", "sampling.gpu_memory_utilization=0.5"])
    assert config.sampling.engine == "vllm" and config.sampling.gpu_memory_utilization == 0.5
    assert load_config(None, []).sampling.engine == "hf" and load_config(None, []).sampling.precision == "fp32"
    assert load_config(None, ["sampling.precision=bf16"]).sampling.precision == "bf16"
    with pytest.raises(ConfigError, match="'sampling.precision' must be one of 'auto', 'fp32', 'bf16'"):
        load_config(None, ["sampling.precision=fp16"])
    with pytest.raises(ConfigError, match="sampling.engine"):
        load_config(None, ["sampling.engine=sglang"])
    with pytest.raises(ConfigError, match="gpu_memory_utilization"):
        load_config(None, ["sampling.gpu_memory_utilization=0"])


@pytest.fixture
def train_setup(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "train"))  # rewards_for_tests
    tiny = make_tiny_policy()
    tiny.model.save_pretrained(tmp_path / "model")
    tiny.tokenizer.save_pretrained(tmp_path / "model")
    tasks = [{"id": f"t{i}", "prompt": f"What is {i} + 1 ?", "reference": str(i + 1),
              "verifier": "rewards_for_tests:even_words"} for i in range(6)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    overrides = [f"model={tmp_path / 'model'}", f"data.train={tmp_path / 'train.jsonl'}", "data.prompts_per_step=2",
                 "algo.group_size=4", "sampling.max_new_tokens=4", "optim.lr=0.01", "run.steps=2",
                 f"run.output_dir={tmp_path / 'run'}", "sampling.engine=vllm", "sampling.gpu_memory_utilization=0.4",
                 "plugins=[rewards_for_tests]"]
    return overrides, tmp_path


def test_trainer_on_cpu_fails_before_loading_the_model(train_setup, monkeypatch):
    from rlvr.train import trainer as trainer_module
    from rlvr.train.config import load_config

    overrides, _ = train_setup
    monkeypatch.setitem(sys.modules, "vllm", None)
    monkeypatch.setattr(trainer_module, "load_policy", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(ModelError, match="pip install vllm"):
        trainer_module.Trainer(load_config(None, overrides), progress=False)


def test_trainer_pushes_weights_after_every_update(fake_vllm, train_setup):
    from rlvr.train.config import load_config
    from rlvr.train.trainer import Trainer

    overrides, root = train_setup
    policy = load_policy(root / "model", dtype="float32", device="cpu")  # the fake says CUDA is there; it is not
    trainer = Trainer(load_config(None, overrides), policy=policy, progress=False)
    assert isinstance(trainer.engine, VLLMEngine)
    (llm,) = fake_vllm.instances
    assert llm.kwargs["gpu_memory_utilization"] == 0.4
    initial = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    assert len(llm.calls) == 2 and len(llm.pushes) == 3  # at construction, then after each step's update
    final = dict(trainer.model.named_parameters())
    assert any(not torch.equal(initial[n], final[n]) for n in final)  # the updates changed the weights ...
    for name, param in final.items():
        assert torch.equal(llm.pushes[-1][name], param)  # ... and vLLM got the final ones
    rows = [json.loads(line) for line in (root / "run" / "metrics.jsonl").open()]
    assert len(rows) == 2 and all(math.isfinite(r["loss"]) for r in rows)


def test_cli_eval_engine_vllm_fails_before_loading(monkeypatch, capsys, tmp_path):
    from rlvr.cli import main

    monkeypatch.setitem(sys.modules, "vllm", None)
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": "a", "prompt": "1 + 1 ?", "reference": "2", "verifier": "math"}) + "\n")
    code = main(["eval", "--model", str(tmp_path / "no-such-model"), "--tasks", str(tasks), "--engine", "vllm"])
    assert code == 2
    assert "rlvr: error: the vllm engine needs the vllm package: pip install vllm" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Every command that samples opens its sampler with open_engine: engine vllm means the same everywhere

# Each command with the vllm engine asked for, on a model that does not exist: the engine check must come first
# (a model load would fail on the path instead) and nothing may be written. {out} must stay absent.
VLLM_COMMANDS = {
    "eval": "eval --model {model} --tasks {tasks} --engine vllm -o {out}",
    "distill": "distill --model {model} --tasks {tasks} --engine vllm -o {out}",
    "curate": "curate --model {model} --tasks {tasks} --engine vllm -o {out}",
    "train": "train model={model} data.train={tasks} sampling.engine=vllm run.output_dir={out}",
    "spurious": "spurious {config} model={model} data.train={tasks} data.eval={tasks} sampling.engine=vllm "
                "--output-dir {out}",
    "sft": "sft model={model} data.train={sft} data.eval={tasks} sampling.engine=vllm run.output_dir={out}",
    "pipeline": "pipeline {pipeline}",
}


@pytest.mark.parametrize("command", sorted(VLLM_COMMANDS))
def test_every_command_with_engine_vllm_fails_before_loading_the_model(command, monkeypatch, capsys, tmp_path):
    from rlvr.cli import main

    monkeypatch.setitem(sys.modules, "vllm", None)  # not installed
    monkeypatch.setenv("RLVR_CACHE", str(tmp_path / "cache"))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": "a", "prompt": "1 + 1 ?", "reference": "2", "verifier": "math"}) + "\n")
    sft = tmp_path / "sft.jsonl"
    sft.write_text(json.dumps({"messages": [{"role": "user", "content": "1 + 1 ?"},
                                            {"role": "assistant", "content": "2"}]}) + "\n")
    (tmp_path / "config.yaml").write_text("run: {steps: 1}\n")
    model, out = tmp_path / "no-such-model", tmp_path / "out"
    (tmp_path / "pipeline.yaml").write_text(json.dumps({
        "output_dir": str(out), "model": str(model),
        "stages": [{"eval": {"name": "base", "tasks": [str(tasks)], "engine": "vllm"}}]}))
    argv = VLLM_COMMANDS[command].format(model=model, tasks=tasks, sft=sft, out=out, config=tmp_path / "config.yaml",
                                         pipeline=tmp_path / "pipeline.yaml").split()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "rlvr: error: the vllm engine needs the vllm package: pip install vllm" in err, err
    assert err.count("\n") == 1  # one sentence
    assert not out.exists() and not Path(f"{out}.eval.json").exists()


def test_a_pipeline_stage_names_its_bad_engine_option(tmp_path):
    from rlvr.workflows.pipeline import load_pipeline

    path = tmp_path / "pipeline.yaml"
    path.write_text(json.dumps({"stages": [{"eval": {"name": "a", "tasks": ["t.jsonl"], "gpu_memory_utilization": 2}}],
                                "output_dir": str(tmp_path / "out")}))
    with pytest.raises(ConfigError, match=r"^stage 1 \(eval\): gpu_memory_utilization must be in \(0, 1\], got 2\.$"):
        load_pipeline(path)


@pytest.fixture
def sampling_files(tmp_path, monkeypatch):
    """Tasks whose verifier passes about half the fake's samples, and an SFT dataset."""
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "train"))  # rewards_for_tests
    from rlvr.verifiers import allow_plugins

    allow_plugins("rewards_for_tests")  # conftest forbids it again after the test
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": f"t{i}", "prompt": f"What is {i} + 1 ?", "reference": str(i + 1),
                                         "verifier": "rewards_for_tests:even_words"}) + "\n" for i in range(3)))
    sft = tmp_path / "sft.jsonl"
    sft.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"What is {i} + 1 ?"},
                                                    {"role": "assistant", "content": str(i + 1)}]}) + "\n"
                           for i in range(4)))
    return tasks, sft


def _cpu_for_auto(monkeypatch):
    """The fake says CUDA is there and it is not: a device left at auto must still load on the CPU."""
    from rlvr.models import loading

    monkeypatch.setattr(loading, "check_device", lambda device: "cpu")


@pytest.mark.parametrize("command", ["eval", "distill", "curate"])
def test_the_sampling_commands_sample_on_vllm(command, fake_vllm, saved_policy, sampling_files, tmp_path, capsys):
    from rlvr.cli import main

    tasks, _ = sampling_files
    out = tmp_path / "out.jsonl"
    code = main([command, "--model", saved_policy.model.name_or_path, "--tasks", str(tasks), "--engine", "vllm",
                 "--device", "cpu", "--dtype", "float32", "--gpu-memory-utilization", "0.45", "--k", "4",
                 "--max-new-tokens", "3", "-o", str(out), *(["--band", "0", "1"] if command == "curate" else [])])
    assert code == 0, capsys.readouterr().err
    (llm,) = fake_vllm.instances
    assert llm.kwargs["gpu_memory_utilization"] == 0.45 and len(llm.calls) == 1
    record = json.loads((out if command == "eval" else Path(f"{out}.eval.json")).read_text())
    assert len(record["samples"]) == 3 * 4  # every sample came from the fake


def test_the_pipeline_stages_sample_on_vllm(fake_vllm, saved_policy, sampling_files, tmp_path):
    from rlvr.workflows.pipeline import load_pipeline, run_pipeline

    tasks, _ = sampling_files
    engine = {"engine": "vllm", "device": "cpu", "gpu_memory_utilization": 0.35, "k": 4, "max_new_tokens": 3}
    path = tmp_path / "pipeline.yaml"
    path.write_text(json.dumps({"output_dir": str(tmp_path / "pipe"), "model": saved_policy.model.name_or_path,
                                "stages": [{"distill": {"tasks": str(tasks), **engine}},
                                           {"eval": {"name": "base", "tasks": [str(tasks)], **engine}}]}))
    run_pipeline(load_pipeline(path), progress=False)
    assert [llm.kwargs["gpu_memory_utilization"] for llm in fake_vllm.instances] == [0.35, 0.35]
    assert fake_vllm.instances[0].kwargs["dtype"] == "float32"  # distill samples in float32 (eval: dtype auto)
    assert all(len(llm.calls) == 1 for llm in fake_vllm.instances)


def test_spurious_measures_the_base_rate_on_the_configs_engine(fake_vllm, saved_policy, sampling_files, monkeypatch):
    from rlvr.train.config import load_config
    from rlvr.workflows.spurious import measure_base_rate

    tasks, _ = sampling_files
    _cpu_for_auto(monkeypatch)
    config = load_config(None, [f"model={saved_policy.model.name_or_path}", f"data.train={tasks}",
                                "sampling.engine=vllm", "sampling.gpu_memory_utilization=0.55",
                                "sampling.max_new_tokens=3", "algo.group_size=4"])
    rate, rollouts = measure_base_rate(config, prompts=2, progress=False)
    (llm,) = fake_vllm.instances
    assert llm.kwargs["gpu_memory_utilization"] == 0.55 and len(llm.calls) == 1
    assert rollouts == 2 * 4 and 0 <= rate <= 1


def test_sft_evaluates_on_vllm_and_pushes_the_trained_weights_first(fake_vllm, saved_policy, sampling_files,
                                                                     tmp_path):
    from rlvr.sft.trainer import train_sft
    from rlvr.sft.config import load_sft_config

    tasks, sft = sampling_files
    policy = load_policy(saved_policy.model.name_or_path, dtype="float32", device="cpu")
    config = load_sft_config(None, [f"model={saved_policy.model.name_or_path}", f"data.train={sft}",
                                    f"data.eval={tasks}", "data.eval_k=2", "sampling.engine=vllm",
                                    "sampling.max_new_tokens=3", "optim.epochs=1", "optim.lr=0.01",
                                    f"run.output_dir={tmp_path / 'sft'}", "run.save_model=false"])
    run_dir = train_sft(config, policy=policy, progress=False)
    (llm,) = fake_vllm.instances  # one engine for both evaluations
    assert len(llm.calls) == 2  # the base and the final evaluation
    assert len(llm.pushes) == 3  # at construction, then before each evaluation
    for name, param in policy.model.named_parameters():
        assert torch.equal(llm.pushes[-1][name], param)  # the final evaluation sampled the trained weights
    assert not torch.equal(llm.pushes[0]["model.embed_tokens.weight"], llm.pushes[-1]["model.embed_tokens.weight"])
    assert (run_dir / "eval" / "base.json").exists() and (run_dir / "eval" / "final.json").exists()


# ---------------------------------------------------------------------------------------------
# On a GPU with vLLM installed


def _gpu_vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()


@pytest.mark.skipif(not _gpu_vllm_available(), reason="needs vllm and a CUDA GPU")
def test_greedy_vllm_matches_hfengine_and_follows_pushed_weights(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    tiny = make_tiny_policy()
    # head_dim 64, a size vLLM's attention backends support (the conftest model's is 8).
    config = LlamaConfig(vocab_size=tiny.model.config.vocab_size, hidden_size=128, intermediate_size=256,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=256, pad_token_id=0, bos_token_id=1, eos_token_id=EOS)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    policy = load_policy(tmp_path, dtype="float32", device="cuda")
    vllm_engine = VLLMEngine(policy, gpu_memory_utilization=0.3, max_model_len=256, enforce_eager=True)
    hf_engine = HFEngine(policy, batch_size=8)

    def check(params: SamplingParams) -> None:
        ours, theirs = vllm_engine.generate(PROMPTS, params), hf_engine.generate(PROMPTS, params)
        agreed = []
        for prompt, prompt_ids, a, b in zip(PROMPTS, ours.prompt_token_ids, ours.completions, theirs.completions):
            assert prompt_ids == policy.encode(prompt)  # both engines encode alike (HFEngine: test_sampler.py)
            assert len(a) == len(b) == params.n
            n = _agreeing_prefix(policy, prompt_ids, b[0].token_ids)  # up to the first near-tie in HF's logits
            assert a[0].token_ids[:n] == b[0].token_ids[:n]
            assert torch.allclose(torch.tensor(a[0].logprobs[:n]), torch.tensor(b[0].logprobs[:n]), atol=5e-3)
            agreed.append(n)
        assert sum(agreed) >= 12, f"the random model's logits tie too early to compare much: {agreed}"

    check(SamplingParams(n=2, temperature=0, max_new_tokens=12))
    check(SamplingParams(n=2, temperature=1.0, top_k=1, max_new_tokens=12))
    generator = torch.Generator(device="cuda").manual_seed(1)
    with torch.no_grad():  # an "optimizer step": vLLM must follow once the weights are pushed
        for param in policy.model.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=generator, device=param.device))
    vllm_engine.push_weights()
    check(SamplingParams(n=1, temperature=0, max_new_tokens=12))


def _agreeing_prefix(policy, prompt_ids: list[int], tokens: list[int], margin: float = 5e-3) -> int:
    """How many of HF's greedy tokens are decided by a top-2 logit gap above `margin`."""
    ids = torch.tensor([prompt_ids + tokens], device=policy.device)
    with torch.no_grad():
        logits = policy.model(ids).logits[0, len(prompt_ids) - 1 : -1].float()  # (T, V)
    top2 = logits.topk(2, dim=-1).values
    close = ((top2[:, 0] - top2[:, 1]) < margin).nonzero()
    return int(close[0]) if len(close) else len(tokens)


def test_truncated_sampling_keeps_vllms_processed_logprobs_as_the_samplers(fake_vllm, saved_policy):
    # processed_logprobs: the truncated, renormalised law vLLM sampled from; the mismatch correction reads them.
    engine = VLLMEngine(saved_policy)
    truncated = engine.generate(PROMPTS, SamplingParams(n=2, temperature=0.8, top_k=5, max_new_tokens=4))
    for i, group in enumerate(truncated.completions):
        for j, c in enumerate(group):
            assert c.sampler_logprobs == [fake_logprob(i, j, s) for s in range(len(c.token_ids))]
            assert c.sampler_logprobs != c.logprobs  # those are recomputed without truncation
    plain = engine.generate(PROMPTS, SamplingParams(n=2, temperature=0.8, max_new_tokens=4))
    assert all(c.sampler_logprobs is None for group in plain.completions for c in group)


# -- multi-turn episodes through vLLM: stop strings and token-id prompts ------------------------------------


def test_stop_strings_reach_vllm_which_then_detokenizes(fake_vllm, saved_policy):
    engine = VLLMEngine(saved_policy)
    engine.generate(PROMPTS, SamplingParams(n=2, max_new_tokens=5), stop=["</tool_call>"])
    (_, requests), = fake_vllm.instances[0].calls
    for request in requests:
        assert request.kwargs["stop"] == ["</tool_call>"] and request.kwargs["include_stop_str_in_output"]
        assert request.kwargs["detokenize"] is True  # vLLM finds stop strings in its own text
    with pytest.raises(ConfigError, match="stop must be a list of non-empty strings"):
        engine.generate(PROMPTS, SamplingParams(), stop="</tool_call>")


def test_episodes_run_through_the_vllm_engine_from_token_ids(fake_vllm, saved_policy):
    """Turn after turn, the engine is handed each episode's tokens as they are (no re-rendering of what was
    sampled) and the stop string of a tool call."""
    from rlvr.models.episodes import TOOL_CALL_END, generate_episodes
    from rlvr.verifiers import allow_plugins

    sys.path.insert(0, str(Path(__file__).parents[1] / "envs"))
    allow_plugins("envs_for_tests")  # Guess: answers every reply that is not the number
    task = {"id": "g", "prompt": "What is 3 + 4 ?", "reference": "7",
            "env": {"name": "envs_for_tests:Guess", "max_turns": 3, "max_tokens": 200}}
    result = generate_episodes(VLLMEngine(saved_policy), [task], SamplingParams(n=2, max_new_tokens=4, seed=5))
    calls = fake_vllm.instances[0].calls
    assert len(calls) == 3  # one call a turn, every live episode in it
    (opening,), first = calls[0]  # turn 0: the task's K samples of one prompt, prefilled once
    assert opening["prompt_token_ids"] == result.prompt_token_ids[0] and first[0].kwargs["n"] == 2
    # The fake ends sample 0 with EOS and runs sample 1 to max_tokens: episode 1 is cut at its first turn,
    # episode 0 goes on, sampled from its own tokens.
    done, cut = result.completions[0]
    assert cut.episode["stop"] == "tokens" and len(cut.episode["turns"]) == 2
    for prompts, requests in calls[1:]:
        assert all(r.kwargs["stop"] == [TOOL_CALL_END] and r.kwargs["n"] == 1 for r in requests)
        (prompt,) = prompts
        history = result.prompt_token_ids[0] + done.token_ids
        assert history[: len(prompt["prompt_token_ids"])] == prompt["prompt_token_ids"]
    assert sum(t["role"] == "assistant" for t in done.episode["turns"]) == 3 and done.episode["stop"] == "turns"
