"""Fusing two videos frame by frame with LRRNet, with an output scaling that does not flicker: :func:`fuse_video`.

Frames are paired by index: frame k of the infrared clip with frame k of the visible clip. The two clips must have
the same number of frames and the same size; a clip without a video stream, or clips that differ, are errors that
name the files (different frame counts are found when the shorter clip ends). Each frame is read as grey (the
visible frame's luminance; 16 bits where the stream has more than 8 bits per sample, e.g. raw thermal counts), and
the output is an 8-bit grey clip at the visible clip's frame rate, without audio, written to a temporary file beside
``out`` and renamed at the end. An error or an
interrupt leaves no partial file, and a file already at ``out`` is kept until the new one is complete.

**Scaling.** The authors' convention, and ``llrr fuse`` for a single image, stretch each input and the network's
output by their own minimum and maximum. In a video that makes the brightness jump whenever a hot object enters or
leaves the frame: the other pixels of that input are squeezed into a smaller part of [0, 1], and the output's range
changes too. ``scaling`` chooses the ranges of the two inputs and of the output alike:

* ``"frame"``: each frame's own (each fused frame equals ``llrr fuse`` of its pair);
* ``"running"`` (default): the min and max follow exponential moving averages, ``m_k = momentum m_{k-1} + (1 -
  momentum) min(x_k)`` (the same for the max), starting at the first frame's;
* ``"fixed"``: the first frame's for the whole clip.

Values outside a range are clipped. A frame without contrast (a black start, a flat calibration frame) is
stretched by its own range and does not enter the running or fixed ranges; ``"fixed"`` takes the first frame with
contrast. :func:`flicker` measures the result: the mean absolute change of the mean brightness from one frame to
the next. The report gives the flicker of the frames as they go to the encoder (before H.264's rounding).

**Codecs.** ``.mp4`` / ``.mov`` are written with H.264 (libx264, yuv420p: even width and height, visually lossless
at ``crf`` 18). ``.mkv`` and ``.avi`` are written with FFV1, which is lossless and stores grey frames exactly. Needs
PyAV (``pip install '.[video]'`` in the llrr checkout).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import numpy as np

from solvers._extras import MissingExtra
from solvers._files import atomic_path

__all__ = ["SCALINGS", "VideoReport", "fuse_video", "flicker", "read_frames"]

SCALINGS = ("running", "fixed", "frame")
_CODECS = {".mp4": ("libx264", "yuv420p"), ".mov": ("libx264", "yuv420p"), ".mkv": ("ffv1", "gray"),
           ".avi": ("ffv1", "gray")}
_EPS = 1e-5  # the min-max epsilon of the authors' convention (unrolled.inference.MINMAX_EPS)


@dataclass(frozen=True)
class VideoReport:
    """What :func:`fuse_video` wrote: ``path``, ``frames``, ``size`` (height, width), ``fps``, ``scaling``, the written
    clip's ``flicker`` (grey levels) and ``seconds`` spent."""

    path: Path
    frames: int
    size: tuple[int, int]
    fps: float
    scaling: str
    flicker: float
    seconds: float


def flicker(frames) -> float:
    """Mean absolute frame-to-frame change of the mean brightness of ``frames`` (arrays, or their means), in the
    frames' own units (grey levels for uint8); 0 for fewer than two frames.

    >>> flicker([np.full((2, 2), 10), np.full((2, 2), 14), np.full((2, 2), 12)])
    3.0
    """
    means = np.array([float(np.mean(f)) for f in frames])
    return float(np.abs(np.diff(means)).mean()) if len(means) > 1 else 0.0


def _av():
    try:
        import av
    except ImportError:
        raise MissingExtra("video fusion needs PyAV: pip install '.[video]' in the llrr checkout (the video extra)") \
            from None
    return av


def _open(path, what: str):
    av = _av()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} video not found: {path}")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise ValueError(f"{what} video {path} cannot be read: {exc}") from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"{what} video {path} has no video stream")
    return container, container.streams.video[0]


