"""Mutation generators: wrong answers derived from a task's reference, and legitimate variants
of the right answer, as audit cases.

    generate_mutations("math", tasks) -> Mutations(cases, equivalent, unusable)

math  From a number reference (integer, fraction, decimal) and, for "What is a OP b?"
      prompts, its operands. Wrong: perturbed numbers, flipped signs, shifted decimals,
      swapped digits, the other operators' results, the question restated unevaluated, a
      second answer next to the right one, the answer outside the box, an empty or unclosed
      box. Legitimate: thousands separators, trailing zeros, scientific notation, equivalent
      fractions, decimals for fractions. Answers go in \\boxed{} (the suite convention).
code  From a canonical solution (task meta "solution", as the built-in and HumanEval tasks
      carry): return a constant, drop a branch, flip a comparison, hard-code the prompt's
      visible examples; legitimate: reformatted, renamed variables, fenced with prose, a
      wrong draft before the final fence, wrapped in a helper.
sql   From the gold query (sqlglot rewrites): drop the WHERE, OR 1=1, add or drop DISTINCT,
      change a join, flip a comparison, perturb a literal, change an aggregate, drop GROUP BY
      or ORDER BY, change LIMIT; legitimate: reformatted, quoted identifiers, reordered
      conditions, swapped equality sides, renamed aliases, a CTE, an ORDER BY an unordered
      reference ignores, fenced with prose.

A mutant can be *equivalent*: dropping a branch no test reaches changes nothing; DISTINCT on
rows that are already distinct changes nothing. Labelling those "must fail" would blame the
verifier for the reference's blind spot, so every code and SQL candidate is first judged by a
plain oracle that runs only material derived from the trusted reference, never model or user
text: SQL in a read-only sqlite connection, code in a subprocess running the reference's own
tests. Mutants it cannot tell from the reference, and variants it does not pass, are dropped
and counted in `Mutations.equivalent` (a high count for `hard_code_visible` means the
reference only tests what the prompt shows). Math mutants differ from the reference by
construction (checked with exact fractions).

Each domain's generator and oracle live in its own module (_mutations_math.py,
_mutations_code.py, _mutations_sql.py); this one judges their candidates and dispatches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from rlvr._errors import ConfigError
from rlvr.audit._candidate import Candidate, Oracle
from rlvr.audit._mutations_code import code_candidates, code_oracle
from rlvr.audit._mutations_math import math_candidates
from rlvr.audit._mutations_sql import sql_candidates, sql_oracle
from rlvr.audit.cases import AuditCase
from rlvr.tasks import Task

__all__ = ["Mutations", "generate_mutations"]


@dataclass
class Mutations:
    """Generated cases, and what was left out.

    equivalent: per tag, candidates dropped because the oracle could not tell them from the
                reference (mutants) or did not pass them (variants), or that hung.
    unusable:   ids of tasks no generator could work from (no number, solution or gold query).
    """

    cases: list[AuditCase] = field(default_factory=list)
    equivalent: Counter = field(default_factory=Counter)
    unusable: list[str] = field(default_factory=list)


def generate_mutations(domain: str, tasks: Sequence[Task], workers: int = 2, progress: bool = False) -> Mutations:
    """Wrong and legitimate answers for each task, judged by the domain's oracle."""
    if domain not in _GENERATORS:
        raise ConfigError(f"no mutation generator for '{domain}'; choose one of: {', '.join(_GENERATORS)}.")
    candidates_of, oracle_for = _GENERATORS[domain]
    result = Mutations()
    per_task: list[tuple[Task, list[Candidate]]] = []
    for task in tasks:
        candidates = _unique(candidates_of(task))
        if candidates:
            per_task.append((task, candidates))
        else:
            result.unusable.append(task.id)
    jobs = [(task, c) for task, cs in per_task for c in cs]
    bar = tqdm(total=len(jobs), desc=f"mutate {domain}", unit="case", disable=not progress, dynamic_ncols=True)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for (task, candidate), keep in zip(jobs, pool.map(lambda job: _judged(oracle_for, *job), jobs)):
            bar.update(1)
            if keep:
                meta = {"task_id": task.id}
                result.cases.append(AuditCase(candidate.completion, task.reference, candidate.should_pass,
                                              candidate.tag, candidate.note, meta))
            else:
                result.equivalent[candidate.tag] += 1
    bar.close()
    return result


def _judged(oracle_for: Callable[[Task], Oracle] | None, task: Task, candidate: Candidate) -> bool:
    """Keep a candidate whose oracle verdict agrees with its label; trust unlabelled ones."""
    if oracle_for is None or not candidate.program:
        return True
    passes = oracle_for(task)(candidate.program)
    if passes is None:  # the oracle gave up (a hang): no trustworthy label
        return False
    return passes == candidate.should_pass


def _unique(candidates: Iterator[Candidate]) -> list[Candidate]:
    seen: set[str] = set()
    kept = []
    for candidate in candidates:
        if candidate.completion not in seen:
            seen.add(candidate.completion)
            kept.append(candidate)
    return kept


_GENERATORS: dict[str, tuple[Callable[[Task], Iterator[Candidate]], Callable[[Task], Oracle] | None]] = {
    "math": (math_candidates, None),
    "code": (code_candidates, code_oracle),
    "sql": (sql_candidates, sql_oracle),
}
