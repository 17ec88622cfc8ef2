"""benchmarks/update_profile.py's accounting on a tiny model: the FLOPs it reads from a product's shapes, the
products timed alone, the page faults of an update, and a profiled update of a real (tiny) training run (its figures
on SmolLM2 are the README's)."""

from __future__ import annotations

import mmap
from pathlib import Path

import pytest
import torch

from conftest import load_script, write_tiny_run
from rlvr.train.config import load_config

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "update_profile.py"


@pytest.fixture(scope="module")
def script():
    return load_script(SCRIPT)


def test_product_flops_from_the_profilers_shapes(script):
    assert script.product_flops("aten::mm", [[8, 4], [4, 3]]) == 2 * 8 * 4 * 3
    assert script.product_flops("aten::addmm", [[3], [8, 4], [4, 3], [], []]) == 2 * 8 * 4 * 3
    assert script.product_flops("aten::bmm", [[5, 8, 4], [5, 4, 3]]) == 2 * 5 * 8 * 4 * 3
    assert script.product_flops("aten::add", [[8, 4], [8, 4]]) is None  # not a product
    assert script.product_flops("aten::mm", [[8, 4]]) is None  # a shape list it cannot read
    assert script.product_flops("aten::mm", []) is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("name", "shapes"), [("aten::mm", [[16, 8], [8, 4]]),
                                              ("aten::addmm", [[4], [16, 8], [8, 4], [], []]),
                                              ("aten::bmm", [[2, 16, 8], [2, 8, 4]])])
def test_each_product_runs_alone(script, name, shapes, dtype):
    assert 0 < script.isolated_seconds(name, shapes, dtype, repeats=2) < 1.0


def test_products_alone_sums_calls_and_times_each_shape_once(script, monkeypatch):
    timed = []

    def isolated(name, shapes, dtype, repeats=3):
        timed.append((name, str(shapes)))
        return 0.5

    monkeypatch.setattr(script, "isolated_seconds", isolated)
    products = [("aten::mm", [[8, 4], [4, 3]], 3, 0.25), ("aten::bmm", [[2, 8, 4], [2, 4, 3]], 1, 0.5),
                ("aten::mm", [[8]], 7, 9.0)]  # a shape it cannot read: in neither sum
    cache: dict = {}
    first = script.products_alone(products, torch.float32, cache)
    assert first == {"calls": 4, "flops": 3 * 2 * 8 * 4 * 3 + 2 * 2 * 8 * 4 * 3, "seconds": 0.75, "alone": 2.0}
    assert script.products_alone(products, torch.float32, cache) == first
    assert len(timed) == 2  # each readable shape once, the second update's from the cache


def test_usage_counts_the_faults_of_new_memory(script):
    pages = 2**14  # 64 MB of a fresh anonymous mapping, every page written: one fault each
    page = b"\x01" * mmap.PAGESIZE
    with mmap.mmap(-1, pages * mmap.PAGESIZE) as fresh:
        if hasattr(mmap, "MADV_NOHUGEPAGE"):  # a host whose transparent huge pages are always on
            fresh.madvise(mmap.MADV_NOHUGEPAGE)
        before, _ = script._usage()
        for _ in range(pages):
            fresh.write(page)
        after, system = script._usage()
    assert system >= 0
    assert after - before >= pages // 2  # at least half of them


@pytest.fixture
def tiny_run(tmp_path, monkeypatch):
    monkeypatch.setenv("RLVR_CACHE", str(tmp_path / "cache"))  # the peak probe's cache
    return load_config(write_tiny_run(tmp_path, run={"steps": 2}))


def test_a_profiled_update_has_its_products_by_shape_and_its_faults(script, tiny_run):
    (profile,) = script.profile_updates(tiny_run)  # step 1 warms up, step 2 is profiled
    assert profile["step"] == 2 and profile["wall_s"] > 0
    assert profile["faults"] >= 0 and profile["system_s"] >= 0
    names = {name for name, *_ in profile["products"]}
    assert names <= set(script.PRODUCTS) and "aten::mm" in names  # the linear layers' forward and backward
    assert all(count > 0 and seconds >= 0 for _, _, count, seconds in profile["products"])
    alone = script.products_alone(profile["products"], torch.float32)
    assert alone["calls"] == sum(count for *_, count, _ in profile["products"])  # every shape read
    assert alone["flops"] > 0 and alone["alone"] > 0
