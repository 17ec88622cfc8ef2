"""LoRA training on a tiny model: only the adapter learns, the KL reference is the adapter switched off,
resume is exact, and the merged model saved at the end is the adapted one."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

from conftest import save_tiny_model
from rlvr._errors import ConfigError
from rlvr.models import HFEngine, load_policy
from rlvr.models.logprobs import completion_logprobs
from rlvr.train.config import load_config
from rlvr.train.runtime.lora import ReferenceView
from rlvr.train.trainer import Trainer, train

pytest.importorskip("peft")

HERE = Path(__file__).parent
VOLATILE = ("time/", "throughput/", "mfu/")  # timings, and the shares of the peak made of them


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    save_tiny_model(root / "model")
    tasks = [{"id": f"t{i}", "prompt": f"What is {i} + {i + 1} ?", "reference": str(2 * i + 1),
              "verifier": "rewards_for_tests:even_words"} for i in range(10)]
    (root / "train.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks[:8]))
    (root / "heldout.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks[8:]))
    return root


def overrides(root: Path, out: Path, *extra: str) -> list[str]:
    return [f"model={root / 'model'}", "sampling.max_new_tokens=6", "sampling.batch_size=16", "algo.group_size=4",
            "algo.beta=0.05", "optim.lr=0.02", "optim.micro_batch=8", f"data.train={root / 'train.jsonl'}",
            "data.prompts_per_step=3", "run.steps=4", "run.checkpoint_every=2", "run.seed=0", f"run.output_dir={out}",
            "lora.enabled=true", "lora.r=4", "lora.alpha=8", "plugins=[rewards_for_tests]", *extra]


@pytest.fixture(autouse=True)
def importable_rewards(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def uninterrupted(setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "a"
    sys.path.insert(0, str(HERE))
    extra = (f"data.eval={setup / 'heldout.jsonl'}", "data.eval_k=4")
    train(load_config(None, overrides(setup, out, *extra)), progress=False)
    return out


def completion_batch(width: int = 5, span: int = 4, rows: int = 3) -> dict[str, torch.Tensor]:
    """A batch shaped as the trainer's `_pad_batch` makes it, with random tokens."""
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, 100, (rows, width + span), generator=generator)
    attention = torch.ones_like(input_ids)
    attention[0, :2] = 0  # one left-padded prompt
    return {"input_ids": input_ids, "attention": attention, "positions": (attention.cumsum(-1) - 1).clamp(min=0),
            "completion": input_ids[:, width:]}


def test_a_step_trains_only_the_adapter_against_the_base_model(setup, tmp_path):
    trainer = Trainer(load_config(None, overrides(setup, tmp_path / "run")), progress=False)
    assert isinstance(trainer.reference, ReferenceView) and trainer.reference.model is trainer.model  # no copy
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainable = {name for name, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in name for name in trainable)
    assert {id(p) for group in trainer.optimizer.param_groups for p in group["params"]} == {
        id(p) for p in trainer.model.parameters() if p.requires_grad}

    metrics, _ = trainer._step()
    assert metrics["rows/trained"] > 0
    assert metrics["kl"] == 0.0  # the adapter starts at zero: adapted and reference models agree exactly
    after = dict(trainer.model.named_parameters())
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and changed <= trainable
    assert any(".lora_B." in name for name in changed)  # B left zero: the adapted model now differs
    for name in before.keys() - trainable:
        assert torch.equal(before[name], after[name]), name  # base weights bit-identical

    batch = completion_batch()
    original = load_policy(setup / "model", dtype="float32", device="cpu").model
    with torch.no_grad():
        _, want = completion_logprobs(original, batch, 1.0, trainer._compute_dtype())
        _, adapted = completion_logprobs(trainer.model, batch, 1.0, trainer._compute_dtype())
    got = trainer._reference_logprobs(batch, [slice(0, batch["input_ids"].shape[0])], 1.0)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert (adapted - want).abs().max() > 1e-6  # the adapter is on everywhere but in the reference


