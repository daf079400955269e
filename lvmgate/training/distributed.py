"""DistributedDataParallel through torchrun: process-group setup and the shard of batches per rank.

`torchrun --nproc_per_node N -m lvmgate train ...` starts N processes with RANK / WORLD_SIZE /
LOCAL_RANK set; each joins the group (NCCL on CUDA, gloo on CPU), takes every N-th batch of the
epoch's seeded order and averages gradients with the others. `--batch-size` is per process, so a
step sees N * batch_size windows; one process with batch N * batch_size sees the same windows per
step (without augmentation and with a per-sample-mean loss such as cosine, the same update).
Rank 0 validates, checkpoints and writes the log; the others wait.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the torchrun process group if WORLD_SIZE > 1; otherwise a single-process DistInfo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device_type == "cuda" else "gloo"
    if not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local, backend)


def shutdown(info: DistInfo) -> None:
    if info.active and dist.is_initialized():
        dist.destroy_process_group()


def epoch_batches(n: int, batch_size: int, *, epoch: int, seed: int, info: DistInfo) -> list[np.ndarray]:
    """This rank's window indices per step: the epoch's seeded permutation cut into batches, every
    world_size-th batch. Batches left over at the end (fewer than world_size) are dropped so all
    ranks take the same number of steps. The order is the one `SequenceSet.batches` uses."""
    order = np.random.default_rng([seed, epoch, 0]).permutation(n)
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    usable = len(batches) - len(batches) % info.world_size
    return batches[info.rank : usable : info.world_size]


def all_reduce(values: list[float], info: DistInfo, op: str = "sum") -> list[float]:
    """Sum (or max) a few floats over all ranks (identity when not distributed)."""
    if not info.active:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return t.tolist()


def broadcast(obj, info: DistInfo):
    """Rank 0's `obj` on every rank."""
    if not info.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
