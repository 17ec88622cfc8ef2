"""Attacks on the code verifier's sandbox: each must fail closed and leave the host untouched.

Each row of ATTACKS is (reference form, candidate code, acceptable reasons). Where it can,
an attack is written so that *succeeding* would make its answer right: it returns a + b
only if it read the secret, reached the listener, wrote the file, ... So a reward of 1.0
means the sandbox let the attack through, not merely that an answer was wrong. After every
row the `host` fixture checks that nothing outside the sandbox changed. The whole table runs
under every isolation kind this host offers (bubblewrap, and unshare when root).

The second half checks the sandbox's own properties: hard rlimits, a clean environment, no
view of the parent, a private working directory, no network, refusal without isolation.
"""

from __future__ import annotations

import dataclasses
import doctest
import os
import select
import shutil
import socket
import string
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import rlvr.sandbox as sandbox
from rlvr._errors import ConfigError
from rlvr.sandbox import Sandbox, SandboxLimits, _child, _command, _host, _runner, _sandbox, decode_value, encode_value
from rlvr.verifiers.code import CodeVerifier

P = pytest.param
TIMEOUT = 1.5
REPO = Path(__file__).resolve().parents[2]

REFERENCES = {
    "cases": {"entry_point": "solve", "cases": [{"args": [2, 3], "expected": 5}, {"args": [10, 20], "expected": 30}]},
    "tests": {"tests": "assert solve(2, 3) == 5\nassert solve(10, 20) == 30\n"},
    "check": {
        "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(10, 20) == 30\n",
        "entry_point": "solve",
    },
    # tests that use `math` without importing it, and tests that iterate over calls with map()
    "tests-math": {"tests": "assert math.isclose(solve(2, 3), 5.0)\nassert math.isclose(solve(10, 20), 30.0)\n"},
    "check-math": {
        "test": "def check(candidate):\n    assert math.isclose(candidate(2, 3), 5.0)\n"
        "    assert math.isclose(candidate(10, 20), 30.0)\n",
        "entry_point": "solve",
    },
    "tests-map": {"tests": "assert all(map(lambda ab: solve(*ab) == sum(ab), [(2, 3), (10, 20)]))\n"},
    # tests that use numpy as `np` without importing it (an installed module under an alias)
    "tests-np": {"tests": "assert np.isclose(solve(2, 3), 5.0)\nassert np.isclose(solve(10, 20), 30.0)\n"},
    "check-map": {
        "test": "def check(candidate):\n"
        "    assert all(map(lambda ab: candidate(*ab) == sum(ab), [(2, 3), (10, 20)]))\n",
        "entry_point": "solve",
    },
}

# Code fragments. $-placeholders are filled from the `host` fixture: $owned (a directory the
# test owns), $keep (a file in it), $repo_file, $port (a listener), $secret, $pid (the test
# process), $marker (a unique argument for processes that must not survive).
WRONG = "def solve(a, b):\n    return -1\n"
IGNORE_SIGNALS = (
    "import signal\nfor s in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):\n"
    "    signal.signal(s, signal.SIG_IGN)\n"
)
FORK_BOMB = """
import os
def solve(a, b):
    while True:
        try:
            os.fork()
        except OSError:
            pass
"""
FORK_BURST = """
import os
for _ in range(64):
    try:
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "$marker"])
    except OSError:
        break
def solve(a, b):
    return -1
"""
ORPHAN = """
import os
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["sleep", "$marker"])
    os._exit(0)
def solve(a, b):
    return -1
"""
LEAVE_THE_GROUP = """
import os
try:
    os.setsid()
except OSError:
    pass
os.execv("/bin/sleep", ["sleep", "$marker"])
"""
CONNECT = """
import socket
def solve(a, b):
    try:
        socket.create_connection(("127.0.0.1", $port), timeout=1).close()
    except OSError:
        return -1
    return a + b
"""


def succeeded_if(setup: str) -> str:
    """Code that returns the right answer only if `setup` (indented, may raise OSError) worked."""
    body = "\n".join("    " + line for line in setup.strip().splitlines())
    return f"import os\ntry:\n{body}\n    WORKED = True\nexcept OSError:\n    WORKED = False\n" + (
        "def solve(a, b):\n    return a + b if WORKED else -1\n"
    )


