"""Our reward functions inside TRL: the signature, chat completions, and one real GRPO step."""

from __future__ import annotations

import pytest

from rlvr._errors import ConfigError
from rlvr.integrations.trl import completion_text, reward_func


def test_plain_and_chat_completions():
    f = reward_func("math", reference_column="solution", answer="bare")
    plain = f(prompts=["q"] * 3, completions=["4", "5", "\\boxed{4}"], solution=["4", "4", "4"])
    chat = f(prompts=[[{"role": "user", "content": "q"}]] * 2,
             completions=[[{"role": "assistant", "content": "4"}], [{"role": "assistant", "content": "x"}]],
             solution=["4", "4"])
    assert plain == [1.0, 0.0, 0.0] and chat == [1.0, 0.0]
    assert f.__name__ == "rlvr_math"


def test_unknown_completion_shape_fails_closed():
    assert completion_text({"weird": 1}) == ""
    f = reward_func("math")
    assert f(prompts=["q"], completions=[{"weird": 1}], solution=["4"]) == [0.0]


def test_missing_reference_column_names_the_columns():
    f = reward_func("math", reference_column="answer")
    with pytest.raises(ConfigError, match="needs the dataset column 'answer'.*solution"):
        f(prompts=["q"], completions=["4"], solution=["4"], trainer_state=None)


def test_logs_parseable_share_and_reasons():
    metrics, extras = {}, {}
    f = reward_func("math")
    f(prompts=["q"] * 2, completions=["\\boxed{4}", "four"], solution=["4", "4"],
      log_metric=lambda k, v: metrics.__setitem__(k, v), log_extra=lambda k, v: extras.__setitem__(k, v))
    assert metrics == {"rlvr/math/parseable": 0.5}
    assert extras == {"rlvr_math_reason": ["ok", "no_answer"]}


def test_one_grpo_step_with_trl(tmp_path):
    trl = pytest.importorskip("trl")
    from datasets import Dataset

    from conftest import make_tiny_policy

    policy = make_tiny_policy()
    dataset = Dataset.from_dict({
        "prompt": ["What is 3 + 4 ?", "What is 12 * 7 ?"] * 2,
        "solution": ["7", "84"] * 2,
    })
    inner = reward_func("math", reference_column="solution", answer="bare")
    calls = []

    def rlvr_math(prompts, completions, **columns):
        calls.append(len(completions))
        return inner(prompts, completions, **columns)

    config = trl.GRPOConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=4, max_completion_length=8,
        max_steps=1, learning_rate=1e-4, report_to=[], logging_steps=1, save_strategy="no", use_cpu=True,
        bf16=False, seed=0,
    )
    trainer = trl.GRPOTrainer(model=policy.model, reward_funcs=[rlvr_math], args=config, train_dataset=dataset,
                              processing_class=policy.tokenizer)
    before = [p.detach().clone() for p in policy.model.parameters()]
    trainer.train()
    assert calls and sum(calls) >= 4
    logged = trainer.state.log_history[0]
    assert "rewards/rlvr_math/mean" in logged
    # With random rewards of 0 everywhere the loss can be 0; the step itself must have run end to end.
    assert trainer.state.global_step == 1
    assert len(before) == len(list(policy.model.parameters()))
