"""rlvr verifiers as TRL reward functions.

    from trl import GRPOTrainer
    from rlvr.integrations.trl import reward_func

    trainer = GRPOTrainer(model=..., reward_funcs=[reward_func("math", reference_column="solution")],
                          train_dataset=dataset_with_prompt_and_solution_columns, ...)

TRL calls reward functions as `f(prompts, completions, completion_ids, **columns)`, where
`columns` holds every dataset column plus `trainer_state`, `log_extra` and `log_metric`.
Completions are strings, or lists of chat messages for conversational datasets.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

from rlvr._errors import ConfigError
from rlvr.verifiers import Verifier, get_verifier


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or the last message of a chat completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return ""  # unknown shape: the verifier fails it closed as an empty answer


def reward_func(
    verifier: str | dict | Verifier, reference_column: str = "solution", workers: int = 2, **options: Any
) -> Callable[..., list[float]]:
    """Build a TRL reward function from a verifier name, spec or instance.

    >>> f = reward_func("math", reference_column="answer", answer="bare")
    >>> f(prompts=["2+2?", "2+2?"], completions=["4", "5"], answer=["4", "4"])
    [1.0, 0.0]
    """
    checker = get_verifier(verifier, **options)

    def reward(prompts: list, completions: list, completion_ids: list | None = None, **columns: Any) -> list[float]:
        if reference_column not in columns:
            available = sorted(k for k in columns if k not in {"trainer_state", "log_extra", "log_metric"})
            raise ConfigError(
                f"reward function '{checker.name}' needs the dataset column '{reference_column}'; "
                f"the dataset has: {', '.join(available)}."
            )
        pairs = [(completion_text(c), ref) for c, ref in zip(completions, columns[reference_column])]
        verdicts = checker.verify_batch(pairs, workers=workers)
        log_metric = columns.get("log_metric")
        if callable(log_metric) and verdicts:
            log_metric(f"rlvr/{checker.name}/parseable", sum(v.parsed for v in verdicts) / len(verdicts))
        log_extra = columns.get("log_extra")
        if callable(log_extra):
            log_extra(f"rlvr_{checker.name}_reason", [v.reason for v in verdicts])
        reward.last_reasons = Counter(v.reason for v in verdicts)  # type: ignore[attr-defined]
        return [v.reward for v in verdicts]

    reward.__name__ = f"rlvr_{checker.name}"  # TRL logs rewards under the function's name
    return reward