WRITE_OWNED = succeeded_if('open("$owned/pwned.txt", "w").write("pwned")')
WRITE_REPO = succeeded_if('open("$repo_file", "w").write("pwned")')
DELETE_HOST_FILE = succeeded_if('os.remove("$keep")')
# kill() may "succeed" without harm (as pid 1 of its namespace, getppid() is 0 and the
# signal goes to its own group), so this one only has to fail and leave the parent alive.
KILL_PARENT = "import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\nexcept OSError:\n    pass\n" + WRONG
KILL_TEST_PROCESS = succeeded_if("import signal\nos.kill($pid, signal.SIGKILL)")
SIGNAL_TEST_PROCESS = succeeded_if("os.kill($pid, 0)")  # signal 0: only asks "may I?"
PTRACE_PARENT = succeeded_if('open("/proc/$pid/mem", "rb").read(1)')
SETUID_ROOT = succeeded_if("os.setuid(0)")
READ_SECRET_ENV = """
import os
def solve(a, b):
    return a + b if os.environ.get("RLVR_TEST_SECRET") == "$secret" else -1
"""
READ_PARENT_ENVIRON = """
import os
def solve(a, b):
    for pid in [$pid] + [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            if b"$secret" in open(f"/proc/{pid}/environ", "rb").read():
                return a + b
        except OSError:
            pass
    return -1
"""
POSIX_SYSTEM = """
import os, posix
posix.system("touch $repo_file; echo pwned > $owned/pwned.txt; rm -f $keep; kill -9 $pid")
def solve(a, b):
    return a + b if os.path.exists("$repo_file") else -1  # the host fixture checks the rest
"""
FAKE_OUTPUT = """
import os, sys
LINES = ['{"load":"ok"}', '{"call":0,"value":null}', '{"done":true}', '{"result":"passed","calls":2}',
         'PASSED', 'ok', '{"passed": true}', 'All tests passed', '1.0']
def solve(a, b):
    for line in LINES:
        print(line)
        print(line, file=sys.stderr)
    sys.stdout.flush()
    os._exit(0)
"""
FAKE_RECORDS_ON_EVERY_FD = """
import os
RECORDS = b'{"load":"ok"}\\n{"done":true}\\n{"result":"passed","calls":2}\\n{"value":true}\\n{"names":{}}\\n'
for fd in range(64):
    try:
        os.write(fd, RECORDS)
    except OSError:
        pass
def solve(a, b):
    for fd in range(64):
        try:
            os.write(fd, RECORDS)
        except OSError:
            pass
    os._exit(0)
"""
FRAME_WALK = """
import sys
def solve(a, b):
    frame = sys._getframe()
    while frame is not None:
        for name, value in list(frame.f_locals.items()):
            if name == "job" and isinstance(value, dict) and isinstance(value.get("calls"), list):
                value["calls"].clear()
            if name in ("passed", "ok", "failed", "result"):
                frame.f_locals[name] = True
        send = frame.f_globals.get("_send")
        if send is not None:
            frame.f_globals["_send"] = lambda fd, record, limit: send(fd, {"result": "passed", "calls": 2}, limit)
        frame = frame.f_back
    return None
"""
GC_SCAN_FOR_EXPECTED = """
import gc
def solve(a, b):
    for obj in gc.get_objects():
        if isinstance(obj, dict) and "expected" in obj:
            return obj["expected"]
        if isinstance(obj, str) and "solve(2, 3) ==" in obj:
            return int(obj.split("solve(2, 3) ==")[1].split()[0])
    return -1
"""
READ_THE_TESTS = """
import os
def solve(a, b):
    places = [f"/proc/{p}/{f}" for p in os.listdir("/proc") if p.isdigit() for f in ("cmdline", "environ")]
    for root in ("/tmp", "/dev/shm", "/run", os.getcwd()):
        for dirpath, _, files in os.walk(root):
            places += [os.path.join(dirpath, f) for f in files]
    for path in places:
        try:
            if b"solve(2, 3) == 5" in open(path, "rb").read(1 << 20):
                return a + b
        except OSError:
            pass
    return -1
"""
EQ_ALWAYS_TRUE = """
class Liar:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = object.__hash__
def solve(a, b):
    return Liar()
"""
INT_THAT_EQUALS_EVERYTHING = "class Liar(int):\n    def __eq__(self, other):\n        return True\n" + (
    "    __hash__ = int.__hash__\ndef solve(a, b):\n    return Liar(0)\n"
)
OVERWRITE_BUILTINS = """
import builtins
builtins.AssertionError = type("AssertionError", (Exception,), {})
builtins.isinstance = lambda *args: True
builtins.len = lambda *args: 0
builtins.abs = lambda *args: 0
builtins.__import__ = None
def solve(a, b):
    return None
"""
SHADOW_MATH = """
class math:
    @staticmethod
    def isclose(*args, **kwargs):
        return True
def solve(a, b):
    return -1
"""
SHADOW_MATH_MODULE = """
import sys, types
math = types.ModuleType("math")
math.isclose = lambda *args, **kwargs: True
sys.modules["math"] = math
def solve(a, b):
    return -1
"""
SHADOW_NP = SHADOW_MATH.replace("class math:", "class np:")
SHADOW_NP_MODULE = SHADOW_MATH_MODULE.replace('"math"', '"numpy"').replace("math", "np")
RAISE_STOP_ITERATION = "def solve(a, b):\n    raise StopIteration\n"
# The candidate's harness describes its exceptions to the judge; patched, it claims a StopIteration.
FORGED_STOP_ITERATION = """
import sys
frame = sys._getframe()
while frame is not None:
    if "_describe" in frame.f_globals:
        frame.f_globals["_describe"] = lambda exc: {"type": "StopIteration", "line": "StopIteration",
                                                    "builtins": ["StopIteration", "Exception"]}
    frame = frame.f_back
def solve(a, b):
    raise ValueError
"""
# A user namespace, uid 0 in it, then network and mount namespaces of its own; Python 3.12 has
# os.unshare, older ones go through libc.
NESTED_NAMESPACES = """
import ctypes, os
def unshare(flags):
    if hasattr(os, "unshare"):
        os.unshare(flags)
    elif ctypes.CDLL(None, use_errno=True).unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
try:
    uid = os.getuid()
    unshare(getattr(os, "CLONE_NEWUSER", 0x10000000))
    open("/proc/self/setgroups", "w").write("deny")
    open("/proc/self/uid_map", "w").write(f"0 {uid} 1")
    unshare(getattr(os, "CLONE_NEWNET", 0x40000000) | getattr(os, "CLONE_NEWNS", 0x00020000))
    WORKED = os.getuid() == 0
except OSError:
    WORKED = False
def solve(a, b):
    return a + b if WORKED else -1
"""
# io_uring: a large kernel attack surface; the seccomp filter refuses its three calls (425-427
# on x86_64 and aarch64, the architectures the filter covers).
IO_URING = """
import ctypes, os
def solve(a, b):
    if os.uname().machine not in ("x86_64", "aarch64"):
        return -1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
    ring = libc.syscall(425, 8, params)  # io_uring_setup(8 entries)
    return a + b if ring >= 0 else -1
"""
MONKEYPATCH_CHECK = """
import sys
def check(candidate):
    return True
_rlvr_assert_equal = lambda *args: True
import __main__, builtins
__main__.check = builtins.check = check
def solve(a, b):
    return None
"""

