"""What this host offers the sandbox: its tools, their features, and the interpreter's packages.

Static facts, each asked once per process where it costs a subprocess; which isolation kinds
actually work is decided by running a test child (`_sandbox._probe`)."""

from __future__ import annotations

import functools
import os
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass


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
def _bwrap_can_disable_userns(bwrap: str) -> bool:
    """Does this bubblewrap have --disable-userns (0.8 and later)? Asked once per binary."""
    try:
        done = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--disable-userns" in done.stdout


@functools.lru_cache(maxsize=None)
def _unshare_net_works(tools: _Tools) -> bool:
    if tools.unshare is None:
        return False
    try:
        done = subprocess.run([tools.unshare, "-r", "-n", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


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
