"""Episodes sampled by the real engine: turns until the environment is done or a limit ends them, one token
sequence whose mask is 1 exactly on the tokens the policy sampled, the same episodes at any batch size, and
the template checks that name the turn.

The tiny model here reads one character a token and has its end-of-turn logit raised, so that a random
model ends its turns by itself and an episode has several."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from rlvr.envs import TokenizationMismatch  # noqa: E402
from rlvr.models import HFEngine, SamplingParams  # noqa: E402
from rlvr.models.episodes import TOOL_CALL_END, generate_episodes, sample_tasks  # noqa: E402
from rlvr.models.generation import Completion, GenerationResult  # noqa: E402
from rlvr.models.loading import Policy, _eos_ids  # noqa: E402
from rlvr.verifiers import allow_plugins  # noqa: E402

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TRIMS = CHATML.replace("{{ m.content }}", "{{ m.content | trim }}")
# Qwen3-style: every assistant turn but the last loses what comes before its last newline once more follow.
DROPS_EARLIER = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.role == 'assistant' and not loop.last %}{{ m.content.split('\n')[-1] }}"
    "{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def char_policy(template: str = CHATML, seed: int = 0, eos_bias: float = 3.0) -> Policy:
    """A 2-layer Llama over single characters (ChatML markers special) whose end-of-turn logit is raised."""
    chars = [chr(i) for i in range(32, 127)] + ["\n"]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab["[UNK]"] = len(vocab)
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.Split(tokenizers.Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = tokenizers.decoders.Fuse()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]",
                                                     eos_token="<|im_end|>", pad_token="[UNK]",
                                                     additional_special_tokens=["<|im_start|>"])
    tokenizer.chat_template = template
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=2048, pad_token_id=tokenizer.pad_token_id,
                                      eos_token_id=tokenizer.eos_token_id)
    model = transformers.LlamaForCausalLM(config).eval()
    head = torch.nn.Linear(32, len(tokenizer), bias=True)
    head.weight.data = model.lm_head.weight.data.clone()
    head.bias.data.zero_()
    head.bias.data[tokenizer.eos_token_id] = eos_bias
    for never in ("[UNK]", "<|im_start|>"):  # special tokens a text transcript would not show
        head.bias.data[tokenizer.convert_tokens_to_ids(never)] = -50.0
    model.lm_head = head
    return Policy(model=model, tokenizer=tokenizer, name="tiny-chars", eos_token_ids=_eos_ids(model, tokenizer))


@pytest.fixture(scope="module")
def policy():
    return char_policy()


@pytest.fixture()
def guess_allowed():
    sys.path.insert(0, str(Path(__file__).parents[1] / "envs"))
    allow_plugins("envs_for_tests")  # tests/envs/envs_for_tests.py: Guess answers every wrong reply


def guess_task(max_turns: int = 3, max_tokens: int = 400, **extra) -> dict:
    return {"id": "g", "prompt": "Guess 1 to 9", "reference": "7",
            "env": {"name": "envs_for_tests:Guess", "max_turns": max_turns, "max_tokens": max_tokens}, **extra}


def rendered(policy: Policy, episode: dict) -> str:
    messages = [{"role": t["role"], "content": t["text"]} for t in episode["turns"]]
    return policy.tokenizer.apply_chat_template(messages, tokenize=False)


def test_an_episode_is_the_whole_conversation_and_the_mask_is_what_the_policy_sampled(policy, guess_allowed):
    result = generate_episodes(HFEngine(policy), [guess_task()], SamplingParams(n=4, max_new_tokens=24, seed=3))
    several = 0
    for c in result.completions[0]:
        turns = c.episode["turns"]
        assistant = [t["text"] for t in turns if t["role"] == "assistant"]
        cut = [t.get("truncated", False) for t in turns if t["role"] == "assistant"]
        several += len(assistant) > 1
        assert c.text == assistant[-1]  # the verifier judges the last assistant turn
        ids = result.prompt_token_ids[0] + c.token_ids
        # The tokens are the conversation rendered whole (a one-character tokenizer tokenizes it one way).
        whole = rendered(policy, {"turns": [t for t in turns if "truncated" not in t or t["role"] == "assistant"]})
        assert policy.tokenizer.decode(ids) == whole[: len(policy.tokenizer.decode(ids))]
        assert policy.tokenizer.encode(policy.tokenizer.decode(ids), add_special_tokens=False) == ids
        # The mask covers each sampled turn's text and the end-of-turn token it sampled, nothing else.
        sampled = [t for t, m in zip(c.token_ids, c.mask) if m]
        eos = policy.tokenizer.eos_token
        expected = "".join(text + ("" if was_cut else eos) for text, was_cut in zip(assistant, cut))
        assert policy.tokenizer.decode(sampled) == expected
        assert [lp for lp, m in zip(c.logprobs, c.mask) if not m] == [0.0] * (len(c.mask) - sum(c.mask))
        assert all(lp < 0 for lp, m in zip(c.logprobs, c.mask) if m)
        assert len(c.token_ids) == len(c.mask) == len(c.logprobs) == len(c.sampler_logprobs)
    assert several >= 2  # the test exercises multi-turn episodes, not only one-turn ones


def test_the_same_seed_gives_the_same_episodes_at_batch_sizes_1_and_16(policy, guess_allowed):
    tasks = [guess_task(), guess_task(id="h", prompt="Guess again"), {"id": "s", "prompt": "hi", "reference": "1"}]
    params = SamplingParams(n=4, max_new_tokens=16, seed=11)
    one = sample_tasks(HFEngine(policy, batch_size=1), tasks, params)
    sixteen = sample_tasks(HFEngine(policy, batch_size=16), tasks, params)
    for a, b in zip(one.completions, sixteen.completions):
        assert [(c.token_ids, c.mask, c.episode) for c in a] == [(c.token_ids, c.mask, c.episode) for c in b]
    assert one.completions[2][0].episode is None and one.completions[2][0].mask is None  # single turn, as before
    other = sample_tasks(HFEngine(policy, batch_size=16), tasks, SamplingParams(n=4, max_new_tokens=16, seed=12))
    assert [c.token_ids for c in other.completions[0]] != [c.token_ids for c in one.completions[0]]


def test_episodes_stop_at_the_turn_limit(policy, guess_allowed):
    result = generate_episodes(HFEngine(policy), [guess_task(max_turns=2)], SamplingParams(n=6, max_new_tokens=12))
    for c in result.completions[0]:
        assert sum(t["role"] == "assistant" for t in c.episode["turns"]) <= 2
        if c.episode["stop"] == "turns":
            assert c.episode["truncated"] and c.finish_reason == "length"
            assert c.episode["turns"][-1]["role"] == "assistant"  # the unanswerable observation stays out
    assert any(c.episode["stop"] == "turns" for c in result.completions[0])


def test_episodes_stop_at_the_token_limit_and_never_mask_an_environment_token(policy, guess_allowed):
    result = generate_episodes(HFEngine(policy), [guess_task(max_turns=8, max_tokens=30)],
                               SamplingParams(n=6, max_new_tokens=24, seed=5))
    for c in result.completions[0]:
        sampled = sum(c.mask)
        observations = [t for t in c.episode["turns"][1:] if t["role"] == "user"]
        assert sampled <= len(c.token_ids) <= 30
        if c.episode["stop"] == "tokens":
            assert c.episode["truncated"] and c.finish_reason == "length"
            assert any(t.get("truncated") for t in c.episode["turns"])
        # Every token under the mask is a token of an assistant turn: no observation character is.
        marked = policy.tokenizer.decode([t for t, m in zip(c.token_ids, c.mask) if m])
        assert "Reply" not in marked and "Higher" not in marked and "Lower" not in marked, observations
    assert any(c.episode["stop"] == "tokens" for c in result.completions[0])


def test_a_turn_cut_by_max_new_tokens_ends_the_episode_truncated(policy, guess_allowed):
    result = generate_episodes(HFEngine(char_policy(eos_bias=-20.0)), [guess_task()],
                               SamplingParams(n=2, max_new_tokens=5))
    for c in result.completions[0]:
        assert c.episode["stop"] == "tokens" and c.episode["turns"][-1].get("truncated")
        assert c.mask == [1] * 5  # the eos was never sampled, so nothing beyond the 5 tokens is trained on


class Scripted:
    """An engine that writes given turns (token for token), for the environment logic; the real engine's
    side is the tests above."""

    def __init__(self, policy: Policy, replies: list[str]):
        self.policy, self.replies, self.stops = policy, list(replies), []

    def generate(self, prompts, params, progress=None, finished=None, stop=()):
        self.stops.append(tuple(stop))
        out = []
        for _ in prompts:
            text = self.replies.pop(0)
            ids = self.policy.tokenizer.encode(text, add_special_tokens=False)
            ended = not text.endswith(TOOL_CALL_END)
            ids += [self.policy.tokenizer.eos_token_id] if ended else []
            out.append([Completion(text, ids, [-1.0] * len(ids), "stop")])
        return GenerationResult(out, [list(p) for p in prompts], sum(len(c[0].token_ids) for c in out), 0.0)


CALL = '<tool_call>{"name": "calculator", "arguments": {"expression": "37*29"}}</tool_call>'


def tool_task(**env) -> dict:
    return {"id": "t", "prompt": "What is 37*29?", "reference": "1073",
            "env": {"name": "tools", "tools": ["calculator"], **env}}


def test_a_tool_call_ends_the_turn_and_its_result_comes_back_as_an_observation(policy):
    engine = Scripted(policy, [CALL, "It is 1073."])
    c = generate_episodes(engine, [tool_task()], SamplingParams(n=1)).completions[0][0]
    assert [(t["role"], t["text"]) for t in c.episode["turns"][-3:]] == [
        ("assistant", CALL), ("tool", "1073"), ("assistant", "It is 1073.")]
    assert c.text == "It is 1073." and c.episode["stop"] == "done"
    assert engine.stops == [(TOOL_CALL_END,)] * 2
    # The tool's answer reaches the model inside the template's tool turn (this template has no `tools=`).
    assert "<tool_response>\n1073\n</tool_response>" in policy.tokenizer.decode(c.token_ids)
    sampled = policy.tokenizer.decode([t for t, m in zip(c.token_ids, c.mask) if m])
    assert sampled == CALL + "It is 1073.<|im_end|>"  # the call's turn ended at its tag: no eos was sampled


@pytest.mark.parametrize("reply, observed", [
    ('<tool_call>{"name": "calculator", "arguments": {"expression": "__import__(\'os\')"}}</tool_call>', "error"),
    ('<tool_call>{"name": "calculator", "arguments": {"expression": "1/0"}}</tool_call>', "error"),
    ('<tool_call>{"name": "calculator" "arguments": }</tool_call>', "error"),
    ('<tool_call>{"name": "python", "arguments": {"code": "1"}}</tool_call>', "no tool 'python'"),
])
def test_failing_and_malformed_calls_become_observations(policy, reply, observed):
    c = generate_episodes(Scripted(policy, [reply, "42"]), [tool_task()], SamplingParams(n=1)).completions[0][0]
    tool_turn = c.episode["turns"][-2]
    assert tool_turn["role"] == "tool" and observed in tool_turn["text"]
    assert c.episode["stop"] == "done" and c.text == "42"


def test_an_environment_that_raises_ends_its_episode_with_the_error(policy, guess_allowed):
    task = {"id": "x", "prompt": "p", "reference": "1", "env": "envs_for_tests:Broken"}
    c = generate_episodes(Scripted(policy, ["anything"]), [task], SamplingParams(n=1)).completions[0][0]
    assert c.episode["stop"] == "error" and "ZeroDivisionError" in c.episode["error"]
    assert c.finish_reason == "stop" and not c.episode["truncated"]


def test_a_template_that_rewrites_the_sampled_text_is_caught_naming_the_turn():
    trimming = char_policy(TRIMS)
    with pytest.raises(TokenizationMismatch, match="turn 1"):
        generate_episodes(Scripted(trimming, [" " + CALL, "done"]), [tool_task()], SamplingParams(n=1))


def test_a_template_that_re_renders_an_earlier_turn_is_caught_naming_the_turn():
    dropping = char_policy(DROPS_EARLIER)
    with pytest.raises(TokenizationMismatch, match="turn 1"):
        generate_episodes(Scripted(dropping, ["thinking\n" + CALL, "done"]), [tool_task()], SamplingParams(n=1))


def test_the_episode_record_is_json(policy, guess_allowed):
    c = generate_episodes(HFEngine(policy), [guess_task()], SamplingParams(n=1, max_new_tokens=8)).completions[0][0]
    back = json.loads(json.dumps(c.episode))
    assert back["turns"][0] == {"role": "user", "text": "Guess 1 to 9"}
    assert set(back) >= {"turns", "turn_rewards", "truncated", "stop"}


def test_stop_strings_end_a_completion_where_they_appear(policy):
    """The engine's `stop`: a completion ends on the token that completes a stop string, kept in its text."""
    free = HFEngine(policy).generate(["hi"] * 3, SamplingParams(n=4, max_new_tokens=40, seed=2))
    stopped = HFEngine(policy).generate(["hi"] * 3, SamplingParams(n=4, max_new_tokens=40, seed=2), stop=["e", "Q"])
    hits = 0
    for a_group, b_group in zip(free.completions, stopped.completions):
        for a, b in zip(a_group, b_group):
            first = min((a.text.find(s) for s in "eQ" if s in a.text), default=-1)
            if first < 0:
                assert b.token_ids == a.token_ids
                continue
            hits += 1
            assert b.text == a.text[: first + 1] and b.finish_reason == "stop"
            assert b.token_ids == a.token_ids[: len(b.token_ids)]
    assert hits > 0
    with pytest.raises(Exception, match="stop must be a list of non-empty strings"):
        HFEngine(policy).generate(["hi"], SamplingParams(), stop="e")