# fmt: off
ATTACKS = [
    # -- time -----------------------------------------------------------------------------------
    P("cases", "def solve(a, b):\n    while True:\n        pass\n", {"timeout"}, id="infinite-loop"),
    P("tests", "while True:\n    pass\n", {"timeout"}, id="infinite-loop-at-import"),
    P("cases", "import time\ndef solve(a, b):\n    time.sleep(100)\n    return a + b\n", {"timeout"}, id="sleep-100"),
    P("check", IGNORE_SIGNALS + "def solve(a, b):\n    while True:\n        pass\n", {"timeout"},
      id="ignore-sigterm-sigalrm"),
    P("tests", "while True:\n    print('x' * 10000)\n", {"timeout"}, id="stdout-flood"),
    # -- memory -----------------------------------------------------------------------------------
    P("cases", "def solve(a, b):\n    return len([0] * 10**10)\n", {"memory"}, id="memory-bomb"),
    P("tests", "blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))\n", {"memory", "timeout"},
      id="memory-bomb-at-import"),  # timeout too: on a loaded machine, touching 512 MB may take 1.5 s
    P("cases", "def solve(a, b):\n    return str(a + b) * (9 << 20)\n", {"runtime_error"}, id="huge-return-value"),
    P("check", "def solve(a, b):\n    x = []\n    for _ in range(10**5):\n        x = [x]\n    return x\n",
      {"runtime_error"}, id="deeply-nested-return-value"),
    # -- processes ----------------------------------------------------------------------------------
    P("cases", FORK_BOMB, {"timeout"}, id="fork-bomb"),
    P("check", FORK_BURST, {"mismatch"}, id="fork-burst"),
    P("tests", ORPHAN, {"mismatch"}, id="orphan-outlives-the-check"),
    P("cases", LEAVE_THE_GROUP, {"timeout"}, id="leave-the-process-group"),
    # -- network, files, environment ---------------------------------------------------------------
    P("cases", CONNECT, {"mismatch"}, id="connect-to-host-listener"),
    P("cases", WRITE_OWNED, {"mismatch"}, id="write-test-owned-dir"),
    P("tests", WRITE_REPO, {"mismatch"}, id="write-repo-dir"),
    P("cases", DELETE_HOST_FILE, {"mismatch"}, id="delete-host-file"),
    P("cases", "def solve(a, b):\n    for i in range(40):\n        open(f'f{i}', 'wb').write(bytes(15 << 20))\n",
      {"runtime_error", "mismatch", "timeout"}, id="fill-the-disk"),
    P("cases", READ_SECRET_ENV, {"mismatch"}, id="read-parent-env-var"),
    P("cases", READ_PARENT_ENVIRON, {"mismatch"}, id="read-parent-proc-environ"),
    P("cases", POSIX_SYSTEM, {"mismatch"}, id="posix-system"),
    # -- signals and privileges ----------------------------------------------------------------------
    P("cases", KILL_PARENT, {"mismatch", "runtime_error"}, id="kill-getppid"),
    P("tests", KILL_TEST_PROCESS, {"mismatch"}, id="kill-test-process"),
    P("cases", SIGNAL_TEST_PROCESS, {"mismatch"}, id="may-signal-test-process"),
    P("cases", PTRACE_PARENT, {"mismatch"}, id="read-test-process-memory"),
    P("check", SETUID_ROOT, {"mismatch"}, id="setuid-root"),
    # -- fake success -----------------------------------------------------------------------------------
    P("cases", FAKE_OUTPUT, {"runtime_error"}, id="fake-success-on-stdout-cases"),
    P("check", FAKE_OUTPUT, {"runtime_error"}, id="fake-success-on-stdout-check"),
    # Which fds exist in the child depends on what the test process has open (CI runs with other
    # descriptors than a terminal): the reason may differ, the reward may not.
    P("cases", FAKE_RECORDS_ON_EVERY_FD, {"forbidden", "runtime_error"}, id="fake-records-on-every-fd-cases"),
    P("tests", FAKE_RECORDS_ON_EVERY_FD, {"forbidden", "runtime_error"}, id="fake-records-on-every-fd-tests"),
    # -- the harness -----------------------------------------------------------------------------------
    P("cases", FRAME_WALK, {"mismatch", "runtime_error", "forbidden"}, id="frame-walk-cases"),
    P("tests", FRAME_WALK, {"mismatch", "runtime_error", "forbidden"}, id="frame-walk-tests"),
    P("cases", GC_SCAN_FOR_EXPECTED, {"mismatch"}, id="gc-scan-for-expected-cases"),
    P("tests", GC_SCAN_FOR_EXPECTED, {"mismatch"}, id="gc-scan-for-expected-tests"),
    P("tests", READ_THE_TESTS, {"mismatch"}, id="read-the-tests-from-anywhere"),
    P("cases", "import os\nos.closerange(0, 64)\n" + WRONG, {"runtime_error", "mismatch"}, id="close-all-fds"),
    # -- lying equality, patched builtins, patched check ------------------------------------------------
    P("cases", EQ_ALWAYS_TRUE, {"runtime_error"}, id="eq-always-true-cases"),
    P("tests", EQ_ALWAYS_TRUE, {"mismatch"}, id="eq-always-true-tests"),
    P("check", EQ_ALWAYS_TRUE, {"mismatch"}, id="eq-always-true-check"),
    P("cases", INT_THAT_EQUALS_EVERYTHING, {"mismatch"}, id="int-subclass-eq-cases"),
    P("tests", INT_THAT_EQUALS_EVERYTHING, {"mismatch"}, id="int-subclass-eq-tests"),
    P("tests", OVERWRITE_BUILTINS, {"mismatch", "runtime_error"}, id="overwrite-builtins"),
    P("check", MONKEYPATCH_CHECK, {"mismatch"}, id="monkeypatch-check"),
    # -- names the tests share with the candidate: standard modules are the judge's own ------------
    P("tests-math", SHADOW_MATH, {"mismatch"}, id="class-math-isclose-true-tests"),
    P("check-math", SHADOW_MATH, {"mismatch"}, id="class-math-isclose-true-check"),
    P("tests-math", SHADOW_MATH_MODULE, {"mismatch"}, id="fake-math-module-tests"),
    # -- installed modules too, under their conventional alias: `np` is the judge's numpy ------------
    P("tests-np", SHADOW_NP, {"mismatch"}, id="class-np-isclose-true-tests"),
    P("tests-np", SHADOW_NP_MODULE, {"mismatch"}, id="fake-np-module-tests"),
    # -- a StopIteration from the candidate must not end the tests' map() early (PEP 479) ----------
    P("tests-map", RAISE_STOP_ITERATION, {"runtime_error"}, id="stopiteration-ends-map-tests"),
    P("check-map", RAISE_STOP_ITERATION, {"runtime_error"}, id="stopiteration-ends-map-check"),
    P("cases", RAISE_STOP_ITERATION, {"runtime_error"}, id="stopiteration-cases"),
    P("tests-map", FORGED_STOP_ITERATION, {"runtime_error"}, id="forged-stopiteration-record-tests-map"),
    P("check-map", FORGED_STOP_ITERATION, {"runtime_error"}, id="forged-stopiteration-record-check-map"),
    # -- nested namespaces: a user namespace, uid 0 in it, then net and mount namespaces ------------
    P("cases", NESTED_NAMESPACES, {"mismatch"}, id="nested-user-namespace-cases"),
    P("tests", NESTED_NAMESPACES, {"mismatch"}, id="nested-user-namespace-tests"),
    P("check", NESTED_NAMESPACES, {"mismatch"}, id="nested-user-namespace-check"),
    # -- io_uring is refused by the same seccomp filter ------------------------------------------------
    P("cases", IO_URING, {"mismatch"}, id="io-uring-setup-cases"),
    P("tests", IO_URING, {"mismatch"}, id="io-uring-setup-tests"),
]
# fmt: on

