"""Video: which frames changed, and do I need to fetch them again?

``hash_video`` decodes a video with PyAV (FFmpeg, decoding on its own threads) and hashes every
``every``-th frame; ``compare_videos`` lines two videos up by timestamp and says, frame by frame and
as a whole, what must be fetched again. Each pair of frames is judged by ``compare_hashes``, the rule
the image compare uses, at the backend's calibrated threshold.

**What a frame is.** A frame is the RGB picture FFmpeg converts it to (PyAV's ``VideoFrame.to_image``),
hashed through ``Hasher.hash`` like any image. A backend that needs only a thumbnail gets the frame
scaled down by FFmpeg first (its area filter, in the frame's own pixel format), to the shorter side that
backend accepts for a reduced decode (``needed_side``: its ``draft_size``, the one its ``fast`` option
uses; 256 pixels for a 64-bit pHash, 8 times its 32-pixel thumbnail). So a frame's hash is exactly
the hash of that reduced picture; against the hash of the full-size frame it moves by a bit or two at
most (``benchmarks/video_speed.py`` measures it), and as ``fast`` is no part of a hash's identity the
two compare. ``exact=True`` hashes the full-size frame instead.

**Alignment rule.** See ``registry.video_align``, where the frames are lined up and judged.

**Bad input.** No protocol of FFmpeg is ever used: a path must name a local regular file (``http:``,
``concat:``, ``pipe:``... are refused before anything is opened), which Python opens and hands to
FFmpeg as a file object, as it does bytes and binary file objects. Only the demuxers in
:data:`ALLOWED_DEMUXERS` may read it (no playlists or image sequences that open other files), text
files are refused outright, and no FFmpeg option, filter or URL ever comes from a caller.
:class:`VideoLimits` bounds the file size, the resolution, the frame count, the duration (declared,
and again while decoding) and optionally the wall-clock time; each refusal is a :class:`VideoError`,
a ``registry.ImageError``. A file that ends early, or has packets FFmpeg cannot decode, yields the
frames it has and then raises :class:`DamagedVideo`; ``compare_videos`` keeps those frames (so the rest
count as missing) and says so in ``notes``.
"""
from __future__ import annotations

import collections
import math
import os
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, Union

import numpy as np
from PIL import Image

from .comparison import compare_hashes, similar_threshold
from .factory import create
from .hasher import Hasher
from .value import ImageHash
from .video_plot import distance_plot, side_by_side
from .video_align import (DIFFERENT_SHARE, RECOLOURED_RUN, TOLERANCE, VIDEO_VERDICTS,  # noqa: F401
                          FramePair, FrameRange, VideoComparison, align, frame_interval)
from .video_clips import pan_zoom, render_clip, write_clip
from .video_reader import (ALLOWED_DEMUXERS, DamagedVideo, VideoError, VideoInfo, VideoLimits, VideoReader,
                           frame_picture, frame_size, grab_frames, probe_video)

__all__ = ["hash_video", "compare_videos", "probe_video", "grab_frames", "align", "needed_side",
           "frame_size", "frame_picture", "render_clip", "write_clip", "pan_zoom", "distance_plot", "side_by_side",
           "VideoError", "DamagedVideo", "VideoLimits", "VideoInfo", "VideoReader", "FrameHash", "FramePair",
           "FrameRange", "VideoComparison", "VideoHashes", "similar_threshold", "ALLOWED_DEMUXERS"]

#: Frames handed to the hasher together (its ``compute_many``), at most; fewer for large pictures, so
#: that a batch of RGB pictures stays within BATCH_BYTES (an 8K frame is 100 MB).
BATCH = 8
BATCH_BYTES = 256 * 1024 ** 2
#: Gaps between frames varying more than this (largest / smallest) make a variable frame rate.
VARIABLE_RATE = 1.5


class FrameHash(NamedTuple):
    """One hashed frame: its number among the decoded frames (from 0), its time (s), its hash."""

    index: int
    time: float
    hash: ImageHash


