"""Atomic writes: an error leaves the old file and no temporary; the file follows the umask."""

from __future__ import annotations

import json
import os
import stat

import pytest

from rlvr._io import atomic_write, write_json, write_jsonl


def test_an_error_while_writing_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_json({"old": True}, tmp_path / "a.json")

    def fail(f):
        f.write('{"new": ')
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert json.loads(target.read_text()) == {"old": True}
    assert os.listdir(tmp_path) == ["a.json"]


def test_json_lines_keep_unicode_and_files_get_the_umask(tmp_path):
    path = write_jsonl([{"text": "é"}, {"text": "x"}], tmp_path / "sub" / "rows.jsonl")
    assert path.read_text(encoding="utf-8") == '{"text": "é"}\n{"text": "x"}\n'
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