EXITS = {
    "sys-exit": "import sys\nsys.exit(0)",
    "os-exit": "import os\nos._exit(0)",
    "raise-systemexit": "raise SystemExit(0)",
}
for _form in REFERENCES:
    for _name, _exit in EXITS.items():
        _in_call = "def solve(a, b):\n" + "\n".join("    " + line for line in _exit.splitlines()) + "\n"
        ATTACKS.append(P(_form, _exit + "\n" + WRONG, {"runtime_error"}, id=f"{_name}-at-import-{_form}"))
        ATTACKS.append(P(_form, _in_call, {"runtime_error"}, id=f"{_name}-in-call-{_form}"))


def _kinds() -> list[str]:
    return [kind for kind, why in sandbox.available_isolation().items() if kind != "none" and not why]


@pytest.fixture(scope="module", params=_kinds())
def verifier(request) -> CodeVerifier:
    return CodeVerifier(timeout=TIMEOUT, memory_mb=512, isolation=request.param)


@pytest.fixture
def host(monkeypatch):
    """Things outside the sandbox that attacks go after; checked untouched afterwards."""
    uids: list[int] = []  # the sandbox uids of this test's children (when the parent is root)
    new_uid = _runner._new_uid
    monkeypatch.setattr(_runner, "_new_uid", lambda: uids.append(new_uid()) or uids[-1])
    owned = Path(tempfile.mkdtemp(prefix="rlvr-attack-owned-"))
    keep = owned / "keep.txt"
    keep.write_text("keep me")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    secret = uuid.uuid4().hex
    monkeypatch.setenv("RLVR_TEST_SECRET", secret)
    values = {
        "owned": str(owned),
        "keep": str(keep),
        "repo_file": str(REPO / f"rlvr-pwned-{uuid.uuid4().hex}.txt"),
        "port": str(listener.getsockname()[1]),
        "secret": secret,
        "pid": str(os.getpid()),
        "marker": f"31.{uuid.uuid4().int % 10**9}",
    }
    yield values
    try:
        assert sorted(p.name for p in owned.iterdir()) == ["keep.txt"] and keep.read_text() == "keep me"
        assert not Path(values["repo_file"]).exists()
        assert select.select([listener], [], [], 0)[0] == [], "the listener got a connection"
        assert _processes_with(values["marker"]) == [], "a sandboxed process outlived the check"
        assert _processes_of(uids) == [], "a sandboxed process outlived the check"
    finally:
        listener.close()
        shutil.rmtree(owned, ignore_errors=True)
        Path(values["repo_file"]).unlink(missing_ok=True)


