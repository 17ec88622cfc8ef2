"""The host's peak (a matrix-product probe once a process, the best kept per host) and MFU against it."""

from __future__ import annotations

import json

import pytest
import torch

from rlvr.train.runtime.mfu import PEAK_FILE, host_key, host_peak, measure, mfu


def test_the_probe_keeps_the_best_rate_the_host_has_shown(tmp_path):
    (tmp_path / PEAK_FILE).write_text(json.dumps({"another host | torch 0": {"bf16": 1.0, "fp32": 2.0}}))
    peak = host_peak("cpu", cache=tmp_path)
    assert peak.bf16 > 0 and peak.fp32 > 0 and peak.device == host_key("cpu")
    cached = json.loads((tmp_path / PEAK_FILE).read_text())
    assert cached["another host | torch 0"] == {"bf16": 1.0, "fp32": 2.0}  # other hosts' entries are kept
    assert cached[host_key("cpu")]["bf16"] == peak.bf16
    # A probe slower than the kept best (a busy machine) does not lower it; a kept value no probe reaches
    # comes back as it is, and one every probe beats is replaced.
    cached[host_key("cpu")]["bf16"] = 1e18
    cached[host_key("cpu")]["fp32"] = 1.0
    (tmp_path / PEAK_FILE).write_text(json.dumps(cached))
    again = host_peak("cpu", cache=tmp_path)
    assert again.bf16 == 1e18 and 1.0 < again.fp32 < 1e18
    assert json.loads((tmp_path / PEAK_FILE).read_text())[host_key("cpu")] == {
        "bf16": 1e18, "fp32": again.fp32, "device": host_key("cpu")}


def test_a_process_probes_once(tmp_path, monkeypatch):
    from rlvr.train.runtime import mfu as module

    monkeypatch.setattr(module, "_MEASURED", {})
    calls = []
    monkeypatch.setattr(module, "measure", lambda device, dtype: calls.append(dtype) or 1e12)
    first, second = host_peak("cpu", cache=tmp_path / "a"), host_peak("cpu", cache=tmp_path / "b")
    assert first.bf16 == second.bf16 == 1e12 and len(calls) == 2  # bf16 and float32, once
    assert json.loads((tmp_path / "b" / PEAK_FILE).read_text())[host_key("cpu")]["fp32"] == 1e12


def test_an_unreadable_cache_is_measured_again(tmp_path):
    (tmp_path / PEAK_FILE).write_text("{not json")
    assert host_peak("cpu", cache=tmp_path).fp32 > 0
    assert host_key("cpu") in json.loads((tmp_path / PEAK_FILE).read_text())


def test_the_key_names_the_processor_the_torch_version_and_the_threads():
    key = host_key("cpu")
    assert torch.__version__ in key and f"{torch.get_num_threads()} threads" in key


def test_measure_is_a_rate_and_mfu_a_share():
    assert measure(torch.device("cpu"), torch.float32, size=64, seconds=0.0) > 0
    assert mfu(1e12, 2.0, 1e12) == pytest.approx(0.5)
    assert mfu(1e12, 2.0, 0.0) == 0.0


def test_the_probe_draws_nothing_from_the_runs_random_state():
    """The probe runs after the trainer seeds torch, once a process: drawing its matrices from the global
    generator would make a run's later draws depend on whether an earlier run in the process probed."""
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    measure(torch.device("cpu"), torch.bfloat16, size=32, seconds=0.0)
    assert torch.equal(torch.rand(3), expected)


def test_the_probe_is_the_best_of_its_sizes(monkeypatch):
    """One size is not the peak everywhere (AMX bf16: 1024 at 1.39 TFLOP/s, 2048 at 2.56): every size is probed
    and the best kept."""
    from rlvr.train.runtime import mfu as module

    monkeypatch.setitem(module._SIZES, "cpu", (64, 96))
    sizes = []
    real = module.measure

    def one(device, dtype, size=None, seconds=0.2):
        if size is None:
            return real(device, dtype, None, seconds)
        sizes.append(size)
        return {64: 2.0, 96: 3.0}[size]

    monkeypatch.setattr(module, "measure", one)
    assert module.measure(torch.device("cpu"), torch.bfloat16) == 3.0 and sizes == [64, 96]

