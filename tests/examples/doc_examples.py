"""The worked examples of docs/extending.md, read from the page: a test runs exactly what a reader copies.

Each example is written into a scratch folder as a file of its own and run with this Python, as a user
runs a script outside the package: `rlvr` comes from the installed package, nothing from the tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "extending.md"
README = Path(__file__).resolve().parents[2] / "README.md"  # the environment example lives in the README
MAX_LINES = 19  # "each under 20 lines"
_BLOCK = re.compile(r"<!-- example: ([\w-]+) -->\n```python\n(.*?)```", re.S)


def examples() -> dict[str, str]:
    """The examples by name (the `<!-- example: NAME -->` line above each block), the page's and the README's."""
    return {name: code for page in (PAGE, README) for name, code in _BLOCK.findall(page.read_text(encoding="utf-8"))}


def run_example(name: str, folder: Path, filename: str, *args: str, timeout: int = 900
                ) -> subprocess.CompletedProcess:
    """Write example `name` to folder/filename and run it there with `args`; returns the finished process."""
    code = examples()[name]
    assert len(code.splitlines()) <= MAX_LINES, f"the {name} example has {len(code.splitlines())} lines"
    (folder / filename).write_text(code, encoding="utf-8")
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}
    return subprocess.run([sys.executable, filename, *args], cwd=folder, capture_output=True, text=True,
                          timeout=timeout, env=env)
