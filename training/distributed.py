"""torchrun / DistributedDataParallel plumbing: who am I, which device, and collective helpers.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK (and the rendezvous variables); a plain `python` start is a
world of one and never touches torch.distributed. CPU runs use the gloo backend, GPU runs NCCL with one
GPU per local rank. Only rank 0 writes logs and checkpoints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device_name: str = "auto") -> DistContext:
    """Join the torchrun process group when WORLD_SIZE > 1 and pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device_name == "auto" else device_name.startswith("cuda")
    if use_cuda:
        device = torch.device(device_name if device_name.startswith("cuda:") else f"cuda:{local_rank}")
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistContext(rank, local_rank, world_size, device)


def barrier(context: DistContext) -> None:
    if context.distributed:
        dist.barrier()


def all_ranks_true(flag: bool, context: DistContext) -> bool:
    """True only if ``flag`` holds on every rank (so all ranks take the same branch, e.g. skip a step)."""
    if not context.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=context.device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() > 0.5)


def mean_over_ranks(values: torch.Tensor, context: DistContext) -> torch.Tensor:
    if not context.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / context.world_size


def shutdown(context: DistContext) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()
