"""Multi-turn episodes sampled in batches: every live episode of a call decodes together, turn by turn.

    result = generate_episodes(engine, tasks, SamplingParams(n=8, max_new_tokens=128, seed=0))
    result.completions[i][j].episode["turns"]      # [{"role", "text"}, ...] with the observations

A task that names an environment (`"env": {"name": "tools", "tools": ["calculator"]}`) is played as
an episode: the opening messages from `env.reset(task)`, then, while the episode lives, one assistant
turn sampled for every live episode in one `engine.generate` call (ending at EOS or at a tool call's
closing tag), the environments' steps run on a thread pool as soon as the engine reports a batch of
turns finished (overlapped with decoding the next batch; the python tool's sandbox is a process of its
own), each observation appended, and the next turn. A task without one is a single turn.

Tokens in, tokens out. An episode is one token sequence: the opening prompt, then for each turn the
tokens the policy sampled (mask 1), then the chat template's end of that turn, the observation and the
next turn's header (mask 0), tokenized as one piece. The next turn is sampled from those very tokens;
nothing the policy wrote is ever re-tokenized, so what the trainer scores is what was sampled. The
template is checked once per turn and once at the end, and `TokenizationMismatch` names the turn: each
render must extend the last (a template that re-renders an earlier turn once more follow, as Qwen3's does
with <think> blocks, would train on text the model never sees again), and the whole conversation,
rendered at once, must be the concatenation of the pieces (a template that rewrites what was sampled, e.g.
by trimming it, likewise).

Limits (`"max_turns"`, `"max_tokens"` in the env spec): a turn that would pass the token budget is cut to
the tokens that fit and the episode ends, marked truncated (finish_reason "length"); so does one that
reaches `max_new_tokens`, and an episode still calling tools after its last turn. A cut observation ends
the episode too. Per-turn rewards are summed into the episode's record ("turn_rewards").

Seeds: turn t of every episode draws from the engine's per-sample streams, seeded by (seed, t) and the
episode's tokens so far (identical histories told apart by their order; the first turn's K samples of one
opening are the K samples of one prompt, prefilled once), so the same seed gives the same episodes whatever
the engine's batch size.
"""

from __future__ import annotations

import hashlib
import time
import inspect
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from rlvr._errors import ConfigError
from rlvr.envs import Environment, Step, TokenizationMismatch, chat_messages, episode_limits, get_env
from rlvr.models.generation import MAX_SEED, Completion, Engine, GenerationResult, ProgressFn, SamplingParams

__all__ = ["TOOL_CALL_END", "generate_episodes", "has_episodes", "replay_episode", "sample_tasks"]

TOOL_CALL_END = "</tool_call>"  # a turn that calls a tool ends here: the environment answers before it goes on


@dataclass
class _Live:
    """One episode while it is sampled."""

    task: int
    env: Environment
    messages: list[dict]
    tools: list[Any]
    max_turns: int
    max_tokens: int
    rendered: str = ""  # the text of `ids`: the conversation so far, ending in the next turn's header
    ids: list[int] = field(default_factory=list)  # after the opening prompt
    mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    sampler_logprobs: list[float] = field(default_factory=list)
    opening: list[int] = field(default_factory=list)
    turns: list[dict] = field(default_factory=list)
    pieces: list[tuple[str, int]] = field(default_factory=list)  # (text, turn index) in order, for the last check
    rewards: list[float] = field(default_factory=list)
    written: int = 0  # tokens after the opening prompt (sampled and observations)
    eos_text: str = ""  # the end-of-turn token the last turn sampled, as text ("" when it stopped otherwise)
    stop: str = ""
    error: str = ""

    @property
    def live(self) -> bool:
        return not self.stop