# --- hashing ----------------------------------------------------------------------------------------
def needed_side(hasher: Hasher) -> Optional[int]:
    """The shorter side a frame may be scaled down to for this hasher, or None for the full frame:
    the reduced picture its ``fast`` option declares acceptable (``Hasher.fast_draft_size``)."""
    side = hasher.draft_size or hasher.fast_draft_size
    return int(side) if side else None


def _check_every(every: Any) -> int:
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every must be a whole number of frames, 1 or more; got {every!r}")
    return int(every)


Progress = Callable[[int, Optional[int]], None]


class VideoHashes:
    """The stream of :class:`FrameHash` of one video, made by :func:`hash_video`.

    The file is opened and its header checked when this is made, so ``info`` is known before the first
    frame. Iterate it once; ``close()`` (or a ``with`` block) releases the file early.
    """

    def __init__(self, src: Any, hasher: Hasher, every: int = 1, exact: bool = False,
                 limits: Optional[VideoLimits] = None, progress: Optional[Progress] = None, threads: int = 0):
        self.hasher, self.every = hasher, _check_every(every)
        self.side = None if exact else needed_side(hasher)
        self.problems: list[str] = []
        self.decoded = 0
        self._reader = VideoReader(src, limits, threads)
        self.info = self._reader.info
        self._progress = progress
        self._stream = self._run()

    def __iter__(self) -> "VideoHashes":
        return self

    def __next__(self) -> FrameHash:
        return next(self._stream)

    def __enter__(self) -> "VideoHashes":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stream.close()
        self._reader.close()

    def _pictures(self, times: collections.deque) -> Iterator[Image.Image]:
        for index, t, frame in self._reader.frames(self.problems):
            self.decoded = index + 1
            if self._progress is not None and index % 30 == 0:
                self._progress(index, self.info.frames)
            if index % self.every == 0:
                times.append((index, t))
                yield frame_picture(frame, self.side)

    def _run(self) -> Iterator[FrameHash]:
        try:
            times: collections.deque = collections.deque()
            width, height = frame_size(max(1, self.info.width), max(1, self.info.height), self.side)
            batch = max(1, min(BATCH, BATCH_BYTES // (3 * width * height)))
            for record in self.hasher.iter_hashes(self._pictures(times), batch_size=batch):
                index, t = times.popleft()
                yield FrameHash(index, t, record.unwrap())
            if self.problems:
                raise DamagedVideo(f"{self._reader.what} is damaged or truncated: {'; '.join(self.problems)}; "
                                   f"{self.decoded} frames could be decoded", frames=self.decoded)
        finally:
            self._reader.close()


def _hasher(backend: Union[str, Hasher], hex_len: int, options: dict) -> Hasher:
    if isinstance(backend, Hasher):
        if options:
            raise ValueError("give backend options when naming a backend, not with a hasher")
        return backend
    return create(backend, hex_len=hex_len, **options)


def hash_video(src: Any, backend: Union[str, Hasher] = "phash", hex_len: int = 16, every: int = 1, *,
               exact: bool = False, limits: Optional[VideoLimits] = None, progress: Optional[Progress] = None,
               threads: int = 0, **options: Any) -> VideoHashes:
    """Hash every ``every``-th frame of a video: an iterator of ``FrameHash(index, time, hash)``.

    ``src`` is a local file's path, bytes or a binary file object. ``backend`` is a backend's name (with
    ``hex_len`` and ``options``) or a hasher already made (its model is reused). ``index`` counts the
    decoded frames from 0, ``time`` is in seconds from the first frame. ``exact=True`` hashes each frame
    at full size rather than scaled to what the backend needs (see the module docstring).
    ``progress(frames_decoded, frames_declared_or_None)`` is called every 30 frames; ``threads`` is
    FFmpeg's thread count (0: its own choice). Raises VideoError: at once for a file that cannot be
    opened or whose header breaks ``limits``; while iterating for limits broken later; and
    DamagedVideo after the last good frame of a damaged or truncated file.
    """
    every = _check_every(every)
    return VideoHashes(src, _hasher(backend, hex_len, options), every, exact, limits, progress, threads)


VideoInput = Union[str, os.PathLike, bytes, Any, Iterable[FrameHash]]


def _is_hashed(src: Any) -> bool:
    return not isinstance(src, (str, os.PathLike, bytes, bytearray, memoryview)) and not hasattr(src, "read")


def _collect(src: VideoInput, hasher: Hasher, every: int, exact: bool, limits: Optional[VideoLimits],
             progress, label: str, notes: list[str]) -> tuple[list[FrameHash], Optional[VideoInfo]]:
    if _is_hashed(src):
        return [FrameHash(*f) for f in src], None
    tell = (lambda done, total: progress(label, done, total)) if progress else None
    frames: list[FrameHash] = []
    with hash_video(src, hasher, every=every, exact=exact, limits=limits, progress=tell) as stream:
        try:
            frames.extend(stream)
        except DamagedVideo as exc:
            if not frames:
                raise
            notes.append(f"{label}: {exc}")
        return frames, stream.info


def _rate_note(label: str, frames: list[FrameHash]) -> Optional[str]:
    gaps = np.diff(np.sort([f.time for f in frames]))
    gaps = gaps[gaps > 1e-9]
    if gaps.size and gaps.max() > VARIABLE_RATE * gaps.min():
        return (f"{label} has a variable frame rate (hashed frames {1000 * gaps.min():.0f} to "
                f"{1000 * gaps.max():.0f} ms apart): frames are aligned by their timestamps")
    return None


def compare_videos(a: VideoInput, b: VideoInput, backend: Union[str, Hasher] = "phash", hex_len: int = 16,
                   every: int = 1, *, exact: bool = False, offset: float = 0.0,
                   threshold: Optional[float] = None, tolerance: Optional[float] = None,
                   limits: Optional[VideoLimits] = None,
                   progress: Optional[Callable[[str, int, Optional[int]], None]] = None,
                   **options: Any) -> VideoComparison:
    """Line two videos up by timestamp and say which frames of A to fetch again (module docstring).

    ``a`` and ``b`` are videos (paths, bytes, binary files) or lists of :class:`FrameHash` already made.
    ``backend`` is a name (with ``hex_len`` and ``options``) or a hasher. ``offset`` seconds are added to
    B's times. ``threshold`` defaults to the backend's calibrated one, as for images, and ``tolerance``
    (s) to the alignment rule's. ``progress("A" or "B", frames_decoded, frames_declared_or_None)`` is
    called while decoding. Hashes of different backends, lengths or options raise ValueError.
    """
    every = _check_every(every)
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not math.isfinite(offset):
        raise ValueError(f"offset must be a number of seconds, got {offset!r}")
    hasher = None if _is_hashed(a) and _is_hashed(b) else _hasher(backend, hex_len, options)
    notes: list[str] = []
    frames_a, info_a = _collect(a, hasher, every, exact, limits, progress, "A", notes)
    frames_b, info_b = _collect(b, hasher, every, exact, limits, progress, "B", notes)
    if not frames_a or not frames_b:
        raise ValueError("each video needs at least one hashed frame to compare")
    first = frames_a[0].hash
    frames_b[0].hash - first  # noqa: B018  (refuses hashes of different backends, lengths or options)
    if threshold is None:
        fallback = type(hasher).similar_threshold if hasher is not None else 0.15
        threshold = similar_threshold(first, first.hex_len, fallback)
    notes += filter(None, (_rate_note("A", frames_a), _rate_note("B", frames_b)))
    positions, only_a, only_b, tol = align([f.time for f in frames_a], [f.time + offset for f in frames_b],
                                           tolerance)
    pairs = tuple(FramePair(frames_a[i].index, frames_a[i].time, frames_b[j].index, frames_b[j].time + offset,
                            compare_hashes(frames_a[i].hash, frames_b[j].hash, threshold))
                  for i, j in positions)
    return VideoComparison(
        pairs=pairs, only_a=tuple((frames_a[i].index, frames_a[i].time) for i in only_a),
        only_b=tuple((frames_b[j].index, frames_b[j].time + offset) for j in only_b),
        hashed_a=len(frames_a), hashed_b=len(frames_b), backend=first.backend, bits=first.bit_count,
        threshold=float(threshold), tolerance=tol, every=every, offset=float(offset), info_a=info_a,
        info_b=info_b, notes=tuple(notes))
