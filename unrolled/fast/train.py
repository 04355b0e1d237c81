"""A fast forward and backward of LRRNet for training on the CPU: the same modules and parameters, other kernels.

:func:`fast_train_forward` returns ``model(ir, vi)`` as a tensor whose backward fills the ``.grad`` of the model's own
parameters as eager autograd does, so the same :class:`~unrolled.nets.lrrnet.LRRNet` and optimiser are used. The bulk of
the cost, the two LLRR branches with their decoder convolutions (2n-channel maps, 1 -> 2n and 2n -> 1 3x3
convolutions, per-channel soft thresholds), is one :class:`torch.autograd.Function` whose forward and backward run
the numba kernels of :mod:`unrolled.fast._train_kernels` on channels-last maps, one (branch, image) task per thread (the
kernels release the GIL); the two small fusion convolutions stay in torch.

Measured on 2 AVX-512 cores (AMD EPYC, sgemm 200 GFLOP/s), batch 8 of 128 x 128 crops, forward + backward of the
released architecture: 0.65 s and a peak RSS of 1.8 GB, against 23 s and 8.3 GB for eager autograd
(``benchmarks/test_bench_train_step.py``).
The kernels are compiled once per dtype and cached on disk (a fresh installation compiles for about 15 s on its first
float32 call; later processes load them in 0.3 s).

Memory: the forward keeps the T + 1 pre-threshold maps of each branch, ``2 (T + 1) N H W 2n`` values (1.3 GB in
float32 for the released architecture at batch 8, 128 x 128); the backward hands them to the next forward of the same
shapes instead of freeing them (:class:`_Workspace`), which saves the page faults of fresh memory at every step.
``WORKSPACE.clear()`` releases them. A graph may be backwarded again (``retain_graph=True``) until a later forward
takes its maps; after that a second backward raises RuntimeError. Double backward (``create_graph=True``) is not
supported.

Results equal eager autograd up to rounding: float64 to about 1e-12, float32 to about 1e-6 relative, except where a
value falls within rounding of a kink of the soft threshold (``|P| = theta``, where the derivative jumps), which the
two float32 computations may then put on different sides. Use :func:`fast_train_supported` to decide: it accepts
what :func:`unrolled.fast.infer.fast_supported` accepts ("llrr" extractor, 3 x 3 kernels, one channel, "cat" or "add"
fusion), in float32 or float64, on the CPU, without module hooks.
"""

from __future__ import annotations

import threading

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

from solvers._jit import numba

from ..nets.lrrnet import LRRNet
from ._train_kernels import branch_backward, branch_forward, reflect_table
from .infer import run_tasks
from .support import unsupported_reason

__all__ = ["fast_train_forward", "fast_train_supported", "fast_train_unsupported_reason"]

DTYPES = (torch.float32, torch.float64)
TORCH_DT = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def fast_train_unsupported_reason(model) -> str | None:
    """Why :func:`fast_train_forward` cannot run ``model`` (a sentence), or None when it can."""
    return unsupported_reason(model, "the fast training path", DTYPES, backward=True)


def fast_train_supported(model) -> bool:
    """Whether :func:`fast_train_forward` computes ``model(ir, vi)`` and its gradients for this model.

    True for an :class:`~unrolled.nets.lrrnet.LRRNet` with the "llrr" extractor, 3 x 3 kernels, one channel, "cat" or
    "add" fusion (any n and number of blocks), float32 or float64 parameters on the CPU and no module hooks;
    :func:`fast_train_unsupported_reason` says why not.
    """
    return fast_train_unsupported_reason(model) is None


def _branch_params(model: LRRNet, name: str) -> list[nn.Parameter]:
    """A branch's parameters in the order the Function takes them (its decoder convolutions last)."""
    branch, d = getattr(model, name), model.decoder
    params = [branch.theta, branch.lam3, branch.c0.conv.weight, branch.c0.conv.bias]
    for block in branch.blocks:
        params += [block.c1.conv.weight, block.c1.conv.bias, block.c2.conv.weight, block.c2.conv.bias]
    for conv in (getattr(d, f"{name}_low"), getattr(d, f"{name}_sparse")):
        params += [conv.conv.weight, conv.conv.bias]
    return params


def _taps(w: torch.Tensor) -> np.ndarray:
    """3x3 weights (out, in, 3, 3) with one side 1, as (9, channels)."""
    return np.ascontiguousarray(w.detach().reshape(-1, 9).numpy().T)


def _kernel_weights(params: list[torch.Tensor], T: int) -> dict:
    """The kernels' arrays of one branch from its parameters (order of :func:`_branch_params`)."""
    blocks = [params[4 + 4 * t: 8 + 4 * t] for t in range(T)]
    dec = params[4 + 4 * T:]
    dt = params[0].detach().numpy().dtype
    K = params[0].shape[0]
    return dict(
        w0=_taps(params[2]), b0=params[3].detach().numpy(), theta=params[0].detach().numpy(),
        lam3=dt.type(params[1].item()),
        w1=np.stack([_taps(b[0]) for b in blocks]) if T else np.zeros((0, 9, K), dt),
        b1=np.array([b[1].item() for b in blocks], dt),
        w2=np.stack([_taps(b[2]) for b in blocks]) if T else np.zeros((0, 9, K), dt),
        b2=np.stack([b[3].detach().numpy() for b in blocks]) if T else np.zeros((0, K), dt),
        wdl=_taps(dec[0]), wds=_taps(dec[2]), bd=np.array([dec[1].item(), dec[3].item()], dt))


