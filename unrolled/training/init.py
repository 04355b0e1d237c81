r"""LRRNet initialised from Algorithm 1: before any training the network IS the optimisation it unrolls.

**From problems** (:func:`lrrnet_from_problems`). Each branch is :meth:`LLRRBranch.from_problem
<unrolled.nets.lrrnet.LLRRBranch.from_problem>` of its source's :class:`~solvers.ConvProblem`, i.e. T iterations of the
convolutional Algorithm 1 (Eq. 7-8, reflect boundary, :func:`solvers.conv_algorithm1`):

.. math:: Z_0 = h_\theta(\mu D^T x), \qquad
          Z_t = h_\theta\big(\mu D^T(x - D Z_{t-1}) + (1 - \lambda_3) Z_{t-1}\big), \qquad
          \theta = \mu(\lambda_1 1_L; \lambda_2 1_S),

and the decoder (Fig. 3) is set to Algorithm 1's output step 8, :math:`P_l = D_1 L`, :math:`P_s = D_2 S`
(``ir_low`` / ``vi_low``, ``ir_sparse`` / ``vi_sparse``: the flipped atoms, a torch convolution being a correlation;
reflection padding is the solver's boundary), then ``fuse_low`` / ``fuse_sparse`` weigh the sources on their centre
taps, all biases 0. By default (weights 1/2) the network returns the average of the two reconstructions:

.. math:: I_f = \tfrac12\,(D_1 L_{ir} + D_2 S_{ir}) + \tfrac12\,(D_1' L_{vi} + D_2' S_{vi})

(primes: the visible problem's atoms); ``low`` and ``sparse`` set other weights per source and part.

**From training images** (:func:`problems_from_training_data`, :func:`lrrnet_from_training_data`), per modality:
sample random s x s patches (:func:`sample_patches`); learn a small unit-norm **core** dictionary (``core = (k1, k2)``,
default 4 base and 16 salient atoms) with Algorithm 1 as the coder; **replicate** it to n_low and n_sparse channels,
the copies jittered so that they separate in training; build the reflect-boundary :class:`~solvers.ConvProblem` with
step ``1 / lipschitz_bound(image_shape)``. Each step and why: docs/training.md, "The Algorithm 1 start".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from solvers import ConvProblem, patch_dictionary_to_filters
from solvers._validation import check_array, check_int, check_scalar

from ..nets.blocks import PaddedConv
from ..nets.lrrnet import FUSIONS, LLRRBranch, LRRNet, LRRNetConfig

__all__ = ["check_mix", "lrrnet_from_problems", "lrrnet_from_training_data", "problems_from_training_data",
           "sample_patches", "set_decoder_mix"]

_DROPPED = 1e-8  # an atom whose norm is below this fraction of its block's largest norm was dropped by the learning


# ---------------------------------------------------------------------------------------------- from problems
def _set_synthesis(conv: PaddedConv, filters: np.ndarray) -> None:
    """The convolution computing ``sum_k d_k (*) z_k`` (true convolution: flipped atoms), bias 0."""
    w = torch.from_numpy(np.ascontiguousarray(filters[:, ::-1, ::-1]))
    conv.conv.weight.copy_(w.unsqueeze(0))
    conv.conv.bias.zero_()


def _set_weighted_sum(conv: PaddedConv, weights: tuple[float, float]) -> None:
    """The convolution returning ``weights[0] * infrared + weights[1] * visible`` (centre taps), bias 0 ("cat": one
    input channel per source; "add": one channel holding their sum, where the two weights are equal)."""
    w = conv.conv.weight
    c = w.shape[-1] // 2
    w.zero_()
    if w.shape[1] == 2:
        w[0, 0, c, c], w[0, 1, c, c] = weights
    else:
        w[:, :, c, c] = weights[0]
    conv.conv.bias.zero_()


def set_decoder_mix(net: LRRNet, low: tuple[float, float], sparse: tuple[float, float]) -> LRRNet:
    """Set (in place) ``net``'s ``fuse_low`` / ``fuse_sparse`` to the weighted sums ``low`` and ``sparse`` of the
    sources' (infrared, visible) parts, as :func:`lrrnet_from_problems` does; returns ``net``."""
    if net.config.channels != 1:
        raise ValueError(f"set_decoder_mix weighs grey networks (channels=1), got channels={net.config.channels}")
    low, sparse = check_mix(low, "low", net.config.fusion), check_mix(sparse, "sparse", net.config.fusion)
    with torch.no_grad():
        _set_weighted_sum(net.decoder.fuse_low, low)
        _set_weighted_sum(net.decoder.fuse_sparse, sparse)
    return net