# --- distilled episodes: the SFT rows rebuild the sampler's tokens (rlvr distill -> rlvr sft) ---------------------


def _opening(task: dict) -> int:
    from rlvr.envs import get_env

    return len(get_env(task["env"]).reset(task))


def _replayed(policy: Policy, task: dict, c: Completion):
    from rlvr.models.episodes import replay_episode

    messages = [{"role": t["role"], "content": t["text"]} for t in c.episode["turns"]]
    return replay_episode(policy, task["env"], messages, _opening(task), policy.tokenizer.eos_token_id)


def test_a_replayed_episode_is_the_tokens_and_mask_the_sampler_built(policy, guess_allowed):
    """From its transcript alone, an episode is rebuilt token for token with the sampler's mask: a tool call's
    turn without the end-of-turn token (it stopped at its tag), every other turn with it."""
    task = tool_task()
    result = generate_episodes(Scripted(policy, [CALL, "It is 1073."]), [task], SamplingParams(n=1))
    c = result.completions[0][0]
    assert _replayed(policy, task, c) == (result.prompt_token_ids[0], c.token_ids, c.mask)
    guess = guess_task()
    result = generate_episodes(HFEngine(policy), [guess], SamplingParams(n=8, max_new_tokens=24, seed=3))
    finished = [c for c in result.completions[0] if not any(t.get("truncated") for t in c.episode["turns"])]
    assert any(sum(t["role"] == "assistant" for t in c.episode["turns"]) > 1 for c in finished)
    for c in finished:
        assert _replayed(policy, guess, c) == (result.prompt_token_ids[0], c.token_ids, c.mask)


