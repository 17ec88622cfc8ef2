"""Atomic file writes: a crash or an error never leaves a half-written file behind.

Every file rlvr writes for a user (eval records, task files, datasets, reports, summaries)
goes to a temporary file in the same folder, which then replaces the target in one
`os.replace`; on any error the temporary file is removed and the target is untouched.
The file gets the user's umask like any file opened for writing.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO


def atomic_write(path: str | os.PathLike, write: Callable[[TextIO], None], *, sync: bool = False) -> Path:
    """Create or replace `path` with what `write(file)` writes; `sync` flushes to disk first."""
    path = Path(path)
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


def write_json(record: Any, path: str | os.PathLike, **dump_options: Any) -> Path:
    """One JSON document, indented; `dump_options` go to `json.dump` (e.g. allow_nan=False)."""
    return atomic_write(path, lambda f: json.dump(record, f, indent=1, **dump_options))


def write_jsonl(rows: Iterable[Any], path: str | os.PathLike) -> Path:
    """One JSON object a line (UTF-8 as is, not escaped)."""
    return atomic_write(path, lambda f: f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
