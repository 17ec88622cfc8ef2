"""Shared fixtures: tiny randomly initialised models built from a config (no downloads)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

# The trainer tests' small verifiers (tests/train/rewards_for_tests.py) serve the workflow tests too;
# verifier worker processes import them by name.
sys.path.insert(0, str(Path(__file__).resolve().parent / "train"))


@pytest.fixture(autouse=True)
def _no_plugin_allowed_after_a_test():
    """Every test ends with no plugin allowed: a test, a module fixture or a `main([...])` call with
    --allow-plugin that allows one cannot weaken the data-file rule for the tests after it."""
    from rlvr.verifiers._plugins import restore_plugin_state

    yield
    restore_plugin_state((frozenset(), frozenset()))


def make_tiny_policy(seed: int = 0, chat: bool = True, eos_logit: float = 0.0):
    """A 2-layer Llama with a tokenizer built from a tiny vocabulary, on CPU, fp32.

    eos_logit > 0: the end-of-turn token's logit is raised by about that much at every position (every
    embedding carries a constant first component that the lm_head's EOS row reads), so that a random model
    ends its turns by itself, as multi-turn episodes need; 0 keeps the plain random model."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from rlvr.models.loading import Policy, _eos_ids

    specials = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    words = [str(i) for i in range(100)] + list("abcdefghijklmnopqrstuvwxyz") + [
        "What", "is", "+", "-", "*", "/", "?", "Reply", "with", "only", "the", "final", "number", ".",
        "user", "assistant", "system", "\n", "boxed", "{", "}", "\\",
    ]
    vocab = {tok: i for i, tok in enumerate(specials + words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="<|im_end|>"
    )
    if chat:
        tokenizer.chat_template = (
            "{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
            "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}"
        )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        pad_token_id=0, bos_token_id=1, eos_token_id=vocab["<|im_end|>"],
    )
    model = LlamaForCausalLM(config).eval()
    if eos_logit:
        with torch.no_grad():
            model.model.embed_tokens.weight[:, 0] = 10.0  # after the final norm: about 10 / sqrt(32) * sqrt(32)
            model.lm_head.weight[vocab["<|im_end|>"], 0] = eos_logit / 5.0
    return Policy(model=model, tokenizer=tokenizer, name="tiny-llama", eos_token_ids=_eos_ids(model, tokenizer))


def grouped_micro(span_lengths=((5, 2, 4), (3, 5)), prompt_lengths=(7, 4), seed: int = 0):
    """A micro-batch of groups: prompts of different lengths (left-padded), each sampled several times with
    completions of different lengths (right-padded), as the trainer's pad_batch lays them out; `prompt_index`
    names each row's prompt and `mask` its completion tokens."""
    import torch

    from rlvr.models.logprobs import left_pad

    generator = torch.Generator().manual_seed(seed)
    prompts, completions, index = [], [], []
    for g, (p, lengths) in enumerate(zip(prompt_lengths, span_lengths)):
        prompt = torch.randint(5, 120, (p,), generator=generator).tolist()
        for m in lengths:
            prompts.append(prompt)
            completions.append(torch.randint(5, 120, (m,), generator=generator).tolist())
            index.append(g)
    batch = left_pad(prompts, completions)
    lengths = torch.tensor([len(c) for c in completions])
    batch["mask"] = (torch.arange(batch["completion"].shape[1])[None] < lengths[:, None]).float()
    batch["prompt_index"] = torch.tensor(index)
    return batch


_TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
             vocab_size=128, head_dim=8, max_position_embeddings=64, pad_token_id=0)
_TINY_FOR = {"falcon_h1": dict(mamba_d_ssm=64, mamba_n_heads=8, mamba_d_state=16, mamba_chunk_size=16)}
_MAX_PARAMETERS = 400_000  # beyond this the config ignored the tiny sizes (other key names): not built


def tiny_causal_lm(model_type: str, **overrides):
    """A randomly initialised transformers causal LM of `model_type` at tiny sizes (vocabulary 128), float32, eval
    mode; ValueError when the architecture ignores the tiny sizes."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(model_type, **{**_TINY, **_TINY_FOR.get(model_type, {}), **overrides})
    with torch.device("meta"):  # count the parameters before allocating them
        size = sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())
    if size > _MAX_PARAMETERS:
        raise ValueError(f"{size} parameters at the tiny sizes")
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).float().eval()


def save_tiny_model(folder, seed: int = 0, eos_logit: float = 0.0):
    """Save a tiny policy's model and tokenizer to `folder`, a model folder any `--model` accepts."""
    tiny = make_tiny_policy(seed, eos_logit=eos_logit)
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    return folder


def write_tiny_run(folder, **sections) -> Path:
    """A tiny training setup in `folder`: the tiny model, 4 addition prompts scored by rewards_for_tests:even_words
    (a plugin the config allows) and config.yaml (2 prompts x 4 samples of 4 tokens a step, one step, its run
    in folder/run) with `sections` merged over its sections; returns config.yaml's path."""
    import json

    import yaml

    folder = Path(folder)
    save_tiny_model(folder / "model")
    tasks = [{"id": f"t{i}", "prompt": f"What is {i} + {i + 1} ?", "reference": str(2 * i + 1),
              "verifier": "rewards_for_tests:even_words"} for i in range(4)]
    (folder / "train.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    config = {"model": str(folder / "model"), "sampling": {"max_new_tokens": 4, "batch_size": 8},
              "algo": {"group_size": 4}, "optim": {"lr": 1e-3, "micro_batch": 8},
              "data": {"train": str(folder / "train.jsonl"), "prompts_per_step": 2, "verifier_workers": 1},
              "run": {"steps": 1, "seed": 3, "output_dir": str(folder / "run")}, "plugins": ["rewards_for_tests"]}
    for name, section in sections.items():
        config[name] = {**config.get(name, {}), **section} if isinstance(section, dict) else section
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder / "config.yaml"


@pytest.fixture(scope="session")
def tiny_policy():
    return make_tiny_policy()


def load_script(path):
    """A script outside the package (benchmarks/), imported as a module of its file's name, to test its helpers."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(call):
    """(call(), seconds it took)."""
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def in_thread(call):
    """Run `call` on a worker thread (where signal.alarm timeouts would do nothing)."""
    box = []
    thread = threading.Thread(target=lambda: box.append(call()))
    thread.start()
    thread.join()
    return box[0]


def train_until_killed(cmd: list, env: dict, out, steps: int = 3, timeout: float = 240) -> None:
    """Run `rlvr train` (`cmd`) until `steps` steps are logged in out/metrics.jsonl, then SIGKILL it: the
    interrupted run the resume tests continue from. Fails the test if training exits first."""
    import signal
    import subprocess

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    while time.time() < deadline:
        metrics = out / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= steps:
            break
        if proc.poll() is not None:
            pytest.fail(f"training exited early: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