def test_distill_writes_episode_rows_that_sft_trains_on_every_assistant_turn(policy, tmp_path):
    from rlvr.evaluate import EvalSettings
    from rlvr.sft.trainer import IGNORE, encode_example, load_sft_dataset
    from rlvr.tasks import Task
    from rlvr.workflows.distill import distill

    task = Task(id="t", prompt="What is 37*29?", reference="1073", verifier={"name": "math", "answer": "bare"},
                env={"name": "tools", "tools": ["calculator"]})
    rows, record = distill(Scripted(policy, [CALL, "1073"]), [task], EvalSettings(SamplingParams(n=1),
                                                                                  verifier_workers=1),
                           progress=False)
    assert record["distill"]["kept"] == 1
    (row,) = rows
    assert row["env"] == task.env and [m["role"] for m in row["messages"][row["episode_start"]:]] == [
        "assistant", "tool", "assistant"]
    path = tmp_path / "sft.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (example,) = load_sft_dataset(path)
    ids, labels = encode_example(policy, example, policy.tokenizer.eos_token_id)
    trained = [t for t in labels if t != IGNORE]
    assert policy.tokenizer.decode(trained) == CALL + "1073<|im_end|>"  # both turns; the tool's answer is not
    assert "<tool_response>\n1073\n</tool_response>" in policy.tokenizer.decode(ids)


@pytest.mark.parametrize("change, message", [
    (lambda row: row.pop("episode_start"), "needs \"episode_start\""),
    (lambda row: row.update(episode_start=len(row["messages"])), "needs \"episode_start\""),
    (lambda row: row["messages"].insert(-1, {"role": "user", "content": "?"}), "alternate"),
    (lambda row: row.update(env={"name": "no_such_env"}), "cannot be used"),
])
def test_a_bad_episode_row_is_one_sentence_before_a_model_loads(tmp_path, change, message):
    from rlvr._errors import DataError
    from rlvr.sft.trainer import load_sft_dataset

    row = {"messages": [{"role": "user", "content": "What is 37*29?"}, {"role": "assistant", "content": CALL},
                        {"role": "tool", "content": "1073"}, {"role": "assistant", "content": "1073"}],
           "env": {"name": "tools", "tools": ["calculator"]}, "episode_start": 1}
    change(row)
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match=message) as caught:
        load_sft_dataset(path)
    assert str(caught.value).startswith(f"{path}:1: ") and "\n" not in str(caught.value)
