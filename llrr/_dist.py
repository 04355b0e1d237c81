"""torchrun's process group for the application's commands, without importing torch in a one-process run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Alone", "distributed"]


class Alone:
    """The one-process case of :class:`unrolled.distributed.Dist` (the collectives return their input)."""

    rank, world, local_rank, local_world, main, active, label = 0, 1, 0, 1, True, False, ""

    def barrier(self) -> None:
        pass

    def gather(self, obj) -> list:
        return [obj]

    def broadcast(self, obj):
        return obj


@contextmanager
def distributed() -> Iterator:
    """torchrun's process group (:func:`unrolled.distributed.process_group`) when its environment says there is more
    than one process (``WORLD_SIZE`` > 1), with torch's and numba's threads set to this process's share of the
    machine's CPUs; else :class:`Alone`."""
    if int(os.environ.get("WORLD_SIZE", "1") or "1") > 1:
        from unrolled._threads import threads
        from unrolled.distributed import process_group, threads_per_process

        with process_group("gloo") as dist:  # object collectives only: gloo, whatever the devices
            with threads(threads_per_process(0, dist)):  # the machine's CPUs shared among its processes
                yield dist
    else:
        yield Alone()
