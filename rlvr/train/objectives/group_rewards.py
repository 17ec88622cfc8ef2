"""Group rewards: a reward computed from a whole group of completions instead of one completion at a time.

    reward = GROUP_REWARDS.build("majority")   # what data.group_reward: majority builds
    rewards = reward(texts, task)               # one group's K completions -> K floats

A verifier (rlvr.verifiers) sees one completion and its reference; a group reward sees the K completions
of one prompt together, so it can reward agreement within the group without a reference (TTRL's
majority vote). The trainer selects one with `data.group_reward` and applies it right after
verification: it replaces the rewards the verifier gave, while the verdicts, and so `pass_rate` and
`pass_rate/neutral`, stay the verifier's (they show how often the rewarded majority is actually right).
Held-out evaluation always uses the tasks' own verifiers.

A group reward is a variant (rlvr.config.Variant) registered in GROUP_REWARDS: a frozen dataclass of its options
whose call is `(texts of one group, the group's task) -> one reward per text`; registering one makes it a
choice of `data.group_reward`. This module loads neither torch nor the verifiers until a reward is called:
the config reads it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Sequence

from rlvr.config import Registry, Variant

if TYPE_CHECKING:
    from rlvr.tasks import Task

__all__ = ["GROUP_REWARDS", "GroupReward", "Majority", "majority", "majority_rewards"]


@dataclass(frozen=True)
class GroupReward(Variant):
    """(texts of one group, the group's task) -> one reward per text. caveat: what the reward can reinforce,
    warned once when a run starts with it."""

    key: ClassVar[str] = "data.group_reward"
    caveat: ClassVar[str] = ""

    def __call__(self, texts: Sequence[str], task: Task) -> list[float]:
        raise NotImplementedError


# "" (the default of data.group_reward) is no group reward: the verifier's rewards stand.
GROUP_REWARDS: Registry[GroupReward] = Registry(GroupReward, "group reward", none="")


def majority_rewards(answers: Sequence[str | None]) -> list[float]:
    """One group's rewards from a majority vote over its extracted answers: 1.0 for the majority answer, else 0.0.

    TTRL (Zuo et al. 2025, arXiv 2504.16084) labels a test-time group with its most common answer and rewards
    agreement with it. None (no answer extracted) never votes and never earns reward. Ties: when two or more
    answers share the top count, nobody is rewarded. TTRL takes Counter.most_common(1), which breaks a tie by
    which answer came first, so the label would depend on sampling order; a tie is no consensus, and all-zero
    rewards make the group carry no signal (advantage 0) instead of a coin-flip label. Answers are compared as
    given: normalising them (lenient extraction) is the caller's job.
    """
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return [0.0] * len(answers)
    (top, count), *rest = votes.most_common()
    if rest and rest[0][1] == count:
        return [0.0] * len(answers)
    return [1.0 if a is not None and a == top else 0.0 for a in answers]


_PLAIN_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")


def _vote(text: str) -> str | None:
    """The answer a completion votes for: read leniently (box, tag, bare answer, else the last number),
    with a plain number written one way ("1,000.50" and "1000.5" are one vote)."""
    from rlvr.verifiers import extract_answer  # sympy: loaded when a reward is computed, not with the config

    answer, _ = extract_answer(text, "lenient")
    if answer is None:
        return None
    answer = answer.strip()
    if _PLAIN_NUMBER.fullmatch(answer):
        answer = answer.replace(",", "")
        if "." in answer:
            answer = answer.rstrip("0").rstrip(".")
        answer = "0" if answer in ("-0", "") else answer
    return answer


def majority(texts: Sequence[str], task: Task) -> list[float]:
    """TTRL (Zuo et al. 2025): 1.0 for the samples whose answer is the group's majority answer, else 0.0.

    No reference is read. A completion with no answer never votes and earns 0; a tie for the most
    votes rewards nobody (see majority_rewards).

    >>> from rlvr.tasks import Task
    >>> majority(["so 4", "\\\\boxed{4}", "it is 5", "no idea"], Task(id="t", prompt="2+2?", reference="unread"))
    [1.0, 1.0, 0.0, 0.0]
    """
    return majority_rewards([_vote(text) for text in texts])


@GROUP_REWARDS.register("majority")
@dataclass(frozen=True)
class Majority(GroupReward):
    """TTRL's majority vote: 1.0 for the samples whose (leniently read) answer is the group's majority answer,
    nobody on a tie; needs no reference."""

    caveat: ClassVar[str] = ("the majority reward (data.group_reward=majority) rewards agreement, not correctness: "
                             "it can reinforce a confident wrong majority; watch pass_rate, which the tasks' "
                             "verifiers still measure.")

    def __call__(self, texts: Sequence[str], task: Task) -> list[float]:
        return majority(texts, task)
