"""Adapters that let rlvr verifiers run inside the trainers users already run (TRL, verl).

    from rlvr.integrations import reward_func      # TRL: GRPOTrainer(reward_funcs=[reward_func("math")], ...)
    custom_reward_function.path: rlvr/integrations/verl.py, name: compute_score   # verl

Names load on first use: neither TRL nor verl is imported until an adapter is asked for.
"""

from __future__ import annotations

from rlvr._lazy import lazy_exports

_EXPORTS = {"completion_text": "trl", "reward_func": "trl", "compute_score": "verl", "route": "verl"}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
