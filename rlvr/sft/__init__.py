"""Supervised fine-tuning on verified completions, the loss on the completion only.

    >>> from rlvr.sft import load_sft_config, train_sft
    >>> run_dir = train_sft(load_sft_config("sft.yaml", ["optim.epochs=3"]))  # doctest: +SKIP

`train_sft` (trainer.py: setup -> held-out eval -> epochs -> held-out eval -> model/) fine-tunes on chat
JSONL (`load_sft_dataset`, what `rlvr distill` writes) with `completion_loss`, from an `SFTConfig`
(config.py; `load_sft_config`: YAML plus key=value overrides). It sits above `rlvr.train`, whose
sampling section, engine spec and optimizer it reuses. The command line is `rlvr sft`.

Names load on first use, so that building the `rlvr` command line, which reads `rlvr.sft.config`,
imports no torch.
"""

from __future__ import annotations

from rlvr._lazy import lazy_exports

_EXPORTS = {
    "completion_loss": "trainer", "load_sft_dataset": "trainer", "train_sft": "trainer",
    "SFTConfig": "config", "load_sft_config": "config",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
