"""Video fusion end to end on clips made here: frames paired by index, each frame as llrr fuses it (per-frame
scaling, lossless codec), steadier brightness with the running and fixed scalings, and bad clips refused by name
with no partial file left."""

import numpy as np
import pytest

import llrr
from llrr.cli import main
from llrr.io import demo_pair, read_image

av = pytest.importorskip("av", reason="needs PyAV (pip install 'llrr[video]'; dev includes it)")

from llrr.video import flicker, fuse_video, read_frames  # noqa: E402 (after the skip)

H, W = 96, 128


def _write(path, frames, fps=10):
    with av.open(str(path), "w") as sink:
        stream = sink.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "gray"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="gray")):
                sink.mux(packet)
        for packet in stream.encode():
            sink.mux(packet)
    return path


def _scene(n=12):
    """A static scene in which a small, very hot object comes and goes: each frame's range jumps with it."""
    ir, vi = (read_image(p)[60 : 60 + H, 100 : 100 + W] for p in demo_pair())
    irs, vis = [], []
    for k in range(n):
        a = (ir * 0.6).astype(np.uint8)
        if k % 3 == 1:  # the object is there in every third frame
            a[10:18, 10 + 4 * k : 18 + 4 * k] = 255
        irs.append(a)
        vis.append(vi.copy())
    return irs, vis


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    irs, vis = _scene()
    return _write(root / "ir.mkv", irs), _write(root / "vi.mkv", vis), irs, vis


def test_each_frame_is_fused_as_llrr_fuses_the_pair(clips, tmp_path):
    ir_clip, vi_clip, irs, vis = clips
    report = fuse_video(ir_clip, vi_clip, tmp_path / "f.mkv", scaling="frame", progress=False)
    assert report.frames == len(irs) and report.size == (H, W) and report.fps == 10
    got = list(read_frames(report.path))
    assert len(got) == len(irs)
    for a, b, f in zip(irs, vis, got, strict=True):
        assert np.abs(f.astype(int) - llrr.fuse(a, b).astype(int)).max() <= 1


def test_steady_scalings_flicker_less_than_per_frame_min_max(clips, tmp_path):
    ir_clip, vi_clip, _, _ = clips
    measured = {}
    for scaling in ("frame", "running", "fixed"):
        report = fuse_video(ir_clip, vi_clip, tmp_path / f"{scaling}.mkv", scaling=scaling, progress=False)
        measured[scaling] = flicker(read_frames(report.path))
        assert abs(measured[scaling] - report.flicker) < 1e-9
    assert measured["running"] < 0.7 * measured["frame"] and measured["fixed"] < 0.7 * measured["frame"]


def test_h264_output_through_the_command_line(clips, tmp_path, capsys):
    ir_clip, vi_clip, irs, _ = clips
    out = tmp_path / "f.mp4"
    assert main(["fuse", "--ir-video", str(ir_clip), "--vi-video", str(vi_clip), "-o", str(out), "-q"]) == 0
    assert f"fused {len(irs)} frame(s) of {W}x{H}" in capsys.readouterr().out
    frames = list(read_frames(out))
    assert len(frames) == len(irs) and frames[0].shape == (H, W)


