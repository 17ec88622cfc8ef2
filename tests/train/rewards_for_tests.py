"""Rewards that give a tiny random model's gibberish varied, deterministic scores."""


def even_words(completion: str, reference: object) -> float:
    return float(len(completion.split()) % 2 == 0)


def slow_even_words(completion: str, reference: object) -> float:
    """The same, slowly enough that a test can kill a run between two steps."""
    import time

    time.sleep(0.03)
    return even_words(completion, reference)


def never(completion: str, reference: object) -> float:
    """Nothing passes: for the empty-yield path of `rlvr distill`."""
    return 0.0


def half_credit(completion: str, reference: object) -> float:
    """1 for an even number of words, else partial credit 0.5: for the binary advantages' warning."""
    return 1.0 if len(completion.split()) % 2 == 0 else 0.5
