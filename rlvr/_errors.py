"""The exceptions rlvr raises on purpose.

    RlvrError            a problem the user can fix; its message is one sentence
     ├── ConfigError     a bad option, config value or command-line argument
     ├── DataError       a malformed task file, eval file or dataset (names file and line)
     └── ModelError      a model that cannot be found, loaded, or run (e.g. out of memory)

The CLI prints the message of any RlvrError and exits with status 2; every other
exception is a bug in rlvr and keeps its traceback.
"""

from __future__ import annotations


class RlvrError(Exception):
    """A problem the user can fix. The message says what to do."""


class ConfigError(RlvrError, ValueError):
    """A bad option, config value or command-line argument."""


class DataError(RlvrError, ValueError):
    """A malformed data file: the message names the file and line."""


class ModelError(RlvrError):
    """A model that cannot be found, loaded or run."""
