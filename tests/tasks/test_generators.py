"""Built-in generators: right answers, splits that never share a problem, determinism, clear errors."""

from __future__ import annotations

import json
import re
from fractions import Fraction

import pytest

from rlvr import ConfigError, DataError
from rlvr.tasks import generator_names, make_tasks
from rlvr.tasks.generators import split_of
from rlvr.verifiers import get_verifier, verifier_names

_QUESTION = re.compile(r"^What is (\d+) ([-+*/]) (\d+)\? (.+)$")
_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


def _parse(task):
    """(a, symbol, b) from an arithmetic prompt, and its instruction."""
    match = _QUESTION.match(task.prompt)
    assert match, task.prompt
    return int(match[1]), match[2], int(match[3]), match[4]


def _problem(task) -> str:
    a, symbol, b, _ = _parse(task)
    return f"{a} {symbol} {b}"


def _expected(a: int, symbol: str, b: int) -> Fraction:
    """Recomputed independently of the generator, in exact rationals."""
    x, y = Fraction(a), Fraction(b)
    if symbol == "/":
        return x / y
    return {"+": x + y, "-": x - y, "*": x * y}[symbol]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "mixed"])
@pytest.mark.parametrize("digits", [1, 2, 3])
def test_arithmetic_answers_are_right(op, digits):
    tasks = make_tasks("arithmetic", 40, seed=7, split="train", op=op, digits=digits)
    assert len({t.id for t in tasks}) == len(tasks) == 40
    symbols = set()
    for task in tasks:
        a, symbol, b, instruction = _parse(task)
        symbols.add(symbol)
        expected = _expected(a, symbol, b)
        assert expected.denominator == 1, f"{task.prompt} has no integer answer"
        assert task.reference == str(expected.numerator)
        operands = (b, a // b) if symbol == "/" else (a, b)  # div: divisor and quotient
        assert all(len(str(x)) == digits for x in operands), task.prompt
        assert instruction == "Reply with only the final number."
        assert task.verifier == {"name": "math", "answer": "bare"}
        assert task.meta["difficulty"] == digits and task.split == "train"
        assert task.id.startswith(f"arith-{task.meta['op']}-d{digits}-")
    assert symbols == (set(_SYMBOL.values()) if op == "mixed" else {_SYMBOL[op]})


def test_boxed_answer_mode():
    (task,) = make_tasks("arithmetic", 1, op="mul", answer="boxed")
    assert task.prompt.endswith("? Put the final answer in \\boxed{}.")
    assert task.verifier == {"name": "math", "answer": "boxed"}
    assert task.id.endswith("-boxed")


def test_subtraction_can_be_negative():
    tasks = make_tasks("arithmetic", 50, op="sub", digits=1)
    assert any(t.reference.startswith("-") for t in tasks)


@pytest.mark.parametrize("op, digits", [("add", 1), ("mixed", 1), ("div", 1)])
def test_splits_partition_the_whole_space(op, digits):
    """Asking every split for all its problems gives each problem exactly once, in one split."""
    counts = {}
    problems = {}
    for split in ("train", "test", "val"):
        with pytest.raises(DataError, match=r"has only (\d+) distinct problems") as info:
            make_tasks("arithmetic", 10_000, split=split, op=op, digits=digits)
        counts[split] = int(re.search(r"has only (\d+)", str(info.value))[1])
        problems[split] = {
            _problem(t) for t in make_tasks("arithmetic", counts[split], split=split, op=op, digits=digits)
        }
        assert len(problems[split]) == counts[split]
    union = problems["train"] | problems["test"] | problems["val"]
    assert len(union) == sum(counts.values())
    space = {"add": 100, "div": 90, "mixed": 390}[op]  # div: divisor 1-9, quotient 0-9
    assert len(union) == space


def test_one_digit_addition_split_sizes():
    sizes = {}
    for split in ("train", "test", "val"):
        with pytest.raises(DataError, match="of 100 in all") as info:
            make_tasks("arithmetic", 101, split=split, op="add", digits=1)
        sizes[split] = int(re.search(r"has only (\d+)", str(info.value))[1])
    assert sizes == {"train": 71, "test": 11, "val": 18}


def test_splits_disjoint_across_seeds():
    """Whatever seeds the user picks for each split, no problem is in two splits."""
    seen: dict[str, set[str]] = {"train": set(), "test": set(), "val": set()}
    for seed in range(6):
        for split, n in (("train", 300), ("test", 60), ("val", 60)):
            tasks = make_tasks("arithmetic", n, seed=seed, split=split, op="mixed", digits=2)
            seen[split] |= {_problem(t) for t in tasks}
    assert not seen["train"] & seen["test"]
    assert not seen["train"] & seen["val"]
    assert not seen["test"] & seen["val"]
    for split, problems in seen.items():
        assert all(split_of(p) == split for p in problems)


def test_large_spaces_are_sampled_distinct_and_in_split():
    tasks = make_tasks("arithmetic", 300, seed=3, split="val", op="mul", digits=4)  # 81 M problems
    problems = [_problem(t) for t in tasks]
    assert len(set(problems)) == 300
    assert all(split_of(p) == "val" for p in problems)


def test_deterministic_and_ids_stable():
    first = make_tasks("arithmetic", 30, seed=11, split="test", op="mixed", digits=2)
    assert first == make_tasks("arithmetic", 30, seed=11, split="test", op="mixed", digits=2)
    other = make_tasks("arithmetic", 30, seed=12, split="test", op="mixed", digits=2)
    assert {t.id for t in first} != {t.id for t in other}
    by_problem = {_problem(t): t.id for t in first}
    for task in other + make_tasks("arithmetic", 200, seed=5, split="test", op="mixed", digits=2):
        assert by_problem.get(_problem(task), task.id) == task.id  # same problem, same id


def test_too_small_space_says_how_many_exist():
    with pytest.raises(DataError) as info:
        make_tasks("arithmetic", 12, split="test", op="add", digits=1)
    message = str(info.value)
    assert "has only 11 distinct problems in split 'test'" in message
    assert "ask for at most 11 tasks" in message
    assert len(make_tasks("arithmetic", 11, split="test", op="add", digits=1)) == 11


@pytest.mark.skipif("math" not in verifier_names(), reason="the math verifier is not written yet")
def test_math_verifier_accepts_the_references():
    tasks = make_tasks("arithmetic", 10, op="mixed", digits=2, answer="bare")
    tasks += make_tasks("arithmetic", 10, op="mixed", digits=2, answer="boxed", seed=1)
    for task in tasks:
        mode = task.verifier["answer"]
        good = task.reference if mode == "bare" else f"\\boxed{{{task.reference}}}"
        wrong = str(int(task.reference) + 1)
        wrong = wrong if mode == "bare" else f"\\boxed{{{wrong}}}"
        verifier = get_verifier({**task.verifier, "isolated": False})
        assert verifier.verify(good, task.reference).passed, task
        assert not verifier.verify(wrong, task.reference).passed, task


CONFIG_ERRORS = [
    (("nope", 3), {}, "unknown task generator 'nope'; choose one of: arithmetic, reasoning_gym"),
    (("arithmetic", 3), {"ops": "add"}, "has no option 'ops'; its options are: op, digits, answer"),
    (("arithmetic", 3), {"op": "pow"}, "op='pow' is not one of 'add', 'sub', 'mul', 'div', 'mixed'"),
    (("arithmetic", 3), {"digits": 0}, "digits must be an integer >= 1"),
    (("arithmetic", 3), {"digits": 1.5}, "digits must be an integer >= 1"),
    (("arithmetic", 3), {"answer": "tag"}, "answer='tag' is not one of 'bare', 'boxed'"),
    (("arithmetic", 3), {"split": "dev"}, "split='dev' is not one of 'train', 'test', 'val'"),
    (("arithmetic", 0), {}, "n must be a positive integer"),
    (("arithmetic", 3), {"seed": "1"}, "seed must be an integer"),
    (("reasoning_gym", 3), {}, "needs the option 'dataset'"),
    (
        ("reasoning_gym", 3),
        {"dataset": "gsm_symbolc"},
        "unknown reasoning-gym dataset 'gsm_symbolc'; close names: gsm_symbolic",
    ),
    (("reasoning_gym", 3), {"dataset": "chain_sum", "config": {"seed": 1}}, "must not set 'seed'"),
    (
        ("reasoning_gym", 3),
        {"dataset": "chain_sum", "config": {"max_term": 3}},
        "no config option 'max_term'; its options are",
    ),
    (("reasoning_gym", 3), {"dataset": "chain_sum", "config": {"min_terms": 0}}, "rejected config"),
    (("reasoning_gym", 3), {"dataset": "chain_sum", "answer": "box"}, "answer='box' is not one of"),
]


@pytest.mark.parametrize("args, options, words", CONFIG_ERRORS)
def test_config_errors(args, options, words):
    with pytest.raises(ConfigError, match=re.escape(words)) as info:
        make_tasks(*args, **options)
    assert "\n" not in str(info.value)


def test_unknown_reasoning_gym_dataset_says_how_to_list_all():
    with pytest.raises(ConfigError, match="list all .* with: python -c"):
        make_tasks("reasoning_gym", 3, dataset="no_such_thing")


def test_generator_names():
    assert generator_names() == ["arithmetic", "reasoning_gym"]


# ------------------------------------------------------------------------------------------
# reasoning_gym adapter, judged by our reasoning_gym verifier (one worker for the module)


@pytest.fixture(scope="module")
def rg_verifier():
    return get_verifier("reasoning_gym")


@pytest.mark.parametrize("dataset", ["basic_arithmetic", "chain_sum", "gsm_symbolic"])
def test_reasoning_gym_tasks_pass_their_own_answer(rg_verifier, dataset):
    tasks = make_tasks("reasoning_gym", 5, seed=1, split="test", dataset=dataset)
    assert len({t.id for t in tasks}) == 5
    pairs = []
    for task in tasks:
        json.dumps(task.to_dict())  # plain JSON, so write_tasks can store it
        entry = task.reference["entry"]
        assert task.prompt.startswith(entry["question"])
        assert task.prompt.endswith("Put only the final answer inside \\boxed{}.")
        assert task.verifier == {"name": "reasoning_gym", "answer": "boxed"}
        assert task.split == "test" and task.meta["dataset"] == dataset
        assert split_of(f"reasoning_gym:{dataset}\n{entry['question']}") == "test"
        wrong = str(int(float(entry["answer"])) + 1)
        pairs += [
            (f"so \\boxed{{{entry['answer']}}}", task.reference),
            (f"\\boxed{{{wrong}}}", task.reference),
        ]
    verdicts = rg_verifier.verify_batch(pairs, workers=1)
    assert [v.reward for v in verdicts] == [1.0, 0.0] * 5, verdicts
    assert {v.reason for v in verdicts[1::2]} == {"mismatch"}


def test_reasoning_gym_splits_differ_and_repeat():
    train = make_tasks("reasoning_gym", 40, seed=0, split="train", dataset="chain_sum")
    test = make_tasks("reasoning_gym", 20, seed=0, split="test", dataset="chain_sum")
    val = make_tasks("reasoning_gym", 20, seed=9, split="val", dataset="chain_sum")
    questions = [{t.reference["entry"]["question"] for t in ts} for ts in (train, test, val)]
    assert (
        not questions[0] & questions[1]
        and not questions[0] & questions[2]
        and not questions[1] & questions[2]
    )
    assert train[0].reference["seed"] != test[0].reference["seed"]
    assert test == make_tasks("reasoning_gym", 20, seed=0, split="test", dataset="chain_sum")


def test_reasoning_gym_config_and_answer_mode():
    config = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}
    tasks = make_tasks("reasoning_gym", 5, dataset="chain_sum", config=config, answer="answer_tag")
    assert all(t.reference["config"] == config for t in tasks)
    assert all(len(t.reference["entry"]["metadata"]["expression"].split()) == 3 for t in tasks)
    assert tasks[0].prompt.endswith("between <answer> and </answer>.")
    assert tasks[0].verifier == {"name": "reasoning_gym", "answer": "answer_tag"}


def test_reasoning_gym_too_small_config():
    tiny = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}  # 2 * 10 * 10 questions
    with pytest.raises(DataError, match="gave only .* distinct val questions"):
        make_tasks("reasoning_gym", 60, dataset="chain_sum", config=tiny, split="val")
