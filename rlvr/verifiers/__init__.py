"""Verifiers: programmatic checks that turn a completion and a reference into a Verdict.

    >>> from rlvr.verifiers import get_verifier
    >>> v = get_verifier("math")
    >>> v.verify("The answer is \\\\boxed{\\\\frac{1}{2}}.", "0.5").passed
    True

The public surface: `Verdict` and its reason vocabulary (verdict.py), `Verifier` and the registry
(base.py) with `allow_plugins`, the opt-in a "module:function" path in a data file needs (_plugins.py),
answer reading (answer.py), and of the execution layer the `Backend` names and
`shutdown_workers`, which stops every worker process and drops its verdict cache.
"""

# Built-in verifiers register themselves on import.
from rlvr.verifiers import code as _code  # noqa: F401
from rlvr.verifiers import compose as _compose  # noqa: F401
from rlvr.verifiers import control as _control  # noqa: F401
from rlvr.verifiers import format as _format  # noqa: F401
from rlvr.verifiers import lean as _lean  # noqa: F401
from rlvr.verifiers import math as _math  # noqa: F401
from rlvr.verifiers import reasoning_gym as _reasoning_gym  # noqa: F401
from rlvr.verifiers import remote as _remote  # noqa: F401
from rlvr.verifiers import rubric as _rubric  # noqa: F401
from rlvr.verifiers import sql as _sql  # noqa: F401
from rlvr.verifiers import structured as _structured  # noqa: F401
from rlvr.verifiers._execution import Backend, shutdown_workers
from rlvr.verifiers.answer import AnswerMode, extract_answer
from rlvr.verifiers.base import Verifier, allow_plugins, get_verifier, register_verifier, verifier_names
from rlvr.verifiers.verdict import FORMAT_REASONS, Verdict

__all__ = [
    "FORMAT_REASONS",
    "AnswerMode",
    "Backend",
    "Verdict",
    "Verifier",
    "allow_plugins",
    "extract_answer",
    "get_verifier",
    "register_verifier",
    "shutdown_workers",
    "verifier_names",
]
