"""`rlvr sft`: supervised fine-tuning on verified completions, with the loss on the completion only.

    rlvr sft data.train=sft.jsonl data.eval=heldout.jsonl optim.epochs=3 run.output_dir=runs/sft

The dataset is chat JSONL, one example a line (what `rlvr distill` writes):

    {"messages": [{"role": "user", "content": "What is 2 + 3? ..."}, {"role": "assistant", "content": "5"}]}

Every message but the last is the prompt; the last, the assistant's, is the completion. An
example is tokenised exactly as the sampler sees it: the prompt through `Policy.encode` (the
chat template with the generation prompt), then the completion's own tokens, then one EOS
token, which is where the sampler stops. Labels are -100 on the prompt, so the loss is the
mean cross-entropy over completion tokens (EOS included) of each optimizer batch.

A multi-turn episode (what `rlvr distill` writes for a task with an environment) adds its environment and
where the episode starts; every assistant turn from there is trained on, the observations are not:

    {"messages": [..., {"role": "user", "content": "What is 23 * 41?"},
                  {"role": "assistant", "content": "<tool_call>{...}</tool_call>"},
                  {"role": "tool", "content": "943"}, {"role": "assistant", "content": "The answer is 943."}],
     "env": {"name": "tools", "tools": ["calculator"]}, "episode_start": 5}

It is tokenised as the episode sampler builds an episode (rlvr/models/episodes.py `replay_episode`).

Lifecycle: setup (config, data, model, optimizer) -> held-out eval (eval/base.json) -> epochs of
shuffled batches, one line of metrics.jsonl per optimizer step -> held-out eval
(eval/final.json) -> model/ (save_pretrained, so `rlvr eval --model RUN_DIR/model` works).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from rlvr._errors import ConfigError, DataError, ModelError
from rlvr._io import check_directory
from rlvr.models import Policy, check_spec, load_policy, open_engine
from rlvr.config import dump_config
from rlvr.rundir import RunDir
from rlvr.sft.config import SFTConfig
from rlvr.train.config import sampler_spec
from rlvr.train.runtime.optim import make_optimizer

if TYPE_CHECKING:
    from rlvr.models import HFEngine, VLLMEngine

IGNORE = -100  # label of a token that is not trained on (the prompt, padding)


# ---------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Example:
    prompt: list[dict[str, str]]  # every message before the completion
    completion: str  # the assistant's reply, the only text trained on
    where: str  # "file:line", for error messages
    # A multi-turn episode (a row with "env"): its environment spec and where its turns start in the messages
    # (`prompt` + the completion); every assistant turn from there is trained on, the observations are not.
    env: Any = None
    start: int = 0


def load_sft_dataset(path: str | Path) -> list[Example]:
    """Read chat JSONL; a malformed line raises DataError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"SFT dataset {path} does not exist; write one with `rlvr distill ... -o {path}`.")
    examples = []
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                where = f"{path}:{lineno}"
                raise DataError(f"{where}: not valid UTF-8 (byte {exc.start}); save the file as UTF-8.") from None
            if text.strip():
                examples.append(_parse_example(text, f"{path}:{lineno}"))
    if not examples:
        raise DataError(f"SFT dataset {path} holds no examples; write one chat example a line.")
    return examples


def _parse_example(text: str, where: str) -> Example:
    hint = 'write {"messages": [{"role": "user", "content": ...}, {"role": "assistant", "content": ...}]}'
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno}); {hint}.") from None
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or len(messages) < 2:
        raise DataError(f"{where}: expected an object with a 'messages' list of at least two messages; {hint}.")
    for i, m in enumerate(messages):
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            raise DataError(f"{where}: message {i} is not a {{\"role\": str, \"content\": str}} object; {hint}.")
    if messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
        raise DataError(f"{where}: the last message must be a non-empty assistant reply (the completion); {hint}.")
    prompt = [{"role": m["role"], "content": m["content"]} for m in messages[:-1]]
    if record.get("env") is None:
        return Example(prompt=prompt, completion=messages[-1]["content"], where=where)
    return Example(prompt=prompt, completion=messages[-1]["content"], where=where, env=record["env"],
                   start=_episode_start(record, messages, where))


