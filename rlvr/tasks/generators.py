"""Built-in task generators: `make_tasks("arithmetic", 100, op="mul", digits=2)`.

Held-out purity: a problem's split is a property of the problem, not of the seed. Each
problem's canonical text is hashed into a bucket (80 % train, 10 % test, 10 % val) and a
generator asked for split s emits only problems whose bucket is s. So train, test and val
never share a problem, whatever seeds, options or counts the user picks; the seed only
chooses *which* problems of that split come out. Changing `_SPLIT_SALT` or the canonical
text would reshuffle every split, so neither may change.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import inspect
import json
import math
import random
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rlvr._errors import ConfigError, DataError
from rlvr.tasks.records import Task
from rlvr.verifiers import AnswerMode

SPLITS = ("train", "test", "val")
_SPLIT_PERCENT = {"train": 80, "test": 10, "val": 10}  # buckets 0-79, 80-89, 90-99
_SPLIT_SALT = "rlvr-split-v1:"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_of(canonical: str) -> str:
    """The split a problem belongs to, from a stable hash of its canonical text.

    >>> split_of("47 + 38") in SPLITS
    True
    """
    bucket = int(_digest(_SPLIT_SALT + canonical)[:16], 16) % 100
    return "train" if bucket < 80 else "test" if bucket < 90 else "val"


# ------------------------------------------------------------------------------------------
# arithmetic


_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_OPS = (*_SYMBOLS, "mixed")
_ARITH_INSTRUCTIONS = {
    "bare": "Reply with only the final number.",
    "boxed": "Put the final answer in \\boxed{}.",
}
# Spaces up to this size are listed in full, so a request larger than the split fails with
# the exact count; larger spaces are sampled by rejection.
_ENUMERATE_LIMIT = 250_000
# Bounds on a request: a file of a million tasks is already ~200 MB, and an operand of 1,000 digits
# keeps every answer (a product: 2,000 digits) under Python's 4,300-digit limit on int <-> str.
MAX_TASKS = 1_000_000
MAX_DIGITS = 1000


@dataclass(frozen=True)
class _Problem:
    op: str
    a: int
    b: int

    @property
    def text(self) -> str:
        return f"{self.a} {_SYMBOLS[self.op]} {self.b}"

    @property
    def answer(self) -> int:
        a, b = self.a, self.b
        if self.op == "div":
            return a // b  # exact: the dividend is built as divisor * quotient
        return a + b if self.op == "add" else a - b if self.op == "sub" else a * b


@dataclass(frozen=True)
class _Block:
    """All problems of one op: an |left| x |right| grid, indexable without listing it."""

    op: str
    left: range
    right: range

    @property
    def size(self) -> int:  # not __len__: len() must fit a C integer, and 10-digit operands do not
        return _count(self.left) * _count(self.right)

    def __getitem__(self, k: int) -> _Problem:
        x, y = self.left[k // _count(self.right)], self.right[k % _count(self.right)]
        if self.op == "div":  # x is the divisor, y the quotient: the answer is always exact
            return _Problem("div", x * y, x)
        return _Problem(self.op, x, y)


def _count(numbers: range) -> int:
    return numbers.stop - numbers.start  # len(range) overflows beyond 2**63 numbers


def _digit_range(digits: int) -> range:
    """Numbers with exactly `digits` digits; 0 counts as a 1-digit number."""
    return range(0 if digits == 1 else 10 ** (digits - 1), 10**digits)


def _blocks(op: str, digits: int) -> list[_Block]:
    numbers = _digit_range(digits)
    ops = list(_SYMBOLS) if op == "mixed" else [op]
    return [
        _Block(o, range(max(1, numbers.start), numbers.stop) if o == "div" else numbers, numbers) for o in ops
    ]


def _problem_at(blocks: list[_Block], k: int) -> _Problem:
    """The k-th problem of the union of `blocks`, so one uniform draw covers every op."""
    for block in blocks:
        if k < block.size:
            return block[k]
        k -= block.size
    raise IndexError(k)


def _pick_problems(blocks: list[_Block], n: int, seed: int, split: str, what: str) -> list[_Problem]:
    """n distinct problems of `split`, chosen by `random.Random(seed)`."""
    rng = random.Random(seed)
    size = sum(block.size for block in blocks)
    if size <= _ENUMERATE_LIMIT:
        pool = [p for p in (_problem_at(blocks, k) for k in range(size)) if split_of(p.text) == split]
        if n > len(pool):
            raise DataError(
                f"{what} has only {len(pool)} distinct problems in split {split!r} (of {size} in all); "
                f"ask for at most {len(pool)} tasks or use more digits."
            )
        return rng.sample(pool, n)
    expected = size * _SPLIT_PERCENT[split] // 100
    if n > expected // 2:  # beyond this, rejection sampling slows to a crawl
        raise DataError(
            f"{what} has about {expected} problems in split {split!r}; ask for at most {expected // 2} "
            "tasks or use more digits."
        )
    chosen: dict[str, _Problem] = {}
    while len(chosen) < n:
        problem = _problem_at(blocks, rng.randrange(size))
        if problem.text not in chosen and split_of(problem.text) == split:
            chosen[problem.text] = problem
    return list(chosen.values())


def _arithmetic(
    n: int, seed: int, split: str, *, op: str = "add", digits: int = 2, answer: str = "bare"
) -> list[Task]:
    """Integer arithmetic with exact answers, judged by the `math` verifier.

    op:     add, sub, mul, div (the quotient is always an integer) or mixed.
    digits: digits of each operand (for div: of the divisor and the quotient), 1 to 1000; meta["difficulty"].
    answer: "bare" (reply with the number) or "boxed" (\\boxed{}). Small models write empty
            boxes followed by the number, so bare is the default for arithmetic.
    """
    _check_choice("arithmetic", "op", op, _OPS)
    _check_choice("arithmetic", "answer", answer, tuple(_ARITH_INSTRUCTIONS))
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= MAX_DIGITS:
        raise ConfigError(f"generator 'arithmetic': option digits must be an integer >= 1 and <= {MAX_DIGITS}, "
                          f"got {digits!r}.")
    what = f"arithmetic with op={op!r}, digits={digits}"
    problems = _pick_problems(_blocks(op, digits), n, seed, split, what)
    return [_arithmetic_task(p, digits, split, answer) for p in problems]


def _arithmetic_task(problem: _Problem, digits: int, split: str, answer: str) -> Task:
    suffix = "" if answer == "bare" else f"-{answer}"  # the same problem asked two ways gets two ids
    return Task(
        id=f"arith-{problem.op}-d{digits}-{_digest(problem.text)[:10]}{suffix}",
        prompt=f"What is {problem.text}? {_ARITH_INSTRUCTIONS[answer]}",
        reference=str(problem.answer),
        verifier={"name": "math", "answer": answer},
        split=split,
        meta={"generator": "arithmetic", "op": problem.op, "difficulty": digits},
    )


# ------------------------------------------------------------------------------------------
# reasoning_gym: its questions and answers, judged by our `reasoning_gym` verifier


_RG_INSTRUCTIONS: dict[str, str] = {
    "boxed": "Put only the final answer inside \\boxed{}.",
    "boxed_or_bare": "Put only the final answer inside \\boxed{}.",
    "bare": "Reply with only the final answer.",
    "answer_tag": "Put only the final answer between <answer> and </answer>.",
}
_RG_LIST_HINT = 'python -c "from reasoning_gym.factory import DATASETS; print(sorted(DATASETS))"'


def _reasoning_gym(
    n: int,
    seed: int,
    split: str,
    *,
    dataset: str,
    config: dict | None = None,
    answer: AnswerMode = "boxed",
) -> list[Task]:
    """Tasks from any reasoning-gym dataset, e.g. basic_arithmetic, chain_sum, gsm_symbolic.

    dataset: a reasoning-gym dataset name.
    config:  that dataset's config options (not seed or size: those come from make_tasks).
    answer:  how the answer is marked in the completion (an `extract_answer` mode).

    The reasoning-gym seed is derived from (seed, split), and questions are also bucketed
    by hash like every generator here, so splits never share a question. The reference
    records (dataset, config, seed, size, index), from which the verifier regenerates the
    entry exactly, plus the entry itself as JSON for reading.
    """
    _check_choice("reasoning_gym", "answer", answer, typing.get_args(AnswerMode))
    config = _rg_config(dataset, config)
    ds_seed = int(_digest(f"reasoning_gym:{seed}:{split}")[:8], 16)
    size = math.ceil(2 * n * 100 / _SPLIT_PERCENT[split]) + 50  # twice the draws n needs on average
    source = _rg_create(dataset, config, ds_seed, size)
    tasks: dict[str, Task] = {}
    for index in range(size):
        entry = _rg_entry(source, dataset, index)
        question = entry["question"]
        if question in tasks or split_of(f"reasoning_gym:{dataset}\n{question}") != split:
            continue
        reference = {
            "dataset": dataset,
            "config": config,
            "seed": ds_seed,
            "size": size,
            "index": index,
            "entry": entry,
        }
        tasks[question] = Task(
            id=f"rg-{dataset}-{_digest(question)[:10]}",
            prompt=f"{question}\n\n{_RG_INSTRUCTIONS[answer]}",
            reference=reference,
            verifier={"name": "reasoning_gym", "answer": answer},
            split=split,
            meta={"generator": "reasoning_gym", "dataset": dataset},
        )
        if len(tasks) == n:
            return list(tasks.values())
    raise DataError(
        f"reasoning-gym dataset {dataset!r} gave only {len(tasks)} distinct {split} questions "
        f"in {size} draws; ask for fewer tasks or widen its config."
    )


def _rg_config(dataset: str, config: dict | None) -> dict:
    """Check the dataset name and config; return the config as it will read back from JSON."""
    from reasoning_gym.factory import DATASETS  # lazy: importing reasoning-gym takes about a second

    if not isinstance(dataset, str) or dataset not in DATASETS:
        close = difflib.get_close_matches(str(dataset), DATASETS, n=3) or sorted(DATASETS)[:3]
        raise ConfigError(
            f"unknown reasoning-gym dataset {dataset!r}; close names: {', '.join(close)} "
            f"(list all {len(DATASETS)} with: {_RG_LIST_HINT})."
        )
    config = {} if config is None else config
    if not isinstance(config, dict):
        raise ConfigError(
            f"generator 'reasoning_gym': option config must be a dict, got {type(config).__name__}."
        )
    for key in ("seed", "size"):
        if key in config:
            raise ConfigError(
                f"generator 'reasoning_gym': config must not set {key!r}; pass make_tasks(seed=, n=)."
            )
    fields = {f.name for f in dataclasses.fields(DATASETS[dataset][1])} - {"seed", "size"}
    unknown = sorted(set(config) - fields)
    if unknown:
        raise ConfigError(
            f"reasoning-gym dataset {dataset!r} has no config option {unknown[0]!r}; "
            f"its options are: {', '.join(sorted(fields))}."
        )
    try:
        return json.loads(json.dumps(config))  # the verifier rebuilds the dataset from this JSON form
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"generator 'reasoning_gym': config must hold plain JSON values ({exc}).") from None


def _rg_create(dataset: str, config: dict, seed: int, size: int) -> Any:
    import reasoning_gym

    try:
        return reasoning_gym.create_dataset(dataset, seed=seed, size=size, **config)
    except (AssertionError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"reasoning-gym dataset {dataset!r} rejected config {config} ({exc}); fix the config."
        ) from None


def _rg_entry(source: Any, dataset: str, index: int) -> dict:
    """Entry `index` as plain JSON (reasoning-gym metadata holds tuples and sometimes objects)."""
    try:
        entry = source[index]
    except Exception as exc:  # noqa: BLE001 - a generator bug in reasoning-gym, reported with its item
        raise DataError(
            f"reasoning-gym dataset {dataset!r} failed on item {index} ({exc}); try another seed."
        ) from None
    return {key: _to_json(entry.get(key)) for key in ("question", "answer", "metadata")}


def _to_json(value: Any) -> Any:
    """`value` made JSON-serialisable: tuples and sets become lists, non-finite floats and
    unknown objects become strings, dict keys become strings.

    >>> _to_json({"range": (1, 4), 2: float("inf")})
    {'range': [1, 4], '2': 'inf'}
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(key): _to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_to_json(item) for item in value), key=repr)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            return _to_json(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)


