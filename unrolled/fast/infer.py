"""Fast CPU inference for LRRNet and its LLRR branches: the same modules, evaluated by streaming numba kernels.

The eager modules (:class:`~unrolled.nets.lrrnet.LRRNet`) stay the reference and the fallback. This path reads their
parameters and evaluates the same function in float32, differently organised (:mod:`unrolled.fast._infer_kernels`):

* each LLRR block is one pass over a row of the 2n coefficient maps: a vector of 16 pixels (8 without AVX-512) is
  held in a register while the loop runs over the channels, updating each (``h_theta(lam3 Z + b2 + sum_taps w2 r)``)
  and adding it to the nine tap sums of the next convolution (the next block's C1, or the decoder's two after the
  last block), which stay in registers for all channels; every map is read and written once per block, and the
  weights are broadcast from memory (explicit vectors, :mod:`unrolled.fast._simd`; 512-bit ones on AVX-512 CPUs:
  :mod:`solvers._jit`);
* the image is swept row by row as a wavefront through the T blocks, keeping only ``2T + 2`` rows of the maps alive:
  no full-size 2n-channel map (8.5 GB for a 3840 x 2160 pair) exists; images wider than ``MAX_STRIP`` are cut into
  vertical strips, and to give every thread work images are cut into more strips (down to ``MIN_STRIP`` columns),
  then into horizontal bands where the rows are too short, all overlapping by the branch's receptive radius;
* the two branches, the strips and the bands are independent tasks that a pool of threads (``threads=``, default
  :func:`default_threads`: ``THREADS_PER_CORE`` per numba thread) takes from one queue (:func:`run_tasks`); images
  are cut so that each thread has at least ``TASKS_PER_THREAD`` tasks, so that a thread slowed down by another process
  does less of the work instead of holding up a fixed share of it. The decoder's last convolution runs in row bands
  on the same threads; the kernels release the GIL.
* two threads per core: on an idle machine they cost about 6 % (640 x 480: 0.134 s against 0.126 s with one per
  core; the queue has no barriers to wait at, but two tasks share each core's caches), and beside another busy
  process they keep this process's share of the CPU (Linux shares it per runnable thread) at what the eager torch
  path gets (benchmarks/RESULTS.md, "LRRNet under a busy CPU", has both). Pass ``threads=k`` to use exactly k
  threads, hence at most k cores.

Outputs equal the eager modules up to float32 rounding (relative differences around 1e-6). Nothing is
differentiable: results are numpy arrays (or tensors without history). The numba kernels are compiled once and
cached on disk (the first call of a fresh installation compiles for about 6 s; later processes load them in 0.3 s).

Measured on 2 AVX-512 cores (Intel Xeon), random weights, ``fuse_images``: a 640 x 480 pair in 0.13 s (eager: 9.4 s)
and 1920 x 1080 in 0.86 s, 66 % and 68 % of the sgemm of that run (329 GFLOP/s); 3840 x 2160 in 3.8 s with a peak
RSS of 975 MB (process included), 61 % (another run, sgemm 334). benchmarks/RESULTS.md has the current figures.

Use :func:`fast_supported` to decide: it accepts the "llrr" extractor with 3 x 3 kernels, one image channel, either
fusion, any n and number of blocks, float32 parameters on the CPU and no hooks; everything else (the "conv8" and
"dense" ablation extractors, float64 models, GPUs, other kernel sizes) stays on the eager path.
:class:`~unrolled.nets.llrr.PatchLLRRNet` also stays eager: its blocks are a 1 x 1 convolution (a matrix product that
torch already runs at BLAS speed), not the image-domain convolutions this path streams.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from solvers._jit import numba

from ..nets.blocks import PaddedConv
from ..nets.lrrnet import LLRRBranch, LRRNet
from ._infer_kernels import PACKED, branch_strip, fuse_parts
from .support import branch_reason, runtime_reason, unsupported_reason

__all__ = ["fast_supported", "fast_unsupported_reason", "fast_forward", "forward_validated", "fast_branch",
           "run_tasks", "default_threads"]

MAX_STRIP = 640  # widest strip (output columns) a task streams: 1920 x 1080 (sgemm 317 GFLOP/s) in 0.80 s at 640
# against 0.83 s at 384 and 0.86 s at 320 (fewer strips, less overlap)
MIN_STRIP = 320
"""Narrowest strip cut to give threads work. Threads are given work by cutting columns into strips first, rows into
bands only where the rows are too short for that: at 640 x 480 (sgemm 322 GFLOP/s), two strips of 320 columns per
branch take 0.124 s against 0.133 s for two bands of 640 (both overlap by the same number of pixels; a narrower strip
keeps less of the maps in the caches)."""
_MIN_BAND = 64  # fewest rows of a band worth its overlap when bands are cut only to occupy more threads
TASKS_PER_THREAD = 1
"""Images are cut (strips, then bands) so that each thread has at least this many tasks to take from the shared
queue: a thread that runs slower (another process on its core) takes fewer of them instead of holding up a fixed
half. More tasks cost overlap: with the previous kernels at 640 x 480 (sgemm 315 GFLOP/s), 4 threads, 1 task each
(strips of 320 columns) took 0.260 s idle, 0.341 s beside a spinning process and 0.426 s beside a 2-thread BLAS
process, against 0.332 / 0.437 / 0.531 s with 2 tasks each (strips of 160). With the earlier channels-last kernels 2
tasks per thread was the best of 1, 2, 4 and 8."""
THREADS_PER_CORE = 2
"""Threads of the default pool per numba thread (:func:`default_threads`). Measured at 640 x 480 with the present
kernels (benchmarks/RESULTS.md, "LRRNet under a busy CPU", sgemm 328 GFLOP/s): idle 0.134 s with 2 per core against
0.126 s with 1; beside a spinning process 1.34x the idle time against 1.60x, beside a 2-thread BLAS process 1.62x
against 2.14x (the eager path: 1.63x and 2.00x)."""


def default_threads() -> int:
    """Threads the fast path runs when ``threads`` is not given: ``THREADS_PER_CORE * numba.get_num_threads()``."""
    return THREADS_PER_CORE * numba.get_num_threads()


def fast_unsupported_reason(model) -> str | None:
    """Why :func:`fast_forward` cannot run ``model`` (a sentence), or None when it can."""
    return unsupported_reason(model, "the fast path", (torch.float32,))


def fast_supported(model) -> bool:
    """Whether :func:`fast_forward` computes ``model(ir, vi)`` (within float32 rounding) for this model.

    True for an :class:`~unrolled.nets.lrrnet.LRRNet` with the "llrr" extractor, 3 x 3 kernels, one channel, "cat" or
    "add" fusion (any n and number of blocks), float32 parameters on the CPU and no forward hooks. The training flag
    does not matter (LRRNet has no layer that behaves differently in training); the fast path builds no autograd
    graph, so callers that need gradients use the modules. :func:`fast_unsupported_reason` says why not.
    """
    return fast_unsupported_reason(model) is None


def _f32(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to(device="cpu", dtype=torch.float32).numpy())


def _taps_first(conv: PaddedConv) -> np.ndarray:
    """A 3x3 convolution's weights (out, in, 3, 3) with one side of size 1, as (9, channels)."""
    w = _f32(conv.conv.weight)
    return np.ascontiguousarray(w.reshape(-1, 9).T)


