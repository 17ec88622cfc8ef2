"""`rlvr cost`: the planning arithmetic on a known config, checked against numbers worked out by hand,
the comparison with a (synthetic) finished run, and the errors on bad input."""

from __future__ import annotations

import json

import pytest

from rlvr._errors import ConfigError
from rlvr.cli import main
from rlvr.config import dump_config
from rlvr.train.config import load_config
from rlvr.train.cost import Assumptions, actual_usage, compare, estimate, prompt_length

PROMPT = "What is 12 + 30? Reply with the number!!"  # 40 characters = 10 tokens at 4 characters a token
OVERRIDES = ["data.prompts_per_step=4", "algo.group_size=8", "run.steps=10", "sampling.max_new_tokens=64",
             "data.keep_frac=0.5", "algo.ppo_epochs=2", "algo.beta=0.04", "data.eval_k=4"]
GIVEN = Assumptions(gen_tokens_per_s=100, train_tokens_per_s=400, verify_ms=2, device="cuda", gpus=1,
                    gpu_hour_usd=2.0, cpu_hour_usd=0.05)


def _tasks(path, n):
    path.write_text("".join(json.dumps({"id": f"t{i}", "prompt": PROMPT, "reference": "42"}) + "\n" for i in range(n)))
    return path


@pytest.fixture
def config_file(tmp_path):
    assert len(PROMPT) == 40
    _tasks(tmp_path / "train.jsonl", 6)
    _tasks(tmp_path / "heldout.jsonl", 5)
    path = tmp_path / "grpo.yaml"
    path.write_text("data:\n  train: train.jsonl\n  eval: heldout.jsonl\n")  # relative to the config file
    return path


def test_estimate_arithmetic_by_hand(config_file):
    config = load_config(config_file, OVERRIDES)
    assert prompt_length(config, config_file).tokens == 10
    values = {line.key: line.value for line in estimate(config, GIVEN, config_path=config_file)}
    # Worked out by hand: 4 prompts x 8 samples x 10 steps; 64-token completions; 10-token prompts.
    expected = {
        "rollouts": 320,
        "completion_tokens": 20_480,  # 320 x 64
        "prompt_tokens": 3_200,  # 320 x 10
        "rows_trained": 160,  # 320 x keep_frac 0.5
        "train_tokens": 160 * 74 * 7 / 3,  # (10 + 64) tokens, 2 epochs + 1/3 for the reference forward
        "generate_s": 204.8,  # 20,480 / 100
        "train_s": 160 * 74 * 7 / 3 / 400,  # 69.07
        "verify_cpu_s": 0.64,  # 320 x 2 ms
        "verify_s": 0.32,  # over 2 workers
        "steps_s": 204.8 + 160 * 74 * 7 / 3 / 400 + 0.32,  # 274.19
        "eval_rollouts": 40,  # 5 held-out tasks x eval_k 4 x (base and final)
        "eval_s": 25.6 + 0.04,  # 40 x 64 / 100, plus 40 x 2 ms over 2 workers
    }
    for key, value in expected.items():
        assert values[key] == pytest.approx(value), key
    wall = expected["steps_s"] + expected["eval_s"]  # 299.83 s
    assert values["wall_s"] == pytest.approx(wall)
    assert values["gpu_hours"] == pytest.approx(wall / 3600)  # 0.08329
    assert values["cpu_hours"] == pytest.approx(0.72 / 3600)  # steps' and evaluation's checks
    assert values["cost_usd"] == pytest.approx(wall / 3600 * 2.0 + 0.72 / 3600 * 0.05)  # $0.1666


def test_cpu_device_prices_cores_and_defaults_are_marked_assumed(config_file):
    config = load_config(config_file, OVERRIDES)
    lines = estimate(config, Assumptions(cpus=2, cpu_hour_usd=0.1), config_path=config_file)
    values = {line.key: line.value for line in lines}
    assumed = {line.key for line in lines if line.assumed}
    assert {"completion_len", "prompt_len", "gen_tokens_per_s", "train_tokens_per_s", "verify_ms"} <= assumed
    assert "rollouts" not in assumed
    assert values["gen_tokens_per_s"] > 0 and values["train_tokens_per_s"] > 0  # the measured CPU defaults
    assert values["gpu_hours"] == 0
    assert values["cpu_hours"] == pytest.approx(values["wall_s"] / 3600 * 2)
    assert values["cost_usd"] == pytest.approx(values["cpu_hours"] * 0.1)
    code = load_config(config_file, [*OVERRIDES, "data.reward=code"])
    assert {line.key: line.value for line in estimate(code, Assumptions(device="cpu"),
                                                      config_path=config_file)}["verify_ms"] == 35.0


