"""The public entry point, and the choice of the strongest isolation that works on this host."""

from __future__ import annotations

import functools
import warnings
from typing import Literal, Sequence

from rlvr._errors import ConfigError
from rlvr.sandbox._child import encode_value
from rlvr.sandbox._host import _Tools, _tools
from rlvr.sandbox._limits import IsolationKind, SandboxLimits
from rlvr.sandbox._reference import _prepare_tests
from rlvr.sandbox._report import Report
from rlvr.sandbox._runner import _Runner

_PREFERENCE: tuple[IsolationKind, ...] = ("bwrap", "unshare", "none")


class Sandbox:
    """Runs candidate code under the strongest isolation the host allows.

        >>> box = Sandbox(SandboxLimits(timeout=5))
        >>> box.call("def f(x):\\n    return x * 2\\n", "f", [([21], {})]).returns[0].value
        42

    isolation: "auto" picks bwrap, else unshare; naming one insists on it. Without either,
    construction raises ConfigError unless allow_unsandboxed=True, which warns loudly.
    """

    def __init__(
        self,
        limits: SandboxLimits = SandboxLimits(),  # noqa: B008 (frozen: safe to share)
        allow_unsandboxed: bool = False,
        isolation: Literal["auto", "bwrap", "unshare"] = "auto",
    ) -> None:
        self.limits = limits
        self.kind = _choose_isolation(isolation, allow_unsandboxed)
        self._runner = _Runner(self.kind, limits, _tools())

    def __repr__(self) -> str:
        return f"Sandbox(kind={self.kind!r}, limits={self.limits})"

    def call(self, code: str, entry_point: str, calls: Sequence[tuple[Sequence, dict]]) -> Report:
        """Run `code`, then `entry_point(*args, **kwargs)` for each call; values come back decoded."""
        encoded = [[encode_value(list(args)), encode_value(dict(kwargs))] for args, kwargs in calls]
        return self._runner.call(code, entry_point, encoded)

    def judge(self, code: str, tests: str, prelude: str = "", entry_point: str | None = None) -> Report:
        """Run `tests` in the judge against the candidate `code`.

        prelude:     trusted code run in the judge before the tests (HumanEval's prompt, for
                     helpers such as `poly`); names it defines are not taken from the candidate.
        entry_point: HumanEval style: after the tests are defined, call `check(<entry_point>)`.
        """
        return self._runner.judge(code, _prepare_tests(tests, prelude, entry_point), entry_point)


def _choose_isolation(isolation: str, allow_unsandboxed: bool) -> IsolationKind:
    if isolation not in ("auto", "bwrap", "unshare"):
        raise ConfigError(f"sandbox isolation must be 'auto', 'bwrap' or 'unshare', got {isolation!r}.")
    wanted: tuple[IsolationKind, ...] = ("bwrap", "unshare") if isolation == "auto" else (isolation,)
    reasons = {}
    for kind in wanted:
        reasons[kind] = _probe(kind)
        if not reasons[kind]:
            return kind
    why = "; ".join(f"{kind}: {reason}" for kind, reason in reasons.items())
    if not allow_unsandboxed:
        raise ConfigError(
            f"no sandbox for untrusted code is available here ({why}); install bubblewrap "
            "(apt-get install bubblewrap) or pass allow_unsandboxed=True to run it without one."
        )
    if _probe("none"):
        raise ConfigError(f"cannot run untrusted code at all here: {_probe('none')}.")
    warnings.warn(
        f"RUNNING UNTRUSTED CODE WITHOUT A SANDBOX ({why}): only rlimits and a time limit "
        "apply; the code can read and write your files. Install bubblewrap to fix this.",
        RuntimeWarning,
        stacklevel=3,
    )
    return "none"


# ------------------------------------------------------------------------------------------
# Probing the host: which isolation kinds work here (cached per process and kind).


@functools.lru_cache(maxsize=None)
def _probe(kind: IsolationKind) -> str:
    """Run a trivial child under `kind`; return "" if it works, else why not."""
    tools = _tools()
    missing = [name for name in _required_tools(kind, tools) if getattr(tools, name) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH"
    if kind == "unshare" and not tools.root:
        return "needs root (to create namespaces and drop to an unprivileged uid)"
    try:
        report = _Runner(kind, SandboxLimits(timeout=20.0), tools).ping()
    except OSError as exc:
        return f"could not start it: {exc}"
    return "" if report else "a test child did not start under it"


def _required_tools(kind: IsolationKind, tools: _Tools) -> list[str]:
    needed = ["prlimit"]
    if kind == "bwrap":
        needed += ["bwrap"] + (["setpriv"] if tools.root else [])
    elif kind == "unshare":
        needed += ["unshare", "setpriv", "sh"]
    return needed


def available_isolation() -> dict[str, str]:
    """Each isolation kind mapped to "" when it works on this host, or why it does not."""
    return {kind: _probe(kind) for kind in _PREFERENCE}