def test_kl_grows_after_the_first_step_and_checkpoints_hold_the_adapter(uninterrupted):
    metrics = read(uninterrupted / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    assert metrics[0]["rows/trained"] > 0 and metrics[0]["kl"] == 0.0 and metrics[-1]["kl"] > 0
    step = uninterrupted / "checkpoints" / "step-4"
    assert (step / "adapter_model.safetensors").exists() and not (step / "model.safetensors").exists()


def test_resume_after_a_checkpoint_gives_the_same_metrics(setup, uninterrupted, tmp_path):
    out = tmp_path / "b"
    extra = (f"data.eval={setup / 'heldout.jsonl'}", "data.eval_k=4")
    train(load_config(None, overrides(setup, out, *extra, "run.steps=2")), progress=False)
    train(load_config(None, overrides(setup, out, *extra)), resume=True, progress=False)
    resumed, reference = read(out / "metrics.jsonl"), read(uninterrupted / "metrics.jsonl")
    assert [m["step"] for m in resumed] == [1, 2, 3, 4]
    for got, want in zip(resumed, reference):
        for key in want:
            if not key.startswith(VOLATILE):
                assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-7), (got["step"], key)


def test_merged_model_is_the_adapted_one(setup, uninterrupted):
    from peft import PeftModel

    base = load_policy(setup / "model", dtype="float32", device="cpu").model
    merged = load_policy(uninterrupted / "model", dtype="float32", device="cpu")
    adapted = PeftModel.from_pretrained(base, uninterrupted / "checkpoints" / "step-4").eval()
    ids = completion_batch()["input_ids"]
    with torch.no_grad():
        want, got = adapted(input_ids=ids).logits, merged.model(input_ids=ids).logits
        plain = adapted.get_base_model()
        with adapted.disable_adapter():
            untrained = plain(input_ids=ids).logits
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4)
    assert (want - untrained).abs().max() > 1e-3  # training moved the model: the comparison means something


def test_final_evaluation_samples_from_the_adapted_model(setup, uninterrupted):
    from rlvr.evaluate import EvalSettings, evaluate
    from rlvr.tasks import load_tasks
    from rlvr.verifiers import allow_plugins

    allow_plugins("rewards_for_tests")  # the held-out tasks name its functions; the run's config allowed it there
    final = json.loads((uninterrupted / "eval" / "final.json").read_text())
    base = json.loads((uninterrupted / "eval" / "base.json").read_text())
    settings = EvalSettings.from_record(final["settings"])
    merged = load_policy(uninterrupted / "model", dtype="float32", device="cpu")
    again = evaluate(HFEngine(merged, batch_size=16), load_tasks(setup / "heldout.jsonl"), settings, progress=False)
    texts = [s["text"] for s in final["samples"]]
    assert texts == [s["text"] for s in again["samples"]]
    assert texts != [s["text"] for s in base["samples"]]


@pytest.mark.parametrize(("extra", "message"), [
    (["lora.r=0"], "lora.r must be at least 1"),
    (["lora.dropout=1.0"], r"lora.dropout must be in \[0, 1\)"),
    (["lora.target_modules=[]"], "lora.target_modules must name at least one layer"),
    (["lora.rank=4"], "unknown config key 'lora.rank'"),
])
def test_lora_config_errors(setup, tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides(setup, tmp_path, *extra))


def test_unknown_target_module_is_one_sentence(setup, tmp_path):
    config = load_config(None, overrides(setup, tmp_path / "run", "lora.target_modules=[q_proj, qkv_proj]"))
    with pytest.raises(ConfigError, match="'qkv_proj', which is no linear layer of this model; choose among"):
        Trainer(config, progress=False)
    assert not (tmp_path / "run").exists()


def test_resuming_with_other_lora_settings_is_one_sentence(setup, uninterrupted):
    plain = load_config(None, overrides(setup, uninterrupted, "lora.enabled=false"))
    with pytest.raises(ConfigError, match="holds a LoRA adapter; resume it with lora.enabled=true"):
        Trainer(plain, resume=True, progress=False)
    other_rank = load_config(None, overrides(setup, uninterrupted, "lora.r=2"))
    with pytest.raises(ConfigError, match="was trained with lora.r=4, not 2; resume it with the lora settings"):
        Trainer(other_rank, resume=True, progress=False)
