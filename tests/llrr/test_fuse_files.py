"""`llrr fuse` on files: bad inputs give one-line named errors (exit 2) and leave no partial output; a folder run
interrupted by SIGINT or SIGTERM stops cleanly (exit 130 / 143, a count of the pairs done) and `--skip-existing`
continues it. The interrupts are sent to a real `llrr` process."""

import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from llrr.cli import main
from llrr.io import demo_pair, read_image

REPO = Path(__file__).resolve().parents[2]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err  # one line, no traceback
    return err


class _RunsCode:
    """A pickle that would run code when unpickled (it would create the file ``marker``)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _bad_files(tmp_path) -> dict[str, tuple[Path, str]]:
    """name -> (file, the words the error must contain)."""
    ir, _ = demo_pair()
    good = ir.read_bytes()
    files = {}
    (tmp_path / "empty.png").write_bytes(b"")
    files["zero bytes"] = (tmp_path / "empty.png", "empty file (0 bytes)")
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 3])
    files["truncated"] = (tmp_path / "cut.png", "not a readable image")
    (tmp_path / "text.png").write_text("not an image at all\n")
    files["text named .png"] = (tmp_path / "text.png", "not a readable image")
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "dot.png")
    files["1x1"] = (tmp_path / "dot.png", "needs images of at least 23 x 23 pixels, got (1, 1)")
    Image.fromarray(np.full((30, 30), 2.5, np.float32)).save(tmp_path / "kelvin.tif")
    files["float TIFF out of [0, 1]"] = (tmp_path / "kelvin.tif", "float images must lie in [0, 1]")
    return files


def test_bad_image_files_exit_2_with_a_named_one_line_error(tmp_path, capsys):
    _, vi = demo_pair()
    out = tmp_path / "out" / "fused.png"
    out.parent.mkdir()
    out.write_bytes(b"an earlier result")
    for what, (path, words) in _bad_files(tmp_path).items():
        other = path if what in ("1x1", "float TIFF out of [0, 1]") else vi  # a pair of the same size
        assert main(["fuse", str(path), str(other), "-o", str(out), "-q"]) == 2, what
        err = _error_line(capsys)
        assert path.name in err and words in err, (what, err)
        assert out.read_bytes() == b"an earlier result", what
        assert sorted(p.name for p in out.parent.iterdir()) == ["fused.png"], what  # no temporary file


def test_rgba_and_palette_inputs_fuse(tmp_path, capsys):
    ir, vi = (read_image(p) for p in demo_pair())
    rgb = np.stack([vi, vi // 2, 255 - vi], axis=-1)
    Image.fromarray(np.dstack([rgb, np.full(vi.shape, 90, np.uint8)]), "RGBA").save(tmp_path / "vi.png")
    Image.fromarray(ir).convert("P").save(tmp_path / "ir.png")
    out = tmp_path / "f.png"
    assert main(["fuse", str(tmp_path / "ir.png"), str(tmp_path / "vi.png"), "-o", str(out), "--method", "max",
                 "-q"]) == 0
    got = read_image(out)
    assert got.shape == rgb.shape  # colour like the visible input, its alpha dropped
    import llrr

    np.testing.assert_array_equal(got, llrr.fuse(ir, rgb, method="max"))


def test_bad_checkpoints_exit_2_and_a_code_running_pickle_does_not_run(tmp_path, capsys):
    ir, vi = demo_pair()
    marker = tmp_path / "code_ran"
    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump({"weight": _RunsCode(marker)}, fh)
    torch.save({"fc.weight": torch.zeros(3, 3)}, tmp_path / "foreign.pt")
    (tmp_path / "corrupt.pt").write_bytes(os.urandom(2000))
    cases = {"evil.pt": "load safely", "foreign.pt": "does not match LRRNet",
             "corrupt.pt": "is not a PyTorch state_dict file"}
    for name, words in cases.items():
        out = tmp_path / f"{name}.png"
        assert main(["fuse", str(ir), str(vi), "-o", str(out), "--weights", str(tmp_path / name), "-q"]) == 2
        err = _error_line(capsys)
        assert name in err and words in err, err
        assert not out.exists()
    assert not marker.exists()  # the pickle's code never ran
    pickle.loads(pickle.dumps(_RunsCode(marker)))  # (it would have: plain unpickling runs it)
    assert marker.exists()


def test_read_only_output_folder_is_a_named_error(tmp_path):
    """Root ignores file modes, so as root the command runs with CAP_DAC_OVERRIDE dropped (setpriv)."""
    ir, vi = demo_pair()
    out_dir = tmp_path / "locked"
    out_dir.mkdir()
    (out_dir / "old.png").write_bytes(b"kept")
    out_dir.chmod(0o555)
    cmd = [sys.executable, "-m", "llrr.cli", "fuse", str(ir), str(vi), "-o", str(out_dir / "f.png"), "--method",
           "average", "-q"]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a folder read-only for this process")
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    finally:
        out_dir.chmod(0o755)
    assert res.returncode == 2, res.stderr
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "cannot write" in err and "f.png" in err and "Permission denied" in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["old.png"]


def test_folder_mode_fuses_the_good_pairs_and_reports_each_bad_one(tmp_path, capsys):
    ir, vi = demo_pair()
    for d in ("ir", "vi"):
        (tmp_path / d).mkdir()
    for name in ("a", "c"):
        shutil.copy(ir, tmp_path / "ir" / f"{name}.png")
        shutil.copy(vi, tmp_path / "vi" / f"{name}.png")
    (tmp_path / "ir" / "b.png").write_bytes(b"")  # a zero-byte file between two good pairs
    shutil.copy(vi, tmp_path / "vi" / "b.png")
    assert main(["fuse", "--ir-dir", str(tmp_path / "ir"), "--vi-dir", str(tmp_path / "vi"), "--out-dir",
                 str(tmp_path / "out"), "--method", "average", "-q"]) == 2
    cap = capsys.readouterr()
    assert "fused 2 pair(s)" in cap.out and "failed 1" in cap.out
    assert "failed b: " in cap.err and "b.png: empty file (0 bytes)" in cap.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]


def test_an_interrupt_during_a_write_waits_for_the_write_and_its_record(tmp_path):
    from llrr.fuse_files import deferred_interrupts

    done = []
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # (pytest may run with SIGINT ignored)
    try:
        with pytest.raises(KeyboardInterrupt):
            with deferred_interrupts():
                signal.raise_signal(signal.SIGINT)  # arrives in the middle of the block
                done.append("written")
        assert done == ["written"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is back
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # an ignored SIGINT stays ignored
        with deferred_interrupts():
            signal.raise_signal(signal.SIGINT)
            done.append("again")
        assert done == ["written", "again"] and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_folder_mode_checks_its_output_folder_before_any_work(tmp_path, capsys):
    ir, vi = demo_pair()
    (tmp_path / "taken").write_text("a file where the output folder should be")
    assert main(["fuse", "--ir-dir", str(ir.parent), "--vi-dir", str(vi.parent), "--out-dir",
                 str(tmp_path / "taken" / "out"), "--method", "average", "-q"]) == 2
    err = _error_line(capsys)
    assert "cannot write into the output folder" in err and "taken" in err


N_PAIRS = 6


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """6 pairs of 540 x 720 images (the demo pair tiled 2 x 2, each pair shifted), so that a pair takes a while."""
    root = tmp_path_factory.mktemp("pairs")
    ir, vi = (np.tile(read_image(p), (2, 2)) for p in demo_pair())
    for d in ("ir", "vi"):
        (root / d).mkdir()
    for k in range(N_PAIRS):
        Image.fromarray(np.roll(ir, 7 * k, axis=1)).save(root / "ir" / f"{k:02d}.png")
        Image.fromarray(np.roll(vi, 7 * k, axis=1)).save(root / "vi" / f"{k:02d}.png")
    return root


def _interrupt_after_first_output(root, out_dir, signum) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "llrr.cli", "fuse", "--ir-dir", str(root / "ir"), "--vi-dir", str(root / "vi"),
           "--out-dir", str(out_dir), "-q"]  # the default method: LRRNet with the shipped weights
    # a shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT ignored: give the
    # child the default disposition, as a command typed at a terminal has
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not any(p.suffix == ".png" and not p.name.startswith(".") for p in out_dir.glob("*.png")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no output within 300 s"
        time.sleep(0.02)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_folder_run_stops_cleanly_and_skip_existing_continues(folders, tmp_path, capsys, signum,
                                                                          status):
    out_dir = tmp_path / "out"
    res = _interrupt_after_first_output(folders, out_dir, signum)
    assert res.returncode == status, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    assert f"stopped by {signal.Signals(signum).name}" in res.stderr
    written = sorted(p.name for p in out_dir.iterdir())
    assert all(not name.startswith(".") for name in written), (written, res.stderr)  # no temporary file left
    assert 1 <= len(written) < N_PAIRS, res.stderr
    assert f"interrupted: {len(written)} of {N_PAIRS} pair(s) done" in res.stderr, (written, res.stderr)
    for name in written:  # each file that is there is complete
        assert read_image(out_dir / name).shape == (540, 720)
    before = {name: (out_dir / name).stat().st_mtime_ns for name in written}
    # the re-run fuses only what is missing
    assert main(["fuse", "--ir-dir", str(folders / "ir"), "--vi-dir", str(folders / "vi"), "--out-dir",
                 str(out_dir), "--skip-existing", "-q"]) == 0
    text = capsys.readouterr().out
    assert f"fused {N_PAIRS - len(written)} pair(s)" in text and f"{len(written)} already there" in text
    assert sorted(p.name for p in out_dir.iterdir()) == [f"{k:02d}.png" for k in range(N_PAIRS)]
    assert {name: (out_dir / name).stat().st_mtime_ns for name in written} == before
