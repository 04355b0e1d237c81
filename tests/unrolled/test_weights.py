"""The weights registry: the shipped default LRRNet weights load strictly and match their sha256."""

import json
from dataclasses import replace

import numpy as np
import pytest

from unrolled import LRRNet, LRRNetConfig, fuse_images, lrrnet
from unrolled.weights import WEIGHTS, WEIGHTS_DIR, list_weights, resolve_weights, sha256_of


def test_default_weights_are_shipped_and_load_strictly():
    assert "default" in list_weights()
    entry = WEIGHTS["default"]
    path = resolve_weights("default")
    assert path == entry.path and path.parent == WEIGHTS_DIR
    assert path.stat().st_size < 1_000_000  # the limit for shipped weights
    assert sha256_of(path) == entry.sha256
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["sha256"] == entry.sha256 and sidecar["architecture"] == entry.meta["architecture"]
    model = lrrnet(weights="default")
    assert isinstance(model, LRRNet) and model.config == LRRNetConfig()
    assert sum(p.numel() for p in model.parameters()) == 49_204
    rng = np.random.default_rng(0)
    ir, vi = rng.integers(0, 256, (2, 40, 48), dtype=np.uint8)
    out = fuse_images(model, ir, vi)
    assert out.shape == (40, 48) and out.max() > out.min()


def test_a_wrong_hash_is_refused(monkeypatch):
    entry = WEIGHTS["default"]
    monkeypatch.setitem(WEIGHTS, "tampered", replace(entry, name="tampered", sha256="0" * 64))
    with pytest.raises(ValueError, match="sha256"):
        resolve_weights("tampered")


def test_the_builder_lives_with_the_weights_and_the_old_name_warns():
    import unrolled
    import unrolled.weights

    assert unrolled.lrrnet is unrolled.weights.lrrnet
    with pytest.warns(DeprecationWarning, match="moved to unrolled.weights.lrrnet"):
        from unrolled.nets.lrrnet import lrrnet as old
    assert old is unrolled.weights.lrrnet
    with pytest.raises(ImportError, match="cannot import name 'nothing'"):
        from unrolled.nets.lrrnet import nothing  # noqa: F401