def _episode_start(record: dict, messages: list[dict], where: str) -> int:
    """A multi-turn row ("env", "episode_start"): where its episode starts, its turns' shape and its environment
    checked (an environment rlvr does not know, or a plugin's not allowed, is refused before a model loads)."""
    from rlvr.envs import get_env

    start = record.get("episode_start")
    if not isinstance(start, int) or isinstance(start, bool) or not 0 < start < len(messages):
        raise DataError(f"{where}: a row with \"env\" needs \"episode_start\", the index of the episode's first "
                        f"assistant turn in \"messages\" (1 to {len(messages) - 1}); `rlvr distill` writes it.")
    try:
        env = get_env(record["env"])
    except (ConfigError, DataError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: its \"env\" {record['env']!r} cannot be used: {exc}") from None
    observation = getattr(env, "observation_role", "user")
    for i, m in enumerate(messages[start:]):
        want = "assistant" if i % 2 == 0 else observation
        if m["role"] != want:
            raise DataError(f"{where}: message {start + i} is {m['role']!r}; from \"episode_start\" on, the turns "
                            f"alternate between the assistant and the environment ({observation!r}), the assistant's "
                            "first and last.")
    return start


def eos_token_id(policy: Policy) -> int:
    """The EOS that ends a completion: the tokenizer's when the sampler stops on it, else the smallest stop id."""
    eos = policy.tokenizer.eos_token_id
    if eos is not None and (eos in policy.eos_token_ids or not policy.eos_token_ids):
        return int(eos)
    if policy.eos_token_ids:
        return min(policy.eos_token_ids)
    raise ModelError(f"model '{policy.name}' has no EOS token; SFT needs one to teach the model where to stop.")


def encode_example(policy: Policy, example: Example, eos: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels): the sampler's prompt tokens, the completion's tokens and EOS; labels -100 on the prompt.

    The completion is tokenised on its own, after the prompt, because that is how the sampler
    produced it: token by token after the encoded prompt. A multi-turn episode is rebuilt as the episode
    sampler builds it (`replay_episode`): labels on every assistant turn's tokens, -100 on the opening, the
    template's markers and the observations.
    """
    if example.env is not None:
        from rlvr.envs import TokenizationMismatch
        from rlvr.models.episodes import replay_episode

        messages = [*example.prompt, {"role": "assistant", "content": example.completion}]
        try:
            opening, ids, mask = replay_episode(policy, example.env, messages, example.start, eos)
        except (TokenizationMismatch, ConfigError) as exc:
            raise DataError(f"{example.where}: {exc}") from None
        return opening + ids, [IGNORE] * len(opening) + [t if m else IGNORE for t, m in zip(ids, mask)]
    prompt = policy.encode(example.prompt)
    completion = policy.tokenizer(example.completion, add_special_tokens=False)["input_ids"] + [eos]
    return prompt + completion, [IGNORE] * len(prompt) + completion


def _collate(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad: real tokens keep positions 0..n-1, as in sampling. Tensors are (B, T)."""
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (ids, lab) in enumerate(rows):
        input_ids[r, : len(ids)] = torch.tensor(ids)
        labels[r, : len(lab)] = torch.tensor(lab)
        attention[r, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}


