"""Learn the shipped MDLatLRR projection of the "latlrr" fusion method: ``llrr/data/latlrr_projection_8.npy`` and its
sidecar ``.json`` (``python -m benchmarks.latlrr_projection [--data DIR ...] [--out PATH.npy]``).

:func:`solvers.latlrr.learn_projection` with MDLatLRR's settings (1,200 random non-overlapping 8 x 8 patches,
``lam`` 0.4) on the grey infrared and visible images of the training pairs (default ``../shared/data/roadscene`` and
``../shared/data/tno_train``; never a test set). Both files are written atomically; the sidecar records the data,
the settings, the solver's iterations and final residual, the time and the sha256.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from solvers._files import SHARED, atomic_path, atomic_write_text, sha256_file

TRAIN = (SHARED / "data" / "roadscene", SHARED / "data" / "tno_train")
TEST_SETS = (SHARED / "data" / "tno21", SHARED / "data" / "vifb")
OUT = Path(__file__).resolve().parents[1] / "llrr" / "data" / "latlrr_projection_8.npy"


def learn(data=TRAIN, out=OUT, *, size: int = 8, n_patches: int = 1200, lam: float = 0.4, seed: int = 0,
          progress: bool = True) -> dict:
    """Learn the projection on the pairs in ``data`` and write ``out`` + its sidecar; returns the sidecar."""
    from solvers._images import read_grey
    from solvers.latlrr import learn_projection
    from unrolled.training.data import find_pairs

    tests = {Path(t).resolve() for t in TEST_SETS}
    leaked = [str(d) for d in data if Path(d).resolve() in tests]
    if leaked:
        raise ValueError(f"{leaked} is a test set: the projection is learned on training pairs only")
    images, names = [], []
    for folder in data:
        for pair in find_pairs(Path(folder)):
            images += [read_grey(pair.ir) / 255.0, read_grey(pair.vi) / 255.0]
            names.append(f"{Path(folder).name}/{pair.name}")
    t0 = time.perf_counter()
    res = learn_projection(images, size=size, n_patches=n_patches, lam=lam, seed=seed, progress=progress)
    seconds = time.perf_counter() - t0
    if not res.converged:
        raise RuntimeError(f"LatLRR did not converge in {res.n_iter} iterations (residual "
                           f"{res.history['residual'][-1]:.3g}); nothing written")
    out = Path(out)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, res.L)
    side = {
        "what": "MDLatLRR projection for the 'latlrr' fusion method (llrr.methods.latlrr)",
        "file": out.name, "sha256": sha256_file(out), "shape": list(res.L.shape), "dtype": "float64",
        "made_by": "python -m benchmarks.latlrr_projection",
        "data": {"dirs": [f"../shared/data/{Path(d).name}" for d in data], "pairs": len(names),
                 "images": len(images), "note": "grey on [0, 1] (colour to BT.601 luma); both sources of each pair"},
        "settings": {"patch": size, "n_patches": n_patches, "lam": lam, "seed": seed,
                     "solver": "solvers.latlrr.latlrr (inexact ALM, mu0 1e-6, rho 1.1, mu_max 1e6, tol 1e-6)"},
        "solver": {"iterations": res.n_iter, "residual": float(res.history["residual"][-1]),
                   "objective": float(res.history["objective"][-1]), "seconds": round(seconds, 1)},
    }
    atomic_write_text(out.with_suffix(".json"), json.dumps(side, indent=2) + "\n")
    return side


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", type=Path, default=list(TRAIN), help="training pair folders (ir/, vi/)")
    ap.add_argument("--out", type=Path, default=OUT, help="the .npy to write (default: %(default)s)")
    ap.add_argument("--patches", type=int, default=1200, help="random 8 x 8 patches (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    side = learn(args.data, args.out, n_patches=args.patches, seed=args.seed)
    print(f"wrote {args.out} ({side['solver']['iterations']} iterations, {side['solver']['seconds']} s)")


if __name__ == "__main__":
    main()
