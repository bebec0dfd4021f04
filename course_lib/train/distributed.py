"""Data-parallel training over processes (torchrun, gloo on CPUs, NCCL on GPUs).

The loop wraps the trainable top in DistributedDataParallel. Every process mines the same negatives
(same seed, same network) and takes its share of each step; DDP averages the gradients in backward,
and the loop scales each share so that N processes take the same step as one process over the whole batch.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, number of processes); (0, 1) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def local_device(device) -> torch.device:
    """This process's device: under torchrun on GPUs, the GPU numbered LOCAL_RANK; otherwise `device`."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    return device


def init_from_environment(device) -> bool:
    """Join the process group torchrun describes in the environment (WORLD_SIZE > 1); False if not started by it."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_available() and dist.is_initialized()
    dist.init_process_group(backend="nccl" if torch.device(device).type == "cuda" else "gloo")
    return True


def my_share(items, rank: int, size: int) -> list:
    """This process's part of a step's tuples: every size-th one, starting at rank."""
    return list(items)[rank::size]


def sum_value(value: torch.Tensor) -> torch.Tensor:
    """A scalar summed over all processes (no-op in one process)."""
    _, size = world()
    if size == 1:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def finish() -> None:
    """Leave the process group (every process, at the end of a run under torchrun)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
