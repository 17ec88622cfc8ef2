"""rlvr's worker processes start the way multiprocessing's `spawn` starts any: by importing the parent's main script
again (as `__mp_main__`). A script that trains, loads a model or verifies at import, outside
`if __name__ == "__main__":`, does all of that again in every worker that starts, and the worker never gets to its
own work. rlvr refuses in one sentence instead, on both sides:

- in the worker, `refuse_while_importing_main` (called where a run or a model load starts) stops the script at once,
  before it loads anything;
- in the parent, a verifier pool whose first worker exited before it was ready raises instead of paying every
  check 0 as "failed to start" (rlvr/verifiers/_execution.py).
"""

from __future__ import annotations

import multiprocessing

from rlvr._errors import RlvrError

MAIN_GUARD = ("a script that trains, loads a model or verifies when it is imported must do so under "
              "`if __name__ == \"__main__\":` (rlvr's worker processes start by importing the main script)")


def importing_main() -> bool:
    """Whether this process is a spawned worker still importing its parent's main script (multiprocessing's own
    test, `spawn._check_not_importing_main`)."""
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def refuse_while_importing_main(what: str) -> None:
    """Raise (one sentence) when `what` starts inside a worker process's import of the main script."""
    if importing_main():
        raise RlvrError(f"{what} started while a worker process was importing the main script: {MAIN_GUARD}.")