def generate_episodes(engine: Engine, tasks: Sequence[Any], params: SamplingParams,
                      progress: ProgressFn | None = None, workers: int = 8) -> GenerationResult:
    """`params.n` episodes of each task (a `Task` or a task mapping); completions[i][j] is episode j of
    task i. See the module docstring for what a completion of an episode holds."""
    start = time.perf_counter()
    policy = engine.policy  # type: ignore[attr-defined]
    records = [_record(t) for t in tasks]
    episodes = [_open(policy, record, i) for i, record in enumerate(records) for _ in range(params.n)]
    new_tokens = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for turn in range(max((e.max_turns for e in episodes), default=0)):
            live = [e for e in episodes if e.live]
            if not live:
                break
            room = max(e.max_tokens - e.written for e in live)
            shared = turn == 0 and _same_openings(episodes, params.n)  # K samples of one prompt: prefilled once
            turn_params = SamplingParams.from_decoding(params, n=params.n if shared else 1,
                                                       seed=_turn_seed(params.seed, turn))
            turn_params = _with_max_new_tokens(turn_params, min(params.max_new_tokens, room))
            prompts = [e.opening for e in live[:: params.n]] if shared else [e.opening + e.ids for e in live]
            steps: dict[int, Future] = {}
            reported: set[int] = set()

            def turn_done(indices: list[int], groups: list[list[Completion]], live: list[_Live] = live,
                          shared: bool = shared, steps: dict[int, Future] = steps, reported: set[int] = reported
                          ) -> None:
                """The environments answer each finished turn on the pool while the engine decodes the rest."""
                reported.update(indices)
                for i, group in zip(indices, groups):
                    for j, c in enumerate(group):
                        e = live[i * params.n + j if shared else i]
                        if _take_turn(policy, e, c, params.max_new_tokens):
                            steps[id(e)] = pool.submit(_step, e)

            overlap = "finished" in inspect.signature(engine.generate).parameters
            result = engine.generate(prompts, turn_params, stop=(TOOL_CALL_END,),
                                     **({"finished": turn_done} if overlap else {}))
            missed = [i for i in range(len(prompts)) if i not in reported]  # an engine that never reports
            turn_done(missed, [result.completions[i] for i in missed])
            new_tokens += result.new_tokens
            if progress is not None:
                progress(len(live) if turn == 0 else 0, result.new_tokens)
            for e in live:  # in order, whatever order the steps finished in
                if id(e) in steps:
                    _after_step(policy, e, steps[id(e)].result(), turn)
    for e in episodes:
        if e.live:
            e.stop = "turns"
        _check_whole(policy, e)
    completions = [[_completion(e) for e in episodes[i * params.n:(i + 1) * params.n]] for i in range(len(records))]
    return GenerationResult(completions=completions,
                            prompt_token_ids=[episodes[i * params.n].opening for i in range(len(records))],
                            new_tokens=new_tokens, seconds=time.perf_counter() - start)


def has_episodes(tasks: Sequence[Any]) -> bool:
    """Whether any task names an environment (then `sample_tasks` plays it as an episode)."""
    return any(_env_of(t) is not None for t in tasks)


def sample_tasks(engine: Engine, tasks: Sequence[Any], params: SamplingParams,
                 progress: ProgressFn | None = None) -> GenerationResult:
    """`params.n` completions of every task, in order: single-turn tasks by one `engine.generate` call as
    always, tasks that name an environment as episodes (`generate_episodes`)."""
    episodic = [i for i, t in enumerate(tasks) if _env_of(t) is not None]
    single = [i for i, t in enumerate(tasks) if _env_of(t) is None]
    start = time.perf_counter()
    parts = []
    if single:
        prompts = [_record(tasks[i], need_env=False)["prompt"] for i in single]
        parts.append((single, engine.generate(prompts, params, progress)))
    if episodic:
        parts.append((episodic, generate_episodes(engine, [tasks[i] for i in episodic], params, progress)))
    completions: list[Any] = [None] * len(tasks)
    prompt_ids: list[Any] = [None] * len(tasks)
    for indices, result in parts:
        for i, group, ids in zip(indices, result.completions, result.prompt_token_ids):
            completions[i], prompt_ids[i] = group, ids
    return GenerationResult(completions=completions, prompt_token_ids=prompt_ids,
                            new_tokens=sum(r.new_tokens for _, r in parts), seconds=time.perf_counter() - start)


def _same_openings(episodes: list[_Live], n: int) -> bool:
    """Whether the n episodes of every task open with the same tokens (an environment whose reset draws at random
    may give each its own)."""
    return all(episodes[i].opening == episodes[i - i % n].opening for i in range(len(episodes)))


# -- opening --------------------------------------------------------------------------------------------


def _env_of(task: Any) -> Any:
    return task.get("env") if isinstance(task, Mapping) else getattr(task, "env", None)


def _record(task: Any, need_env: bool = True) -> dict[str, Any]:
    record = task.to_dict() if hasattr(task, "to_dict") else dict(task)
    if need_env and record.get("env") is None:
        raise ConfigError(f"task {record.get('id', '?')!r} names no environment; sample it as a single turn.")
    return record


def _open(policy: Any, record: dict[str, Any], index: int) -> _Live:
    spec = record["env"]
    limits = episode_limits(spec)
    env = get_env(spec)
    return _opened(policy, env, env.reset(record), index, limits.max_turns, limits.max_tokens)


