"""torch.distributed for training and batch fusion: the process group that ``torchrun`` sets up, read from its
environment, and the few collectives llrr needs.

``torchrun --nproc_per_node=N llrr ...`` (or ``python -m torch.distributed.run``) starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` in their environment;
:func:`process_group` joins them (gloo on CPUs, nccl when every process has a GPU) and leaves again. Without those
variables everything here is the one-process case: rank 0 of a world of 1, and the collectives return their input.

Threads on one machine: :func:`threads_per_process` gives each of the ``LOCAL_WORLD_SIZE`` processes an equal share of
the CPUs this process may use, so that N processes of ``k`` threads do not oversubscribe the cores.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch

from solvers._cpus import part_bounds, usable_cpus

__all__ = ["Dist", "StepModule", "from_env", "process_group", "shard", "threads_per_process", "usable_cpus"]

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class Dist:
    """This process's place in the group: ``rank`` of ``world`` processes, ``local_rank`` of ``local_world`` on
    this machine. ``main`` (rank 0) alone writes files and prints."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        """More than one process (the collectives communicate)."""
        return self.world > 1

    @property
    def label(self) -> str:
        """``", process r of w"`` for messages in a run of several processes, else ``""``."""
        return f", process {self.rank} of {self.world}" if self.active else ""

    def barrier(self) -> None:
        """Wait until every process gets here."""
        if self.active:
            torch.distributed.barrier()

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every process (a picklable object)."""
        if not self.active:
            return obj
        box = [obj if self.main else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list | None:
        """Every process's ``obj``, in rank order, on rank 0 (``None`` on the others)."""
        if not self.active:
            return [obj]
        out = [None] * self.world if self.main else None
        torch.distributed.gather_object(obj, out, dst=0)
        return out

    def all_sum(self, values: list[float]) -> list[float]:
        """The element-wise sum over the processes of a list of numbers (float64)."""
        if not self.active:
            return [float(v) for v in values]
        t = torch.tensor(values, dtype=torch.float64)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
        return t.tolist()


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer (torchrun sets it), got {value!r}") from None


def from_env() -> Dist:
    """The :class:`Dist` that torchrun's environment describes (one process of one when it is not set).

    Raises
    ------
    ValueError
        Inconsistent variables (a rank outside the world, WORLD_SIZE without RANK, ...), named.
    """
    values = {k: _int_env(k) for k in _ENV}
    world = values["WORLD_SIZE"]
    if world is None or world == 1:
        return Dist()
    rank, local_rank, local_world = values["RANK"], values["LOCAL_RANK"], values["LOCAL_WORLD_SIZE"]
    if rank is None:
        raise ValueError(f"WORLD_SIZE={world} is set but RANK is not: start the processes with torchrun")
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK={rank} must lie in [0, WORLD_SIZE={world})")
    local_rank = rank if local_rank is None else local_rank
    local_world = world if local_world is None else local_world
    if not 0 <= local_rank < local_world <= world:
        raise ValueError(f"LOCAL_RANK={local_rank} must lie in [0, LOCAL_WORLD_SIZE={local_world}) and "
                         f"LOCAL_WORLD_SIZE must not exceed WORLD_SIZE={world}")
    return Dist(rank, world, local_rank, local_world)


@contextmanager
def process_group(backend: str | None = None, *, timeout_minutes: float = 30.0) -> Iterator[Dist]:
    """Join torchrun's process group for the block (and leave it after), yielding this process's :class:`Dist`.

    ``backend`` None picks nccl when CUDA is available to every process, else gloo; with nccl each process first
    selects its GPU (``cuda:LOCAL_RANK``) and gloo serves the CPU tensors beside it. A group already initialised (by
    the caller) is used as it is and left open. Outside torchrun it yields ``Dist()`` and does nothing.
    """
    dist = from_env()
    created = False
    if dist.active and not torch.distributed.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= dist.local_world else "gloo"
        kwargs = {}
        if "nccl" in backend:
            # each process on its own GPU before the first collective (else they all start on cuda:0), and gloo
            # beside nccl for the CPU tensors and objects that the loop exchanges
            torch.cuda.set_device(dist.local_rank)
            kwargs["device_id"] = torch.device("cuda", dist.local_rank)
            backend = "cpu:gloo,cuda:nccl" if backend == "nccl" else backend
        torch.distributed.init_process_group(backend, timeout=timedelta(minutes=timeout_minutes), **kwargs)
        created = True
    elif dist.active and torch.distributed.get_world_size() != dist.world:
        raise ValueError(f"the initialised process group has {torch.distributed.get_world_size()} processes, "
                         f"WORLD_SIZE says {dist.world}")
    try:
        yield dist
    finally:
        if created:
            torch.distributed.destroy_process_group()


def shard(n: int, rank: int, world: int) -> range:
    """The indices of part ``rank`` of ``n`` items cut into ``world`` contiguous parts whose sizes differ by at most
    one (:func:`solvers._cpus.part_bounds`).

    >>> [list(shard(5, r, 2)) for r in range(2)]
    [[0, 1, 2], [3, 4]]
    """
    return range(*part_bounds(n, rank, world))


def threads_per_process(requested: int, dist: Dist) -> int:
    """Threads for torch and numba in each process: ``requested`` when positive, else (0: "the default") the usable
    CPUs shared equally among the processes on this machine (at least 1); 0 in a one-process run (leave the
    libraries' defaults)."""
    if requested:
        return requested
    if dist.local_world <= 1:
        return 0
    return max(1, usable_cpus() // dist.local_world)


class StepModule(torch.nn.Module):
    """A training forward ``forward(model, ir01, vi01)`` as a module, so that DistributedDataParallel can wrap it:
    its parameters are the model's (the fast path passes them to its autograd function)."""

    def __init__(self, model: torch.nn.Module, forward):
        super().__init__()
        self.model = model
        self._forward = forward

    def forward(self, ir01: torch.Tensor, vi01: torch.Tensor) -> torch.Tensor:
        return self._forward(self.model, ir01, vi01)
