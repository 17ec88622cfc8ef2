"""The reasoning_gym verifier: reasoning-gym's scorers, without their leniency."""

from __future__ import annotations

import json
import pickle
import re

import pytest
import reasoning_gym

from rlvr import ConfigError
from rlvr.verifiers import get_verifier, verifier_names


def _reference(dataset: str, seed: int, index: int, **config) -> dict:
    """A reference as make_tasks("reasoning_gym", ...) writes it: where to regenerate, plus the entry."""
    size = index + 1
    entry = reasoning_gym.create_dataset(dataset, seed=seed, size=size, **config)[index]
    entry = json.loads(json.dumps(entry, default=str))
    return {"dataset": dataset, "config": config, "seed": seed, "size": size, "index": index, "entry": entry}


GSM = _reference("gsm_symbolic", seed=1, index=0)  # answer 288: its scorer pays "288 or 7" (the first number)
SPELL = _reference("spell_backward", seed=3, index=0)  # a text answer, scored by the base scorer


@pytest.fixture(scope="module")
def verifier():
    return get_verifier("reasoning_gym")


def test_the_raw_scorers_are_lenient():
    """Why this verifier exists: reasoning-gym alone gives these full or partial credit."""
    gsm = reasoning_gym.create_dataset("gsm_symbolic", seed=1, size=1)
    assert GSM["entry"]["answer"] == "288"
    assert gsm.score_answer("288 or 7", GSM["entry"]) == 1.0
    assert gsm.score_answer("288 288", GSM["entry"]) == 1.0
    spell = reasoning_gym.create_dataset("spell_backward", seed=3, size=1)
    word = SPELL["entry"]["answer"]
    assert 0.0 < spell.score_answer(f"{word} {word}", SPELL["entry"]) < 1.0


CASES = [
    # (completion, reference, reward, reason)
    ("The total is \\boxed{288}.", GSM, 1.0, "ok"),
    ("\\boxed{ 288 }", GSM, 1.0, "ok"),
    ("\\boxed{288 or 7}", GSM, 0.0, "ambiguous"),  # raw scorer: 1.0 (first number)
    ("\\boxed{7 or 288}", GSM, 0.0, "ambiguous"),
    ("\\boxed{288 288}", GSM, 0.0, "ambiguous"),  # raw scorer: 1.0
    ("\\boxed{288, 289}", GSM, 0.0, "ambiguous"),
    ("\\boxed{287}", GSM, 0.0, "mismatch"),
    ("\\boxed{288} or \\boxed{7}", GSM, 0.0, "ambiguous"),
    ("The answer is 288.", GSM, 0.0, "no_answer"),
    ("\\boxed{}", GSM, 0.0, "no_answer"),
    ("\\boxed{288", GSM, 0.0, "parse_error"),
    (f"\\boxed{{{SPELL['entry']['answer']}}}", SPELL, 1.0, "ok"),
    (
        f"\\boxed{{{SPELL['entry']['answer']} {SPELL['entry']['answer']}}}",
        SPELL,
        0.0,
        "mismatch",
    ),  # raw: partial
    (f"\\boxed{{x{SPELL['entry']['answer']}}}", SPELL, 0.0, "mismatch"),
]


@pytest.mark.parametrize("completion, reference, reward, reason", CASES)
def test_table(verifier, completion, reference, reward, reason):
    verdict = verifier.verify(completion, reference)
    assert (verdict.reward, verdict.reason) == (reward, reason), verdict


def test_mismatch_detail_carries_the_raw_score(verifier):
    word = SPELL["entry"]["answer"]
    verdict = verifier.verify(f"\\boxed{{{word} {word}}}", SPELL)
    assert re.fullmatch(r"reasoning-gym score 0\.\d+ < threshold 1", verdict.detail), verdict


def test_batch_in_order(verifier):
    pairs = [(completion, reference) for completion, reference, _, _ in CASES]
    assert [v.reward for v in verifier.verify_batch(pairs, workers=2)] == [
        reward for _, _, reward, _ in CASES
    ]


def _tampered(**changes) -> dict:
    return {**GSM, **changes}


BAD_REFERENCES = [
    ("288", "must be an object"),
    ({"entry": GSM["entry"]}, "needs a 'dataset' name"),
    ({"dataset": "gsm_symbolic"}, "'entry' must be an object"),
    (_tampered(entry={"answer": "288"}), "'entry' must be an object"),
    (_tampered(dataset="no_such_dataset"), "unknown reasoning-gym dataset"),
    (_tampered(index=None), "must be given together"),
    (_tampered(seed=-1), "must be given together"),
    (_tampered(index=1), "outside the dataset's size 1"),
    (_tampered(config={"no_such_option": 1}), "rejected the config"),
    (_tampered(entry={**GSM["entry"], "answer": "7"}), "differs from item 0"),
    (_tampered(seed=2), "differs from item 0"),
]


@pytest.mark.parametrize("reference, words", BAD_REFERENCES)
def test_bad_references_fail_closed(reference, words):
    verdict = get_verifier("reasoning_gym", isolated=False).verify("\\boxed{288}", reference)
    assert (verdict.reward, verdict.reason) == (0.0, "bad_reference"), verdict
    assert words in verdict.detail


def test_stored_entry_alone_is_scored_as_is():
    reference = {"dataset": "gsm_symbolic", "entry": {"question": "How many?", "answer": "12"}}
    local = get_verifier("reasoning_gym", isolated=False)
    assert local.verify("\\boxed{12}", reference).passed
    assert not local.verify("\\boxed{12 or 3}", reference).passed


def test_threshold_and_answer_mode():
    word = SPELL["entry"]["answer"]
    lenient = get_verifier("reasoning_gym", threshold=0.5, isolated=False)
    assert lenient.verify(f"\\boxed{{{word} {word}}}", SPELL).passed
    tagged = get_verifier("reasoning_gym", answer="answer_tag", isolated=False)
    assert tagged.verify("<answer>288</answer>", GSM).passed
    assert tagged.verify("\\boxed{288}", GSM).reason == "no_answer"


@pytest.mark.parametrize(
    "options, words",
    [
        ({"threshold": 0.0}, "threshold must be in (0, 1]"),
        ({"threshold": 1.5}, "threshold must be in (0, 1]"),
        ({"answer": "last_number"}, "option answer='last_number' is not one of"),
        ({"tolerance": 1}, "no option"),
    ],
)
def test_bad_options_raise_at_construction(options, words):
    with pytest.raises(ConfigError) as info:
        get_verifier("reasoning_gym", **options)
    assert words in str(info.value)


def test_registered_and_picklable():
    assert "reasoning_gym" in verifier_names()
    v = get_verifier({"name": "reasoning_gym", "answer": "bare", "threshold": 0.9})
    assert pickle.loads(pickle.dumps(v)) == v
