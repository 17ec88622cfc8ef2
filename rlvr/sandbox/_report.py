"""What one sandboxed run produced, as the parent saw it, and how the parent reads the
candidate's records into it (untrusted input: anything unexpected is a protocol error)."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

from rlvr.sandbox._child import decode_value


@dataclass(frozen=True)
class ErrorInfo:
    """An exception raised in a child, as it described it (untrusted: used for messages only)."""

    type: str
    line: str  # the last traceback line: "ZeroDivisionError: division by zero"
    where: str = ""  # "line 3, in solve", when it happened in the candidate's code
    memory: bool = False  # a MemoryError
    forbidden: bool = False  # a permission error from the sandbox (read-only fs, no network, ...)

    @classmethod
    def from_record(cls, record: object) -> ErrorInfo:
        if not isinstance(record, dict):
            raise ValueError("error record is not an object")
        return cls(
            type=str(record.get("type", "?"))[:100],
            line=str(record.get("line", ""))[:500],
            where=str(record.get("where", ""))[:200],
            memory=record.get("memory") is True,
            forbidden=record.get("forbidden") is True,
        )

    def __str__(self) -> str:
        return f"{self.line} ({self.where})" if self.where else self.line


@dataclass(frozen=True)
class Returned:
    """One call's outcome in `Sandbox.call`: a decoded plain value, or the exception it raised."""

    value: Any = None
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class ProcessExit:
    """How a child process ended: an exit code, a signal, or still running when killed."""

    code: int | None = None
    signal: int | None = None

    @classmethod
    def from_returncode(cls, returncode: int | None) -> ProcessExit:
        if returncode is None:
            return cls()
        if returncode < 0:
            return cls(signal=-returncode)
        if returncode > 128:  # bubblewrap reports a child killed by signal N as 128 + N
            return cls(code=returncode, signal=returncode - 128)
        return cls(code=returncode)

    def __str__(self) -> str:
        if self.signal is not None:
            try:
                return f"killed by {signal.Signals(self.signal).name}"
            except ValueError:
                return f"killed by signal {self.signal}"
        return "still running" if self.code is None else f"exit code {self.code}"


@dataclass(frozen=True)
class Report:
    """What one sandboxed run produced, as the parent saw it.

    timed_out:      the parent killed the run at the time limit.
    protocol_error: the candidate's channel carried something the harness never sends
                    (forged or malformed records): treat as a sandbox violation.
    load:           "ok", "syntax_error" or "error" once the candidate's code was executed
                    (None if it never said); load_error describes the failure.
    returns:        `call` only: one entry per finished call, in order.
    judge:          `judge` only: the judge's final record (trusted: it never runs candidate
                    code), e.g. {"result": "passed", "calls": 12}.
    exit:           how the process that reports ended (the candidate for `call`, the judge
                    for `judge`); candidate_exit: how the candidate process ended.
    output:         the tail of the candidate's stdout and stderr.
    """

    timed_out: bool = False
    protocol_error: str = ""
    load: str | None = None
    load_error: ErrorInfo | None = None
    returns: tuple[Returned, ...] = ()
    judge: dict | None = None
    exit: ProcessExit = ProcessExit()
    candidate_exit: ProcessExit = ProcessExit()
    output: str = ""
    wall_s: float = 0.0


def _read_calls(records: list, n_calls: int, error: str):
    """Check the candidate's records against the one sequence the harness sends:
    a load record, then (if it loaded) one record per call in order, then {"done": true}."""
    load, load_error, returns = None, None, []
    try:
        for position, record in enumerate(records):
            if not isinstance(record, dict):
                raise ValueError("a record is not an object")
            if position == 0:
                load = record.get("load")
                if load not in ("ok", "syntax_error", "error") or set(record) - {"load", "error"}:
                    raise ValueError("the first record is not a load record")
                load_error = ErrorInfo.from_record(record["error"]) if load != "ok" else None
            elif load != "ok":
                raise ValueError("records after a failed load")
            elif record == {"done": True} and len(returns) == n_calls and position == len(records) - 1:
                pass
            elif record.get("call") == len(returns) and len(returns) < n_calls and len(record) == 2:
                if "value" in record:
                    returns.append(Returned(value=decode_value(record["value"])))
                elif "error" in record:
                    returns.append(Returned(error=ErrorInfo.from_record(record["error"])))
                else:
                    raise ValueError("a call record has neither value nor error")
            else:
                raise ValueError(f"unexpected record {str(record)[:80]}")
    except (ValueError, TypeError, RecursionError) as exc:
        error = error or f"malformed result channel: {exc}"
    return load, load_error, returns, error
