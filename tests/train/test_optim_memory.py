"""The update's optimizer and memory: torch's fused AdamW where it runs, trained weights in memory of their own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from conftest import make_tiny_policy
from rlvr.train.runtime.optim import make_optimizer
from rlvr.train.trainer import _own_memory


def test_adamw_is_fused_for_plain_float_tensors_and_steps_like_the_element_wise_one():
    torch.manual_seed(0)
    start = [torch.randn(64, 32), torch.randn(32)]
    grads = [[torch.randn_like(t) for t in start] for _ in range(4)]
    results = []
    for fused in (True, False):
        params = [torch.nn.Parameter(t.clone()) for t in start]
        optimizer, scheduler = make_optimizer(params, 1e-2, 0.01, 1)
        if not fused:
            optimizer.param_groups[0]["fused"] = False  # the element-wise step, as before
        assert optimizer.param_groups[0]["fused"] is fused
        for step in grads:
            for p, g in zip(params, step):
                p.grad = g.clone()
            optimizer.step()
            scheduler.step()
        results.append(params)
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)  # the same step, rounded in another order


def test_adamw_is_not_fused_for_weights_on_the_meta_device():
    assert make_optimizer([torch.nn.Parameter(torch.zeros(3, device="meta"))], 1e-3, 0.0, 0)[0].defaults["fused"] \
        is False


def test_trained_weights_get_their_own_memory_and_stay_tied():
    model = make_tiny_policy().model
    model.lm_head.weight = model.model.embed_tokens.weight  # tied
    frozen = model.model.norm.weight
    frozen.requires_grad_(False)
    before = {name: (p.data_ptr(), p.detach().clone()) for name, p in model.named_parameters(remove_duplicate=False)}
    _own_memory(model)
    for name, p in model.named_parameters(remove_duplicate=False):
        pointer, values = before[name]
        assert (p.data_ptr() == pointer) is (not p.requires_grad), name  # copied when trained, kept when frozen
        torch.testing.assert_close(p.detach(), values, rtol=0, atol=0)
    assert model.lm_head.weight is model.model.embed_tokens.weight


_RSS_AFTER_FREE = """
import ctypes, os, sys
from rlvr.train.runtime.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
before = rss()
block = libc.malloc(256 * 2**20)
ctypes.memset(block, 1, 256 * 2**20)  # touched: resident
libc.free(block)
print(kept, (rss() - before) // 2**20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or not (os.confstr("CS_GNU_LIBC_VERSION") or "")
                    .startswith("glibc"), reason="glibc's malloc only")
def test_freed_memory_is_kept_for_reuse_only_when_asked(monkeypatch):
    """A freed 256 MB block: handed back to the system by default (its pages leave the process), kept after
    keep_freed_memory (the next allocation reuses them without faulting pages in again); RLVR_MALLOC=system
    leaves the allocator alone."""
    def run(mode, **env):
        out = subprocess.run([sys.executable, "-c", _RSS_AFTER_FREE, mode], capture_output=True, text=True,
                             check=True, env={**os.environ, **env}).stdout.split()
        return out[0] == "True", int(out[1])

    assert run("plain") == (False, 0)
    kept, resident = run("keep")
    assert kept and resident >= 250
    assert run("keep", RLVR_MALLOC="system") == (False, 0)


def test_rlvrs_commands_keep_freed_memory(monkeypatch):
    from rlvr.cli.main import main
    from rlvr.train.runtime import memory

    calls = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda: calls.append(1) or True)
    assert main(["models"]) == 0
    assert calls == [1]
