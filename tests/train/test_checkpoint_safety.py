"""A checkpoint's trainer_state.pt is data: it is read by torch's weights-only unpickler, so a file that names code
(a pickle calls whatever it names while it loads) is refused with one sentence before any model loads, and nothing
it names runs. Checkpoints of earlier versions (numpy's RNG state as an array) still load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write_tiny_run
from rlvr._errors import ConfigError
from rlvr.train.config import load_config
from rlvr.train.runtime.checkpoint import numpy_rng_state, read_trainer_state, set_numpy_rng_state
from rlvr.train.trainer import Trainer, train


class _Opens:
    """Unpickled, it calls builtins.open on `path` (creating the file): the side effect that must not happen."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_a_state_that_names_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"step": 2, "scheduler": _Opens(marker)}, tmp_path / "trainer_state.pt")
    with pytest.raises(ConfigError, match=r"holds more than tensors and plain values \(it names [\w.]*open\), so "
                                          "rlvr will not load it"):  # io.open: builtins.open's own name
        read_trainer_state(tmp_path / "trainer_state.pt")
    with pytest.raises(ConfigError, match="will not load it"):
        read_trainer_state(tmp_path / "trainer_state.pt", mmap=True)
    assert not marker.exists()
    torch.load(tmp_path / "trainer_state.pt", weights_only=False)["scheduler"].close()  # the unsafe load runs it
    assert marker.exists()


def test_a_damaged_state_is_one_sentence(tmp_path):
    (tmp_path / "trainer_state.pt").write_bytes(b"PK\x03\x04 cut off")
    with pytest.raises(ConfigError, match="cannot be read .* the checkpoint is damaged"):
        read_trainer_state(tmp_path / "trainer_state.pt")


def test_numpy_rng_state_round_trips_in_both_formats(tmp_path):
    np.random.seed(7)
    np.random.random(3)  # a position inside the key array
    ours, theirs = numpy_rng_state(), np.random.get_state()  # this version's, and earlier versions' (an ndarray)
    expected = np.random.random(5)
    torch.save({"rng": {"numpy": ours}}, tmp_path / "new.pt")
    torch.save({"rng": {"numpy": theirs}}, tmp_path / "old.pt")
    for name in ("new.pt", "old.pt"):
        saved = read_trainer_state(tmp_path / name)["rng"]["numpy"]
        np.random.seed(0)
        set_numpy_rng_state(saved)
        assert np.array_equal(np.random.random(5), expected), name
    assert isinstance(ours[1], torch.Tensor)  # no numpy object in what this version writes


@pytest.fixture
def run_with_checkpoint(tmp_path):
    config = write_tiny_run(tmp_path, run={"checkpoint_every": 1})
    train(load_config(config), progress=False)
    return tmp_path


def test_resume_reads_its_own_checkpoint_and_refuses_one_that_names_code(run_with_checkpoint, monkeypatch):
    root = run_with_checkpoint
    state = root / "run" / "checkpoints" / "step-1" / "trainer_state.pt"
    written = torch.load(state, weights_only=True)  # what train wrote needs no allowed name at all
    assert written["step"] == 1 and isinstance(written["rng"]["numpy"][1], torch.Tensor)
    train(load_config(root / "config.yaml", ["run.steps=2"]), resume=True, progress=False)  # and resumes from it
    assert [json.loads(line)["step"] for line in (root / "run" / "metrics.jsonl").read_text().splitlines()] == [1, 2]

    latest = root / "run" / "checkpoints" / "step-2" / "trainer_state.pt"
    marker = root / "ran"
    torch.save({**torch.load(latest, weights_only=True), "health": _Opens(marker)}, latest)
    import rlvr.train.trainer as trainer_module

    def no_model(*args, **kwargs):
        raise AssertionError("the model loaded before the checkpoint was checked")

    monkeypatch.setattr(trainer_module, "load_policy", no_model)
    with pytest.raises(ConfigError, match="will not load it"):
        Trainer(load_config(root / "config.yaml", ["run.steps=3"]), resume=True, progress=False)
    assert not marker.exists()
