"""Micro-batches cut to the columns their rows use give the same log-probabilities as the padded batch."""

from __future__ import annotations

import torch

from conftest import make_tiny_policy
from rlvr.models.logprobs import token_logprobs
from rlvr.tasks import Task
from rlvr.train.rollouts import Rollouts, micro_batch, pad_batch


def _rollouts(prompts: list[list[int]], completions: list[list[list[int]]]) -> Rollouts:
    k = len(completions[0])
    return Rollouts(
        tasks=[Task(id=f"t{i}", prompt="p", reference="1") for i in range(len(prompts))], prompt_ids=prompts,
        completion_ids=completions, old_logprobs=[[[-1.0] * len(c) for c in g] for g in completions],
        texts=[["x"] * k for _ in prompts], truncated=torch.zeros(len(prompts), k, dtype=torch.bool), verdicts=[],
        rewards=torch.zeros(len(prompts), k), neutral=torch.zeros(len(prompts), k, dtype=torch.bool),
        new_tokens=0, sampler_logprobs=[[[-1.0] * len(c) for c in g] for g in completions],
    )


def logprobs(model, micro):
    span = micro["completion"].shape[1]
    logits = model(input_ids=micro["input_ids"], attention_mask=micro["attention"], position_ids=micro["positions"],
                   logits_to_keep=span + 1).logits[:, :-1]
    return token_logprobs(logits, micro["completion"])


def test_a_trimmed_micro_batch_reads_the_same_log_probabilities():
    model = make_tiny_policy().model.eval()
    prompts = [[5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16]]
    completions = [[[20, 21, 22, 23, 24, 25], [26]], [[27, 28], [29, 30, 31]], [[32], [33, 34]]]
    rows = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    batch = pad_batch(_rollouts(prompts, completions), rows, torch.ones(3, 2), mask_truncated=False, pad_id=0)
    assert batch["input_ids"].shape == (6, 7 + 6)
    short = micro_batch(batch, slice(2, 6))  # prompts of 2-3 tokens, completions of 1-3 tokens
    assert short["input_ids"].shape == (4, 3 + 3) and short["mask"].shape == (4, 3)
    untrimmed = micro_batch(batch, slice(2, 6), trim=False)
    assert untrimmed["input_ids"].shape == (4, 13)
    with torch.no_grad():
        full, cut = logprobs(model, untrimmed), logprobs(model, short)
    mask = short["mask"].bool()
    torch.testing.assert_close(cut[mask], full[:, :3][mask], rtol=0, atol=1e-5)
    assert torch.equal(short["advantage"], untrimmed["advantage"])


def test_overlapped_checks_give_the_verdicts_of_verifying_at_the_end():
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from rlvr.train.rollouts import OverlappedChecks, verify

    tasks = [Task(id=f"t{i}", prompt=f"What is {i} + {i}?", reference=str(2 * i), verifier="math") for i in range(4)]
    texts = [[f"\\boxed{{{2 * i}}}", "\\boxed{-1}", "no box"] for i in range(4)]
    specs = {t.id: t.verifier for t in tasks}
    with ThreadPoolExecutor(max_workers=1) as pool:
        checks = OverlappedChecks(tasks, specs, workers=1, backend="local", pool=pool)
        for batch in ([2, 0], [3], [1]):  # the order in which decoding batches finish prompts
            checks.submit(batch, [[SimpleNamespace(text=t) for t in texts[i]] for i in batch])
        overlapped = checks.results()
    at_the_end = verify(tasks, texts, specs, 1, "local")
    assert [[v.reason for v in g] for g in overlapped[0]] == [[v.reason for v in g] for g in at_the_end[0]]
    assert overlapped[1] == at_the_end[1]
    assert [v.reason for v in overlapped[0][0]] == ["ok", "mismatch", "no_answer"]


def test_micro_batches_are_cut_where_the_fewest_positions_run():
    """optim.bucket_by_length: the rows are cut into micro-batches of at most optim.micro_batch rows where the
    fewest positions run (prompts once per micro-batch that repeats them when shared, completions padded to their
    micro-batch's longest); with shared prompts, groups together or completions by length, whichever is cheaper."""
    from types import SimpleNamespace

    from rlvr.train.rollouts import MICRO_BATCH_COST, plan_micro_batches
    from rlvr.train.trainer import Trainer

    def rollouts(lengths, prompt=10):
        return _rollouts([[5] * prompt for _ in lengths], [[[7] * n for n in g] for g in lengths])

    def order(lengths, prompt=10, micro=4, share=True):
        optim = SimpleNamespace(bucket_by_length=True, micro_batch=micro)
        trainer = SimpleNamespace(config=SimpleNamespace(optim=optim), fused=True, share=share)
        rows = [(g, j) for g in range(len(lengths)) for j in range(len(lengths[0]))]
        return Trainer._order(trainer, rollouts(lengths, prompt), rows)

    # one long completion per group: by length, the two long ones share a micro-batch, the short ones theirs
    rows, micros = order([[50, 2, 2, 2], [48, 3, 3, 3]])
    assert rows == [(0, 0), (1, 0), (1, 1), (1, 2), (1, 3), (0, 1), (0, 2), (0, 3)]
    assert micros == [slice(0, 2), slice(2, 5), slice(5, 8)]  # the long two whole; each group's short ones
    assert plan_micro_batches(rollouts([[50, 2, 2, 2], [48, 3, 3, 3]]), rows, 4, True)[1] == \
        3 * MICRO_BATCH_COST + 2 * (10 + 50) + (10 + 3 * 3) + (10 + 3 * 2)
    # a long prompt and completions of like length: each group's prompt once, the groups together
    rows, micros = order([[6, 4, 6, 4], [5, 5, 5, 5]], prompt=100)
    assert {g for g, _ in rows[:4]} == {0} and micros == [slice(0, 4), slice(4, 8)]
    # the cost of a plan, by hand: no prompt repeats within a micro-batch of one row, so each runs whole
    one = rollouts([[3], [6]])
    assert plan_micro_batches(one, [(0, 0), (1, 0)], 1, True) == ([slice(0, 1), slice(1, 2)],
                                                                  2 * MICRO_BATCH_COST + (10 + 3) + (10 + 6))
    # one long row among short ones of one prompt: cut after it, not padded to it
    micros, cost = plan_micro_batches(rollouts([[60, 2, 2, 2, 2, 2, 2, 2]]), [(0, j) for j in range(8)], 8, True)
    assert micros == [slice(0, 1), slice(1, 8)]
    assert cost == 2 * MICRO_BATCH_COST + (10 + 60) + (10 + 7 * 2)
    # without bucketing: (group, sample) order, micro-batches of optim.micro_batch rows
    optim = SimpleNamespace(bucket_by_length=False, micro_batch=3)
    trainer = SimpleNamespace(config=SimpleNamespace(optim=optim), fused=True, share=True)
    rows = [(0, j) for j in range(8)]
    assert Trainer._order(trainer, rollouts([[60, 2, 2, 2, 2, 2, 2, 2]]), rows) == (
        rows, [slice(0, 3), slice(3, 6), slice(6, 8)])
