"""The one teacher-forced log p(completion | prompt): left padding, temperature, and the callers that share it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from conftest import make_tiny_policy
from rlvr.models import HFEngine, SamplingParams
from rlvr.models.logprobs import completion_logprobs, left_pad, sequence_logprobs

ROOT = Path(__file__).resolve().parents[2] / "rlvr"
PROMPTS = [[3, 7, 9, 11], [5], [8, 8, 2]]
COMPLETIONS = [[12, 13], [14, 15, 16, 17], []]


def _one_row(model, prompt: list[int], completion: list[int], temperature: float) -> torch.Tensor:
    """The plain computation, one unpadded row: log_softmax(logits / T) at the completion's positions."""
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()  # (T, V)
    return torch.log_softmax(logits / temperature, dim=-1).gather(-1, ids[0, len(prompt):, None]).squeeze(-1)


def test_left_pad_starts_every_completion_in_one_column():
    batch = left_pad(PROMPTS, COMPLETIONS, pad_id=0)
    assert batch["input_ids"].shape == (3, 4 + 4) and batch["completion"].shape == (3, 4)
    assert batch["input_ids"][1].tolist() == [0, 0, 0, 5, 14, 15, 16, 17]
    assert batch["attention"][1].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    assert batch["positions"][1].tolist() == [0, 0, 0, 0, 1, 2, 3, 4]  # a padded row counts from its first token
    assert batch["completion"][2].tolist() == [0, 0, 0, 0]  # an empty completion: padding only


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_a_padded_batch_gives_each_rows_own_log_probs(temperature):
    model = make_tiny_policy().model
    with torch.no_grad():
        _, logp = completion_logprobs(model, left_pad(PROMPTS, COMPLETIONS), temperature)  # (3, 4)
    for r, (prompt, completion) in enumerate(zip(PROMPTS, COMPLETIONS)):
        torch.testing.assert_close(logp[r, : len(completion)], _one_row(model, prompt, completion, temperature),
                                   rtol=0, atol=1e-5)


def test_rows_in_batches_of_any_size_give_the_same_values():
    model = make_tiny_policy().model
    whole = sequence_logprobs(model, PROMPTS, COMPLETIONS, 0.7, rows_per_batch=8)
    one_by_one = sequence_logprobs(model, PROMPTS, COMPLETIONS, 0.7, rows_per_batch=1)
    assert [len(v) for v in whole] == [2, 4, 0]
    for a, b in zip(whole, one_by_one):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), rtol=0, atol=1e-5)


def test_they_are_the_samplers_own_log_probs():
    """What the trainer recomputes is what the hf sampler recorded while sampling, at its temperature."""
    policy = make_tiny_policy()
    params = SamplingParams(n=2, temperature=0.7, max_new_tokens=5, seed=3)
    result = HFEngine(policy, batch_size=4).generate(["What is 2 + 3 ?", "What is 9 - 7 ?"], params)
    prompts = [p for p, group in zip(result.prompt_token_ids, result.completions) for _ in group]
    completions = [c for group in result.completions for c in group]
    values = sequence_logprobs(policy.model, prompts, [c.token_ids for c in completions], params.temperature)
    for value, completion in zip(values, completions):
        torch.testing.assert_close(torch.tensor(value), torch.tensor(completion.logprobs), rtol=0, atol=1e-4)


# -- log_softmax(logits / T) is written once -----------------------------------------------------------------
# The kernels (rlvr/models/logprobs.py) own it; the hf sampler's decoding step takes the next token's
# distribution over its (B, V) logits itself.
LOG_SOFTMAX_OWNERS = {"models/logprobs.py"}


def _log_softmax_calls(path: Path) -> list[int]:
    """Lines calling a log_softmax (torch's, F's, a tensor's); scaled_log_softmax, the kernels' own, is the way."""
    calls = [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]
    names = [(node.lineno, node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", ""))
             for node in calls]
    return [line for line, name in names if name == "log_softmax"]


def test_only_the_kernels_take_a_log_softmax():
    calls = [f"{path.relative_to(ROOT)}:{line}" for path in sorted(ROOT.rglob("*.py"))
             if path.relative_to(ROOT).as_posix() not in LOG_SOFTMAX_OWNERS for line in _log_softmax_calls(path)]
    assert calls == []


def test_the_log_softmax_check_sees_every_spelling(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("a = torch.log_softmax(x / t, -1)\nb = F.log_softmax(x, dim=-1)\nc = x.log_softmax(-1)\n"
                      "d = torch._log_softmax_backward_data(g, o, -1, o.dtype)\ne = scaled_log_softmax(x, t)\n")
    assert _log_softmax_calls(source) == [1, 2, 3]