def _processes_with(marker: str) -> list[int]:
    """Live processes whose command line holds `marker` (given a moment to die)."""
    return _live_processes(lambda pid: marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes())


def _processes_of(uids: list[int]) -> list[int]:
    """Live (not zombie) processes running as one of `uids` (given a moment to die)."""
    return _live_processes(lambda pid: os.stat(f"/proc/{pid}").st_uid in uids) if uids else []


def _live_processes(matches) -> list[int]:
    for _ in range(20):
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
                if state != b"Z" and matches(pid):
                    found.append(int(pid))
            except (OSError, IndexError):
                pass
        if not found:
            return []
        time.sleep(0.1)
    return found


@pytest.mark.parametrize("form, code, reasons", ATTACKS)
def test_attack_fails_closed(verifier, host, form, code, reasons):
    completion = string.Template(code).substitute(host)
    start = time.monotonic()
    verdict = verifier.verify(completion, REFERENCES[form])
    elapsed = time.monotonic() - start
    assert verdict.reward == 0.0, verdict
    assert verdict.reason in reasons, verdict
    assert elapsed < TIMEOUT + 2.0, f"took {elapsed:.1f} s"


def test_the_honest_solution_passes_every_form(verifier):
    """The attack table is only meaningful if the same references accept a right answer."""
    for reference in REFERENCES.values():
        assert verifier.verify("def solve(a, b):\n    return a + b\n", reference).passed


