"""What a sandboxed run may use, and the isolation kinds it can run under."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from rlvr._errors import ConfigError

IsolationKind = Literal["bwrap", "unshare", "none"]


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
