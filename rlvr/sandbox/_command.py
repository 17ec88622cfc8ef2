"""How a sandboxed child is started: the command line for each isolation kind (prlimit,
bubblewrap or unshare, setpriv), its environment, and the program it runs."""

from __future__ import annotations

import functools
import marshal
import math
import os
import shlex
import sys
from pathlib import Path

from rlvr.sandbox._host import _bwrap_can_disable_userns, _count_own_processes, _site_dirs, _Tools, _unshare_net_works
from rlvr.sandbox._limits import IsolationKind, SandboxLimits

_HIDDEN_TMPFS = 1 << 20  # size of the tmpfs that hides root-only directories (unshare)
_SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # the bwrap root
_CHILD_SOURCE = Path(__file__).with_name("_child.py")  # run in the child as text, never imported there


class _CommandLine:
    """How a child starts under one isolation kind: its command line, environment and program."""

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


# What `python -c` runs: read the job fd, which holds the compiled child code (`_child.py`,
# marshalled for the same interpreter) and then the job as JSON. Compiling once in the parent
# saves each child about 10 ms.
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
    """The code every child runs (`_child.py`, read once per process), compiled, with its length in front."""
    code = marshal.dumps(compile(_CHILD_SOURCE.read_text(encoding="utf-8"), "<rlvr-sandbox>", "exec"))
    return len(code).to_bytes(4, "big") + code
