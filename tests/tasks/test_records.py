"""Task records: JSONL round trip, one-sentence errors that name file:line, atomic writes, HF loading."""

from __future__ import annotations

import json
import os

import pytest

from rlvr import ConfigError, DataError
from rlvr.tasks import Task, load_hf_tasks, load_tasks, write_tasks

GOOD = {"id": "t1", "prompt": "What is 2 + 2?", "reference": "4"}

TASKS = [
    Task(
        id="mul-0001",
        prompt="What is 37 * 29? Put the final answer in \\boxed{}.",
        reference="1073",
        meta={"difficulty": 2},
    ),
    Task(
        id="chat-1",
        prompt=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1+1?"}],
        reference=2,
        verifier={"name": "math", "answer": "bare"},
        split="test",
    ),
    Task(
        id="code-é",
        prompt="Write solve(a, b).",
        reference={"entry_point": "solve", "cases": [{"args": [2, 3], "expected": 6}]},
        verifier="code",
        split="val",
        meta={"source": "ünïcode"},
    ),
]


def _write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_round_trip(tmp_path):
    path = write_tasks(TASKS, tmp_path / "tasks.jsonl")
    assert load_tasks(path) == TASKS
    assert load_tasks(path, split="test") == [TASKS[1]]
    assert [Task.from_dict(t.to_dict()) for t in TASKS] == TASKS


def test_defaults_and_blank_lines(tmp_path):
    path = _write_lines(tmp_path / "t.jsonl", ["", json.dumps(GOOD), "   ", ""])
    (task,) = load_tasks(path)
    assert (task.verifier, task.split, task.meta) == ("math", "train", {})


def test_to_dict_is_a_copy():
    task = TASKS[1]
    d = task.to_dict()
    d["prompt"][0]["content"] = "changed"
    d["verifier"]["answer"] = "boxed"
    assert task.prompt[0]["content"] == "Be brief." and task.verifier["answer"] == "bare"


MALFORMED = [
    # (line 3 of the file, words the message must contain)
    ('{"id": "x", "prompt": "p", "reference": "1"', "invalid JSON"),
    ("not json at all", "invalid JSON"),
    ('["id", "prompt"]', "expected a JSON object, got a list"),
    ('"just a string"', "expected a JSON object, got a string"),
    ('{"prompt": "p", "reference": "1"}', "missing 'id'"),
    ('{"id": "x", "reference": "1"}', "missing 'prompt'"),
    ('{"id": "x", "prompt": "p"}', "missing 'reference'"),
    ('{"id": 7, "prompt": "p", "reference": "1"}', "'id' must be a non-empty string"),
    ('{"id": "", "prompt": "p", "reference": "1"}', "'id' must be a non-empty string"),
    ('{"id": "x", "prompt": "", "reference": "1"}', "'prompt' is empty"),
    ('{"id": "x", "prompt": 12, "reference": "1"}', "'prompt' is a number"),
    ('{"id": "x", "prompt": {"role": "user"}, "reference": "1"}', "'prompt' is an object"),
    ('{"id": "x", "prompt": [], "reference": "1"}', "'prompt' is an empty list"),
    ('{"id": "x", "prompt": [{"role": "user"}], "reference": "1"}', "'prompt' message 0"),
    ('{"id": "x", "prompt": ["hi"], "reference": "1"}', "'prompt' message 0"),
    ('{"id": "x", "prompt": "p", "reference": null}', "'reference' is null"),
    ('{"id": "x", "prompt": "p", "reference": "1", "verifier": 3}', "'verifier' must be a name"),
    ('{"id": "x", "prompt": "p", "reference": "1", "verifier": {"tolerance": 1}}', 'needs a "name"'),
    ('{"id": "x", "prompt": "p", "reference": "1", "split": 1}', "'split' must be a non-empty string"),
    ('{"id": "x", "prompt": "p", "reference": "1", "meta": [1]}', "'meta' must be an object"),
    # the environment an episode runs in: a name or an object with a name
    ('{"id": "x", "prompt": "p", "reference": "1", "env": 3}', "'env' must be an environment name"),
    ('{"id": "x", "prompt": "p", "reference": "1", "env": ""}', "'env' must be an environment name"),
    ('{"id": "x", "prompt": "p", "reference": "1", "env": {"tools": ["calculator"]}}', 'with a "name" string'),
    ('{"id": "x", "prompt": "p", "reference": "1", "refrence": "1"}', "unknown key(s) 'refrence'"),
    ('{"id": "x", "prompt": "p", "reference": "1", "a": 1, "b": 2}', "unknown key(s) 'a', 'b'"),
    ('{"id": "t1", "prompt": "p", "reference": "1"}', "duplicate id 't1', first used on line 1"),
]


