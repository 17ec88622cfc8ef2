"""The repository explains itself: no file in it cites a document that is not in it.

A reader who clones the repository has only what is in it; a comment that sends them to a design
note kept somewhere else sends them nowhere. The design is docs/architecture.md.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Spelled in pieces so that this file does not name them itself.
OUTSIDE = ["DESIGN" + ".md", "STYLE" + ".md", "KNOWLEDGE" + ".md", "../" + "shared", "/work/" + "shared"]
TEXT = {".py", ".md", ".txt", ".toml", ".yaml", ".yml", ".json", ".jsonl", ".sh", ".cfg", ".ini", ".html", ".in"}


def _files() -> list[Path]:
    """The repository's files: tracked ones and new ones git does not ignore (or every file outside caches and
    build folders when this is not a git checkout)."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, timeout=60, check=True).stdout
        return [REPO / line for line in out.splitlines() if line]
    except (OSError, subprocess.SubprocessError):
        skip = {".git", "__pycache__", ".pytest_cache", "build", "dist", ".venv"}
        return [p for p in REPO.rglob("*") if p.is_file() and not skip & set(p.relative_to(REPO).parts)
                and not any(part.endswith(".egg-info") for part in p.relative_to(REPO).parts)]


def _mentions(text: str) -> list[str]:
    return [name for name in OUTSIDE if name in text]


def test_the_check_sees_a_mention():
    assert _mentions("as " + OUTSIDE[0] + " draws it") == [OUTSIDE[0]]
    assert _mentions("see docs/architecture.md") == []


def test_no_file_cites_a_document_outside_the_repository():
    files = [p for p in _files() if p.suffix in TEXT or p.name in ("README", "LICENSE")]
    assert any(p.name == "test_architecture.py" for p in files)  # the listing really covers the tests
    found = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        found += [f"{path.relative_to(REPO)}: {name}" for name in _mentions(text)]
    assert found == []
