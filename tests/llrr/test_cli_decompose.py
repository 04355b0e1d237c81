import numpy as np
import pytest

from llrr.cli import main
from llrr.decompose import DecompositionConfig, decompose
from llrr.io import DEMO_IR, DEMO_VI, atomic_path, load_grey


def test_demo_pair_is_bundled_with_attribution():
    ir, vi = load_grey(DEMO_IR), load_grey(DEMO_VI)
    assert ir.shape == vi.shape == (270, 360)
    text = (DEMO_IR.parent / "ATTRIBUTION.md").read_text()
    assert "figshare" in text and "CC BY 4.0" in text and "Toet" in text


def test_decompose_parts_add_up_on_the_demo_image():
    img = load_grey(DEMO_VI)[:64, :96]
    dec = decompose(img, DecompositionConfig(stride=4, algorithm1_iter=30, fista_iter=30), progress=False)
    for name in ("Algorithm 1", "FISTA (nuclear norm)"):
        lr, sp = dec.low_rank[name], dec.sparse[name]
        assert lr.shape == sp.shape == img.shape
        # modelling bounds of the decomposition, not rounding (float64 throughout); measured values in brackets
        rel = np.linalg.norm(img - lr - sp) / np.linalg.norm(img)
        assert rel < 0.05  # (0.003 for both)
        # the base part carries the brightness, the salient part is zero-mean detail
        assert np.linalg.norm(sp) < 0.1 * np.linalg.norm(lr)  # (0.018, 0.012)
        assert abs(sp.mean()) < 0.01 * img.mean()  # (0.0091 for Algorithm 1, 0.0004 for FISTA)
    obj = dec.results["Algorithm 1"].history["objective"]  # a proximal-gradient step of size 1/Lipschitz: monotone
    # up to float64 rounding of the objective: ~1.1e-16 x 2e4 terms = 2e-12 (measured: every step lowers it)
    assert np.all(np.diff(obj) <= 1e-9 * obj[0])
    fista = dec.results["FISTA (nuclear norm)"].history["objective"]
    assert fista[-1] < fista[0]


def test_cli_decompose_end_to_end(tmp_path, capsys):
    out = tmp_path / "fig" / "dec.png"
    assert main(["decompose", str(DEMO_IR), "-o", str(out), "--iterations", "5", "--stride", "6", "-q"]) == 0
    assert out.is_file() and out.stat().st_size > 10_000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "figure written to" in printed and "Algorithm 1" in printed
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_cli_errors_name_the_problem(tmp_path, capsys):
    assert main(["decompose", str(tmp_path / "missing.png"), "-o", str(tmp_path / "x.png")]) == 2
    assert "missing.png" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert main(["decompose", str(bad), "-o", str(tmp_path / "x.png")]) == 2
    assert "bad.png" in capsys.readouterr().err
    assert main(["decompose", str(DEMO_IR), "--size", "400", "-o", str(tmp_path / "x.png")]) == 2
    assert "larger than the image" in capsys.readouterr().err


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_progress_bar_does_not_stop_the_solvers():
    img = load_grey(DEMO_IR)[:48, :48]
    dec = decompose(img, DecompositionConfig(stride=4, algorithm1_iter=25, fista_iter=25), progress=True)
    assert [r.n_iter for r in dec.results.values()] == [25, 25]


def test_atomic_path_gives_umask_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("new")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644
