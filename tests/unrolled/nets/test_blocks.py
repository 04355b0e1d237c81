"""Before training, an LLRR branch of LRRNet (Eq. 8 blocks) IS the convolutional form of Algorithm 1, step by step."""

import numpy as np
import pytest
import torch

from solvers import ConvProblem, conv_algorithm1
from solvers.dictionary import dct_atoms
from unrolled.nets.lrrnet import LLRRBranch

# The network (torch) and the solver (numpy) compute the same T <= 4 steps, each a product with up to 128 atoms
# plus a fold over overlapping patches: float32 u = 6e-8 x depth ~150 -> 1e-5 (measured 1e-6 of max|Z| ~ 1);
# float64 1.1e-16 x 150 -> 2e-14 (1e-10 is loose). Values are scaled to max|Z| >= 1 before comparing.
TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-5, atol=1e-5)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_eq8_branch_equals_the_convolutional_form(demo_ir, dtype):
    rng = np.random.default_rng(1)
    filters = (dct_atoms(9, 12).T.reshape(12, 3, 3) + 0.05 * rng.standard_normal((12, 3, 3))).astype(dtype)
    img = (demo_ir[60:100, 80:132] / 255.0).astype(dtype)
    mu, lam = 0.05, dict(lam1=0.02, lam2=0.01, lam3=0.1)
    ref = conv_algorithm1(img, filters, 4, mu=mu, n_iter=4, boundary="reflect", return_iterates=True, **lam)
    branch = LLRRBranch.from_problem(ConvProblem(filters, 4, mu=mu, boundary="reflect", **lam), blocks=4)
    with torch.no_grad():
        its = branch.iterates(torch.from_numpy(img)[None, None])
    assert len(its) == 5
    for t, (z, zr) in enumerate(zip(its, ref.iterates, strict=True)):
        np.testing.assert_allclose(z[0].numpy(), zr, err_msg=f"step {t}", **TOL[dtype])
    with pytest.raises(ValueError, match="reflection"):
        LLRRBranch.from_problem(ConvProblem(filters, 4, mu=mu, boundary="zero", **lam))
    # without mu: the problem's default step for the image size, as conv_algorithm1 takes it
    ref = conv_algorithm1(img, filters, 4, n_iter=2, boundary="reflect", **lam)
    branch = LLRRBranch.from_problem(ConvProblem(filters, 4, boundary="reflect", **lam), blocks=2,
                                     image_shape=img.shape)
    with torch.no_grad():
        z = branch.iterates(torch.from_numpy(img)[None, None])[-1]
    np.testing.assert_allclose(z[0].numpy(), ref.Z, **TOL[dtype])
