"""Tasks: problems with reference answers and the verifier that judges them.

    >>> from rlvr.tasks import make_tasks, write_tasks, load_tasks
    >>> tasks = make_tasks("arithmetic", 3, op="mul", digits=2, split="test")
    >>> tasks[0].verifier
    {'name': 'math', 'answer': 'bare'}

Sources: JSONL task files (`load_tasks`, `write_tasks`), Hugging Face datasets through a
column mapping (`load_hf_tasks`), and built-in generators (`make_tasks`), whose splits
never share a problem whatever the seed.
"""

from rlvr.tasks.generators import describe_generators, generator_names, make_tasks
from rlvr.tasks.hf import load_hf_tasks
from rlvr.tasks.records import Task, load_tasks, write_tasks

__all__ = [
    "Task",
    "describe_generators",
    "generator_names", "load_hf_tasks", "load_tasks", "make_tasks", "write_tasks"]
