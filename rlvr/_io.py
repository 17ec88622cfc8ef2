"""Atomic file writes: a crash or an error never leaves a half-written file behind.

Every file rlvr writes for a user (eval records, task files, datasets, reports, summaries)
goes to a temporary file in the same folder, which then replaces the target in one
`os.replace`; on any error the temporary file is removed and the target is untouched.
The file gets the user's umask like any file opened for writing.

Only a regular file is ever replaced. `os.replace` onto a device node, a FIFO or a symlink
would swap it for a regular file (as root, `-o /dev/full` would turn the device into a
file; a symlink would be replaced, not followed), so any other existing path is refused
with a ConfigError before anything is written. A write killed before its `os.replace` leaves
its temporary `.NAME.PID.RAND.tmp`; the next write of NAME removes those whose process is gone.

No output may be an input (`check_not_input`): `-o tasks.jsonl` on the task file would replace
it. Inputs are read only from regular files (`check_input_file`): a FIFO would block the read
forever, a device would never end. A JSON document is read only up to MAX_JSON_BYTES.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

from rlvr._errors import ConfigError, DataError

MAX_JSON_BYTES = 1 << 30  # 1 GiB: a bigger JSON document (a sparse file, a wrong path) is refused, not read
MAX_JSON_ENV = "RLVR_MAX_JSON_BYTES"  # a larger limit in bytes, for an eval file that really is that big

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
    _remove_stale_temporaries(path)
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


def _remove_stale_temporaries(path: Path) -> None:
    """Remove `.NAME.PID.RAND.tmp` files of `path` left by a writer that was killed: only those whose PID
    is no live process, so another process writing the same file at this moment keeps its temporary."""
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        pid, sep, rest = name[len(prefix):].partition(".")
        if not (name.startswith(prefix) and sep and pid.isdigit() and rest.endswith(".tmp") and rest.count(".") == 1):
            continue
        if _alive(int(pid)):
            continue
        try:
            os.unlink(path.parent / name)
        except OSError:
            pass  # gone already, or not ours to remove: it does no harm


def _alive(pid: int) -> bool:
    """Whether a process `pid` exists (one of another user counts: its file is not ours to judge)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


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


def check_not_input(output: str | os.PathLike, inputs: Iterable[str | os.PathLike], what: str) -> None:
    """ConfigError, before any work, if the output `what` (e.g. "--output") is one of `inputs`: the same
    file under another name or through a link (same device and inode), or, for an output folder, a
    folder that holds an input. Missing inputs are skipped: their reader reports them."""
    out = Path(output)
    target = _identity(out)
    for source in inputs:
        identity = _identity(Path(source))
        if identity is None:
            continue
        if identity == target:
            raise ConfigError(f"{what} {out} is the input file {source}; writing it would destroy the input, "
                              "so choose another output path.")
        if target is not None and out.is_dir() and _under(Path(source), out):
            raise ConfigError(f"{what} {out} holds the input file {source}; choose an output folder apart from "
                              "the inputs.")


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of `path` with links followed, or None when it does not exist."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _under(path: Path, folder: Path) -> bool:
    try:
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))
    except (OSError, ValueError):
        return False


def check_input_file(path: str | os.PathLike, what: str) -> Path:
    """`path` if it is a regular file (links followed); else ConfigError naming `what`, found by stat
    rather than open, so a FIFO never blocks and a device is never read."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise ConfigError(f"{what} {path} is {kind}, not a regular file; give the path of a file.")
    return path


def replace_own_folder(root: str | os.PathLike, own: Callable[[str], bool], what: str) -> Path:
    """Empty `root` for a new run of a script that writes it (a benchmark's output folder), and return it.
    ConfigError, before anything is deleted, when `root` is not a directory or holds an entry `own(name)` does
    not recognise as the script's: a mistyped --output-dir never costs a user their files."""
    path = Path(root)
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"{what} {path} exists and is not a directory; give a new folder.")
        stray = sorted(name for name in os.listdir(path) if not own(name))
        if stray:
            raise ConfigError(f"{what} {path} holds {stray[0]!r}, which this script did not write; give a new "
                              "folder or empty that one yourself.")
        shutil.rmtree(path)
    path.mkdir(parents=True)
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
    """The UTF-8 text of `path`; ConfigError naming `what` (e.g. "rules file") when it cannot be read
    or is not a regular file."""
    check_input_file(path, what)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None


def read_json_file(path: str | os.PathLike, what: str) -> Any:
    """One JSON document from `path`; ConfigError naming the file for anything unreadable or larger
    than MAX_JSON_BYTES (checked before reading: a sparse file of gigabytes takes no disk)."""
    size, limit = os.stat(check_input_file(path, what)).st_size, _max_json_bytes()
    if size > limit:
        raise ConfigError(f"{what} {path} is {size / 2**30:.1f} GiB, more than the {limit / 2**30:.1f} GiB rlvr "
                          f"reads as JSON; check the path, or set {MAX_JSON_ENV} to a larger number of bytes.")
    return parse_json(read_text_file(path, what), f"{what} {path}")


def _max_json_bytes() -> int:
    text = os.environ.get(MAX_JSON_ENV, "")
    if not text:
        return MAX_JSON_BYTES
    if not text.isdigit():
        raise ConfigError(f"{MAX_JSON_ENV} must be a whole number of bytes, got {text!r}.")
    return int(text)


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