def _map(tasks: list, threads: int) -> None:
    run_tasks(lambda task: task(), tasks, threads)


class _Buffers:
    """One forward's saved maps: pre-threshold maps P (2, N, T + 1, H, W, K) and residuals R (2, N, T, H, W)."""

    def __init__(self, key: tuple):
        dtype, N, T, H, W, K = key
        self.key, self.generation = key, 0
        self.P = torch.empty((2, N, T + 1, H, W, K), dtype=TORCH_DT[dtype]).numpy()
        self.R = np.empty((2, N, T, H, W), dtype)


class _Workspace:
    """The saved maps of the last backward, kept for the next forward of the same shapes.

    Writing fresh memory costs the kernel a page fault per 4 kB (0.5 s of system time for the 1.3 GB of a batch of
    8 at 128 x 128, as much as the forward's arithmetic); a training loop asks for the same shapes at every step.
    A forward takes the buffers (or allocates new ones when none are free, e.g. two forwards before their
    backwards) and bumps their generation; its backward gives them back. A second backward through a retained graph
    checks that no forward has taken its buffers since (else RuntimeError). At most one set is kept. (torch
    allocates them: numpy would ask for transparent huge pages, whose compaction stalled a first step by 3 s.)
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._free: _Buffers | None = None

    def take(self, key: tuple) -> _Buffers:
        with self._lock:
            free, self._free = self._free, None
            if free is not None and free.key == key:
                free.generation += 1
                return free
        return _Buffers(key)

    def give(self, buffers: _Buffers) -> None:
        with self._lock:
            self._free = buffers

    def clear(self) -> None:
        """Release the kept buffers."""
        with self._lock:
            self._free = None


WORKSPACE = _Workspace()


class _Branches(torch.autograd.Function):
    """Both LLRR branches and their decoder convolutions: (ir, vi, *params) -> (ir parts, vi parts), each
    (N, 2, H, W) (low-rank then sparse image)."""

    @staticmethod
    def forward(ctx, T: int, threads: int, keep: bool, ir, vi, *params):
        n_per = len(params) // 2
        images = (ir.detach()[:, 0].contiguous().numpy(), vi.detach()[:, 0].contiguous().numpy())
        N, H, W = images[0].shape
        rows, cols = reflect_table(H), reflect_table(W)
        K = params[0].shape[0]
        key = (images[0].dtype, N, T, H, W, K)
        buffers = WORKSPACE.take(key)
        P, R = buffers.P, buffers.R
        parts = [torch.empty((N, 2, H, W), dtype=ir.dtype) for _ in range(2)]
        weights = [_kernel_weights(list(params[b * n_per:(b + 1) * n_per]), T) for b in range(2)]

        def task(b: int, i: int):
            w = weights[b]
            return lambda: branch_forward(images[b][i], rows, cols, w["w0"], w["b0"], w["theta"], w["lam3"],
                                          w["w1"], w["b1"], w["w2"], w["b2"], w["wdl"], w["wds"], w["bd"],
                                          P[b, i], R[b, i], parts[b][i].numpy())

        _map([task(b, i) for b in range(2) for i in range(N)], threads)
        ctx.T, ctx.threads, ctx.buffers, ctx.generation = T, threads, buffers, buffers.generation
        ctx.save_for_backward(ir, vi, *params)
        if not keep:  # no backward will come (e.g. under torch.no_grad())
            WORKSPACE.give(buffers)
        return parts[0], parts[1]

    @staticmethod
    @once_differentiable
    def backward(ctx, d_ir, d_vi):
        buffers = ctx.buffers
        if buffers.generation != ctx.generation:
            raise RuntimeError("the fast training path reuses its saved maps once backward has run: a forward since "
                               "then has overwritten them, so this graph cannot backward a second time "
                               "(retain_graph=True)")
        ir, vi, *params = ctx.saved_tensors
        T, threads = ctx.T, ctx.threads
        P, R = buffers.P, buffers.R
        n_per = len(params) // 2
        images = (ir.detach()[:, 0].contiguous().numpy(), vi.detach()[:, 0].contiguous().numpy())
        N, H, W = images[0].shape
        rows, cols = reflect_table(H), reflect_table(W)
        dparts = [(torch.zeros((N, 2, H, W), dtype=ir.dtype) if d is None else d.contiguous()).numpy()
                  for d in (d_ir, d_vi)]
        weights = [_kernel_weights(list(params[b * n_per:(b + 1) * n_per]), T) for b in range(2)]
        K = params[0].shape[0]
        dt = images[0].dtype
        dX = np.zeros((2, N, H, W), dt)
        shapes = dict(theta=(K,), lam3=(1,), w0=(9, K), b0=(K,), w1=(T, 9, K), b1=(T,), w2=(T, 9, K), b2=(T, K),
                      wd=(9, K), bd=(2,))
        grads = {name: np.zeros((2, N) + shape) for name, shape in shapes.items()}

        def task(b: int, i: int):
            w = weights[b]
            g = {name: a[b, i] for name, a in grads.items()}
            return lambda: branch_backward(images[b][i], rows, cols, w["w0"], w["theta"], w["lam3"], w["w1"],
                                           w["w2"], w["wdl"], w["wds"], P[b, i], R[b, i], dparts[b][i], dX[b, i],
                                           g["theta"], g["lam3"], g["w0"], g["b0"], g["w1"], g["b1"], g["w2"],
                                           g["b2"], g["wd"], g["bd"])

        _map([task(b, i) for b in range(2) for i in range(N)], threads)
        WORKSPACE.give(buffers)
        out = []
        for b in range(2):
            g = {name: a[b].sum(axis=0) for name, a in grads.items()}
            n_low = weights[b]["wdl"].shape[1]
            per = [g["theta"], g["lam3"].reshape(()), g["w0"].T.reshape(K, 1, 3, 3), g["b0"]]
            for t in range(T):
                per += [g["w1"][t].T.reshape(1, K, 3, 3), g["b1"][t:t + 1], g["w2"][t].T.reshape(K, 1, 3, 3),
                        g["b2"][t]]
            per += [g["wd"][:, :n_low].T.reshape(1, n_low, 3, 3), g["bd"][0:1],
                    g["wd"][:, n_low:].T.reshape(1, K - n_low, 3, 3), g["bd"][1:2]]
            out += [torch.from_numpy(np.ascontiguousarray(a, dtype=dt)) for a in per]
        d_images = [torch.from_numpy(dX[b])[:, None] for b in range(2)]
        return (None, None, None, *d_images, *out)


def _check_inputs(model: LRRNet, ir, vi) -> None:
    dtype = model.ir.theta.dtype
    for name, x in (("ir01", ir), ("vi01", vi)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"{name} must have shape (N, 1, H, W), got {tuple(x.shape)}")
        if x.dtype != dtype or x.device.type != "cpu":
            raise ValueError(f"{name} must be {dtype} on the CPU like the model's parameters, got {x.dtype} on "
                             f"{x.device}")
        if min(x.shape[2:]) < 2:
            raise ValueError(f"{name} must be at least 2 x 2 pixels (reflection padding), got {tuple(x.shape[2:])}")
    if ir.shape != vi.shape:
        raise ValueError(f"ir01 and vi01 must have the same shape, got {tuple(ir.shape)} and {tuple(vi.shape)}")


def fast_train_forward(model: LRRNet, ir01: torch.Tensor, vi01: torch.Tensor, *,
                       threads: int | None = None) -> torch.Tensor:
    """``model(ir01, vi01)`` with a fast backward: gradients reach the model's own parameters (and the inputs).

    Parameters
    ----------
    model : LRRNet
        A model :func:`fast_train_supported` accepts (else ValueError with the reason).
    ir01, vi01 : Tensor of shape (N, 1, H, W)
        The network inputs (H, W >= 2), of the parameters' dtype, on the CPU.
    threads : int, optional
        Threads running the (branch, image) tasks of the forward and the backward; default
        ``numba.get_num_threads()``.

    Returns
    -------
    Tensor of shape (N, 1, H, W)
        The fused image, equal to ``model(ir01, vi01)`` up to rounding; ``backward`` through it accumulates into
        ``p.grad`` of every parameter ``p`` of ``model`` as eager autograd does.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> net = LRRNet(n=4, blocks=2).double()
    >>> ir, vi = torch.rand(2, 1, 9, 11, dtype=torch.float64), torch.rand(2, 1, 9, 11, dtype=torch.float64)
    >>> fast_train_forward(net, ir, vi).square().mean().backward()
    >>> fast_grad = net.ir.c0.conv.weight.grad.clone()
    >>> net.zero_grad()
    >>> net(ir, vi).square().mean().backward()
    >>> torch.allclose(fast_grad, net.ir.c0.conv.weight.grad)
    True
    """
    reason = fast_train_unsupported_reason(model)
    if reason is not None:
        raise ValueError(f"the fast training path does not support this model: {reason}")
    _check_inputs(model, ir01, vi01)
    if threads is None:
        threads = numba.get_num_threads()
    elif isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    params = _branch_params(model, "ir") + _branch_params(model, "vi")
    keep = torch.is_grad_enabled() and any(t.requires_grad for t in (ir01, vi01, *params))
    ir_parts, vi_parts = _Branches.apply(len(model.ir.blocks), threads, keep, ir01, vi01, *params)
    d = model.decoder
    low = d.fuse_low(d._merge(ir_parts[:, 0:1], vi_parts[:, 0:1]))
    sparse = d.fuse_sparse(d._merge(ir_parts[:, 1:2], vi_parts[:, 1:2]))
    return low + sparse