# ------------------------------------------------------------------------------------------
# Properties of the sandbox itself

LIMIT_NAMES = ["RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE"]
INSPECT = """
import os, resource, socket
def inspect(parent_pid):
    raised = []
    for name in %r:
        soft, hard = resource.getrlimit(getattr(resource, name))
        try:
            resource.setrlimit(getattr(resource, name), (hard, resource.RLIM_INFINITY))
            raised.append(name)
        except (ValueError, OSError):
            pass
    open("scratch.txt", "w").write("a working directory the candidate may write")
    written = []
    for path in ("/rlvr-x", "/etc/rlvr-x", "/usr/rlvr-x", "/var/tmp/rlvr-x", %r):
        try:
            open(path, "w").close()
            written.append(path)
        except OSError:
            pass
    return {
        "written": written,
        "limits": {n: resource.getrlimit(getattr(resource, n)) for n in %r},
        "raised": raised,
        "uid": os.getuid(),
        "env": dict(os.environ),
        "parent_visible": os.path.exists(f"/proc/{parent_pid}"),
        "cwd": os.getcwd(),
        "interfaces": [name for _, name in socket.if_nameindex()],
    }
""" % (LIMIT_NAMES, str(REPO / "rlvr-x"), LIMIT_NAMES)


@pytest.fixture(scope="module", params=_kinds())
def box(request) -> Sandbox:
    return Sandbox(SandboxLimits(timeout=5, memory_mb=512, max_processes=12, max_file_mb=8), isolation=request.param)


@pytest.fixture(scope="module")
def inside(box):
    os.environ["RLVR_TEST_SECRET"] = "parent-only"
    try:
        report = box.call(INSPECT, "inspect", [([os.getpid()], {})])
    finally:
        del os.environ["RLVR_TEST_SECRET"]
    assert report.returns and report.returns[0].error is None, report
    return report.returns[0].value


