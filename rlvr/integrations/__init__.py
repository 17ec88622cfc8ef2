"""Adapters that let rlvr verifiers run inside the trainers users already run (TRL, verl)."""