def _branch_arrays(branch: LLRRBranch, low: PaddedConv | None, sparse: PaddedConv | None) -> tuple:
    """The kernel's weights of one branch and the decoder convolutions applied to its maps
    (:func:`~unrolled.fast._infer_kernels.branch_strip`): the packed weights (T + 1, K PACKED), the channel order, the
    bounds of its four parts, lam3, the blocks' C1 biases and the decoder's biases.

    Channels are reordered: the n low-rank ones first, then the sparse ones, and within each part those with theta
    >= 0 first (they take the clamp form of the threshold). For stage s (0: C0, s >= 1: block s), channel j's row holds
    the taps of the stage's 1 -> K convolution, its bias, theta, -theta and the taps of the next K -> 1 convolution
    (block s + 1's C1, or after the last block the decoder's convolution of the channel's part; zero without one).
    """
    K, n = branch.theta.numel(), branch.n
    T = len(branch.blocks)
    theta = _f32(branch.theta).reshape(K)
    sparse_part, negative = np.arange(K) >= n, theta < 0
    perm = np.lexsort((negative, sparse_part))  # stable: low-rank before sparse, theta >= 0 before theta < 0
    seg = np.array([0, (~sparse_part & ~negative).sum(), n, n + (sparse_part & ~negative).sum(), K], np.int64)
    convs = [(_taps_first(branch.c0), _f32(branch.c0.conv.bias))]
    convs += [(_taps_first(b.c2), _f32(b.c2.conv.bias)) for b in branch.blocks]
    if low is None:  # no decoder: zero weights (the kernel's decoded parts are then only the biases, unused)
        decoder, bd = np.zeros((9, K), np.float32), np.zeros(2, np.float32)
    else:
        decoder = np.concatenate([_taps_first(low), _taps_first(sparse)], axis=1)
        bd = np.array([_f32(low.conv.bias)[0], _f32(sparse.conv.bias)[0]], np.float32)
    nexts = [_taps_first(b.c1) for b in branch.blocks] + [decoder]
    W = np.empty((T + 1, K, PACKED), np.float32)
    for s, ((taps, bias), nxt) in enumerate(zip(convs, nexts, strict=True)):
        W[s, :, :9], W[s, :, 9], W[s, :, 12:] = taps.T[perm], bias[perm], nxt.T[perm]
        W[s, :, 10], W[s, :, 11] = theta[perm], -theta[perm]
    b1 = np.array([_f32(b.c1.conv.bias)[0] for b in branch.blocks], np.float32)
    return (W.reshape(T + 1, K * PACKED), perm.astype(np.int64), seg, np.float32(_f32(branch.lam3).reshape(())),
            b1, bd)


