"""The tokens of a whole episode and the mask of what the policy wrote, checked against one render.

Training on an episode needs one token sequence for the conversation and a mask that is 1 on
exactly the tokens the policy sampled: never on the prompt, an observation, or the template's
headers. `episode_tokens` builds both by rendering the conversation prefix by prefix with the
chat template and tokenizing each new piece, then checks two things, and raises
`TokenizationMismatch` naming the turn when either fails:

1. each render extends the previous one: a template that re-renders an earlier turn differently
   once more turns follow (Qwen3's drops the <think> block of earlier assistant turns) would
   train the policy on text the model will never see again;
2. the concatenated pieces' tokens equal the tokens of the whole conversation rendered at once:
   tokenizing at turn boundaries must not split or merge tokens differently.

A sampled turn's mask covers its text and the template's end-of-turn token (the tokenizer's
eos, which the policy sampled to stop), unless the turn was cut by the token limit: then the
policy never sampled that token, and only the text is covered.
"""

from __future__ import annotations

from typing import Any, Sequence

from rlvr._errors import ModelError

__all__ = ["TokenizationMismatch", "episode_tokens"]


class TokenizationMismatch(ModelError):
    """The chat template or the tokenizer does not give the whole conversation as the sum of its turns."""


def episode_tokens(tokenizer: Any, messages: Sequence[dict], sampled: Sequence[int], tools: list[dict] | None = None,
                   truncated: Sequence[int] = ()) -> tuple[list[int], list[int]]:
    """(token ids of the whole conversation, mask): mask[i] is 1 exactly on tokens of the turns in
    `sampled` (indices into `messages`); `truncated` lists sampled turns cut by the token limit.
    `tools` is passed to the chat template as `tools=`."""
    sampled_set, cut = set(sampled), set(truncated)
    pieces: list[tuple[str, int, int]] = []  # (text, mask value, turn index)
    rendered = ""
    for i, message in enumerate(messages):
        if i in sampled_set:
            head = _render(tokenizer, messages[:i], tools, generation=True)
            _check_extends(rendered, head, pieces, i, "its generation prompt")
            pieces.append((head[len(rendered):], 0, i))
            full = _render(tokenizer, messages[: i + 1], tools)
            _check_extends(head, full, pieces, i, f"assistant turn {i}")
            body, text = full[len(head):], message["content"]
            if not body.startswith(text):
                raise TokenizationMismatch(
                    f"turn {i}: the chat template does not render the sampled text as written (it renders "
                    f"{body[:60]!r}); training would use text the policy never wrote; fix the template."
                )
            rest = body[len(text):]
            eos = getattr(tokenizer, "eos_token", None)
            end = rest.index(eos) + len(eos) if eos and i not in cut and eos in rest else 0
            pieces += [(text + rest[:end], 1, i), (rest[end:], 0, i)]
        else:
            full = _render(tokenizer, messages[: i + 1], tools)
            _check_extends(rendered, full, pieces, i, f"turn {i}")
            pieces.append((full[len(rendered):], 0, i))
        rendered = full
    ids, mask, owners = [], [], []
    for text, value, turn in pieces:
        piece = tokenizer.encode(text, add_special_tokens=False) if text else []
        ids += piece
        mask += [value] * len(piece)
        owners += [turn] * len(piece)
    whole = tokenizer.encode(_render(tokenizer, list(messages), tools), add_special_tokens=False)
    if ids != whole:
        at = next((k for k, (a, b) in enumerate(zip(ids, whole)) if a != b), min(len(ids), len(whole)))
        turn = owners[min(at, len(owners) - 1)] if owners else 0
        raise TokenizationMismatch(
            f"turn {turn}: tokenizing the conversation turn by turn differs from tokenizing it whole, from token "
            f"{at} on; the mask would be misplaced, so use a tokenizer whose turn boundaries are special tokens."
        )
    return ids, mask


def _render(tokenizer: Any, messages: Sequence[dict], tools: list[dict] | None, generation: bool = False) -> str:
    if not messages:
        return ""
    return tokenizer.apply_chat_template(list(messages), tools=tools, tokenize=False,
                                         add_generation_prompt=generation)


def _check_extends(before: str, after: str, pieces: list[tuple[str, int, int]], turn: int, what: str) -> None:
    """TokenizationMismatch naming the earlier turn that `after` renders differently, unless it
    starts with `before`."""
    if after.startswith(before):
        return
    at = next((k for k, (a, b) in enumerate(zip(before, after)) if a != b), min(len(before), len(after)))
    offset, changed = 0, turn
    for text, _, owner in pieces:
        if offset + len(text) > at:
            changed = owner
            break
        offset += len(text)
    start = max(offset, at - 30)  # from the changed turn's piece, or a little before the first difference
    raise TokenizationMismatch(
        f"turn {changed}: the chat template renders it differently once {what} follows "
        f"({before[start:at + 40]!r} becomes {after[start:at + 40]!r}); training on the earlier rendering would "
        "teach text the model never sees, so use a template that keeps earlier turns as they were."
    )
