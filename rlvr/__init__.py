"""rlvr: reinforcement learning with verifiable rewards, and honest measurement of what it bought.

Kept import-light on purpose: verifier worker processes import this package, and
must not pay for torch or transformers.
"""

from rlvr._errors import ConfigError, DataError, ModelError, RlvrError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "ModelError", "RlvrError", "__version__"]
