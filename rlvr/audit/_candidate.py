"""What a mutation generator yields: one candidate answer, its label, and what the oracle runs.

Shared by the per-domain generators (_mutations_math.py, _mutations_code.py, _mutations_sql.py)
and mutations.py, which judges the candidates and turns the kept ones into audit cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Candidate", "Oracle"]


@dataclass(frozen=True)
class Candidate:
    completion: str
    should_pass: bool
    tag: str
    note: str
    program: str = ""  # what the oracle runs (code: the bare code; sql: the query); "" = trusted as labelled


Oracle = Callable[[str], "bool | None"]  # code or query -> passes the reference? None: gave up
