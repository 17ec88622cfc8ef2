"""LoRA for the GRPO trainer (`lora.enabled: true`), with peft.

    rlvr train examples/grpo_arithmetic.yaml lora.enabled=true lora.r=16 optim.lr=1e-4

The policy is wrapped with `peft.get_peft_model` right after loading, so everything that
uses the policy (the sampler, the held-out evaluation, the update) sees the adapted model,
and only the adapter weights require gradients. The KL reference is the same model with
the adapter switched off (`ReferenceView`): no second copy of the weights is kept.
Checkpoints hold the adapter weights; at the end the adapter is merged into the base
weights and saved as a plain Hugging Face folder (`RUN_DIR/model`) that `rlvr eval` loads.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from rlvr._errors import ConfigError
from rlvr.models import Policy

if TYPE_CHECKING:
    from rlvr.train.config import LoraSection

ADAPTER_FILE = "adapter_model.safetensors"  # the name peft's save_pretrained gives the adapter weights


def apply_lora(policy: Policy, section: LoraSection) -> Policy:
    """The policy with its model wrapped in a fresh LoRA adapter (the model is changed in place).

    The adapter's B matrices start at zero, so the adapted model starts equal to the base one.
    """
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ConfigError("lora.enabled needs the peft package: run `pip install 'rlvr[lora]'`.") from exc
    _check_targets(policy.model, section.target_modules)
    config = LoraConfig(r=section.r, lora_alpha=section.alpha, lora_dropout=section.dropout,
                        target_modules=list(section.target_modules), bias="none", task_type="CAUSAL_LM")
    return replace(policy, model=get_peft_model(policy.model, config))


def _check_targets(model: torch.nn.Module, targets: tuple[str, ...]) -> None:
    """Every target name must match a linear layer: peft only fails when none matches."""
    linear = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    missing = [t for t in targets if t not in linear]
    if missing:
        raise ConfigError(f"lora.target_modules names '{missing[0]}', which is no linear layer of this model; "
                          f"choose among {', '.join(sorted(linear))}.")


class ReferenceView:
    """The base model for the KL term: calls the adapted model with its adapter switched off.

    Always in eval mode (no dropout) and without gradients, like the frozen copy it replaces.
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    @torch.no_grad()
    def __call__(self, **inputs: Any) -> Any:
        was_training = self.model.training
        self.model.eval()
        try:
            with self.model.disable_adapter():
                return self.model(**inputs)
        finally:
            self.model.train(was_training)


def save_adapter(model: Any, folder: Path) -> None:
    """The adapter weights and config (adapter_model.safetensors, adapter_config.json) into folder."""
    # save_embedding_layers=False: "auto" may look the base model up on a hub to compare vocabularies.
    model.save_pretrained(folder, save_embedding_layers=False)


def load_adapter(model: Any, folder: Path) -> None:
    """Load the adapter weights that `save_adapter` wrote back into the wrapped model."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = folder / ADAPTER_FILE
    if not path.exists():
        raise ConfigError(f"checkpoint {folder} holds no LoRA adapter; resume it with lora.enabled=false.")
    saved = json.loads((folder / "adapter_config.json").read_text())
    current = model.peft_config["default"]
    for key, name in (("r", "r"), ("lora_alpha", "alpha"), ("target_modules", "target_modules")):
        mine, theirs = getattr(current, key), saved.get(key)
        if (set(mine) != set(theirs or ())) if key == "target_modules" else mine != theirs:
            raise ConfigError(f"checkpoint {folder} was trained with lora.{name}={theirs}, not {mine}; resume it "
                              "with the lora settings it was trained with.")
    result = set_peft_model_state_dict(model, load_file(str(path)))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    wrong = list(result.unexpected_keys) + sorted(trainable & set(result.missing_keys))
    if wrong:
        raise ConfigError(f"checkpoint {folder} does not match the LoRA settings ({wrong[0]}); resume it with the "
                          "lora settings it was trained with.")


def save_merged(policy: Policy, folder: Path) -> Policy:
    """Merge the adapter into the base weights and save model and tokenizer to folder, atomically.

    Returns the policy holding the merged plain model (the adapted one is consumed by the merge).
    """
    merged = policy.model.merge_and_unload()
    staging = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    merged.save_pretrained(staging)
    policy.tokenizer.save_pretrained(staging)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)  # the folder is either complete or absent
    return replace(policy, model=merged)