def _stack(per_branch: list[tuple]) -> list[np.ndarray]:
    return [np.ascontiguousarray(np.stack(arrays)) for arrays in zip(*per_branch, strict=True)]


def _cuts(length: int, halo: int, n: int) -> np.ndarray:
    """Rows ``(compute_lo, compute_hi, out_lo, out_hi)`` of ``n`` pieces covering ``length`` with ``halo`` overlap."""
    edges = np.linspace(0, length, max(n, 1) + 1).round().astype(np.int64)
    rows = [(max(a - halo, 0), min(b + halo, length), a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def _strips(width: int, halo: int, strip: int | None, tasks: int = 1) -> np.ndarray:
    """Vertical strips covering ``width`` columns (:func:`_cuts` rows): at most ``strip`` (default ``MAX_STRIP``)
    columns each; without an explicit ``strip``, more of them, down to ``MIN_STRIP`` columns, until there are
    ``tasks`` (to give every thread work: :func:`_bands` cuts rows only where the row is too short for that)."""
    if strip is not None:
        return _cuts(width, halo, -(-width // strip))
    return _cuts(width, halo, max(-(-width // MAX_STRIP), min(tasks, width // MIN_STRIP)))


def _bands(height: int, halo: int, n_tasks: int, strip: int | None, threads: int) -> np.ndarray:
    """Horizontal bands covering ``height`` rows (:func:`_cuts` rows), so that the ``n_tasks`` (image, strip) tasks
    become at least ``TASKS_PER_THREAD`` per thread, none under ``_MIN_BAND`` rows; one band when ``strip`` is given
    or with one thread."""
    n = 1
    if strip is None and threads > 1:
        n = max(1, min(-(-TASKS_PER_THREAD * threads // n_tasks), height // _MIN_BAND))
    return _cuts(height, halo, n)


def _check_count(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


def _columns(lo: int, hi: int, width: int) -> np.ndarray:
    """(hi - lo, 3) strip-local indices of each column's left, own and right neighbour: reflected at the image
    border, clamped at the strip's edges (wrong there, but only within the overlap)."""
    g = np.arange(lo, hi)[:, None] + np.arange(-1, 2)[None, :]
    g = np.where(g < 0, -g, np.where(g >= width, 2 * width - 2 - g, g))
    return np.ascontiguousarray(np.clip(g - lo, 0, hi - lo - 1), dtype=np.int64)


def _as_images(name: str, x, batch: bool) -> np.ndarray:
    """(N, H, W) float32 from an ndarray/tensor of shape (H, W) or (N, 1, H, W) (N = 1 unless ``batch``)."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.dtype.kind not in "uif":
        raise TypeError(f"{name} must hold integers or floats, got dtype {a.dtype}")
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == 4 and a.shape[1] == 1 and (batch or a.shape[0] == 1):
        a = a[:, 0]
    else:
        want = "(H, W) or (N, 1, H, W)" if batch else "(H, W) or (1, 1, H, W)"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    if min(a.shape[1:]) < 2:
        raise ValueError(f"{name} must be at least 2 x 2 pixels (reflection padding), got {a.shape[1:]}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains non-finite values")
    return a


def _run(images: np.ndarray, weights: list[np.ndarray], strip: int | None, threads: int | None, keep_maps: bool):
    """Decoded parts (B, 2, H, W) of the B images (one branch's weights each) and, if ``keep_maps``, their maps
    (B, H, W, K); (branch, strip, band) tasks run on ``threads`` threads (default :func:`default_threads`)."""
    B, H, W = images.shape
    K, T = weights[1].shape[1], weights[0].shape[1] - 1
    threads = default_threads() if threads is None else threads
    strips = _strips(W, 2 * T + 2, strip, -(-TASKS_PER_THREAD * threads // B))
    bands = _bands(H, 2 * T + 2, B * len(strips), strip, threads)
    parts = np.empty((B, 2, H, W), np.float32)
    maps = np.empty((B, H, W, K) if keep_maps else (B, 1, 1, 1), np.float32)
    single = len(strips) == 1 and len(bands) == 1
    tiles = [(b, s, r) for b in range(B) for s in range(len(strips)) for r in range(len(bands))]

    def task(job: int) -> None:
        b, s, r = tiles[job]
        ca, cb, oa, ob = (int(v) for v in strips[s])
        ra, rb, ya, yb = (int(v) for v in bands[r])
        out = parts[b] if single else np.empty((2, rb - ra, ob - oa), np.float32)
        m = maps[b] if single or not keep_maps else np.empty((rb - ra, ob - oa, K), np.float32)
        branch_strip(np.ascontiguousarray(images[b, ra:rb, ca:cb]), _columns(ca, cb, W), oa - ca, ob - ca,
                     *(w[b] for w in weights), out, keep_maps, m)
        if not single:  # a band's rows beyond its output rows reflect at its edges: wrong, but only in the overlap
            parts[b, :, ya:yb, oa:ob] = out[:, ya - ra:yb - ra]
            if keep_maps:
                maps[b, ya:yb, oa:ob] = m[ya - ra:yb - ra]

    run_tasks(task, range(len(tiles)), threads)
    return parts, maps


def run_tasks(fn, jobs, threads: int) -> None:
    """``fn(job)`` for every job, on up to ``threads`` threads that take the jobs from one queue in order.

    A thread that finishes early takes the next job, so a thread slowed down by another process does less of the
    work. An exception or an interrupt (Ctrl-C) cancels the jobs not yet started, waits for the running ones (the
    numba kernels cannot be stopped midway) and is raised again. With one thread or one job, no thread is started.
    """
    jobs = list(jobs)
    if threads <= 1 or len(jobs) <= 1:
        for job in jobs:
            fn(job)
        return
    pool = ThreadPoolExecutor(min(threads, len(jobs)))
    try:
        for future in [pool.submit(fn, job) for job in jobs]:
            future.result()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def fast_forward(model: LRRNet, ir, vi, *, strip: int | None = None, threads: int | None = None) -> np.ndarray:
    """``model(ir, vi)[0, 0]`` (the raw fused image) computed by the fast kernels.

    Parameters
    ----------
    model : LRRNet
        A model :func:`fast_supported` accepts (else ValueError with the reason).
    ir, vi : ndarray or Tensor of shape (H, W) or (1, 1, H, W)
        The inputs exactly as the model would receive them (no normalisation here), at least 2 x 2.
    strip : int, optional
        Widest vertical strip (output columns) one task streams; default: ``MAX_STRIP`` columns, and at least as
        many strips as needed to give each thread work. Only speed depends on it.
    threads : int, optional
        Threads running the branches and strips in parallel (at most this many cores are used); default
        :func:`default_threads`, ``THREADS_PER_CORE`` times ``numba.get_num_threads()`` (set that with
        ``numba.set_num_threads`` or ``NUMBA_NUM_THREADS``).

    Returns
    -------
    ndarray of shape (H, W), float32

    Examples
    --------
    >>> net = LRRNet(n=8).eval()
    >>> ir, vi = torch.rand(1, 1, 30, 41), torch.rand(1, 1, 30, 41)
    >>> with torch.no_grad():
    ...     ref = net(ir, vi)[0, 0].numpy()
    >>> bool(np.allclose(fast_forward(net, ir, vi), ref, atol=1e-5))
    True
    """
    reason = fast_unsupported_reason(model)
    if reason is not None:
        raise ValueError(f"the fast path does not support this model: {reason}")
    strip, threads = _check_count("strip", strip), _check_count("threads", threads)
    a, b = _as_images("ir", ir, False), _as_images("vi", vi, False)
    if a.shape != b.shape:
        raise ValueError(f"ir and vi must have the same shape, got {tuple(np.shape(ir))} and {tuple(np.shape(vi))}")
    holder = [np.concatenate([a, b])]
    del a, b  # only the concatenated copy is kept, and only while the branches run: less memory at the peak
    return _forward(model, holder, strip, threads)


def forward_validated(model: LRRNet, ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """:func:`fast_forward` for a caller that has checked everything: a model :func:`fast_supported` accepts and two
    finite arrays of one shape (H, W), at least 2 x 2 (:func:`unrolled.inference.fuse_validated`). Converts them to
    float32 once, into the one buffer the kernels read."""
    holder = [np.empty((2, *ir.shape), np.float32)]
    holder[0][0], holder[0][1] = ir, vi
    return _forward(model, holder, None, None)  # the only reference to the buffer is in holder: freed after use


def _forward(model: LRRNet, holder: list, strip: int | None, threads: int | None) -> np.ndarray:
    """The fused image from the (2, H, W) float32 images in ``holder`` (a list, emptied here, so that the images are
    freed once the branches have run: less memory at the peak)."""
    d = model.decoder
    weights = _stack([_branch_arrays(model.ir, d.ir_low, d.ir_sparse),
                      _branch_arrays(model.vi, d.vi_low, d.vi_sparse)])
    images = holder.pop()
    parts, _ = _run(images, weights, strip, threads, False)
    del images
    w_low, w_sparse = _f32(d.fuse_low.conv.weight).reshape(-1, 9), _f32(d.fuse_sparse.conv.weight).reshape(-1, 9)
    bias = np.float32(_f32(d.fuse_low.conv.bias)[0] + _f32(d.fuse_sparse.conv.bias)[0])
    H = parts.shape[2]
    out = np.empty(parts.shape[2:], np.float32)
    threads = default_threads() if threads is None else threads
    bands = np.linspace(0, H, min(H, max(1, TASKS_PER_THREAD * threads)) + 1).round().astype(int)
    w_low, w_sparse = np.ascontiguousarray(w_low), np.ascontiguousarray(w_sparse)
    run_tasks(lambda k: fuse_parts(parts, w_low, w_sparse, bias, out, bands[k], bands[k + 1]), range(len(bands) - 1),
              threads)
    return out


def fast_branch(branch: LLRRBranch, x, *, strip: int | None = None,
                threads: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``branch(x)``: the low-rank and sparse coefficient maps of an :class:`~unrolled.nets.lrrnet.LLRRBranch`.

    Parameters
    ----------
    branch : LLRRBranch
        3 x 3 kernels, one image channel, float32 on the CPU (else ValueError with the reason).
    x : ndarray or Tensor of shape (H, W) or (N, 1, H, W)
    strip, threads : int, optional
        As in :func:`fast_forward`.

    Returns
    -------
    (Tensor, Tensor) of shapes (N, n, H, W) and (N, K - n, H, W), float32, channels-last in memory (the maps are
    materialised: N H W K floats).

    Examples
    --------
    >>> net = LRRNet(n=8)
    >>> x = torch.rand(2, 1, 19, 24)
    >>> low, sparse = fast_branch(net.ir, x)
    >>> with torch.no_grad():
    ...     ref_low, ref_sparse = net.ir(x)
    >>> low.shape, bool(torch.allclose(low, ref_low, atol=1e-5)), bool(torch.allclose(sparse, ref_sparse, atol=1e-5))
    (torch.Size([2, 8, 19, 24]), True, True)
    """
    reason = branch_reason(branch, "branch") or runtime_reason(branch, "the fast path", (torch.float32,))
    if reason is not None:
        raise ValueError(f"the fast path does not support this branch: {reason}")
    strip, threads = _check_count("strip", strip), _check_count("threads", threads)
    images = _as_images("x", x, True)
    weights = _stack([_branch_arrays(branch, None, None)] * images.shape[0])
    _, maps = _run(images, weights, strip, threads, True)
    z = torch.from_numpy(maps).permute(0, 3, 1, 2)
    return z[:, : branch.n], z[:, branch.n :]
