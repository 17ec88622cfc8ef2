"""Verifiers: programmatic checks that turn a completion and a reference into a Verdict.

    >>> from rlvr.verifiers import get_verifier
    >>> v = get_verifier("math")
    >>> v.verify("The answer is \\\\boxed{\\\\frac{1}{2}}.", "0.5").passed
    True
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
from rlvr.verifiers.base import (
    FORMAT_REASONS,
    Verdict,
    Verifier,
    get_verifier,
    register_verifier,
    verifier_names,
)

__all__ = [
    "FORMAT_REASONS",
    "Verdict",
    "Verifier",
    "get_verifier",
    "register_verifier",
    "verifier_names",
]
