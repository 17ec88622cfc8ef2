"""Environments a user would write, imported by name ("envs_for_tests:Guess") by the registry tests."""

from __future__ import annotations

from rlvr.envs import Step


class Guess:
    """A 20-line environment: guess the number; each wrong guess is told higher or lower."""

    observation_role = "user"

    def reset(self, task):
        self.answer = int(task["reference"])
        return [{"role": "user", "content": task["prompt"]}]

    def step(self, assistant_text):
        try:
            guess = int(assistant_text.strip())
        except ValueError:
            return Step("Reply with a whole number.", reward=-0.1)
        if guess == self.answer:
            return Step(None, reward=1.0, done=True)
        return Step("Higher." if guess < self.answer else "Lower.", reward=0.0, info={"guess": guess})


class Shop:
    """A plain class: its typed, documented methods are tools."""

    def reset(self, reference=None, **task):
        self.stock = dict(reference or {})
        return "The shop is open."

    def count(self, item: str) -> int:
        """How many of an item are in stock.

        Args:
            item: the item's name
        """
        return self.stock.get(item, 0)

    def sleep(self, seconds: float) -> str:
        """Wait, then say so (slow on purpose).

        Args:
            seconds: how long to wait
        """
        import time

        time.sleep(seconds)
        return "awake"

    def broken(self) -> str:
        """Always fails."""
        raise RuntimeError("the shelf fell over")


class Broken:
    """An environment with a bug: its step raises."""

    def reset(self, task):
        return [{"role": "user", "content": task["prompt"]}]

    def step(self, assistant_text):
        return Step(str(1 / 0))
