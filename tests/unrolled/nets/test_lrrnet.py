import pytest
import torch

from unrolled import LRRNet, LRRNetConfig, lrrnet

from .._training import grads_and_steps


def test_default_parameter_count_is_the_papers():
    assert sum(p.numel() for p in LRRNet().parameters()) == 49_204  # Table 7: 0.04920 M


@pytest.mark.parametrize("blocks", [2, 4, 6, 8])
def test_configurable_blocks_build_and_run(blocks):
    net = LRRNet(blocks=blocks, n=8)
    assert len(net.ir.blocks) == blocks and len(net.vi.blocks) == blocks
    out = net(torch.rand(2, 1, 17, 23), torch.rand(2, 1, 17, 23))
    assert out.shape == (2, 1, 17, 23) and torch.isfinite(out).all()


@pytest.mark.parametrize("extractor", ["conv8", "dense"])
def test_ablation_extractors_build_and_run(extractor):
    net = LRRNet(extractor=extractor, n=16, fusion="add")
    parts = net.decompose(torch.rand(1, 1, 12, 14), torch.rand(1, 1, 12, 14))
    assert parts["fused"].shape == (1, 1, 12, 14)
    assert parts["ir_L"].shape == parts["vi_S"].shape == (1, 16, 12, 14)
    # fused is low + sparse, one float32 addition (assert_close's float32 default 1.3e-6 > u; measured equal)
    torch.testing.assert_close(parts["fused"], parts["low"] + parts["sparse"])


def test_branches_share_nothing_and_parts_add_up():
    net = LRRNet(n=8, blocks=2)
    ir_params = {id(p) for p in net.ir.parameters()}
    assert not ir_params & {id(p) for p in net.vi.parameters()}
    parts = net.decompose(torch.rand(1, 1, 9, 9), torch.rand(1, 1, 9, 9))
    torch.testing.assert_close(parts["fused"], parts["low"] + parts["sparse"])  # one float32 addition, as above


def test_gradients_reach_every_parameter_and_training_reduces_a_toy_loss():
    torch.manual_seed(0)
    net = LRRNet(n=8, blocks=2)
    ir, vi = torch.rand(4, 1, 16, 16), torch.rand(4, 1, 16, 16)
    target = 0.5 * (ir + vi)
    first, last = grads_and_steps(net, lambda: torch.nn.functional.mse_loss(net(ir, vi), target), steps=30)
    assert last < 0.5 * first  # training makes progress (a factor, far beyond rounding)


def test_bad_configuration():
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        LRRNetConfig(kernel_size=4)
    with pytest.raises(ValueError, match="extractor must be one of"):
        LRRNet(extractor="resnet")
    with pytest.raises(ValueError, match="blocks must be a positive integer"):
        LRRNet(blocks=0)


def test_n_sparse_defaults_to_n_and_may_differ(tmp_path):
    assert LRRNetConfig().n_sparse == 128 and LRRNetConfig(n=8) == LRRNetConfig(n=8, n_sparse=8)
    assert LRRNet(LRRNetConfig(), n=8).config.n_sparse == 8  # overriding n alone: n_sparse follows it
    assert LRRNet(LRRNetConfig(n=4, n_sparse=6), n=8).config.n_sparse == 6  # a different n_sparse stays
    net = LRRNet(n=4, n_sparse=6, blocks=2, fusion="add")
    parts = net.decompose(torch.rand(1, 1, 9, 11), torch.rand(1, 1, 9, 11))
    assert parts["ir_L"].shape == (1, 4, 9, 11) and parts["vi_S"].shape == (1, 6, 9, 11)
    assert net.ir.theta.shape == (10,) and net.decoder.ir_sparse.conv.weight.shape == (1, 6, 3, 3)
    torch.save(net.state_dict(), tmp_path / "net.pt")  # the loader reads n and n_sparse from the shapes
    assert lrrnet(weights=tmp_path / "net.pt").config == net.config
    with pytest.raises(ValueError, match=r"n_sparse \(6\) != n \(4\) needs the 'llrr' extractor"):
        LRRNetConfig(n=4, n_sparse=6, extractor="dense")
    with pytest.raises(ValueError, match="n_sparse must be a positive integer"):
        LRRNetConfig(n_sparse=0)
