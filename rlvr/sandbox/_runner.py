"""The parent side of a run: spawn the children, watch their pipes until done or the
deadline, kill everything they started, and turn what they sent into a Report."""

from __future__ import annotations

import binascii
import dataclasses
import json
import os
import secrets
import select
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

from rlvr.sandbox._command import _child_env, _child_program, _CommandLine
from rlvr.sandbox._reference import _PreparedTests
from rlvr.sandbox._report import ProcessExit, Report, _read_calls

_MAX_MESSAGE = 8 << 20  # bytes in one result line (one serialised return value)
_MAX_RESULTS = 32 << 20  # bytes the parent accepts from one child's result channel
_OUTPUT_TAIL = 8 << 10  # bytes of the candidate's stdout/stderr kept for debugging
_EXIT_GRACE_S = 0.25  # how long a child that has reported everything may take to exit


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


class _Runner(_CommandLine):
    """Spawns children under one isolation kind and turns what they send into Reports."""

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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _tail(data: bytearray) -> str:
    return bytes(data[-_OUTPUT_TAIL:]).decode("utf-8", "replace")
