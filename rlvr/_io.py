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

from rlvr._errors import ConfigError, DataError

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


def check_writable(path: str | os.PathLike, what: str) -> Path:
    """ConfigError, before any work starts, unless `path` can be created or replaced as a regular file.

    `what` names the option in the message (e.g. "--output"). Refused: an existing directory, FIFO,
    device, socket or symlink; a path under a regular file; a folder rlvr may not write into.
    """
    path = Path(path)
    _refuse_special(path)
    _check_folder(path.parent, f"{what} {path}")
    return path


def check_directory(path: str | os.PathLike, what: str) -> Path:
    """ConfigError unless `path` is a writable directory or can be created as one."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} exists and is not a directory; give a new or existing directory.")
    _check_folder(path, f"{what} {path}")
    return path


def _check_folder(folder: Path, where: str) -> None:
    """The nearest existing ancestor of `folder` (it is created later) must be a writable directory."""
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    existing = existing if str(existing) else Path(".")
    if not existing.is_dir():
        raise ConfigError(f"cannot write {where}: {existing} is not a directory; choose another path.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {where}: the folder {existing} is not writable; choose another path.")


def read_text_file(path: str | os.PathLike, what: str) -> str:
    """The UTF-8 text of `path`; ConfigError naming `what` (e.g. "rules file") when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None


def read_json_file(path: str | os.PathLike, what: str) -> Any:
    """One JSON document from `path`; ConfigError naming the file for anything unreadable."""
    return parse_json(read_text_file(path, what), f"{what} {path}")


def parse_json(text: str, where: str) -> Any:
    """json.loads, with every failure (syntax, nesting too deep, a number too long) one DataError on `where`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where} is not valid JSON (line {exc.lineno}: {exc.msg}).") from None
    except RecursionError:
        raise DataError(f"{where} nests arrays or objects too deeply to read; flatten it.") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise DataError(f"{where} cannot be read as JSON: {str(exc).split(':')[0]}.") from None


def write_json(record: Any, path: str | os.PathLike, **dump_options: Any) -> Path:
    """One JSON document, indented; `dump_options` go to `json.dump` (e.g. allow_nan=False)."""
    return atomic_write(path, lambda f: json.dump(record, f, indent=1, **dump_options))


def write_jsonl(rows: Iterable[Any], path: str | os.PathLike) -> Path:
    """One JSON object a line (UTF-8 as is, not escaped)."""
    return atomic_write(path, lambda f: f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
