"""The `reasoning_gym` verifier: reasoning-gym's own scorers, made fail-closed.

reasoning-gym's scorers are lenient: the base scorer gives partial credit
len(oracle)/len(answer) when the oracle appears anywhere in the answer ("292 292" scores
0.43), and gsm_symbolic reads the *first* number ("288 or 7" scores 1.0). So this verifier

1. extracts exactly one answer field (`extract_answer`; missing or repeated boxes fail),
2. rejects an answer holding several numbers where the oracle is one number (reason
   "ambiguous"): that is how a policy hedges, and first-number scorers reward it,
3. passes only a score >= `threshold` (default 1.0), so partial credit is no credit.

Reference (what `make_tasks("reasoning_gym", ...)` writes):

    {"dataset": "gsm_symbolic", "config": {...}, "seed": 123, "size": 70, "index": 4,
     "entry": {"question": ..., "answer": ..., "metadata": ...}}

With seed, size and index the entry is regenerated and scored as reasoning-gym made it
(its metadata holds tuples and objects that JSON loses, and some scorers need them); the
stored question and answer must match the regenerated ones. Without them the stored entry
is scored as it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from rlvr._errors import ConfigError
from rlvr.verifiers.answer import AnswerMode, extract_answer
from rlvr.verifiers.base import Verifier, register_verifier
from rlvr.verifiers.verdict import Verdict

_ONE_NUMBER = re.compile(r"\s*[-+]?\d+(?:[.,]\d+)*\s*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Per worker process: rebuilding a dataset can take a second, and every check would pay it.
_DATASETS: dict[str, Any] = {}
_ENTRIES: dict[tuple[str, int], dict] = {}
_MAX_DATASETS, _MAX_ENTRIES = 64, 4096  # bounds, for long-lived workers


@register_verifier("reasoning_gym")
@dataclass(frozen=True)
class ReasoningGymVerifier(Verifier):
    """Judge an answer to a reasoning-gym task with that dataset's own scorer.

    answer:    where the answer is in the completion (see `extract_answer`).
    threshold: the reasoning-gym score that counts as correct; rewards are 1.0 or 0.0.
    """

    answer: AnswerMode = "boxed"
    threshold: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"verifier 'reasoning_gym': threshold must be in (0, 1], got {self.threshold}.")

    def __setstate__(self, state: dict) -> None:
        # Unpickling happens as a worker process starts, before it reports ready: importing
        # reasoning-gym here keeps that second out of the first check's time limit.
        self.__dict__.update(state)
        try:
            import reasoning_gym  # noqa: F401
        except ImportError:  # check() reports it as a bad reference
            pass

    def neutral(self) -> Verifier:
        return self if self.answer == "lenient" else replace(self, answer="lenient")

    def check(self, completion: str, reference: Any) -> Verdict:
        source = _source(reference)
        if isinstance(source, str):
            return Verdict(0.0, "bad_reference", source)
        dataset, entry = source
        answer, failed = extract_answer(completion, self.answer)
        if failed is not None:
            return failed
        oracle = entry.get("answer")
        if isinstance(oracle, str) and _ONE_NUMBER.fullmatch(oracle) and len(_NUMBER.findall(answer)) > 1:
            return Verdict(0.0, "ambiguous", f"the answer must be one number, got {answer[:200]!r}")
        score = float(dataset.score_answer(answer, entry))
        if score >= self.threshold - 1e-9:
            return Verdict(1.0, "ok", f"reasoning-gym score {score:g}")
        return Verdict(0.0, "mismatch", f"reasoning-gym score {score:.4g} < threshold {self.threshold:g}")


def _source(reference: Any) -> tuple[Any, dict] | str:
    """(dataset object, entry to score against), or what is wrong with the reference."""
    if not isinstance(reference, dict):
        return f"reference must be an object with 'dataset' and 'entry', got {type(reference).__name__}"
    name, config, entry = reference.get("dataset"), reference.get("config") or {}, reference.get("entry")
    if not isinstance(name, str) or not isinstance(config, dict):
        return "reference needs a 'dataset' name and an optional 'config' object"
    if not isinstance(entry, dict) or not isinstance(entry.get("question"), str) or "answer" not in entry:
        return "reference 'entry' must be an object with 'question' and 'answer'"
    place = [reference.get(key) for key in ("seed", "size", "index")]
    if all(p is None for p in place):
        dataset = _dataset(name, config, 0, 1)
        return dataset if isinstance(dataset, str) else (dataset, entry)
    if not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in place):
        return "reference 'seed', 'size' and 'index' must be given together, as non-negative integers"
    seed, size, index = place
    if index >= size:
        return f"reference 'index' {index} is outside the dataset's size {size}"
    dataset = _dataset(name, config, seed, size)
    if isinstance(dataset, str):
        return dataset
    fresh = _entry(dataset, _key(name, config, seed, size), index)
    if fresh["question"] != entry["question"] or (
        isinstance(fresh["answer"], str) and fresh["answer"] != entry["answer"]
    ):
        return (
            f"reference entry differs from item {index} that reasoning-gym regenerates for {name!r} "
            "(another reasoning-gym version or config?)"
        )
    return dataset, fresh


def _key(name: str, config: dict, seed: int, size: int) -> str:
    return json.dumps([name, config, seed, size], sort_keys=True, default=str)


def _dataset(name: str, config: dict, seed: int, size: int) -> Any:
    """The dataset object, cached; or what went wrong, as a string."""
    key = _key(name, config, seed, size)
    if key not in _DATASETS:
        try:
            import reasoning_gym
            from reasoning_gym.factory import DATASETS
        except ImportError:
            return "reasoning-gym is not installed"
        if name not in DATASETS:
            return f"unknown reasoning-gym dataset {name!r}"
        try:
            dataset = reasoning_gym.create_dataset(name, **{**config, "seed": seed, "size": size})
        except Exception as exc:  # noqa: BLE001 - a config the dataset rejects is a bad reference
            return f"reasoning-gym rejected the config of {name!r}: {type(exc).__name__}: {exc}"
        if len(_DATASETS) >= _MAX_DATASETS:
            _DATASETS.clear()
        _DATASETS[key] = dataset
    return _DATASETS[key]


def _entry(dataset: Any, key: str, index: int) -> dict:
    if (key, index) not in _ENTRIES:
        if len(_ENTRIES) >= _MAX_ENTRIES:
            _ENTRIES.clear()
        _ENTRIES[key, index] = dataset[index]
    return _ENTRIES[key, index]
