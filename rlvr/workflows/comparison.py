"""`rlvr compare` as a function: search compression vs capability gain between eval files, and whether pass@1 rose.

    from rlvr.workflows.comparison import CompareJob, run_compare
    result = run_compare(CompareJob("base.json", "trained.json", json="compare.json"))
    result["sets"]["heldout"]["verdict"]

One pair of eval files compares every task set the two share (`rlvr.evaluate.compare_sets`); several
pairs, one per training seed (BASE TRAINED BASE2 TRAINED2 ...), read the gain over seeds and problems
(`rlvr.evaluate.gains.compare_seeds`). The command line and the pipeline's compare stage both build a
`CompareJob` and call `run_compare`, so they read, check, print and decide the same way; `rlvr plan` reads
its pairs through `CompareJob.check` too. The options keep the command's flag names in their messages
(`--resamples`, `--json`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from rlvr._errors import ConfigError

MAX_RESAMPLES = 100_000  # bootstrap draws are (resamples, tasks) integers: 10**9 of them asked for 44.7 GiB

EvalPairs = list[tuple[dict[str, Any], dict[str, Any]]]  # (base record, trained record) per training seed


@dataclass(frozen=True)
class CompareJob:
    """One comparison: eval files in (base, trained) pairs, the paired bootstrap, the smallest pass@1 gain that
    matters, and where the comparison goes as JSON."""

    base: str  # eval file of the base model
    trained: str  # eval file of the trained model
    more: tuple[str, ...] = ()  # further BASE TRAINED files in pairs, one pair per training seed
    resamples: int = 2000  # paired bootstrap resamples, 1 to MAX_RESAMPLES
    seed: int = 0  # the bootstrap's seed
    delta: float | None = None  # the decision's delta, a pass@1 difference; None: rlvr.evaluate.decide.DELTA
    json: str | None = None  # where to write the comparison; None: print only

    def check(self) -> tuple[EvalPairs, float]:
        """(the (base, trained) records, delta): every option, the JSON output (never an input) and every eval
        file checked, before any bootstrap runs; the first problem is one sentence (ConfigError, DataError)."""
        from rlvr._io import check_not_input, read_json_file
        from rlvr.evaluate.runner import check_eval_record

        delta = check_delta(self.delta)
        if len(self.more) % 2:
            raise ConfigError(f"give eval files in pairs, BASE TRAINED per seed; {self.more[-1]} has no partner.")
        if self.json and self.more:
            check_not_input(self.json, self.more, "--json")
        pairs = [read_eval_pair(self.base, self.trained, resamples=self.resamples, seed=self.seed, json=self.json)]
        more = [check_eval_record(read_json_file(path, "eval file"), path, need_samples=True) for path in self.more]
        return pairs + list(zip(more[::2], more[1::2])), delta


def run_compare(job: CompareJob, *, say: Callable[[str], Any] = print) -> dict[str, Any]:
    """Check, compare, hand the text to `say` and write `job.json`; returns the comparison: for one pair every
    shared task set's (`{"sets": {name: comparison}, "warning": ...}`), for several the reading over seeds.

    The JSON file holds, for one pair of single-set files, that set's plain comparison record (as it did
    before eval files had sets); otherwise the returned record."""
    from rlvr.evaluate import write_eval
    from rlvr.evaluate.gains import compare_seeds, compare_sets, format_compare_seeds, format_comparison_sets

    pairs, delta = job.check()
    if len(pairs) > 1:
        result = compare_seeds(pairs, resamples=job.resamples, seed=job.seed, delta=delta)
        say(format_compare_seeds(result))
        record = result
    else:
        result = compare_sets(*pairs[0], resamples=job.resamples, seed=job.seed, delta=delta)
        say(format_comparison_sets(result))  # one set: that set's comparison alone
        record = next(iter(result["sets"].values())) if len(result["sets"]) == 1 else result
    if job.json:
        write_eval(record, job.json)
    return result


def read_eval_pair(base: str, trained: str, *, resamples: int, seed: int, json: str | None,
                   inputs: Iterable[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """The base and trained eval records, for compare and boundary: `resamples`, `seed` and the `json` output
    (writable, and none of the eval files or `inputs`) checked, then both files read and checked (an empty
    `samples` list refused), all before any work."""
    from rlvr._io import check_not_input, check_writable, read_json_file
    from rlvr.evaluate.runner import check_eval_record
    from rlvr.models.generation import check_seed

    if not 1 <= resamples <= MAX_RESAMPLES:
        raise ConfigError(f"--resamples must be from 1 to {MAX_RESAMPLES:,} (the intervals settle long before), "
                          f"got {resamples}.")
    check_seed(seed, "--seed")
    if json:
        check_writable(json, "--json")
        check_not_input(json, [base, trained, *inputs], "--json")
    base_record, trained_record = (check_eval_record(read_json_file(path, "eval file"), path, need_samples=True)
                                   for path in (base, trained))
    return base_record, trained_record


def check_delta(delta: float | None) -> float:
    """`delta`, or the default: a pass@1 difference strictly between 0 and 1 (one sentence naming --delta if not)."""
    from math import isfinite

    from rlvr.evaluate.decide import DELTA

    if delta is None:
        return DELTA
    if not (isfinite(delta) and 0 < delta < 1):
        raise ConfigError(f"--delta must be a pass@1 difference between 0 and 1 (e.g. 0.05), got {delta}.")
    return delta
