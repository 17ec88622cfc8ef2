"""A script that verifies, loads a model or trains at import, without `if __name__ == "__main__":`: rlvr's worker
processes start by importing it again (multiprocessing's spawn). rlvr stops in one sentence instead of paying every
check 0 as "failed to start" (rlvr/_spawn.py, rlvr/verifiers/_execution.py)."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap

import pytest

from rlvr._errors import RlvrError
from rlvr.models import load_policy
from rlvr.train.config import TrainConfig
from rlvr.train.trainer import Trainer

VERIFY = r'print(get_verifier("math").verify_batch([("\\boxed{4}", "4"), ("\\boxed{5}", "4")], workers=2))'


def _run(tmp_path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_an_unguarded_script_that_verifies_stops_with_one_sentence(tmp_path):
    done = _run(tmp_path, f"from rlvr.verifiers import get_verifier\n{VERIFY}\n")
    assert done.returncode != 0
    assert "runtime_error" not in done.stdout  # before: every check paid 0, "verifier worker failed to start"
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("rlvr._errors.RlvrError: the verifier's first worker process exited")
    assert 'if __name__ == "__main__":' in last


def test_the_same_script_guarded_verifies(tmp_path):
    done = _run(tmp_path, f"from rlvr.verifiers import get_verifier\nif __name__ == '__main__':\n    {VERIFY}\n")
    assert done.returncode == 0, done.stderr
    assert "Verdict(reward=1.0, reason='ok'" in done.stdout and "reason='mismatch'" in done.stdout


def test_a_worker_importing_the_script_refuses_to_load_a_model(tmp_path):
    """In a real spawned worker: the model load the script asks for at import stops at once (the parent's load is
    left out here only to keep the test small)."""
    done = _run(tmp_path, f"""
        from rlvr._spawn import importing_main
        from rlvr.verifiers import get_verifier
        if importing_main():
            from rlvr.models import load_policy
            load_policy("smollm2-135m-instruct")
        {VERIFY}
    """)
    assert done.returncode != 0
    assert "RlvrError: loading a model started while a worker process was importing the main script" in done.stderr


def test_training_and_model_loads_refuse_inside_a_workers_import(monkeypatch, tmp_path):
    monkeypatch.setattr(multiprocessing.current_process(), "_inheriting", True, raising=False)
    with pytest.raises(RlvrError, match="^loading a model started while a worker process"):
        load_policy(tmp_path / "no-model-here")  # refused before the path is even looked at
    with pytest.raises(RlvrError, match="^training started while a worker process"):
        Trainer(TrainConfig())
