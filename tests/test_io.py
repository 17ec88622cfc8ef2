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


# ------------------------------------------------------------------------------------------
# Issue 22: an output is never an input, inputs are regular files, stale temporaries go.


def _dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_writers_temporary_is_removed_by_the_next_write_and_a_live_ones_is_kept(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f".out.json.{dead}.0badc0de.tmp"  # as a write killed before os.replace leaves it
    live = tmp_path / f".out.json.{os.getpid()}.0123abcd.tmp"  # another writer, still at work
    other = tmp_path / f".other.json.{dead}.0badc0de.tmp"  # another target's: not this write's business
    lookalike = tmp_path / f".out.json.{dead}.tmp"  # not a name atomic_write makes
    for path in (stale, live, other, lookalike):
        path.write_text("partial")
    write_json({"new": True}, tmp_path / "out.json")
    assert sorted(os.listdir(tmp_path)) == sorted(["out.json", live.name, other.name, lookalike.name])
    assert json.loads((tmp_path / "out.json").read_text()) == {"new": True}


@pytest.mark.parametrize("link", ["same name", "other name", "symlink", "hard link"])
def test_an_output_that_is_an_input_is_refused_through_links(link, tmp_path):
    from rlvr._io import check_not_input

    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("{}\n")
    output = {"same name": tasks, "other name": tmp_path / "sub" / ".." / "tasks.jsonl",
              "symlink": tmp_path / "link.jsonl", "hard link": tmp_path / "hard.jsonl"}[link]
    if link == "symlink":
        output.symlink_to(tasks)
    if link == "hard link":
        os.link(tasks, output)
    (tmp_path / "sub").mkdir()
    with pytest.raises(ConfigError, match="is the input file .* choose another output path"):
        check_not_input(output, [tmp_path / "missing.json", tasks], "--output")
    # and the other way round: the input given through the link, the output by its real name
    if link in ("symlink", "hard link"):
        with pytest.raises(ConfigError, match="is the input file"):
            check_not_input(tasks, [output], "--output")


def test_an_output_apart_from_the_inputs_passes_and_a_folder_holding_one_is_refused(tmp_path):
    from rlvr._io import check_not_input

    (tmp_path / "data").mkdir()
    tasks = tmp_path / "data" / "tasks.jsonl"
    tasks.write_text("{}\n")
    check_not_input(tmp_path / "out.jsonl", [tasks, tmp_path / "missing.jsonl"], "--output")  # a new file
    check_not_input(tmp_path / "data" / "out.jsonl", [tasks], "--output")  # beside the input is fine
    with pytest.raises(ConfigError, match="holds the input file"):
        check_not_input(tmp_path / "data", [tasks], "--output-dir")


@pytest.mark.parametrize("kind", ["FIFO", "directory", "character device"])
def test_an_input_that_is_not_a_regular_file_is_refused_without_opening_it(kind, tmp_path):
    from rlvr._io import read_json_file, read_text_file

    path = {"FIFO": tmp_path / "rules.yaml", "directory": tmp_path, "character device": "/dev/null"}[kind]
    if kind == "FIFO":
        os.mkfifo(path)  # opening it would block until a writer came: the test would hang
    for read in (read_text_file, read_json_file):
        with pytest.raises(ConfigError, match=f"rules file {path} is a {kind}, not a regular file"):
            read(path, "rules file")


def test_a_symlink_to_a_regular_input_file_is_read(tmp_path):
    from rlvr._io import read_json_file

    (tmp_path / "real.json").write_text('{"a": 1}')
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    assert read_json_file(tmp_path / "link.json", "eval file") == {"a": 1}


def test_a_json_file_over_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from rlvr._io import MAX_JSON_BYTES, MAX_JSON_ENV, read_json_file

    sparse = tmp_path / "eval.json"
    with open(sparse, "wb") as f:  # 2 GiB of zeros that take no disk; reading it would take 2 GiB of memory
        f.truncate(2 << 30)
    assert os.stat(sparse).st_size > MAX_JSON_BYTES
    with pytest.raises(ConfigError, match=f"eval file {sparse} is 2.0 GiB, more than the 1.0 GiB .*{MAX_JSON_ENV}"):
        read_json_file(sparse, "eval file")
    small = tmp_path / "small.json"
    small.write_text('{"tasks": [1, 2, 3]}')
    monkeypatch.setenv(MAX_JSON_ENV, "10")
    with pytest.raises(ConfigError, match="more than the"):
        read_json_file(small, "eval file")
    monkeypatch.setenv(MAX_JSON_ENV, "100")
    assert read_json_file(small, "eval file") == {"tasks": [1, 2, 3]}


def test_a_scripts_output_folder_is_emptied_only_when_it_holds_only_its_own_files(tmp_path):
    from rlvr._io import replace_own_folder

    own = lambda name: name.startswith("seed")  # noqa: E731
    run = tmp_path / "run"
    (run / "seed0").mkdir(parents=True)
    (run / "seed0" / "metrics.jsonl").write_text("{}\n")
    assert replace_own_folder(run, own, "--output-dir") == run and list(run.iterdir()) == []
    (run / "thesis.tex").write_text("years of work")
    with pytest.raises(ConfigError, match="holds 'thesis.tex', which this script did not write"):
        replace_own_folder(run, own, "--output-dir")
    assert (run / "thesis.tex").read_text() == "years of work"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is not a directory"):
        replace_own_folder(tmp_path / "file", own, "--output-dir")
    assert replace_own_folder(tmp_path / "new" / "dir", own, "--output-dir").is_dir()