def _grey_format(stream) -> tuple[str, float]:
    """The grey format to decode ``stream`` to and its full scale: 16 bits where its samples have more than 8."""
    fmt = stream.codec_context.format
    bits = max((c.bits for c in fmt.components), default=8) if fmt is not None else 8
    return ("gray16le", 65535.0) if bits > 8 else ("gray", 255.0)


def read_frames(path, what: str = "video"):
    """The frames of the first video stream of ``path`` as grey arrays (H, W), one at a time: uint8, or uint16 for a
    stream of more than 8 bits per sample (raw thermal counts)."""
    container, stream = _open(path, what)
    fmt, _ = _grey_format(stream)
    try:
        for frame in container.decode(stream):
            yield frame.to_ndarray(format=fmt)
    finally:
        container.close()


def _count(frames) -> int:
    return sum(1 for _ in frames)


class _Scaler:
    """Min-max scaling to [0, 1] with the range of this frame ("frame"), a running average of the ranges
    ("running") or the first frame's ("fixed"); values outside the range are clipped.

    A frame without contrast (range below ``flat``: a black start, a flat calibration frame) is scaled by its own
    range and leaves the state alone, so that it cannot fix or drag the range of the frames that follow."""

    def __init__(self, scaling: str, momentum: float, flat: float):
        self.scaling, self.momentum, self.flat = scaling, momentum, flat
        self.lo = self.hi = None

    def __call__(self, y: np.ndarray) -> np.ndarray:
        lo, hi = float(y.min()), float(y.max())
        if self.scaling == "frame" or hi - lo < self.flat:
            out = (y - lo) / (hi - lo + _EPS)
            return out if self.scaling == "frame" else np.clip(out, 0.0, 1.0)
        if self.lo is None:
            self.lo, self.hi = lo, hi
        elif self.scaling == "running":
            m = self.momentum
            self.lo, self.hi = m * self.lo + (1 - m) * lo, m * self.hi + (1 - m) * hi
        return np.clip((y - self.lo) / (self.hi - self.lo + _EPS), 0.0, 1.0)


