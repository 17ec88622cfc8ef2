"""The host's peak matrix-product rate, measured once and cached, and model FLOPs utilisation against it.

    peak = host_peak("cpu")                          # Peak(bf16=..., fp32=..., device="...")
    mfu(flops, seconds, peak.of("bf16"))             # the share of the peak a step's arithmetic ran at

The peak is what this host does, not a datasheet's figure: the best of a few square matrix products
(1024 and 2048 on a CPU, 8192 on a GPU) in bf16 and in float32, about a second in all, at the start of a process's
first run. One size is not enough: on the README's 2-core Intel Xeon with AMX a bf16 product of 1024 ran at 1.39
TFLOP/s and one of 2048 at 2.56 (1536 to 3072 alike), so a probe of 1024 alone read every bf16 MFU 1.7x too high;
the best rate a host has shown is kept in the rlvr cache dir (`$RLVR_CACHE`, default ~/.cache/rlvr, file
peak.json) under a key of the CPU model or GPU name, the torch version and, on a CPU, the thread count. A
probe on a busy machine reads low (and would make every MFU high); the kept best does not. The FLOPs a step needed
come from rlvr/models/flops.py.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from rlvr._io import write_json
from rlvr.models.loading import cache_dir

PEAK_FILE = "peak.json"
# The square products whose best rate is the peak: a CPU's matrix library reaches its best at different sizes in
# different precisions (AMX bf16 at 1536-3072, float32 at any of these).
_SIZES = {"cpu": (1024, 2048), "cuda": (8192,)}
_MEASURED: dict[str, dict[str, float]] = {}  # host key -> this process's probe: the runs of `rlvr demo` share it


@dataclass(frozen=True)
class Peak:
    """A host's measured matrix-product rate, FLOP/s, in bf16 and in float32."""

    bf16: float
    fp32: float
    device: str  # the CPU model or GPU name, the torch version and (CPU) the thread count: the cache key

    def of(self, precision: str) -> float:
        """The peak of "bf16" or "fp32" (the precision the matrix products ran in)."""
        return self.bf16 if precision == "bf16" else self.fp32

    def line(self) -> str:
        """One line for the console at the start of training."""
        return (f"peak matrix-product rate of this host (the best it has shown): bf16 {self.bf16 / 1e12:.2f} "
                f"TFLOP/s, float32 {self.fp32 / 1e12:.2f} TFLOP/s ({self.device}); mfu/ metrics are shares of it")


def mfu(flops: float, seconds: float, peak: float) -> float:
    """Model FLOPs utilisation: the FLOP/s the work ran at, as a share of `peak`."""
    return flops / max(seconds, 1e-9) / peak if peak > 0 else 0.0


def host_key(device: torch.device | str) -> str:
    """What a peak depends on: the processor, the torch version and (CPU) how many threads torch uses."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} | torch {torch.__version__}"
    return f"{_cpu_model()} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def host_peak(device: torch.device | str, cache: Path | None = None) -> Peak:
    """This host's peak: measured now (about a second) and kept as the best this host has shown, in `cache`
    (the cache folder, default the rlvr cache dir). A probe taken while other work shares the processor reads
    low; the best of all probes does not, so a busy start never lowers the peak MFU is a share of (only a
    host that really got slower needs its entry deleted). An unreadable cache file is rewritten."""
    device = torch.device(device)
    key = host_key(device)
    path = (cache or cache_dir()) / PEAK_FILE
    known: dict = {}
    try:
        known = json.loads(path.read_text())
        entry = known.get(key, {}) if isinstance(known, dict) else {}
        best = {name: float(entry[name]) for name in ("bf16", "fp32") if name in entry}
    except (OSError, ValueError, TypeError, AttributeError):
        best = {}
    known = known if isinstance(known, dict) else {}  # other hosts' entries are kept
    if key not in _MEASURED:  # one probe a process; every run still keeps the best the cache holds
        _MEASURED[key] = {"bf16": measure(device, torch.bfloat16), "fp32": measure(device, torch.float32)}
    measured = _MEASURED[key]
    peak = Peak(**{name: max(measured[name], best.get(name, 0.0)) for name in measured}, device=key)
    if best != {"bf16": peak.bf16, "fp32": peak.fp32}:
        try:
            write_json({**known, key: asdict(peak)}, path)
        except OSError:  # a read-only cache: this run's probe stands, nothing else lost
            pass
    return peak


@torch.no_grad()
def measure(device: torch.device, dtype: torch.dtype, size: int | None = None, seconds: float = 0.2) -> float:
    """The best FLOP/s of `size` x `size` matrix products in `dtype` on `device`, over about `seconds` after a
    warm-up (at least 3 products); without `size`, the best over the device's probe sizes."""
    if size is None:
        return max(measure(device, dtype, n, seconds) for n in _SIZES.get(device.type, _SIZES["cpu"]))
    n = size
    generator = torch.Generator(device=device).manual_seed(0)  # a diagnostic: the run's own random state untouched
    a = torch.randn(n, n, device=device, generator=generator).to(dtype)
    b = torch.randn(n, n, device=device, generator=generator).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    torch.matmul(a, b, out=out)  # warm-up: kernels chosen, memory touched
    best, spent, runs = float("inf"), 0.0, 0
    while runs < 3 or spent < seconds:
        _sync(device)
        start = time.perf_counter()
        torch.matmul(a, b, out=out)
        _sync(device)
        took = time.perf_counter() - start
        best, spent, runs = min(best, took), spent + took, runs + 1
    return 2 * n**3 / best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        name = ""
    return name or platform.processor() or platform.machine() or "unknown CPU"