# ------------------------------------------------------------------------------------------
# The table, and the one entry point


_GENERATORS: dict[str, Callable[..., list[Task]]] = {
    "arithmetic": _arithmetic,
    "reasoning_gym": _reasoning_gym,
}


def generator_names() -> list[str]:
    """Names accepted by `make_tasks`."""
    return sorted(_GENERATORS)


def describe_generators() -> dict[str, str]:
    """Each generator's name and documentation (its options included), for `rlvr tasks list`."""
    return {name: inspect.cleandoc(_GENERATORS[name].__doc__ or "") for name in generator_names()}


def make_tasks(name: str, n: int, seed: int = 0, split: str = "train", **options: Any) -> list[Task]:
    """n distinct tasks of one split from a built-in generator; the same arguments give the same tasks.

    >>> task = make_tasks("arithmetic", 1, op="add", digits=2, split="test")[0]
    >>> task.prompt  # doctest: +ELLIPSIS
    'What is ... + ...? Reply with only the final number.'
    """
    generator = _GENERATORS.get(name)
    if generator is None:
        raise ConfigError(f"unknown task generator {name!r}; choose one of: {', '.join(generator_names())}.")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"make_tasks: n must be a positive integer, got {n!r}.")
    if n > MAX_TASKS:
        raise ConfigError(f"make_tasks: n is at most {MAX_TASKS:,} tasks a call, got {n:,}; make several files "
                          "with different seeds if you need more.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"make_tasks: seed must be an integer, got {seed!r}.")
    _check_choice(name, "split", split, SPLITS)
    _check_options(name, generator, options)
    return generator(n, seed, split, **options)


def _check_options(name: str, generator: Callable[..., Any], options: dict[str, Any]) -> None:
    params = [p for p in inspect.signature(generator).parameters.values() if p.kind is p.KEYWORD_ONLY]
    known = [p.name for p in params]
    for key in options:
        if key not in known:
            raise ConfigError(
                f"generator {name!r} has no option {key!r}; its options are: {', '.join(known)}."
            )
    for p in params:
        if p.default is p.empty and p.name not in options:
            raise ConfigError(
                f"generator {name!r} needs the option {p.name!r}, e.g. make_tasks({name!r}, n, {p.name}=...)."
            )


def _check_choice(name: str, option: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ConfigError(
            f"generator {name!r}: {option}={value!r} is not one of {', '.join(repr(c) for c in choices)}."
        )