def _opened(policy: Any, env: Environment, messages: Sequence[dict], index: int, max_turns: int,
            max_tokens: int) -> _Live:
    """An episode at its opening `messages` (what the environment's reset gave), its prompt rendered and encoded."""
    tools = env.tool_list() if hasattr(env, "tool_list") else []
    episode = _Live(task=index, env=env, messages=list(messages), tools=tools, max_turns=max_turns,
                    max_tokens=max_tokens)
    episode.turns = [{"role": m["role"], "text": m["content"]} for m in messages]
    episode.rendered = _render(policy, episode.messages, tools, generation=True)
    episode.opening = _encode(policy, episode.rendered, first=True)
    episode.pieces.append((episode.rendered, 0))
    return episode


def replay_episode(policy: Any, spec: str | Mapping[str, Any], messages: Sequence[dict], start: int,
                   eos: int) -> tuple[list[int], list[int], list[int]]:
    """A finished episode rebuilt from its transcript as the sampler built it: (the opening prompt's ids, the ids
    after it, their mask: 1 on the assistant turns' tokens, 0 on the template's markers and the observations).

    messages: `start` opening messages (what the environment's reset gave), then the episode's turns, the
    assistant's and the environment's in turn, ending with the assistant's. An assistant turn is its text's
    tokens, then `eos` where the sampler would have stopped on it: every turn but one that calls a tool, which
    the sampler stops at the tool call's closing tag. The rest is the sampler's own code (the bridge to the next turn and
    the template checks, which raise TokenizationMismatch), so supervised fine-tuning on a distilled episode
    trains on the tokens the policy samples. The environment (`spec`) is built only for its tools' schemas."""
    env = get_env(spec)
    episode = _opened(policy, env, messages[:start], 0, max_turns=len(messages) + 1, max_tokens=2**62)
    turns = messages[start:]
    for turn, message in enumerate(turns):
        text, last = message["content"], turn == len(turns) - 1
        if turn % 2 == 0:
            if message["role"] != "assistant":
                raise ConfigError(f"turn {turn} of the episode is {message['role']!r}; the episode's turns "
                                  "alternate between the assistant (first and last) and the environment.")
            ids = _encode(policy, text) + ([] if text.endswith(TOOL_CALL_END) else [eos])
            _take_turn(policy, episode, Completion(text, ids, [0.0] * len(ids), "stop"), max_new_tokens=len(ids))
        else:
            if last:
                raise ConfigError("the episode ends with the environment's turn; its last turn must be the "
                                  "assistant's.")
            _after_step(policy, episode, Step(observation=text), turn)
    _check_whole(policy, episode)
    return episode.opening, episode.ids, episode.mask


# -- one turn ---------------------------------------------------------------------------------------------


def _take_turn(policy: Any, e: _Live, c: Completion, max_new_tokens: int) -> bool:
    """Append a sampled turn to `e`; True when the environment should answer it."""
    ids, logprobs = list(c.token_ids), list(c.logprobs)
    sampler = list(c.sampler_logprobs if c.sampler_logprobs is not None else c.logprobs)
    budget = e.max_tokens - e.written
    cut = len(ids) > budget or (c.finish_reason == "length")
    ids, logprobs, sampler = ids[:budget], logprobs[:budget], sampler[:budget]
    ended_by_eos = bool(ids) and not cut and ids[-1] in policy.eos_token_ids
    text = policy.decode(ids[:-1] if ended_by_eos else ids)
    e.ids += ids
    e.mask += [1] * len(ids)
    e.logprobs += logprobs
    e.sampler_logprobs += sampler
    e.written += len(ids)
    e.messages.append({"role": "assistant", "content": text})
    e.turns.append({"role": "assistant", "text": text, **({"truncated": True} if cut else {})})
    e.pieces.append((text, len(e.turns) - 1))
    e.eos_text = policy.tokenizer.decode(ids[-1:]) if ended_by_eos else ""
    if cut:
        e.stop = "tokens"
        return False
    return True


def _step(e: _Live) -> Step | Exception:
    try:
        return e.env.step(e.messages[-1]["content"])
    except Exception as exc:  # noqa: BLE001 - an environment's bug ends this episode, not the run
        return exc