def test_bad_clips_are_named_and_nothing_is_written(clips, tmp_path, capsys):
    ir_clip, vi_clip, irs, vis = clips
    short = _write(tmp_path / "short.mkv", vis[:5])
    small = _write(tmp_path / "small.mkv", [v[:64, :64] for v in vis])
    text = tmp_path / "notes.mkv"
    text.write_text("not a video")
    out = tmp_path / "out.mkv"
    out.write_bytes(b"an earlier result")
    cases = [(short, f"has {len(irs)} frames and .*short.mkv has 5"), (small, "the clips must have one size"),
             (text, "notes.mkv cannot be read"), (tmp_path / "none.mkv", "visible video not found")]
    for bad, message in cases:
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            fuse_video(ir_clip, bad, out, progress=False)
        assert out.read_bytes() == b"an earlier result"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["short.mkv", "small.mkv", "notes.mkv", "out.mkv"])
    assert main(["fuse", "--ir-video", str(ir_clip), "--vi-video", str(short), "-o", str(out), "-q"]) == 2
    assert "frames are paired by index" in capsys.readouterr().err
    with pytest.raises(ValueError, match="scaling must be one of"):
        fuse_video(ir_clip, vi_clip, tmp_path / "x.mkv", scaling="smooth")
    with pytest.raises(ValueError, match="the output must end in one of"):
        fuse_video(ir_clip, vi_clip, tmp_path / "x.gif")
    odd = _write(tmp_path / "odd.mkv", [v[:63, :127] for v in vis])
    odd_ir = _write(tmp_path / "odd_ir.mkv", [a[:63, :127] for a in irs])
    with pytest.raises(ValueError, match="H.264 .* needs an even width and height"):
        fuse_video(odd_ir, odd, tmp_path / "x.mp4")


def test_a_black_first_frame_does_not_fix_the_range_of_the_others(tmp_path):
    ir, vi = (read_image(p)[60 : 60 + H, 100 : 100 + W] for p in demo_pair())
    black = np.zeros((H, W), np.uint8)
    ir_clip = _write(tmp_path / "ir.mkv", [black] + [ir] * 5)
    vi_clip = _write(tmp_path / "vi.mkv", [black] + [vi] * 5)
    want = llrr.fuse(ir, vi).astype(int)
    for scaling in ("fixed", "running"):
        report = fuse_video(ir_clip, vi_clip, tmp_path / f"{scaling}.mkv", scaling=scaling, progress=False)
        frames = list(read_frames(report.path))
        assert len(frames) == 6 and frames[0].max() == 0  # the flat frame stays flat
        for f in frames[1:]:  # the static scene after it, scaled by its own range (not the black frame's)
            assert np.abs(f.astype(int) - want).max() <= 1


def test_a_16_bit_infrared_clip_keeps_its_levels(tmp_path):
    """Raw thermal counts in a narrow band of 16 bits: read as 16 bits, not cut to 8 (which would leave 2 levels)."""
    ir8, vi = (read_image(p)[60 : 60 + H, 100 : 100 + W] for p in demo_pair())
    counts = (7000 + 2 * ir8.astype(np.uint16)).astype(np.uint16)  # 7000 .. 7510
    path = tmp_path / "ir16.mkv"
    with av.open(str(path), "w") as sink:
        stream = sink.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "gray16le"
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(counts, format="gray16le")):
                sink.mux(packet)
        for packet in stream.encode():
            sink.mux(packet)
    got = list(read_frames(path))
    assert got[0].dtype == np.uint16 and np.array_equal(got[0], counts)
    report = fuse_video(path, _write(tmp_path / "vi.mkv", [vi] * 3), tmp_path / "f.mkv", scaling="frame",
                        progress=False)
    fused = next(read_frames(report.path)).astype(int)
    assert np.abs(fused - llrr.fuse(counts, vi).astype(int)).max() <= 1


def test_a_file_without_a_video_stream_is_named(tmp_path, clips):
    audio = tmp_path / "sound.mka"
    with av.open(str(audio), "w") as sink:
        stream = sink.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            sink.mux(packet)
        for packet in stream.encode():
            sink.mux(packet)
    with pytest.raises(ValueError, match="sound.mka has no video stream"):
        fuse_video(clips[0], audio, tmp_path / "out.mkv", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sound.mka"]


def test_clips_at_different_rates_are_paired_by_index_with_a_warning(tmp_path):
    irs, vis = _scene(4)
    ir_clip, vi_clip = _write(tmp_path / "ir.mkv", irs, fps=30), _write(tmp_path / "vi.mkv", vis, fps=25)
    with pytest.warns(UserWarning, match="runs at 30 fps and .*vi.mkv at 25 fps"):
        report = fuse_video(ir_clip, vi_clip, tmp_path / "f.mkv", progress=False)
    assert report.frames == 4 and report.fps == 25