def check_mix(weights, name: str, fusion: str = "cat") -> tuple[float, float]:
    """``weights`` as a pair (infrared, visible) of finite non-negative floats, not both 0."""
    if not isinstance(weights, (tuple, list)) or len(weights) != 2:
        raise ValueError(f"{name} must be a pair (infrared weight, visible weight), got {weights!r}")
    pair = tuple(check_scalar(v, f"{name}[{i}]", low=0.0) for i, v in enumerate(weights))
    if pair[0] == pair[1] == 0.0:
        raise ValueError(f"{name} must not be (0, 0): the decoder would drop that part of both sources")
    if fusion == "add" and pair[0] != pair[1]:
        raise ValueError(f"{name} = {weights!r}: with fusion='add' the decoder sums the two sources before weighing "
                         f"them, so the infrared and visible weights must be equal")
    return pair


def lrrnet_from_problems(problem_ir: ConvProblem, problem_vi: ConvProblem | None = None, *, blocks: int = 4,
                         mu: float | None = None, image_shape: tuple[int, int] | None = None,
                         fusion: str = "cat", low: tuple[float, float] = (0.5, 0.5),
                         sparse: tuple[float, float] = (0.5, 0.5)) -> LRRNet:
    r"""The LRRNet equal, before training, to Algorithm 1 on each source and a weighted sum of its parts.

    Parameters
    ----------
    problem_ir : ConvProblem
        Atoms (n_atoms, s, s), ``n_low`` base atoms, weights and step of the infrared branch; ``boundary="reflect"``.
    problem_vi : ConvProblem, optional
        The visible branch's; default ``problem_ir``. Same n_low, n_sparse, atom size and dtype as ``problem_ir``.
    blocks : int, default 4
        T, LLRR blocks (Algorithm 1 iterations after Z_0) per branch.
    mu : float, optional
        Step of both branches; default each problem's own :meth:`~solvers.ConvProblem.step` (its ``mu``, else
        ``1 / lipschitz(image_shape)``).
    image_shape : (int, int), optional
        Image size the default step is computed for (needed when a problem has no ``mu`` and ``mu`` is not given).
    fusion : {"cat", "add"}, default "cat"
    low, sparse : (float, float), default (0.5, 0.5)
        Weights (infrared, visible) of the two sources' base parts :math:`P_l` and salient parts :math:`P_s` in the
        fused image; the default averages the two reconstructions. With ``fusion="add"`` each pair must be equal.

    Returns
    -------
    LRRNet
        ``config == LRRNetConfig(n=n_low, n_sparse=n_sparse, kernel_size=s, blocks=blocks, fusion=fusion)``, in the
        problems' dtype (float64 problems give a float64 network), in training mode.

    Notes
    -----
    Branches: Eq. 7-8 as in the module docstring (``theta = mu (lam1; lam2)``, the network's ``lam3`` is
    :math:`1 - \lambda_3`). Decoder: :math:`P_l = D_1 L`, :math:`P_s = D_2 S` (Algorithm 1, step 8) for each source,
    then ``I_f = low[0] P_l^ir + low[1] P_l^vi + sparse[0] P_s^ir + sparse[1] P_s^vi`` (by default the average of the
    two reconstructions).

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import ConvProblem
    >>> filters = np.random.default_rng(0).standard_normal((6, 3, 3))
    >>> net = lrrnet_from_problems(ConvProblem(filters, 2, lam1=0.01, lam2=0.02, mu=0.01), blocks=2)
    >>> net.config.n, net.config.n_sparse, net.config.blocks, net.ir.theta.dtype
    (2, 4, 2, torch.float64)
    """
    problem_vi = problem_ir if problem_vi is None else problem_vi
    for name, p in (("problem_ir", problem_ir), ("problem_vi", problem_vi)):
        if not isinstance(p, ConvProblem):
            raise TypeError(f"{name} must be a solvers.ConvProblem, got {type(p).__name__}")
        if p.n_low < 1 or p.n_sparse < 1:
            raise ValueError(f"{name} must have at least one base and one salient atom (LRRNet's two groups of maps), "
                             f"got n_low={p.n_low}, n_sparse={p.n_sparse}")
    a, b = problem_ir, problem_vi
    shape_a, shape_b = ((p.n_low, p.n_sparse, p.size, str(p.dtype)) for p in (a, b))
    if shape_a != shape_b:
        raise ValueError(f"the two problems must have the same (n_low, n_sparse, atom size, dtype), got {shape_a} "
                         f"and {shape_b}")
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
    config = LRRNetConfig(n=a.n_low, n_sparse=a.n_sparse, kernel_size=a.size, blocks=blocks, fusion=fusion)
    ir = LLRRBranch.from_problem(a, blocks, mu=mu, image_shape=image_shape)
    vi = LLRRBranch.from_problem(b, blocks, mu=mu, image_shape=image_shape)
    net = LRRNet(config).to(ir.theta.dtype)
    d, n = net.decoder, a.n_low
    with torch.no_grad():
        net.ir.load_state_dict(ir.state_dict())
        net.vi.load_state_dict(vi.state_dict())
        for p, low_conv, sparse_conv in ((a, d.ir_low, d.ir_sparse), (b, d.vi_low, d.vi_sparse)):
            f = p.filters.astype(np.float64)
            _set_synthesis(low_conv, f[:n])
            _set_synthesis(sparse_conv, f[n:])
    return set_decoder_mix(net, low, sparse)