def _after_step(policy: Any, e: _Live, step: Step | Exception, turn: int) -> None:
    """The environment's answer: end the episode, or append the observation and the next turn's header."""
    if isinstance(step, Exception):
        e.stop, e.error = "error", f"{type(step).__name__}: {step}"
        return
    e.rewards.append(float(step.reward))
    if step.done or step.observation is None:
        e.stop = "done"
        return
    if turn == e.max_turns - 1:
        e.stop = "turns"  # no turn left to answer the observation: it stays out
        return
    role = getattr(e.env, "observation_role", "user")
    observation = step.observation
    before = _render(policy, e.messages, e.tools)
    e.messages.append({"role": role, "content": observation})
    after = _render(policy, e.messages, e.tools, generation=True)
    turn_index = len(e.turns)
    _check_extends(e.rendered + e.messages[-2]["content"], before, turn_index - 1,
                   "the template renders the sampled turn differently from what was sampled")
    _check_extends(before, after, turn_index - 1, f"observation {turn_index} follows")
    closing = before[len(e.rendered) + len(e.messages[-2]["content"]):]
    if e.eos_text and closing.startswith(e.eos_text):
        closing = closing[len(e.eos_text):]  # the policy sampled the end-of-turn token itself
    delta = _encode(policy, closing + after[len(before):])
    e.turns.append({"role": role, "text": observation})
    if e.written + len(delta) >= e.max_tokens:
        e.turns[-1]["truncated"] = True
        e.messages.pop()
        e.stop = "tokens"  # no room left to answer it: the observation stays in the transcript, not the tokens
        return
    e.pieces.append((before[len(e.rendered) + len(e.messages[-2]["content"]):], turn_index - 1))
    e.pieces.append((after[len(before):], turn_index))
    e.ids += delta
    e.mask += [0] * len(delta)
    e.logprobs += [0.0] * len(delta)
    e.sampler_logprobs += [0.0] * len(delta)
    e.written += len(delta)
    e.rendered = after


# -- rendering and the checks ------------------------------------------------------------------------------


def _render(policy: Any, messages: list[dict], tools: list[Any], generation: bool = False) -> str:
    if not policy.has_chat_template:  # a base model reads the conversation as text, as Policy.render does
        text = "\n\n".join(m["content"] for m in chat_messages(messages, tools, policy.tokenizer)[0])
        return text + "\n\n" if generation else text
    shown, tools_argument = chat_messages(messages, tools, policy.tokenizer)
    return policy.tokenizer.apply_chat_template(shown, tools=tools_argument, tokenize=False,
                                                add_generation_prompt=generation)


def _encode(policy: Any, text: str, first: bool = False) -> list[int]:
    special = first and not policy.has_chat_template  # as Policy.encode: a template holds its own special tokens
    return policy.tokenizer(text, add_special_tokens=special)["input_ids"] if text else []


def _check_extends(before: str, after: str, turn: int, what: str) -> None:
    if after.startswith(before):
        return
    at = next((k for k, (a, b) in enumerate(zip(before, after)) if a != b), min(len(before), len(after)))
    raise TokenizationMismatch(
        f"turn {turn}: the chat template renders the conversation differently once {what} "
        f"({before[max(0, at - 30):at + 30]!r} becomes {after[max(0, at - 30):at + 30]!r}); training on it would "
        "teach text the model never sees, so use a template that keeps earlier turns as they were."
    )


def _check_whole(policy: Any, e: _Live) -> None:
    """The whole conversation rendered at once equals the pieces the tokens were built from."""
    whole = _render(policy, e.messages, e.tools)
    built = "".join(text for text, _ in e.pieces)
    if whole.startswith(built) or not e.pieces:
        return
    offset, turn = 0, 0
    at = next((k for k, (a, b) in enumerate(zip(built, whole)) if a != b), min(len(built), len(whole)))
    for text, owner in e.pieces:
        if offset + len(text) > at:
            turn = owner
            break
        offset += len(text)
    raise TokenizationMismatch(
        f"turn {turn}: the whole conversation, rendered at once, differs from the turns it was sampled as "
        f"({built[max(0, at - 30):at + 30]!r} against {whole[max(0, at - 30):at + 30]!r}); the mask would not "
        "match what the model sees, so use a template that renders each turn as written."
    )


# -- the result ----------------------------------------------------------------------------------------------


def _completion(e: _Live) -> Completion:
    record = {"turns": e.turns, "turn_rewards": e.rewards, "truncated": e.stop in ("turns", "tokens"),
              "stop": e.stop, **({"error": e.error} if e.error else {})}
    last = next((t["text"] for t in reversed(e.turns) if t["role"] == "assistant"), "")
    return Completion(text=last, token_ids=e.ids, logprobs=e.logprobs,
                      finish_reason="length" if record["truncated"] else "stop",  # type: ignore[arg-type]
                      sampler_logprobs=e.sampler_logprobs, mask=e.mask, episode=record)


def _turn_seed(seed: int, turn: int) -> int:
    if turn == 0:
        return seed
    digest = hashlib.blake2b(f"{seed}:turn:{turn}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % (MAX_SEED + 1)


def _with_max_new_tokens(params: SamplingParams, limit: int) -> SamplingParams:
    return replace(params, max_new_tokens=max(1, limit))
