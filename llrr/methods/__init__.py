"""Fusion methods behind one registry: every method maps a grey infrared/visible pair on [0, 1] to a fused image.

A method is a function ``func(ir, vi, *, progress=False, **options) -> ndarray`` on float64 (H, W) arrays in
[0, 1]; it returns the fused grey image in [0, 1]. :func:`llrr.fuse` does the input handling around it (paths,
uint8 / uint16 / float, colour, output type), so methods see clean arrays only.

>>> list_methods()
['lrrnet', 'llrr-classical', 'latlrr', 'average', 'max']
>>> get_method("average").description
'pixel-wise mean of the two sources (a floor for tables)'
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from . import baselines, classical, latlrr, lrrnet

__all__ = ["Method", "METHODS", "list_methods", "get_method"]


@dataclass(frozen=True)
class Method:
    """A registered fusion method."""

    name: str
    func: Callable
    description: str
    min_size: int = 1

    @property
    def options(self) -> list[str]:
        """The keyword options the method accepts (besides ``progress``)."""
        params = inspect.signature(self.func).parameters
        return [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY and p != "progress"]


METHODS: dict[str, Method] = {
    "lrrnet": Method("lrrnet", lrrnet.fuse_lrrnet, "LRRNet (Fig. 3), fast inference; weights= a registry name or a "
                     "checkpoint path (the authors' released file included)", min_size=lrrnet.MIN_SIZE),
    "llrr-classical": Method("llrr-classical", classical.fuse_classical, "the optimisation counterpart: low-rank + "
                             "sparse coding of patches (FISTA or Algorithm 1), averaged bases, choose-max details",
                             min_size=classical.MIN_SIZE),
    "latlrr": Method("latlrr", latlrr.fuse_latlrr, "Li and Wu's latent low-rank representation fusion: MDLatLRR "
                     "(VIFB's 'LatLRR'; a LatLRR projection learned on training patches, 4 levels) or the ICPR 2018 "
                     "method (variant='icpr2018')", min_size=latlrr.MIN_SIZE),
    "average": Method("average", baselines.average, "pixel-wise mean of the two sources (a floor for tables)"),
    "max": Method("max", baselines.maximum, "pixel-wise maximum of the two sources (a floor for tables)"),
}


def list_methods() -> list[str]:
    """Names of the registered fusion methods."""
    return list(METHODS)


def get_method(name: str) -> Method:
    """The method registered under ``name``."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown fusion method {name!r}; choose one of {list_methods()}") from None
