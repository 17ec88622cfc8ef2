"""Group rewards: a reward computed from a whole group of completions instead of one completion at a time.

    reward = get_group_reward("majority")
    rewards = reward(texts, task)            # one group's K completions -> K floats

A verifier (rlvr.verifiers) sees one completion and its reference; a group reward sees the K completions
of one prompt together, so it can reward agreement within the group without a reference (TTRL's
majority vote). The trainer selects one with `data.group_reward` and applies it right after
verification: it replaces the rewards the verifier gave, while the verdicts, and so `pass_rate` and
`pass_rate/neutral`, stay the verifier's (they show how often the rewarded majority is actually right).
Held-out evaluation always uses the tasks' own verifiers.

Each entry of GROUP_REWARDS is `(texts of one group, the group's task) -> one reward per text`; add
one there (and to `data.group_reward`'s choices in config.py) to make it selectable.
"""

from __future__ import annotations

import re
import warnings
from typing import Callable, Sequence

from rlvr.tasks import Task
from rlvr.train.objectives import majority_rewards
from rlvr.verifiers import extract_answer

__all__ = ["GROUP_REWARDS", "GroupReward", "get_group_reward", "majority"]

GroupReward = Callable[[Sequence[str], Task], list[float]]

_PLAIN_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")


def _vote(text: str) -> str | None:
    """The answer a completion votes for: read leniently (box, tag, bare answer, else the last number),
    with a plain number written one way ("1,000.50" and "1000.5" are one vote)."""
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
    votes rewards nobody (see objectives.majority_rewards).

    >>> majority(["so 4", "\\\\boxed{4}", "it is 5", "no idea"], Task(id="t", prompt="2+2?", reference="unread"))
    [1.0, 1.0, 0.0, 0.0]
    """
    return majority_rewards([_vote(text) for text in texts])


GROUP_REWARDS: dict[str, GroupReward] = {
    "majority": majority,
}

_CAVEATS = {
    "majority": "the majority reward (data.group_reward=majority) rewards agreement, not correctness: it can "
                "reinforce a confident wrong majority; watch pass_rate, which the tasks' verifiers still measure.",
}


def get_group_reward(name: str) -> GroupReward:
    """The group reward called `name`, warning once (a UserWarning) about what it can reinforce."""
    if name not in GROUP_REWARDS:
        from rlvr._errors import ConfigError

        raise ConfigError(f"unknown group reward '{name}'; choose one of {', '.join(GROUP_REWARDS)}.")
    if name in _CAVEATS:
        warnings.warn(_CAVEATS[name], UserWarning, stacklevel=2)
    return GROUP_REWARDS[name]
