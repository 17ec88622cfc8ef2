"""What a sampler is asked and what it answers: the one definition of sampling settings.

`SamplingParams` is the only place a sampling setting is defined (name, default, check and
the sentence `--help` shows for it). Everything else is built from it:
- the evaluator's `EvalSettings` holds one (`n` is K);
- the training and SFT configs' `sampling:` sections are `Decoding` plus the engine's options
  (K is `algo.group_size`, the seed `run.seed`);
- the pipeline's step options and the CLI's sampling flags are generated from its fields.

Import-light on purpose (no torch): building the command line reads these fields.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol, Sequence

from rlvr._errors import ConfigError

if TYPE_CHECKING:
    from rlvr.models.loading import Prompt


MAX_SEED = 2**32 - 1  # numpy's and torch's generators, and the bootstrap, take seeds in [0, 2**32 - 1]
DEFAULT_K = 8  # samples per task of an evaluation (the commands' --k, a config's data.eval_k) unless told otherwise


def check_seed(seed: Any, name: str) -> int:
    """`seed` if it is an integer in [0, MAX_SEED]; else ConfigError naming `name` (e.g. "--seed"), so a
    bad seed stops a command before a model loads, not after the sampling when the bootstrap seeds."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{name} must be an integer from 0 to {MAX_SEED} (2**32 - 1), got {seed!r}.")
    return seed


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Decoding:
    """How one completion is drawn."""

    temperature: float = _setting(1.0, "softmax temperature; 0 = greedy")
    top_p: float = _setting(1.0, "nucleus sampling: keep the likeliest tokens up to this total probability; 1 = off")
    top_k: int = _setting(0, "keep the k likeliest tokens; 0 = off, as in TRL (transformers defaults to 50)")
    max_new_tokens: int = _setting(256, "at most this many generated tokens per completion, EOS included")

    def __post_init__(self) -> None:
        for name in ("temperature", "top_p"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be a finite number, got {getattr(self, name)}.")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.top_k < 0:
            raise ConfigError(f"top_k must be >= 0, got {self.top_k}.")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}.")


@dataclass(frozen=True)
class SamplingParams(Decoding):
    """How many completions per prompt, drawn how, from which random streams."""

    n: int = _setting(1, "completions per prompt (K)")
    seed: int = _setting(0, "the seed of every sample's random stream: the same seed gives the same samples")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n < 1:
            raise ConfigError(f"the number of samples per prompt must be at least 1, got {self.n}.")
        check_seed(self.seed, "seed")

    @classmethod
    def from_decoding(cls, decoding: Decoding, *, n: int, seed: int) -> SamplingParams:
        """K samples per prompt from `seed`, drawn as `decoding` says (e.g. a config's `sampling:` section)."""
        return cls(**{f.name: getattr(decoding, f.name) for f in dataclasses.fields(Decoding)}, n=n, seed=seed)


def setting_help(name: str) -> str:
    """The sentence `--help` shows for a sampling setting."""
    return next(f.metadata["help"] for f in dataclasses.fields(SamplingParams) if f.name == name)


@dataclass
class Completion:
    text: str
    token_ids: list[int]
    logprobs: list[float]  # one per generated token, EOS included when it was sampled
    finish_reason: Literal["stop", "length"]
    # The sampled tokens' logprobs under the distribution actually sampled from: after top-k/top-p,
    # renormalised over the kept tokens. None when nothing was truncated (then they equal `logprobs`).
    # `logprobs` stay untruncated (what a trainer recomputes); the trainer's mismatch correction reads these.
    sampler_logprobs: list[float] | None = None
    # An episode (rlvr/models/episodes.py): token_ids hold everything after the opening prompt, the
    # observations and the chat template's turn markers included; mask[i] is 1 exactly on the tokens the
    # policy sampled (None: all of them, a single-turn completion). `text` is the last assistant turn (what
    # the verifier judges) and `episode` the transcript: {"turns": [{"role", "text"}], "turn_rewards", ...}.
    mask: list[int] | None = None
    episode: dict | None = None


@dataclass
class GenerationResult:
    completions: list[list[Completion]]  # [prompt][sample]
    prompt_token_ids: list[list[int]]
    new_tokens: int  # generated tokens, EOS included, padding excluded
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


# progress(finished_samples, new_tokens) after each batch
ProgressFn = Callable[[int, int], None]
# finished(prompt indices, their completions) as soon as a batch completes those prompts' K samples, so
# that a caller can verify them while the engine decodes the next batch.
FinishedFn = Callable[[list[int], list[list[Completion]]], None]


class Engine(Protocol):
    """`stop`: strings that end a completion as EOS does (kept in its text and tokens: a tool call's closing tag)."""

    def generate(
        self, prompts: Sequence[Prompt], params: SamplingParams, progress: ProgressFn | None = None,
        finished: FinishedFn | None = None, stop: Sequence[str] = (),
    ) -> GenerationResult: ...


def stream_seeds(seed: int, prompts: list[list[int]], n: int) -> list[list[int]]:
    """The 63-bit seed of sample j of each prompt's random stream: [prompt][sample].

    A function of (seed, the prompt's token ids, how many identical prompts come before it in
    `prompts`, j) only, so not of batching or prompt order; identical prompts in one call get
    different streams. Every engine seeds its samples from these.
    """
    seen: dict[tuple[int, ...], int] = {}
    out = []
    for ids in prompts:
        occurrence = seen.get(tuple(ids), 0)
        seen[tuple(ids)] = occurrence + 1
        prompt_hash = hashlib.blake2b(f"{seed}:{occurrence}:{len(ids)}:".encode(), digest_size=8)
        prompt_hash.update(array("q", ids).tobytes())
        row_seeds = []
        for j in range(n):
            h = prompt_hash.copy()
            h.update(j.to_bytes(8, "little"))
            row_seeds.append(int.from_bytes(h.digest(), "little") >> 1)
        out.append(row_seeds)
    return out
