"""SFT: the loss mask covers exactly the completion and EOS, overfitting lowers the loss, the CLI round trip."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from conftest import make_tiny_policy
from rlvr._errors import ConfigError, DataError
from rlvr.cli import main
from rlvr.models import HFEngine, SamplingParams, load_policy
from rlvr.sft.trainer import (
    IGNORE,
    Example,
    _collate,
    completion_loss,
    encode_example,
    eos_token_id,
    load_sft_dataset,
    train_sft,
)
from rlvr.sft.config import load_sft_config

HERE = Path(__file__).resolve().parents[1] / "train"  # rewards_for_tests.py, the trainer tests' verifiers
ANSWERS = {"What is 2 + 3 ?": "5", "What is 4 * 4 ?": "16", "What is 9 - 7 ?": "the final number is 2",
           "What is 8 / 2 ?": "4 ."}


@pytest.fixture(autouse=True)
def importable_rewards(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))


def chat(prompt: str | list[dict], answer: str) -> dict:
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    return {"messages": [*messages, {"role": "assistant", "content": answer}], "task_id": "x", "reward": 1.0}


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("data") / "sft.jsonl", [chat(p, a) for p, a in ANSWERS.items()])


# -- the loss mask ---------------------------------------------------------------------------


@pytest.mark.parametrize("chat_template", [True, False])
def test_labels_cover_exactly_the_completion_and_eos(chat_template):
    policy = make_tiny_policy(chat=chat_template)
    eos = eos_token_id(policy)
    system = [{"role": "system", "content": "Reply with only the final number ."},
              {"role": "user", "content": "What is 2 + 3 ?"}]
    for prompt in (system[1:], system):
        example = Example(prompt=prompt, completion="the number is 5", where="x:1")
        input_ids, labels = encode_example(policy, example, eos)
        prompt_ids = policy.encode(prompt)  # what the sampler feeds the model
        answer_ids = policy.tokenizer("the number is 5", add_special_tokens=False)["input_ids"]
        assert input_ids == prompt_ids + answer_ids + [eos]
        assert labels == [IGNORE] * len(prompt_ids) + answer_ids + [eos]
    batch = _collate([encode_example(policy, Example(system[1:], a, "x"), eos) for a in ("5", "the number is 5")], 0)
    assert (batch["labels"] != IGNORE).sum(dim=1).tolist() == [2, 5]  # completion tokens + EOS per row
    assert ((batch["labels"] != IGNORE) <= (batch["attention_mask"] == 1)).all()  # padding is never a target


def test_training_tokens_are_the_sampled_tokens(tiny_policy):
    """A sampled completion, written out as text and encoded for SFT, gives back the sampler's tokens."""
    prompt = "What is 2 + 3 ?"
    result = HFEngine(tiny_policy, batch_size=16).generate([prompt], SamplingParams(n=16, max_new_tokens=6, seed=0))
    specials = set(tiny_policy.tokenizer.all_special_ids)
    checked = 0
    for completion in result.completions[0]:
        body = completion.token_ids[:-1] if completion.finish_reason == "stop" else completion.token_ids
        if not body or specials & set(body):  # decoding drops special tokens: those texts cannot round-trip
            continue
        input_ids, _ = encode_example(tiny_policy, Example([{"role": "user", "content": prompt}],
                                                           completion.text, "x"), eos_token_id(tiny_policy))
        assert input_ids[:-1] == result.prompt_token_ids[0] + body
        checked += 1
    assert checked >= 3


# -- training --------------------------------------------------------------------------------


def test_sft_overfits_a_handful_of_examples_and_saves_a_loadable_model(dataset, tmp_path):
    policy = make_tiny_policy(seed=1)
    examples = load_sft_dataset(dataset)
    before = completion_loss(policy, examples)
    heldout = write_jsonl(tmp_path / "heldout.jsonl", [
        {"id": "h", "prompt": "What is 3 + 3 ?", "reference": "6", "verifier": {"name": "math", "answer": "bare"}}])
    config = load_sft_config(None, [f"data.train={dataset}", f"data.eval={heldout}", "data.eval_k=2",
                                    "sampling.max_new_tokens=3", "optim.lr=1e-2", "optim.epochs=16",
                                    "optim.batch_size=4", "optim.micro_batch=3", f"run.output_dir={tmp_path / 'run'}"])
    run_dir = train_sft(config, policy=policy, progress=False)
    after = completion_loss(policy, examples)
    assert after < 0.3 * before, (before, after)

    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == list(range(1, 17))  # 4 examples, batch 4: one step per epoch
    assert {"loss", "tokens", "lr", "grad_norm", "time/step_s", "epoch"} <= set(metrics[0])
    assert metrics[-1]["loss"] < metrics[0]["loss"]
    # Completion tokens + EOS of all four examples, every step.
    assert all(m["tokens"] == 2 + 2 + 6 + 3 for m in metrics)
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["optim"]["epochs"] == 16
    assert {p.name for p in (run_dir / "eval").iterdir()} == {"base.json", "final.json"}

    reloaded = load_policy(run_dir / "model", dtype="float32")
    assert completion_loss(reloaded, examples) == pytest.approx(after, rel=1e-4)


