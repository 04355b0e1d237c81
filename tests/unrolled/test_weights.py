"""The weights registry: the shipped default LRRNet weights load strictly and match their sha256."""

import json
from dataclasses import replace

import numpy as np
import pytest

from unrolled import LRRNet, LRRNetConfig, fuse_images, lrrnet
from unrolled.weights import WEIGHTS, WEIGHTS_DIR, list_weights, read_registry, resolve_weights, sha256_of

from ..conftest import Spy


def test_default_weights_are_shipped_and_load_strictly():
    assert "default" in list_weights()
    entry = WEIGHTS["default"]
    path = resolve_weights("default")
    assert path == entry.path and path.parent == WEIGHTS_DIR
    assert path.stat().st_size < 1_000_000  # the limit for shipped weights
    assert sha256_of(path) == entry.sha256
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar == entry.meta and sidecar["name"] == "default" and entry.kind == "lrrnet"
    model = lrrnet(weights="default")
    assert isinstance(model, LRRNet) and model.config == LRRNetConfig()
    assert sum(p.numel() for p in model.parameters()) == 49_204
    rng = np.random.default_rng(0)
    ir, vi = rng.integers(0, 256, (2, 40, 48), dtype=np.uint8)
    out = fuse_images(model, ir, vi)
    assert out.shape == (40, 48) and out.max() > out.min()
    # the sidecar says how the weights were made and chosen: config, data, steps, validation scores
    assert sidecar["selection"]["rule"] == "balance" and "validation split" in sidecar["selection"]["on"]
    assert {"VIF_ir", "VIF_vi", "En", "SD", "MI", "Nabf"} <= set(sidecar["validation"])
    assert sidecar["train_config"]["init"] == "algorithm1" and sidecar["steps"] == 160
    loss = sidecar["train_config"]["loss"]  # trained on the paper's VIF metric (docs/training.md)
    assert (loss["gamma_vif_ir"], loss["gamma_vif_vi"]) == (1.75, 1.0)
    assert sidecar["validation"]["VIF_ir"] >= sidecar["released_checkpoint_validation"]["VIF_ir"]
    assert sidecar["validation"]["VIF_vi"] >= sidecar["released_checkpoint_validation"]["VIF_vi"]
    assert all("tno21" not in d and "vifb" not in d for d in sidecar["data"]["dirs"])
    assert len(sidecar["data"]["val_pairs"]) == 29
    # the former defaults stay available under their own names, strictly loaded and hash-checked too
    for name in ("frontier", "loss1000"):
        old = WEIGHTS[name]
        assert sha256_of(resolve_weights(name)) == old.sha256 != entry.sha256
        assert sum(p.numel() for p in lrrnet(weights=name).parameters()) == 49_204
    assert json.loads(WEIGHTS["frontier"].path.with_suffix(".json").read_text())["steps"] == 0  # the untrained start


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


def test_shipped_weights_are_hashed_and_loaded_once_per_state_of_their_file(monkeypatch, tmp_path):
    import os
    import shutil

    import unrolled.weights as w

    for name in ("lrrnet_default.pt", "lrrnet_default.json"):
        shutil.copy(WEIGHTS_DIR / name, tmp_path / name)
    monkeypatch.setattr(w, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(w, "_VERIFIED", {})
    w._load.cache_clear()
    hashes, loads = Spy(w.sha256_of), Spy(w.load_official_checkpoint)
    monkeypatch.setattr(w, "sha256_of", hashes)
    monkeypatch.setattr(w, "load_official_checkpoint", loads)
    first = w.cached_model("default")
    assert all(w.cached_model("default") is first for _ in range(3))
    own = lrrnet(weights="default")  # a copy of one's own, from the same cache
    assert own is not first and all(a.equal(b) for a, b in zip(own.state_dict().values(),
                                                                first.state_dict().values(), strict=True))
    assert (hashes.calls, loads.calls) == (1, 1)
    path = tmp_path / "lrrnet_default.pt"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the same bytes, a new state: checked again
    assert w.cached_model("default") is not first
    assert (hashes.calls, loads.calls) == (2, 2)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))  # changed bytes: refused, whatever was cached
    with pytest.raises(ValueError, match="sha256"):
        w.cached_model("default")
    w._load.cache_clear()


def test_a_checkpoint_path_is_read_again_when_its_file_changes(tmp_path):
    import os

    import torch

    from unrolled.weights import cached_model

    path = tmp_path / "net.pt"
    torch.manual_seed(0)
    torch.save(LRRNet(n=4, blocks=1).state_dict(), path)
    a = cached_model(path)
    assert cached_model(path) is a
    torch.manual_seed(1)
    torch.save(LRRNet(n=4, blocks=1).state_dict(), path)  # rewritten in place: same inode, maybe the same size
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a distinct time, whatever the clock's tick
    b = cached_model(path)
    assert b is not a and not b.ir.c0.conv.weight.equal(a.ir.c0.conv.weight)


def test_the_registry_is_read_from_the_sidecars(tmp_path):
    import shutil

    assert list_weights() == ["default", "frontier", "loss1000"]
    assert list_weights("learned-solver") == ["llrr_solver_t4"]
    for f in WEIGHTS_DIR.glob("*.json"):
        shutil.copy(f, tmp_path / f.name)
    assert {n: (e.file, e.sha256, e.kind) for n, e in read_registry(tmp_path).items()} == \
        {n: (e.file, e.sha256, e.kind) for n, e in WEIGHTS.items()}
    (tmp_path / "user.json").write_text(json.dumps({"file": "x.pt", "sha256": "0" * 64}))  # no name: not registered
    assert set(read_registry(tmp_path)) == set(WEIGHTS)
    (tmp_path / "twice.json").write_text(json.dumps({"name": "default", "file": "x.pt", "sha256": "0" * 64}))
    with pytest.raises(ValueError, match=r"twice\.json repeats the registry name 'default'"):
        read_registry(tmp_path)
    (tmp_path / "twice.json").write_text(json.dumps({"name": "other", "file": "x.pt"}))
    with pytest.raises(ValueError, match=r"twice\.json lacks \['sha256'\]"):
        read_registry(tmp_path)
