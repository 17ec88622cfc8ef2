"""Atomic file writes: a crash or an error never leaves a half-written file behind.

Every file rlvr writes for a user (eval records, task files, datasets, reports, summaries)
goes to a temporary file in the same folder, which then replaces the target in one
`os.replace`; on any error the temporary file is removed and the target is untouched.
The file gets the user's umask like any file opened for writing.

Only a regular file is ever replaced. `os.replace` onto a device node, a FIFO or a symlink
would swap it for a regular file (as root, `-o /dev/full` would turn the device into a
file; a symlink would be replaced, not followed), so any other existing path is refused
with a ConfigError before anything is written.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

from rlvr._errors import ConfigError

_KINDS = (  # what an existing path is, for the refusal message
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def atomic_write(path: str | os.PathLike, write: Callable[[TextIO], None], *, sync: bool = False) -> Path:
    """Create or replace `path` with what `write(file)` writes; `sync` flushes to disk first.

    Raises ConfigError, before writing anything, when `path` exists and is not a regular file.
    """
    path = Path(path)
    _refuse_special(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            write(f)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _refuse_special(path: Path) -> None:
    """ConfigError if `path` exists and is anything but a regular file (a symlink is not followed)."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return  # a new file (a missing parent folder is created, or fails, later)
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise ConfigError(f"{path} is {kind}, which rlvr will not replace; give the path of a regular file or a new one.")


def write_json(record: Any, path: str | os.PathLike, **dump_options: Any) -> Path:
    """One JSON document, indented; `dump_options` go to `json.dump` (e.g. allow_nan=False)."""
    return atomic_write(path, lambda f: json.dump(record, f, indent=1, **dump_options))


def write_jsonl(rows: Iterable[Any], path: str | os.PathLike) -> Path:
    """One JSON object a line (UTF-8 as is, not escaped)."""
    return atomic_write(path, lambda f: f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