def _write_run(run_dir, config):
    run_dir.mkdir()
    dump_config(config, run_dir / "config.yaml")
    steps = [
        {"step": 1, "prompts/drawn": 4, "len/mean": 32.0, "rows/trained": 20, "time/step_s": 10.0,
         "time/generate_s": 6.0, "time/verify_s": 0.5, "throughput/tokens_per_s": 170.7},
        {"step": 2, "prompts/drawn": 4, "len/mean": 48.0, "rows/trained": 12, "time/step_s": 12.0,
         "time/generate_s": 7.0, "time/verify_s": 1.0, "throughput/tokens_per_s": 219.4},
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(s) + "\n" for s in steps))
    (run_dir / "eval").mkdir()
    for name, wall in (("base", 9.0), ("final", 7.0)):
        (run_dir / "eval" / f"{name}.json").write_text(json.dumps({"summary": {"tasks": 5, "k": 4, "wall_s": wall}}))


def test_comparison_with_a_finished_run(config_file, tmp_path):
    config = load_config(config_file, OVERRIDES)
    _write_run(tmp_path / "run", config)
    lines = estimate(config, GIVEN, config_path=config_file)
    actual = actual_usage(tmp_path / "run", lines, GIVEN)
    # By hand: 2 steps of 4 prompts x 8; lengths 32 and 48; 32 rows trained.
    expected = {
        "steps": 2, "rollouts": 64, "completion_tokens": 32 * 32 + 32 * 48, "completion_len": 40,
        "rows_trained": 32, "generate_s": 13, "verify_s": 1.5, "steps_s": 22, "train_s": 7.5, "step_s": 11,
        "gen_tokens_per_s": 2560 / 13,
        "train_tokens": (20 * (10 + 32) + 12 * (10 + 48)) * 7 / 3,  # 3,584 with the estimate's prompt length
        "train_tokens_per_s": 3584 / 7.5, "eval_rollouts": 40, "eval_s": 16, "wall_s": 38,
        "gpu_hours": 38 / 3600,
    }
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value), key
    rows = {row["key"]: row for row in compare(lines, actual)}
    assert rows["rollouts"]["ratio"] == pytest.approx(64 / 320)
    assert rows["completion_len"]["ratio"] == pytest.approx(40 / 64)
    assert rows["generate_s"]["ratio"] == pytest.approx(13 / 204.8)
    assert "verify_cpu_s" not in rows  # the run logs wall time only: not compared


def test_cli_table_json_and_run(config_file, tmp_path, capsys):
    config = load_config(config_file, OVERRIDES)
    _write_run(tmp_path / "run", config)
    out = tmp_path / "cost.json"
    status = main(["cost", str(config_file), *OVERRIDES, "--gen-tokens-per-s", "100", "--train-tokens-per-s", "400",
                   "--verify-ms", "2", "--device", "cuda", "--gpu-hour-usd", "2", "--run", str(tmp_path / "run"),
                   "--json", str(out)])
    assert status == 0
    text = capsys.readouterr().out
    assert "prompts per step x K x steps" in text and "320" in text and "actual/estimate" in text
    payload = json.loads(out.read_text())
    estimate_rows = {row["key"]: row for row in payload["estimate"]}
    assert estimate_rows["rollouts"]["value"] == 320
    assert {row["key"]: row["ratio"] for row in payload["comparison"]}["rollouts"] == pytest.approx(0.2)
    # The run's own config.yaml when no CONFIG is given (its task files are not beside it: prompts count 0).
    assert main(["cost", "--run", str(tmp_path / "run"), "--device", "cpu"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["cost", "no/such/config.yaml"], "cannot read config file"),
    (["cost", "CONFIG", "algo.no_such_key=1"], "unknown config key"),
    (["cost", "CONFIG", "--device", "cuda"], "no measured default throughput for a GPU"),
    (["cost", "CONFIG", "--informative-frac", "0"], "--informative-frac"),
    (["cost", "CONFIG", "--run", "NO_RUN"], "cannot read"),
    (["cost"], "give a training config"),
])
def test_bad_input_exits_2(config_file, tmp_path, capsys, argv, message):
    argv = [str(config_file) if a == "CONFIG" else str(tmp_path / "missing") if a == "NO_RUN" else a for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_assumptions_are_validated():
    with pytest.raises(ConfigError, match="--gen-tokens-per-s must be positive"):
        Assumptions(gen_tokens_per_s=0)