def test_rlimits_are_set_hard(inside):
    mib = 1 << 20
    limits = {name: tuple(value) for name, value in inside["limits"].items()}
    assert limits["RLIMIT_AS"] == (512 * mib, 512 * mib)
    assert limits["RLIMIT_NPROC"] == (12, 12) or os.geteuid() != 0  # as non-root it adds the user's count
    assert limits["RLIMIT_FSIZE"] == (8 * mib, 8 * mib)
    assert limits["RLIMIT_NOFILE"] == (64, 64)
    assert limits["RLIMIT_CORE"] == (0, 0)
    assert limits["RLIMIT_CPU"][0] <= 6 and limits["RLIMIT_CPU"][1] <= 7
    assert inside["raised"] == [], "the child raised its own hard limits"


def test_nothing_outside_the_working_directory_is_writable(inside):
    for path in inside["written"]:  # clean up before failing
        Path(path).unlink(missing_ok=True)
    assert inside["written"] == []


def test_process_limit_is_enforced(box):
    marker = f"31.{uuid.uuid4().int % 10**9}"
    code = (
        "import os\ndef f():\n    started = 0\n    while started < 100:\n        try:\n"
        "            if os.fork() == 0:\n                os.execv('/bin/sleep', ['sleep', '%s'])\n"
        "        except OSError:\n            return started\n        started += 1\n    return started\n" % marker
    )
    report = box.call(code, "f", [([], {})])
    assert report.returns and 1 <= report.returns[0].value < box.limits.max_processes, report
    assert _processes_with(marker) == []


def test_environment_is_minimal(inside):
    assert "RLVR_TEST_SECRET" not in inside["env"]
    assert set(inside["env"]) <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PWD"} | {
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
    }


def test_parent_is_out_of_reach(inside):
    assert not inside["parent_visible"], "the parent's pid is visible: no pid namespace"
    if os.geteuid() == 0:
        assert inside["uid"] != 0


def test_working_directory_is_private_and_removed(inside):
    assert not os.path.exists(inside["cwd"])


def test_no_network_but_loopback(inside):
    assert inside["interfaces"] == ["lo"]


NAMESPACES = """
import ctypes, errno, os, subprocess, threading
def attempts():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    machine = os.uname().machine
    clone = {"x86_64": 56, "aarch64": 220}.get(machine)
    result = {}
    try:
        if hasattr(os, "unshare"):  # Python 3.12
            os.unshare(os.CLONE_NEWUSER)
        elif libc.unshare(0x10000000) != 0:
            raise OSError(ctypes.get_errno(), "unshare")
        result["unshare"] = "created"
    except OSError as exc:
        result["unshare"] = errno.errorcode.get(exc.errno, str(exc.errno))
    if clone is not None:  # a raw clone(CLONE_NEWUSER | SIGCHLD), around libc
        pid = libc.syscall(clone, 0x10000000 | 17, 0, 0, 0, 0)
        if pid == 0:
            os._exit(0)
        result["clone"] = "created" if pid > 0 else errno.errorcode.get(ctypes.get_errno(), "?")
    done = []
    thread = threading.Thread(target=done.append, args=[1])
    thread.start()
    thread.join()
    child = os.fork()
    if child == 0:
        os._exit(3)
    result["still work"] = [
        done == [1],
        os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 3,
        subprocess.run(["/bin/echo", "x"], capture_output=True).stdout == b"x\\n",
    ]
    return result
"""


def test_nested_user_namespaces_are_refused(box):
    report = box.call(NAMESPACES, "attempts", [([], {})])
    assert report.returns and report.returns[0].error is None, report
    result = report.returns[0].value
    refused = {"EPERM", "ENOSPC", "EUSERS"}  # seccomp filter; bubblewrap's --disable-userns
    assert result["unshare"] in refused, result
    assert result.get("clone", "EPERM") in refused, result
    assert result["still work"] == [True, True, True], "threads, fork or subprocess broke"


IO_URING_CALLS = """
import ctypes, errno
def attempts():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
    calls = {  # without the filter: a ring fd, EBADF (no ring -1), EBADF
        "io_uring_setup": (425, 8, params),
        "io_uring_enter": (426, -1, 0, 0, 0, None, 0),
        "io_uring_register": (427, -1, 0, None, 0),
    }
    result = {}
    for name, args in calls.items():
        done = libc.syscall(*args)
        result[name] = "allowed" if done >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
    return result
"""


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="the filter covers x86_64 and aarch64")
def test_io_uring_is_refused(box):
    report = box.call(IO_URING_CALLS, "attempts", [([], {})])
    assert report.returns and report.returns[0].error is None, report
    refused = dict.fromkeys(("io_uring_setup", "io_uring_enter", "io_uring_register"), "EPERM")
    assert report.returns[0].value == refused