@pytest.mark.parametrize("line, words", MALFORMED)
def test_every_malformed_line_names_file_and_line(tmp_path, line, words):
    path = _write_lines(tmp_path / "bad.jsonl", [json.dumps(GOOD), "", line])
    with pytest.raises(DataError) as info:
        load_tasks(path)
    message = str(info.value)
    assert message.startswith(f"{path}:3: "), message
    assert words in message
    assert "\n" not in message and message.endswith(".")


def test_a_task_names_its_environment_and_single_turn_files_are_unchanged(tmp_path):
    env = {"name": "tools", "tools": ["calculator"], "max_turns": 4}
    path = _write_lines(tmp_path / "t.jsonl", [json.dumps({**GOOD, "env": env}), json.dumps({**GOOD, "id": "t2"})])
    tasks = load_tasks(path)
    assert tasks[0].env == env and tasks[1].env is None
    out = write_tasks(tasks, tmp_path / "out.jsonl").read_text().splitlines()
    assert json.loads(out[0])["env"] == env and "env" not in json.loads(out[1])  # no "env": null on single turn


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"id": "\xff"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not valid UTF-8"):
        load_tasks(path)


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n")
    assert load_tasks(path)[0].id == "t1"


@pytest.mark.parametrize(
    "content, split, words",
    [
        (None, None, "does not exist"),
        ("", None, "holds no tasks"),
        ("\n  \n", None, "holds no tasks"),
        (json.dumps(GOOD) + "\n", "test", "has no tasks in split 'test'; its splits are: train"),
    ],
)
def test_file_level_errors(tmp_path, content, split, words):
    path = tmp_path / "tasks.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=words) as info:
        load_tasks(path, split=split)
    assert str(path) in str(info.value)