def fuse_video(ir_video, vi_video, out, *, weights="default", scaling: str = "running", momentum: float = 0.9,
               device=None, precision: str = "float32", crf: int = 18, progress: bool = True) -> VideoReport:
    """Fuse two clips frame by frame into ``out`` (module docstring).

    Parameters
    ----------
    ir_video, vi_video : path
        The infrared and visible clips (any container and codec FFmpeg reads).
    out : path
        The fused clip: ``.mp4``/``.mov`` (H.264) or ``.mkv``/``.avi`` (FFV1, lossless).
    weights : str or path
        LRRNet weights (a registry name or a checkpoint path).
    scaling : {"running", "fixed", "frame"}
        How each raw output is brought to [0, 255] (module docstring).
    momentum : float in [0, 1)
        The running scaling's memory (0.9: about ten frames).
    device, precision
        As for :func:`llrr.fuse` (``"cuda"``, ``"bfloat16"``).
    crf : int
        H.264 quality (0-51, lower is better; ignored for FFV1).
    progress : bool
        A tqdm bar over the frames.

    Raises
    ------
    ValueError
        Unknown scaling or suffix, a clip without a video stream, clips of different sizes or frame counts, odd
        sizes for H.264 (named, with the fix); nothing is written.
    """
    from tqdm.auto import tqdm

    from unrolled.inference import raw_output
    from unrolled.weights import cached_model

    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
        raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
    out = Path(out)
    if out.suffix.lower() not in _CODECS:
        raise ValueError(f"{out}: the output must end in one of {sorted(_CODECS)} (H.264 or lossless FFV1)")
    codec, pix_fmt = _CODECS[out.suffix.lower()]
    av = _av()
    model = cached_model(weights)
    ir_c, ir_s = _open(ir_video, "infrared")
    try:
        vi_c, vi_s = _open(vi_video, "visible")
    except BaseException:
        ir_c.close()
        raise
    try:
        sizes = {(s.codec_context.height, s.codec_context.width) for s in (ir_s, vi_s)}
        if len(sizes) > 1:
            raise ValueError(f"{ir_video} is {ir_s.codec_context.width}x{ir_s.codec_context.height} and {vi_video} "
                             f"is {vi_s.codec_context.width}x{vi_s.codec_context.height}: the clips must have one size")
        (h, w), = sizes
        if pix_fmt == "yuv420p" and (h % 2 or w % 2):
            raise ValueError(f"H.264 ({out.suffix}) needs an even width and height, the clips are {w}x{h}: write "
                             ".mkv (lossless FFV1) instead")
        # the containers' frame counts only size the progress bar: an edited mp4 may count more packets than frames,
        # so different counts are found by decoding (the shorter clip's end), and nothing is written then
        ir_fmt, vi_fmt = _grey_format(ir_s), _grey_format(vi_s)
        fps = vi_s.average_rate or vi_s.guessed_rate or ir_s.average_rate or ir_s.guessed_rate or 25
        if ir_s.average_rate and vi_s.average_rate and ir_s.average_rate != vi_s.average_rate:
            warnings.warn(f"{ir_video} runs at {float(ir_s.average_rate):.4g} fps and {vi_video} at "
                          f"{float(vi_s.average_rate):.4g} fps: frames are paired by index and written at the "
                          "visible clip's rate", stacklevel=2)
        # one scaler per input and one for the output: a per-frame input scaling would make the network's output
        # jump whenever a frame's range changes (a hot object entering), whatever the output scaling did
        scale_ir, scale_vi = (_Scaler(scaling, float(momentum), 1.0 / 255) for _ in range(2))
        scale_out = _Scaler(scaling, float(momentum), 1e-6)
        means, t0 = [], time.perf_counter()
        total = vi_s.frames or ir_s.frames or None
        with atomic_path(out) as tmp:
            sink = av.open(str(tmp), "w")
            try:
                stream = sink.add_stream(codec, rate=fps)
                stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
                if codec == "libx264":
                    stream.options = {"crf": str(int(crf))}
                ir_frames, vi_frames = ir_c.decode(ir_s), vi_c.decode(vi_s)
                frames = zip_longest(ir_frames, vi_frames)
                for k, (fi, fv) in enumerate(tqdm(frames, total=total, desc="fusing video", unit="frame",
                                                  disable=not progress)):
                    if fi is None or fv is None:
                        n_ir = k + (fi is not None) + _count(ir_frames)
                        n_vi = k + (fv is not None) + _count(vi_frames)
                        raise ValueError(f"{ir_video} has {n_ir} frames and {vi_video} has {n_vi}: frames are "
                                         "paired by index, so the counts must be equal")
                    a, b = fi.to_ndarray(format=ir_fmt[0]), fv.to_ndarray(format=vi_fmt[0])
                    if a.shape != b.shape:
                        raise ValueError(f"frame {k}: {ir_video} gives {a.shape[1]}x{a.shape[0]}, {vi_video} gives "
                                         f"{b.shape[1]}x{b.shape[0]}")
                    y = raw_output(model, scale_ir(a / ir_fmt[1]), scale_vi(b / vi_fmt[1]), scale_inputs=False,
                                   device=device, precision=precision)
                    fused = np.round(np.clip(scale_out(y), 0.0, 1.0) * 255.0).astype(np.uint8)
                    means.append(float(fused.mean()))
                    frame = av.VideoFrame.from_ndarray(fused, format="gray")
                    for packet in stream.encode(frame.reformat(format=pix_fmt) if pix_fmt != "gray" else frame):
                        sink.mux(packet)
                for packet in stream.encode():
                    sink.mux(packet)
            finally:
                sink.close()
            if not means:
                raise ValueError(f"{ir_video} and {vi_video} hold no frames")
    finally:
        ir_c.close()
        vi_c.close()
    return VideoReport(out, len(means), (h, w), float(fps), scaling, flicker(means), time.perf_counter() - t0)
