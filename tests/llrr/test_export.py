"""``llrr export``: the ONNX graph fuses as llrr does (ONNX Runtime against llrr.fuse at sizes and batch sizes the
export never saw), its sidecar describes it, and bad input leaves no file."""

import json

import numpy as np
import pytest

import llrr
from llrr.cli import main
from llrr.io import demo_pair, read_image
from solvers._files import sha256_file

ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'llrr[deploy]'; dev includes it)")

from llrr.export import export, run_onnx  # noqa: E402 (after the skip)
from unrolled.weights import WEIGHTS  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export("default", tmp_path_factory.mktemp("onnx") / "lrrnet.onnx")


@pytest.fixture(scope="module")
def pair():
    return [read_image(p) for p in demo_pair()]


@pytest.mark.parametrize("box", [np.s_[10:74, 20:120], np.s_[:270, :360], np.s_[100:223, 5:36]])
def test_the_graph_fuses_as_llrr_within_one_grey_level(exported, pair, box):
    ir, vi = pair[0][box], pair[1][box]
    ours = llrr.fuse(ir, vi).astype(int)
    theirs = np.round(255 * run_onnx(exported.path, ir, vi)).astype(int)
    assert theirs.shape == ours.shape and np.abs(theirs - ours).max() <= 1
    # any input scale: the graph min-max scales each image itself
    scaled = np.round(255 * run_onnx(exported.path, ir / 255.0, vi * 257.0)).astype(int)
    assert np.abs(scaled - ours).max() <= 1


def test_a_batch_of_two_pairs_in_one_run(exported, pair):
    ir, vi = pair[0][:96, :128], pair[1][:96, :128]
    session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    batch = {"ir": np.stack([ir, vi])[:, None].astype(np.float32), "vi": np.stack([vi, ir])[:, None].astype(np.float32)}
    out = session.run(None, batch)[0]
    assert out.shape == (2, 1, 96, 128)
    np.testing.assert_allclose(out[0, 0], run_onnx(exported.path, ir, vi), atol=1e-5)
    np.testing.assert_allclose(out[1, 0], run_onnx(exported.path, vi, ir), atol=1e-5)


def test_the_sidecar_describes_the_file(exported):
    side = json.loads(exported.sidecar.read_text())
    assert side["sha256"] == sha256_file(exported.path) and side["opset"] == 17
    assert side["weights"] == "default" and side["weights_sha256"] == WEIGHTS["default"].sha256
    assert set(side["check"]["max_grey_diff"].values()) <= {0, 1}


def test_a_checkpoint_path_another_opset_and_the_command_line(tmp_path, capsys, pair):
    out = tmp_path / "m13.onnx"
    assert main(["export", "--weights", str(WEIGHTS["loss1000"].path), "-o", str(out), "--opset", "13"]) == 0
    assert "opset 13" in capsys.readouterr().out
    ir, vi = pair[0][:80, :100], pair[1][:80, :100]
    ours = llrr.fuse(ir, vi, weights="loss1000").astype(int)
    assert np.abs(np.round(255 * run_onnx(out, ir, vi)).astype(int) - ours).max() <= 1


@pytest.mark.parametrize("args, message", [
    (["--weights", "nonesuch"], "unknown weights name 'nonesuch'"),
    (["--opset", "12"], "opset must be an integer in \\[13, 20\\]"),
    (["--weights", "missing/file.pt"], "checkpoint not found"),
])
def test_bad_input_is_named_and_an_existing_file_is_kept(tmp_path, capsys, args, message):
    import re

    out = tmp_path / "old.onnx"
    out.write_bytes(b"an earlier export")
    assert main(["export", "-o", str(out), *args]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert out.read_bytes() == b"an earlier export" and sorted(tmp_path.iterdir()) == [out]