def test_directory_is_not_a_task_file(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        load_tasks(tmp_path)


def test_task_constructor_checks_types():
    with pytest.raises(DataError, match="task 'x': 'prompt' is empty"):
        Task(id="x", prompt="  ", reference="1")
    with pytest.raises(DataError, match="'verifier' must be a name"):
        Task(id="x", prompt="p", reference="1", verifier=None)


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = write_tasks(TASKS, tmp_path / "tasks.jsonl")
    before = path.read_bytes()

    unserialisable = Task(id="bad", prompt="p", reference=object())
    with pytest.raises(DataError, match="cannot be written as JSON"):
        write_tasks([TASKS[0], unserialisable], path)
    with pytest.raises(DataError, match="appears twice"):
        write_tasks([TASKS[0], TASKS[0]], path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["tasks.jsonl"]


def test_failed_replace_leaves_old_file_and_no_temp_files(tmp_path, monkeypatch):
    path = write_tasks(TASKS[:1], tmp_path / "tasks.jsonl")
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_tasks(TASKS, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["tasks.jsonl"]


def test_write_creates_missing_folders(tmp_path):
    path = write_tasks(TASKS, tmp_path / "a" / "b" / "tasks.jsonl")
    assert load_tasks(path) == TASKS


# ------------------------------------------------------------------------------------------
# Hugging Face datasets

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def table():
    return datasets.Dataset.from_dict(
        {
            "question": ["What is 1 + 1?", "What is 2 + 3?", "What is 4 * 4?"],
            "solution": ["2", "5", "16"],
            "uid": [10, 11, 12],
            "extra": ["a", "b", "c"],
        }
    )


def test_hf_column_mapping(table):
    tasks = load_hf_tasks(table, {"prompt": "question", "reference": "solution", "id": "uid"}, split="test")
    assert [(t.id, t.prompt, t.reference, t.split, t.verifier) for t in tasks] == [
        ("10", "What is 1 + 1?", "2", "test", "math"),
        ("11", "What is 2 + 3?", "5", "test", "math"),
        ("12", "What is 4 * 4?", "16", "test", "math"),
    ]
    assert tasks[1].meta == {"source": "hf", "row": 1}


def test_hf_ids_from_prefix_and_row(table):
    verifier = {"name": "math", "answer": "bare"}
    tasks = load_hf_tasks(
        table, {"prompt": "question", "reference": "solution"}, verifier=verifier, id_prefix="toy"
    )
    assert [t.id for t in tasks] == ["toy-0", "toy-1", "toy-2"]
    assert tasks[0].verifier == verifier
    with_ids = load_hf_tasks(
        table, {"prompt": "question", "reference": "solution", "id": "uid"}, id_prefix="toy"
    )
    assert [t.id for t in with_ids] == ["toy-10", "toy-11", "toy-12"]


def test_hf_missing_column_names_the_available_ones(table):
    with pytest.raises(DataError) as info:
        load_hf_tasks(table, {"prompt": "problem", "reference": "solution"})
    message = str(info.value)
    assert "no column 'problem'" in message
    assert "question, solution, uid, extra" in message


def test_hf_bad_rows_and_mappings(table):
    with pytest.raises(DataError, match=r"hf\[0\]: duplicate id|duplicate id '.*', first in row 0"):
        load_hf_tasks(
            table.map(lambda row: {"uid": 1}), {"prompt": "question", "reference": "solution", "id": "uid"}
        )
    with pytest.raises(DataError, match=r"hf\[1\]: 'prompt' is empty"):
        load_hf_tasks(
            table.map(lambda row, i: {"question": "" if i == 1 else row["question"]}, with_indices=True),
            {"prompt": "question", "reference": "solution"},
        )
    with pytest.raises(ConfigError, match="no field 'answer'"):
        load_hf_tasks(table, {"prompt": "question", "answer": "solution"})
    with pytest.raises(ConfigError, match="'reference'"):
        load_hf_tasks(table, {"prompt": "question"})


def test_hf_dataset_dict_takes_the_split(table):
    both = datasets.DatasetDict({"train": table, "test": table.select([0])})
    tasks = load_hf_tasks(both, {"prompt": "question", "reference": "solution"}, split="test")
    assert [(t.prompt, t.split) for t in tasks] == [("What is 1 + 1?", "test")]
    with pytest.raises(DataError, match="no split 'val'; its splits are: train, test"):
        load_hf_tasks(both, {"prompt": "question", "reference": "solution"}, split="val")


def test_hf_chat_prompts(tmp_path):
    chat = datasets.Dataset.from_dict({"messages": [[{"role": "user", "content": "1+1?"}]], "answer": ["2"]})
    (task,) = load_hf_tasks(chat, {"prompt": "messages", "reference": "answer"})
    assert task.prompt == [{"role": "user", "content": "1+1?"}]


def test_hf_local_file_by_path(tmp_path):
    path = tmp_path / "gsm_mini.jsonl"
    path.write_text("".join(json.dumps({"q": f"What is {i} + 1?", "a": str(i + 1)}) + "\n" for i in range(3)))
    tasks = load_hf_tasks(str(path), {"prompt": "q", "reference": "a"}, split="test")
    assert [(t.id, t.reference, t.split) for t in tasks] == [
        ("gsm_mini-0", "1", "test"),
        ("gsm_mini-1", "2", "test"),
        ("gsm_mini-2", "3", "test"),
    ]
    with pytest.raises(DataError, match="missing.jsonl does not exist"):
        load_hf_tasks(str(tmp_path / "missing.jsonl"), {"prompt": "q", "reference": "a"})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="could not load dataset .*empty"):
        load_hf_tasks(str(empty), {"prompt": "q", "reference": "a"})


def test_a_tasks_environment_is_built_before_any_model_loads():
    """check_verifiers (what train, eval and distill run before loading a model) also builds each task's env:
    a module not allowed, an unknown name or a bad option is a DataError naming the task."""
    from rlvr._errors import DataError
    from rlvr.tasks import Task
    from rlvr.tasks.judge import check_verifiers

    def task(env):
        return Task(id="e1", prompt="p", reference="1", env=env)

    check_verifiers([task({"name": "tools", "tools": ["calculator"]}), task(None)], "t.jsonl")
    for env, words in (("os:system", "--allow-plugin os"), ({"name": "no-such-env"}, "unknown environment"),
                       ({"name": "tools", "tools": ["shell"]}, "unknown tool")):
        with pytest.raises(DataError, match="t.jsonl: task 'e1': its environment cannot be built") as caught:
            check_verifiers([task(env)], "t.jsonl")
        assert words in str(caught.value)