def test_refuses_to_overwrite_a_run(dataset, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("")
    with pytest.raises(ConfigError, match="already holds a run"):
        train_sft(load_sft_config(None, [f"data.train={dataset}", f"run.output_dir={run}"]), progress=False)


@pytest.mark.parametrize(("overrides", "message"), [
    (["optim.lr=0"], "optim.lr must be positive"),
    (["optim.epoch=2"], "unknown config key 'optim.epoch'"),
    (["dtype=int8"], "must be one of"),
])
def test_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_sft_config(None, overrides)


# -- bad datasets ----------------------------------------------------------------------------


@pytest.mark.parametrize(("lines", "message"), [
    ([], "holds no examples"),
    (["", "  "], "holds no examples"),
    ([chat("q", "a"), "{not json"], ":2: invalid JSON"),
    ([chat("q", "a"), {"prompt": "q"}], ":2: expected an object with a 'messages' list"),
    ([{"messages": [{"role": "user", "content": "q"}]}], ":1: expected an object with a 'messages' list"),
    ([{"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "a"}]}],
     ":1: the last message must be a non-empty assistant reply"),
    ([chat("q", "a"), chat("q", "a"), {"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}],
     ":3: message 0 is not"),
])
def test_bad_dataset_lines_name_file_and_line(tmp_path, lines, message):
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(DataError, match=message) as info:
        load_sft_dataset(path)
    assert str(path) in str(info.value)


def cli_error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlvr: ")]
    assert len(lines) == 1
    return lines[0]


def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    out = f"run.output_dir={tmp_path / 'run'}"
    assert main(["sft", f"data.train={tmp_path / 'missing.jsonl'}", out]) == 2
    assert "missing.jsonl does not exist" in cli_error(capsys)
    bad = write_jsonl(tmp_path / "bad.jsonl", [chat("q", "a"), "oops"])
    assert main(["sft", f"data.train={bad}", out]) == 2
    assert f"{bad}:2:" in cli_error(capsys)
    empty = write_jsonl(tmp_path / "empty.jsonl", [])
    assert main(["sft", f"data.train={empty}", out]) == 2
    assert "holds no examples" in cli_error(capsys)
    assert main(["sft", "optim.lr=-1"]) == 2
    assert "optim.lr must be positive" in cli_error(capsys)
    assert not (tmp_path / "run").exists()  # nothing was written


# -- distill, sft and eval through the CLI ---------------------------------------------------


def test_distill_sft_eval_round_trip_through_the_cli(tmp_path, capsys):
    tiny = make_tiny_policy()
    model = tmp_path / "tiny"
    tiny.model.save_pretrained(model)
    tiny.tokenizer.save_pretrained(model)
    tasks = write_jsonl(tmp_path / "tasks.jsonl", [
        {"id": f"t{i}", "prompt": f"What is {i} + {i} ?", "reference": str(2 * i),
         "verifier": "rewards_for_tests:even_words"} for i in range(4)])
    data = tmp_path / "sft.jsonl"
    assert main(["distill", "--model", str(model), "--tasks", str(tasks), "--k", "4", "--max-new-tokens", "4",
                 "-o", str(data), "--verifier-workers", "1", "--allow-plugin", "rewards_for_tests"]) == 0
    config = write_jsonl(tmp_path / "sft.yaml", [yaml.safe_dump({"optim": {"lr": 1e-3, "epochs": 2}})])
    run = tmp_path / "run"
    assert main(["sft", str(config), f"model={model}", f"data.train={data}", f"run.output_dir={run}",
                 "optim.batch_size=4"]) == 0
    printed = capsys.readouterr().out
    assert "run directory" in printed and (run / "model" / "config.json").exists()
    assert main(["eval", "--model", str(run / "model"), "--tasks", str(tasks), "--k", "2", "--max-new-tokens", "3",
                 "-o", str(tmp_path / "eval.json"), "--verifier-workers", "1"]) == 0
    assert json.loads((tmp_path / "eval.json").read_text())["summary"]["tasks"] == 4


def test_help_lists_the_config_keys(capsys):
    with pytest.raises(SystemExit):
        main(["sft", "--help"])
    out = capsys.readouterr().out
    assert "rlvr sft" in out and "optim.epochs = 3" in out and "data.train = ''" in out
