"""Data-parallel training under `accelerate launch --multi_gpu` or torchrun, and a no-op on one process.

On CPU (gloo), launch with `accelerate launch --multi_gpu --num_processes 2 -m rlvr.cli train ...`:
accelerate's `--cpu` flag starts a single process unless MPI is set up.

Every rank draws the same prompts from the same seeded stream and keeps its own slice,
generates and verifies it, and computes gradients locally. Gradients are then summed
across ranks once per optimisation pass (one all-reduce, whatever the number of
micro-batches on each rank, so ranks with different amounts of work never deadlock), and
every rank takes the same optimizer step: the weights stay identical everywhere.
Loss normalisers (token or row counts) are global, so the summed gradient equals the
gradient of the full-batch loss. Rank 0 writes the logs and checkpoints.
Sharded launches (FSDP, DeepSpeed ZeRO) use the same process group: see sharding.py.
"""

from __future__ import annotations

import os
from typing import Sequence, TypeVar

import torch

T = TypeVar("T")


class Dist:
    """The process group as the launcher (accelerate launch, torchrun) describes it in the environment."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = 0
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world > 1:
            if torch.cuda.is_available():  # NCCL collectives (and FSDP's default mesh) use the current device
                torch.cuda.set_device(self.local_rank)
            if not torch.distributed.is_initialized():
                backend = "nccl" if torch.cuda.is_available() else "gloo"
                torch.distributed.init_process_group(backend=backend, init_method="env://")
            self.rank, self.world = torch.distributed.get_rank(), torch.distributed.get_world_size()

    @property
    def device(self) -> str:
        """This rank's device: its own GPU, or the CPU."""
        return f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        return list(items[self.rank :: self.world])

    def sum(self, value: float) -> float:
        if self.world == 1:
            return value
        tensor = torch.tensor([float(value)], dtype=torch.float64, device=self.device)  # NCCL: on the GPU
        torch.distributed.all_reduce(tensor)
        return float(tensor.item())

    def max(self, value: int) -> int:
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.int64, device=self.device)
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
        return int(tensor.item())

    def mean_metrics(self, metrics: dict[str, float], summed: Sequence[str] = ()) -> dict[str, float]:
        """Average metrics over ranks (sum the keys in `summed`)."""
        if self.world == 1:
            return metrics
        keys = sorted(metrics)
        tensor = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor)
        return {k: v if k in summed else v / self.world for k, v in zip(keys, tensor.tolist())}

    def sum_gradients(self, parameters: Sequence[torch.nn.Parameter]) -> None:
        if self.world == 1:
            return
        for p in parameters:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in parameters])  # one all-reduce, not one per tensor
        torch.distributed.all_reduce(flat)
        offset = 0
        for p in parameters:
            n = p.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p))
            offset += n

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def gather(self, items: list[T]) -> list[T]:
        """Every rank's items, concatenated in rank order (on every rank)."""
        if self.world == 1:
            return items
        parts: list[list[T] | None] = [None] * self.world
        torch.distributed.all_gather_object(parts, items)
        return [x for part in parts for x in (part or [])]
