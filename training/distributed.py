"""Data-parallel training under ``torchrun`` or ``accelerate launch``.

The launchers start one process per device and tell each its place through
the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``); the HF Trainer (through accelerate) then wraps the model in
DistributedDataParallel. This module does only what the Trainer does not:
it opens the process group early, so that rank 0 alone can decide whether
the run directory may be used and hand every rank its resolved config.
Nothing here runs in a single process: every function is a no-op there.
"""

from __future__ import annotations

import os


def rank() -> int:
    """This process's global rank (0 when not launched by torchrun/accelerate)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def init(device: str) -> bool:
    """Open the default process group if this is a multi-process launch and
    none is open yet; returns True when this call opened it (the caller then
    closes it with :func:`close`). gloo on CPUs, NCCL on GPUs: what
    accelerate would pick, and it reuses an open group instead of making one."""
    import torch  # noqa: PLC0415
    import torch.distributed as dist  # noqa: PLC0415

    if world_size() <= 1 or dist.is_initialized():
        return False
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
    return True


def _active() -> bool:
    import torch.distributed as dist  # noqa: PLC0415

    return world_size() > 1 and dist.is_available() and dist.is_initialized()


def broadcast(obj):
    """Rank 0's ``obj`` on every rank (any picklable object)."""
    if not _active():
        return obj
    import torch.distributed as dist  # noqa: PLC0415

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if _active():
        import torch.distributed as dist  # noqa: PLC0415

        dist.barrier()


def close() -> None:
    if _active():
        import torch.distributed as dist  # noqa: PLC0415

        dist.destroy_process_group()