# ---------------------------------------------------------------------------------------------- from training data
def _check_images(images, name: str, size: int) -> list[np.ndarray]:
    if isinstance(images, np.ndarray) and images.ndim == 2:
        images = [images]
    if not isinstance(images, (Sequence, np.ndarray)) or len(images) == 0:
        raise ValueError(f"{name} must be a non-empty list of grey images (2-D arrays), got {type(images).__name__}")
    out = []
    for i, img in enumerate(images):
        x = check_array(img, f"{name}[{i}]", ndim=2, dtype=np.float64)
        if min(x.shape) < size:
            raise ValueError(f"{name}[{i}] of shape {x.shape} is smaller than the kernel ({size} x {size})")
        out.append(x)
    return out


def sample_patches(images, size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random ``size x size`` patches, every position of every image equally likely (with replacement).

    Parameters
    ----------
    images : list of ndarray of shape (H_i, W_i)
        Grey images, each at least size x size.
    size, count : int
    rng : numpy.random.Generator

    Returns
    -------
    X : ndarray of shape (size * size, count), float64
        One patch per column, row-major (as :func:`solvers.extract_patches`).

    Examples
    --------
    >>> img = np.arange(16.0).reshape(4, 4)
    >>> sample_patches([img], 2, 3, np.random.default_rng(0)).shape
    (4, 3)
    """
    size, count = check_int(size, "size", low=1), check_int(count, "count", low=1)
    return _sample(_check_images(images, "images", size), size, count, rng)


def _sample(images: list[np.ndarray], size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    per = np.array([(h - size + 1) * (w - size + 1) for h, w in (x.shape for x in images)])
    draw = rng.integers(per.sum(), size=count)
    which = np.searchsorted(np.cumsum(per), draw, side="right")
    local = draw - np.r_[0, np.cumsum(per)[:-1]][which]
    X = np.empty((size * size, count))
    for i, img in enumerate(images):
        sel = np.flatnonzero(which == i)
        if len(sel):
            r, c = np.divmod(local[sel], img.shape[1] - size + 1)
            X[:, sel] = np.lib.stride_tricks.sliding_window_view(img, (size, size))[r, c].reshape(len(sel), -1).T
    return X


def _core_start(X: np.ndarray, k1: int, k2: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Starting core: the k1 leading eigenvectors of X X^T (sign: positive sum), and k2 distinct mean-removed patches
    of above-median contrast, unit norm."""
    _, V = np.linalg.eigh(X @ X.T)
    D1 = V[:, ::-1][:, :k1].copy()
    D1 *= np.where(D1.sum(axis=0) < 0, -1.0, 1.0)
    Xc = X - X.mean(axis=0)
    norms = np.linalg.norm(Xc, axis=0)
    keep = norms > max(np.median(norms), 1e-12)
    cand = np.unique(np.round(Xc[:, keep] / norms[keep], 12), axis=1)
    if cand.shape[1] < k2:
        raise ValueError(f"the training patches hold only {cand.shape[1]} distinct contrasted patches for "
                         f"core[1]={k2} salient atoms: give more patches or images with more texture, or lower core")
    D2 = cand[:, rng.choice(cand.shape[1], k2, replace=False)]
    return D1, D2 / np.linalg.norm(D2, axis=0)


def _unit_atoms(D: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The learned atoms at unit norm, a dropped (zero) atom replaced by its (unit-norm) starting atom."""
    norms = np.linalg.norm(D, axis=0)
    dropped = norms <= _DROPPED * max(norms.max(), 1e-300)
    D = np.where(dropped, start, D)
    return D / np.linalg.norm(D, axis=0)


def _replicate(D: np.ndarray, n: int, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """n atoms: column j is core atom j mod k, perturbed by ``jitter`` (relative) after its first copy."""
    k = D.shape[1]
    out = D[:, np.arange(n) % k].copy()
    if n > k and jitter > 0:
        noise = rng.standard_normal((D.shape[0], n - k)) / np.sqrt(D.shape[0])
        out[:, k:] += jitter * np.linalg.norm(out[:, k:], axis=0) * noise
    return out


def _learn_core(images, s, k1, k2, *, lam1, lam2, ridge, patches, iterations, coding_iter, rng):
    from solvers.dictionary import learn_dictionaries  # scikit-learn: imported only where dictionaries are learned

    X = _sample(images, s, patches, rng)
    D1, D2 = _core_start(X, k1, k2, rng)
    # products of a few tens of atoms: BLAS threads only add synchronisation (and fight a busy machine's other work)
    with threadpool_limits(limits=1, user_api="blas"):
        L1, L2, _ = learn_dictionaries(X, k1, k2, lam1=lam1, lam2=lam2, lam3=ridge, init=(D1, D2),
                                       coding_solver="algorithm1", max_iter=iterations, coding_iter=coding_iter,
                                       tol=0.0)
    return _unit_atoms(L1, D1), _unit_atoms(L2, D2)


def problems_from_training_data(ir_images, vi_images, *, n_low: int = 128, n_sparse: int | None = None,
                                kernel_size: int = 3, lam1: float = 1e-3, lam2: float = 3e-3, lam3: float = 0.0,
                                core: tuple[int, int] = (4, 16), patches: int = 4000, iterations: int = 30,
                                coding_iter: int = 10, ridge: float = 1e-2, jitter: float = 0.1,
                                shared: bool = False, image_shape: tuple[int, int] = (128, 128),
                                seed: int = 0) -> tuple[ConvProblem, ConvProblem]:
    r"""Algorithm 1's problems for the infrared and visible branches, with dictionaries learned on training patches.

    The recipe (core dictionary learned with Algorithm 1 as coder, dropped atoms restored, replication with jitter,
    step from the Lipschitz bound) and why: module docstring. Deterministic for a ``seed``.

    Parameters
    ----------
    ir_images, vi_images : list of ndarray of shape (H_i, W_i)
        Training images on [0, 1] (any sizes, at least kernel_size on each side; the two lists need not pair up).
    n_low : int, default 128
        Base atoms (low-rank maps) per branch, LRRNet's ``n``.
    n_sparse : int, optional
        Salient atoms (sparse maps) per branch; default n_low.
    kernel_size : int, default 3
        Atom side s, odd.
    lam1, lam2 : float, default 1e-3, 3e-3
        l1 weights of the base and salient codes (learning and problem).
    lam3 : float, default 0
        Algorithm 1's :math:`\lambda_3` (the problem's; the network's ``lam3`` starts at ``1 - lam3``).
    core : (int, int), default (4, 16)
        Learned base and salient atoms; ``core[0] <= kernel_size**2``; capped at n_low and n_sparse.
    patches : int, default 4000
        Training patches per modality (pooled: in all).
    iterations, coding_iter : int, default 30, 10
        Outer iterations of :func:`~solvers.dictionary.learn_dictionaries` and Algorithm 1 steps in each.
    ridge : float, default 1e-2
        Weight of :math:`\phi(D) = \|D_1\|_F^2 + \|D_2\|_F^2` in the learning (Eq. 2's :math:`\lambda_3`).
    jitter : float, default 0.1
        Relative size of the perturbation of the copies of a core atom (0: exact copies).
    shared : bool, default False
        Learn one dictionary on the patches of both modalities (both problems then are the same object) instead of one
        per modality.
    image_shape : (int, int), default (128, 128)
        Image size the step ``mu = 1 / lipschitz_bound(image_shape)`` is computed for.
    seed : int, default 0

    Returns
    -------
    (ConvProblem, ConvProblem)
        Float64 problems (infrared, visible) with ``boundary="reflect"`` and ``mu`` set.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ir, vi = [rng.random((20, 24))], [rng.random((18, 30))]
    >>> p_ir, p_vi = problems_from_training_data(ir, vi, n_low=6, n_sparse=20, patches=300, iterations=3)
    >>> p_ir.filters.shape, p_vi.n_low, p_ir.boundary
    ((26, 3, 3), 6, 'reflect')
    """
    s = check_int(kernel_size, "kernel_size", low=1)
    if s % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {s}")
    n_low = check_int(n_low, "n_low", low=1)
    n_sparse = n_low if n_sparse is None else check_int(n_sparse, "n_sparse", low=1)
    if not isinstance(core, (tuple, list)) or len(core) != 2:
        raise ValueError(f"core must be a pair (base atoms, salient atoms), got {core!r}")
    k1, k2 = check_int(core[0], "core[0]", low=1), check_int(core[1], "core[1]", low=1)
    if k1 > s * s:
        raise ValueError(f"core[0] must be <= kernel_size**2 = {s * s} (principal directions of the patches), got {k1}")
    k1, k2 = min(k1, n_low), min(k2, n_sparse)
    lams = {name: check_scalar(v, name, low=0.0) for name, v in (("lam1", lam1), ("lam2", lam2), ("lam3", lam3),
                                                                  ("ridge", ridge), ("jitter", jitter))}
    counts = {name: check_int(v, name, low=1) for name, v in (("patches", patches), ("iterations", iterations),
                                                               ("coding_iter", coding_iter))}
    seed = check_int(seed, "seed", low=0)
    if len(image_shape) != 2:
        raise ValueError(f"image_shape must be (H, W), got {image_shape!r}")
    shape = (check_int(image_shape[0], "image_shape[0]", low=s), check_int(image_shape[1], "image_shape[1]", low=s))
    sources = {"ir": _check_images(ir_images, "ir_images", s), "vi": _check_images(vi_images, "vi_images", s)}
    if shared:
        sources = {"shared": sources["ir"] + sources["vi"]}
    problems = {}
    for i, (name, images) in enumerate(sources.items()):
        rng = np.random.default_rng([seed, i])
        L1, L2 = _learn_core(images, s, k1, k2, lam1=lams["lam1"], lam2=lams["lam2"], ridge=lams["ridge"],
                             patches=counts["patches"], iterations=counts["iterations"],
                             coding_iter=counts["coding_iter"], rng=rng)
        D = np.hstack([_replicate(L1, n_low, lams["jitter"], rng), _replicate(L2, n_sparse, lams["jitter"], rng)])
        p = ConvProblem(patch_dictionary_to_filters(D, s), n_low, lam1=lams["lam1"], lam2=lams["lam2"],
                        lam3=lams["lam3"], boundary="reflect")
        problems[name] = p.replace(mu=1.0 / p.lipschitz_bound(shape))
    return (problems["shared"],) * 2 if shared else (problems["ir"], problems["vi"])


def lrrnet_from_training_data(ir_images, vi_images, *, n_low: int = 128, n_sparse: int | None = None,
                              kernel_size: int = 3, lam1: float = 1e-3, lam2: float = 3e-3, lam3: float = 0.0,
                              blocks: int = 4, fusion: str = "cat", core: tuple[int, int] = (4, 16),
                              patches: int = 4000, iterations: int = 30, coding_iter: int = 10, ridge: float = 1e-2,
                              jitter: float = 0.1, shared: bool = False, image_shape: tuple[int, int] = (128, 128),
                              seed: int = 0, dtype: torch.dtype = torch.float32,
                              low: tuple[float, float] = (0.5, 0.5),
                              sparse: tuple[float, float] = (0.5, 0.5)) -> LRRNet:
    """LRRNet initialised as Algorithm 1 with dictionaries learned on the training images (``init = "algorithm1"``).

    :func:`problems_from_training_data` (every keyword but ``blocks``, ``fusion``, ``low``, ``sparse`` and ``dtype``
    is its), then :func:`lrrnet_from_problems` (``low``, ``sparse``: the decoder's weights of the two sources). The
    defaults give the released architecture, ``LRRNetConfig()`` (n = 128, 3 x 3, T = 4, "cat"), so the fast paths
    and the weights registry take the result as any LRRNet.

    Parameters
    ----------
    blocks : int, default 4
    fusion : {"cat", "add"}, default "cat"
    dtype : torch.dtype, default torch.float32
        Of the returned parameters (the problems are float64; float32 for training and the fast paths).

    Returns
    -------
    LRRNet in training mode.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> images = [rng.random((32, 32)) for _ in range(2)]
    >>> net = lrrnet_from_training_data(images, images, n_low=8, blocks=2, patches=500, iterations=3)
    >>> net.config == LRRNetConfig(n=8, blocks=2), net.ir.theta.dtype
    (True, torch.float32)
    """
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    problems = problems_from_training_data(
        ir_images, vi_images, n_low=n_low, n_sparse=n_sparse, kernel_size=kernel_size, lam1=lam1, lam2=lam2,
        lam3=lam3, core=core, patches=patches, iterations=iterations, coding_iter=coding_iter, ridge=ridge,
        jitter=jitter, shared=shared, image_shape=image_shape, seed=seed)
    return lrrnet_from_problems(*problems, blocks=blocks, fusion=fusion, low=low, sparse=sparse).to(dtype)