def test_unprivileged_bwrap_disables_nested_user_namespaces(monkeypatch):
    tools = dataclasses.replace(_host._tools(), root=False, bwrap=_host._tools().bwrap or "/usr/bin/bwrap")
    runner = _runner._Runner("bwrap", SandboxLimits(), tools)
    monkeypatch.setattr(_command, "_bwrap_can_disable_userns", lambda bwrap: True)
    assert runner._bwrap("/tmp/rlvr-x", 9)[1:4] == ["--unshare-all", "--unshare-user", "--disable-userns"]
    monkeypatch.setattr(_command, "_bwrap_can_disable_userns", lambda bwrap: False)  # bubblewrap before 0.8
    assert "--disable-userns" not in runner._bwrap("/tmp/rlvr-x", 9)
    if os.geteuid() == 0:  # as root --unshare-user would map the sandbox uid onto the host's root
        root = _runner._Runner("bwrap", SandboxLimits(), dataclasses.replace(tools, root=True))
        monkeypatch.setattr(_command, "_bwrap_can_disable_userns", lambda bwrap: True)
        assert "--unshare-user" not in root._bwrap("/tmp/rlvr-x", 9)


def test_timeout_kills_the_whole_group(box):
    marker = f"31.{uuid.uuid4().int % 10**9}"
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n    os.setsid()\n    os.execv('/bin/sleep', ['sleep', '%s'])\n"
        "def f():\n    while True:\n        time.sleep(0.01)\n" % marker
    )
    fast = Sandbox(SandboxLimits(timeout=1.0), isolation=box.kind)
    start = time.monotonic()
    report = fast.call(code, "f", [([], {})])
    assert report.timed_out and time.monotonic() - start < 3.0
    assert _processes_with(marker) == []


def test_refuses_to_run_without_isolation(monkeypatch):
    real_probe = _sandbox._probe
    monkeypatch.setattr(_sandbox, "_probe", lambda kind: "" if kind == "none" else "not on this host")
    with pytest.raises(ConfigError, match="install bubblewrap"):
        CodeVerifier()
    with pytest.raises(ConfigError, match="install bubblewrap"):
        Sandbox(isolation="bwrap")
    with pytest.warns(RuntimeWarning, match="WITHOUT A SANDBOX"):
        unsandboxed = CodeVerifier(allow_unsandboxed=True, timeout=5)
    assert unsandboxed._sandbox.kind == "none"
    monkeypatch.setattr(_sandbox, "_probe", real_probe)
    assert unsandboxed.verify("def solve(a, b):\n    return a + b\n", REFERENCES["cases"]).passed


def test_probe_runs_once_per_kind(monkeypatch):
    calls = []
    real_ping = _runner._Runner.ping
    monkeypatch.setattr(_runner._Runner, "ping", lambda self: calls.append(self.kind) or real_ping(self))
    _sandbox._probe.cache_clear()
    for _ in range(3):
        CodeVerifier()
    assert len(calls) == 1


@pytest.mark.parametrize(
    "value",
    [
        [1, "a", None, True, 2.5],
        (1, (2, 3)),
        {"a": 1, 2: [3], (4, 5): {6}},
        frozenset({1, 2}),
        b"\x00\xff",
        complex(1, -2),
        float("inf"),
        [],
    ],
)
def test_values_round_trip_as_plain_data(value):
    assert decode_value(encode_value(value)) == value
    assert type(decode_value(encode_value(value))) is type(value)


@pytest.mark.parametrize(
    "wire",
    [
        {"$eval": "1"},
        {"$tuple": 1},
        {"$dict": [[1]]},
        {"$ref": 0},
        {"$tuple": [], "$set": []},
        {"$float": "1e400"},
        {"$set": [[1, 2]]},  # unhashable
        {"a": 1},  # a JSON object is never a dict: dicts are tagged
    ],
)
def test_malformed_values_are_rejected(wire):
    with pytest.raises(ValueError):
        decode_value(wire)


def test_objects_are_not_plain_data():
    with pytest.raises(TypeError, match="not plain data"):
        encode_value([object()])


def test_doctests():
    for module in (_sandbox, _child):  # where the package's doctests live
        results = doctest.testmod(module)
        assert results.failed == 0 and results.attempted > 0