def _summed_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over the labelled tokens and their count."""
    device = next(model.parameters()).device
    logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits
    targets = batch["labels"][:, 1:].to(device)  # position t predicts token t + 1
    loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=IGNORE, reduction="sum")
    return loss, int((targets != IGNORE).sum())


@torch.no_grad()
def completion_loss(policy: Policy, examples: list[Example], micro_batch: int = 8) -> float:
    """Mean cross-entropy per completion token (EOS included) of `policy` on `examples`."""
    eos, pad = eos_token_id(policy), _pad_id(policy)
    encoded = [encode_example(policy, e, eos) for e in examples]
    total, tokens = 0.0, 0
    policy.model.eval()
    for begin in range(0, len(encoded), micro_batch):
        loss, n = _summed_loss(policy.model, _collate(encoded[begin : begin + micro_batch], pad))
        total, tokens = total + float(loss), tokens + n
    return total / max(tokens, 1)


def _pad_id(policy: Policy) -> int:
    pad = policy.tokenizer.pad_token_id
    return int(pad) if pad is not None else eos_token_id(policy)


# ---------------------------------------------------------------------------------------------
# The loop


def train_sft(config: SFTConfig, policy: Policy | None = None, progress: bool = True) -> Path:
    """Fine-tune on `config.data.train`; returns the run directory."""
    run_dir = check_directory(config.run.output_dir, "run.output_dir")
    runs = RunDir(run_dir)
    if runs.metrics.exists():
        raise ConfigError(f"{run_dir} already holds a run; set run.output_dir to a new directory.")
    if not config.data.train:
        raise ConfigError("data.train is not set; give the SFT dataset, e.g. data.train=sft.jsonl.")
    examples = load_sft_dataset(config.data.train)  # bad input fails before the model loads
    eval_tasks = _load_eval_tasks(config)
    if eval_tasks:
        check_spec(sampler_spec(config))  # e.g. sampling.engine=vllm without a GPU fails before the model loads
    random.seed(config.run.seed)
    np.random.seed(config.run.seed)
    torch.manual_seed(config.run.seed)
    policy = policy or load_policy(config.model, dtype=config.dtype)
    # The held-out evaluation's sampler, on the model being trained (vllm: a copy, pushed before each evaluation).
    engine = open_engine(sampler_spec(config), policy=policy)[1] if eval_tasks else None
    model = policy.model
    eos, pad = eos_token_id(policy), _pad_id(policy)
    encoded = [encode_example(policy, e, eos) for e in examples]

    run_dir.mkdir(parents=True, exist_ok=True)
    dump_config(config, runs.config)
    if eval_tasks:
        _evaluate(engine, eval_tasks, config, runs.base_eval, progress)

    o = config.optim
    optimizer, scheduler = make_optimizer(model.parameters(), o.lr, o.weight_decay, o.warmup_steps)
    steps_per_epoch = math.ceil(len(encoded) / o.batch_size)
    bar = tqdm(total=o.epochs * steps_per_epoch, desc="sft", unit="step", disable=not progress, dynamic_ncols=True)
    step = 0
    for epoch in range(o.epochs):
        order = list(range(len(encoded)))
        random.Random(config.run.seed * 1_000_003 + epoch).shuffle(order)
        for begin in range(0, len(order), o.batch_size):
            start = time.perf_counter()
            rows = [encoded[i] for i in order[begin : begin + o.batch_size]]
            metrics = _step(model, optimizer, rows, pad, o.micro_batch, o.max_grad_norm)
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            step += 1
            metrics = {"step": step, "epoch": epoch + 1, **metrics, "lr": lr,
                       "time/step_s": time.perf_counter() - start}
            runs.append(RunDir.METRICS, [metrics])
            bar.update(1)
            bar.set_postfix_str(f"epoch {epoch + 1} loss {metrics['loss']:.3f}")
    bar.close()

    if eval_tasks:
        _evaluate(engine, eval_tasks, config, runs.final_eval, progress)
    if config.run.save_model:
        _save_model(policy, runs.model)
    return run_dir


def _step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, rows: list[tuple[list[int], list[int]]],
          pad: int, micro_batch: int, max_grad_norm: float) -> dict[str, float]:
    """One optimizer step: the token-mean loss over the whole batch, accumulated over micro-batches."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    tokens = sum(sum(label != IGNORE for label in labels[1:]) for _, labels in rows)  # trained tokens in the batch
    total = 0.0
    for begin in range(0, len(rows), micro_batch):
        loss, _ = _summed_loss(model, _collate(rows[begin : begin + micro_batch], pad))
        (loss / tokens).backward()  # each micro-batch's share of the batch's token mean
        total += loss.item()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    model.eval()
    return {"loss": total / tokens, "tokens": tokens, "grad_norm": float(grad_norm)}


def _load_eval_tasks(config: SFTConfig) -> list:
    if not config.data.eval:
        return []
    from rlvr.tasks import load_tasks

    return load_tasks(config.data.eval)


def _evaluate(engine: HFEngine | VLLMEngine, tasks: list, config: SFTConfig, path: Path, progress: bool) -> None:
    """Held-out pass@k with the tasks' own verifiers, as `rlvr eval` measures it, of the weights trained so far."""
    from rlvr.evaluate import EvalSettings, evaluate, format_summary, write_eval
    from rlvr.models import SamplingParams

    settings = EvalSettings(SamplingParams.from_decoding(config.sampling, n=config.data.eval_k, seed=config.run.seed))
    engine.policy.model.eval()
    engine.push_weights()  # vllm samples from its own copy of the weights (a no-op for hf)
    record = evaluate(engine, tasks, settings, model_name=f"{config.model} ({path.stem})",
                      tasks_source=config.data.eval, progress=progress)
    write_eval(record, path)
    if progress:
        tqdm.write(format_summary(record))


def _save_model(policy: Policy, target: Path) -> None:
    """save_pretrained into a staging folder, then rename: `target` is complete or absent."""
    staging = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    policy.model.save_pretrained(staging)
    policy.tokenizer.save_pretrained(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)

