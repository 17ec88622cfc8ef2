"""Atomic writes: an error leaves the old file and no temporary; the file follows the umask;
anything but a regular file (FIFO, symlink, device, directory) is refused, never replaced."""

from __future__ import annotations

import json
import os
import stat

import pytest

from rlvr._errors import ConfigError
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


# ------------------------------------------------------------------------------------------
# Only regular files are replaced: os.replace would swap anything else for a regular file.


def _writers(path):
    """Each public writer aimed at `path`."""
    return [
        lambda: atomic_write(path, lambda f: f.write("new")),
        lambda: write_json({"new": True}, path),
        lambda: write_jsonl([{"new": True}], path),
    ]


def test_a_fifo_is_refused_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "out.jsonl"
    os.mkfifo(fifo)
    for write in _writers(fifo):
        with pytest.raises(ConfigError, match=f"{fifo} is a FIFO"):
            write()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["out.jsonl"]  # no temporary left behind


def test_a_symlink_is_refused_and_neither_it_nor_its_target_changes(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    for write in _writers(link):
        with pytest.raises(ConfigError, match=f"{link} is a symbolic link"):
            write()
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "old" and not target.is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["link.json", "real.json"]


def test_a_dangling_symlink_is_refused_too(tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="symbolic link"):
        write_json({}, link)
    assert link.is_symlink() and not (tmp_path / "missing.json").exists()


def test_a_device_node_is_refused_before_anything_is_written(monkeypatch):
    # /dev/null only, and never at risk: the refusal happens at an lstat, before any file is
    # created, and should a writer get as far as replacing, the guard stops it (so the test
    # fails instead of turning the device into a file). The device is checked unchanged.
    def must_not_replace(src, dst, *args, **kwargs):
        raise AssertionError(f"the writer tried to replace {dst}")

    monkeypatch.setattr(os, "replace", must_not_replace)
    monkeypatch.setattr(os, "rename", must_not_replace)
    before = os.lstat("/dev/null")
    assert stat.S_ISCHR(before.st_mode)
    with pytest.raises(ConfigError, match="/dev/null is a character device"):
        write_json({"new": True}, "/dev/null")
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev, after.st_mode) == (before.st_ino, before.st_rdev, before.st_mode)
    assert not [name for name in os.listdir("/dev") if name.startswith(".null.")]


def test_a_directory_is_refused(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        write_json({}, folder)
    assert folder.is_dir()


def test_the_refusal_is_one_sentence_that_says_what_to_do(tmp_path):
    fifo = tmp_path / "out.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as info:
        write_jsonl([], fifo)
    message = str(info.value)
    assert message.count(". ") == 0 and message.endswith(".") and "\n" not in message
    assert str(fifo) in message and "give the path of a regular file" in message
