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


def first_word_even(completion: str, reference: object) -> float:
    """1 when the completion's first word is an even number (0, 2, ..., 98): a toy with a known optimum of 1
    that a tiny random model starts near 0.3 on, for the PPO tests."""
    words = completion.split()
    return float(bool(words) and words[0].isdigit() and int(words[0]) % 2 == 0)


def even_start_with_a_bonus(completion: str, reference: object) -> float:
    """first_word_even, halved, plus 0.5 for the prompts whose reference is "bonus": the policy can earn the
    first half (optimum 0.5 + 0.5 x the bonus share), and a critic that reads the prompt predicts the second."""
    return 0.5 * first_word_even(completion, reference) + 0.5 * (reference == "bonus")
