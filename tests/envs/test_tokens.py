"""The tokens an episode trains on: one sequence equal to the whole conversation's tokenization, and a
mask on exactly the tokens the policy sampled. Tiny tokenizers built here (one token per character,
ChatML special tokens) carry the templates under test; SmolLM2's shipped tokenizer is checked too
when a previous run cached it."""

from __future__ import annotations

import json

import pytest

from rlvr.envs import TokenizationMismatch, ToolsEnv, chat_messages, episode_tokens, run_episode

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Qwen3-style: the <think> block of every assistant turn but the last is dropped when rendered.
DROPS_EARLIER_THINKING = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.role == 'assistant' and not loop.last %}{{ m.content.split('</think>')[-1].lstrip() }}"
    "{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def char_tokenizer(template: str):
    """One token per character, <|im_start|> and <|im_end|> (the eos) as special tokens."""
    chars = [chr(i) for i in range(32, 127)] + ["\n"]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab["[UNK]"] = len(vocab)
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Split(tokenizers.Regex(r"[\s\S]"), behavior="isolated")
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="<|im_end|>",
                                                additional_special_tokens=["<|im_start|>"])
    fast.chat_template = template
    return fast


def text_of(tokenizer, ids: list[int]) -> str:
    return "".join(tokenizer.convert_ids_to_tokens(ids))


def masked(tokenizer, ids: list[int], mask: list[int], value: int) -> str:
    return text_of(tokenizer, [t for t, m in zip(ids, mask) if m == value])


CALL = '<tool_call>{"name": "calculator", "arguments": {"expression": "37*29"}}</tool_call>'
CONVERSATION = [
    {"role": "system", "content": "Use tools."},
    {"role": "user", "content": "What is 37*29?"},
    {"role": "assistant", "content": "<think>multiply</think> " + CALL},
    {"role": "tool", "content": "1073"},
    {"role": "assistant", "content": "It is 1073."},
]


def test_the_mask_covers_exactly_the_sampled_text_and_its_eos():
    tokenizer = char_tokenizer(CHATML)
    ids, mask = episode_tokens(tokenizer, CONVERSATION, sampled=[2, 4])
    assert ids == tokenizer.encode(tokenizer.apply_chat_template(CONVERSATION, tokenize=False),
                                   add_special_tokens=False)
    assert len(mask) == len(ids)
    trained = masked(tokenizer, ids, mask, 1)
    assert trained == CONVERSATION[2]["content"] + "<|im_end|>" + "It is 1073.<|im_end|>"
    untrained = masked(tokenizer, ids, mask, 0)
    for message in CONVERSATION[:2] + CONVERSATION[3:4]:  # the prompt and the observation
        assert message["content"] in untrained
    assert "<|im_start|>assistant\n" in untrained  # the headers are the template's, never trained on


def test_a_turn_cut_by_the_token_limit_trains_on_its_text_but_not_an_eos_it_never_sampled():
    tokenizer = char_tokenizer(CHATML)
    cut = CONVERSATION[:4] + [{"role": "assistant", "content": "It is"}]
    ids, mask = episode_tokens(tokenizer, cut, sampled=[2, 4], truncated=[4])
    assert masked(tokenizer, ids, mask, 1) == CONVERSATION[2]["content"] + "<|im_end|>" + "It is"
    assert text_of(tokenizer, ids).endswith("It is<|im_end|>\n")  # the template still closes the turn


def test_a_truncated_episode_never_masks_an_environment_token():
    """run_episode cuts an observation at the token limit; the retokenized episode keeps it out of the mask."""
    tokenizer = char_tokenizer(CHATML)
    env = ToolsEnv(tools=["calculator"])
    replies = iter([f'<tool_call>{json.dumps({"name": "calculator", "arguments": {"expression": "3^200"}})}'
                    "</tool_call>", "never asked"])
    count = lambda text: len(tokenizer.encode(text, add_special_tokens=False))  # noqa: E731
    episode = run_episode(env, {"prompt": "3^200?"}, lambda m: next(replies), 4, 100, count)
    assert episode.truncated and episode.turns[-1].role == "tool" and episode.turns[-1].truncated
    messages, tools = chat_messages(episode.messages(), env.tool_list(), tokenizer)
    offset = len(messages) - len(episode.turns)  # the system message that describes the tools
    ids, mask = episode_tokens(tokenizer, messages, [i + offset for i in episode.sampled_indices()], tools)
    trained = masked(tokenizer, ids, mask, 1)
    assert trained == episode.turns[1].text + "<|im_end|>"
    assert episode.turns[-1].text not in trained and "tool_response" not in trained
    assert sum(mask) == count(episode.turns[1].text) + 1


def test_a_template_that_re_renders_an_earlier_turn_is_caught_naming_the_turn():
    tokenizer = char_tokenizer(DROPS_EARLIER_THINKING)
    with pytest.raises(TokenizationMismatch, match=r"^turn 2: the chat template renders it differently once turn 3 "
                                                   r"follows \('<think>multiply</think> <tool_call>"):
        episode_tokens(tokenizer, CONVERSATION, sampled=[2, 4])
    # the same template is fine for a single turn: nothing follows the assistant turn
    ids, mask = episode_tokens(tokenizer, CONVERSATION[:3], sampled=[2])
    assert masked(tokenizer, ids, mask, 1) == CONVERSATION[2]["content"] + "<|im_end|>"


def test_a_template_that_changes_the_sampled_text_is_caught():
    tokenizer = char_tokenizer(CHATML.replace("{{ m.content }}", "{{ m.content | trim }}"))
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  padded answer"}]
    with pytest.raises(TokenizationMismatch, match="^turn 1: the chat template does not render the sampled text"):
        episode_tokens(tokenizer, messages, sampled=[1])


def test_tokens_that_merge_across_a_turn_boundary_are_caught():
    """A word-level tokenizer whose words span the template's header and the content: token by token,
    "assistant:" + "hello" is two tokens; rendered whole, "assistant:hello" is one."""
    vocab = {w: i for i, w in enumerate(["[UNK]", "user:hi", "assistant:", "hello", "assistant:hello", "user:"])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    tokenizer.chat_template = ("{% for m in messages %}{{ m.role }}:{{ m.content }}\n{% endfor %}"
                               "{% if add_generation_prompt %}assistant:{% endif %}")
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    with pytest.raises(TokenizationMismatch, match="^turn 1: tokenizing the conversation turn by turn differs"):
        episode_tokens(tokenizer, messages, sampled=[1])


def test_smollm2s_shipped_tokenizer_gives_the_whole_conversation_back():
    from rlvr.models import cache_dir

    folders = sorted((cache_dir() / "models").glob("smollm2-135m-instruct-*"))
    if not folders or not (folders[0] / "tokenizer.json").exists():
        pytest.skip("SmolLM2's converted tokenizer is not cached here (a run with the bundled model converts it)")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folders[0])
    env = ToolsEnv(tools=["calculator"])
    messages, tools = chat_messages(CONVERSATION[1:], env.tool_list(), tokenizer)
    assert tools is None  # SmolLM2's template has no tools=: the tag format goes in the system message
    sampled = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    ids, mask = episode_tokens(tokenizer, messages, sampled)
    assert ids == tokenizer.encode(tokenizer.apply_chat_template(messages, tokenize=False), add_special_tokens=False)
    trained = tokenizer.decode([t for t, m in zip(ids, mask) if m])
    assert trained == CONVERSATION[2]["content"] + "<|im_end|>" + "It is 1073.<|im_end|>"
