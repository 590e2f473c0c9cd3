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

**Alignment rule.** A frame's time counts from its video's first frame, so containers that start at
different presentation times still line up (``offset`` seconds are added to B's). A video's interval
is the median gap between its consecutive hashed frames; the tolerance is half the larger interval of
the two. A frame of A and a frame of B are *paired* when each is the other's nearest in time (the
earlier one on a tie) and they lie within the tolerance. A frame left unpaired is *covered* when the
other video has a frame within the tolerance (that video has fewer frames there: a lower frame rate),
and otherwise *only in* its video. So:

- a dropped frame whose neighbours keep their timestamps (as a container keeps them) is *only in A*,
  and every other frame keeps its partner;
- videos of different frame rates pair on the slower one's frames: a 30 fps copy of a 60 fps video
  pairs each of its frames with the frame of A at the same time, and A's frames between are covered;
- variable frame rates need nothing more: only the timestamps count (a note says so);
- the tail of the longer video is *only in* it.

A is the reference (the original), B the copy. What to fetch again is the frames of A whose partner
is not the same picture (``flagged``, merged into ``ranges`` of consecutive pairs) and the frames of A
that B lacks (``only_a``).

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
import functools
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, Sequence, Union

import numpy as np
from PIL import Image

from .comparison import Comparison, compare_hashes, similar_threshold
from .factory import create
from .hasher import Hasher
from .value import ImageHash
from .video_plot import distance_plot, side_by_side
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
#: The alignment tolerance, as a fraction of the larger frame interval.
TOLERANCE = 0.5
#: Consecutive recoloured frames that make a colour change (fewer are codec noise).
RECOLOURED_RUN = 3
#: Share of A's frames to fetch again at which the verdict calls B a different (or recoloured) video.
DIFFERENT_SHARE = 0.5
#: Gaps between frames varying more than this (largest / smallest) make a variable frame rate.
VARIABLE_RATE = 1.5


class FrameHash(NamedTuple):
    """One hashed frame: its number among the decoded frames (from 0), its time (s), its hash."""

    index: int
    time: float
    hash: ImageHash


# --- hashing ----------------------------------------------------------------------------------------
def needed_side(hasher: Hasher) -> Optional[int]:
    """The shorter side a frame may be scaled down to for this hasher, or None for the full frame.

    The hasher's own ``draft_size`` when it has one; for a backend whose ``fast`` option is off, the
    ``draft_size`` that option would give (the reduced decode it declares acceptable).
    """
    side = hasher.draft_size
    if side is None and "fast" in getattr(type(hasher), "defaults", {}) and not hasher.options.get("fast"):
        try:
            side = type(hasher)(hex_len=hasher.hex_len, **{**hasher.options, "fast": True}).draft_size
        except Exception:  # a plugin whose fast twin cannot be made: full frames
            side = None
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


# --- the alignment rule -----------------------------------------------------------------------------
def frame_interval(times: Sequence[float]) -> Optional[float]:
    """The median gap between consecutive times, or None for fewer than two distinct times."""
    gaps = np.diff(np.sort(np.asarray(times, dtype=np.float64)))
    gaps = gaps[gaps > 1e-9]
    return float(np.median(gaps)) if gaps.size else None


def _nearest(sorted_times: np.ndarray, t: float) -> int:
    """Position of the time nearest ``t`` in a non-empty sorted array (the earlier one on a tie)."""
    k = int(np.searchsorted(sorted_times, t))
    if k == 0:
        return 0
    if k == sorted_times.size:
        return k - 1
    return k - 1 if t - sorted_times[k - 1] <= sorted_times[k] - t else k


def align(times_a: Sequence[float], times_b: Sequence[float], tolerance: Optional[float] = None
          ) -> tuple[list[tuple[int, int]], list[int], list[int], float]:
    """The alignment rule (module docstring) on two lists of times, in seconds.

    Returns (pairs as (position in A, position in B), positions only in A, positions only in B,
    tolerance). Positions, not frame numbers; frames that are covered are in none of the lists.
    """
    ta, tb = np.asarray(times_a, dtype=np.float64), np.asarray(times_b, dtype=np.float64)
    if tolerance is None:
        intervals = [x for x in (frame_interval(ta), frame_interval(tb)) if x]
        tolerance = TOLERANCE * max(intervals) if intervals else 0.0
    if ta.size == 0 or tb.size == 0:
        return [], list(range(ta.size)), list(range(tb.size)), float(tolerance)
    slack = tolerance * 1e-3 + 1e-6  # timestamps rounded to the container's time base
    order_a, order_b = np.argsort(ta, kind="stable"), np.argsort(tb, kind="stable")
    sa, sb = ta[order_a], tb[order_b]
    near_b = [int(order_b[_nearest(sb, t)]) for t in ta]   # for each frame of A, the nearest of B
    near_a = [int(order_a[_nearest(sa, t)]) for t in tb]
    pairs, only_a = [], []
    for i, j in enumerate(near_b):
        close = abs(ta[i] - tb[j]) <= tolerance + slack
        if close and near_a[j] == i:
            pairs.append((i, j))
        elif not close:
            only_a.append(i)
    only_b = [j for j, i in enumerate(near_a) if abs(tb[j] - ta[i]) > tolerance + slack]
    pairs.sort(key=lambda p: (ta[p[0]], p[0]))
    return pairs, sorted(only_a, key=lambda i: (ta[i], i)), sorted(only_b, key=lambda j: (tb[j], j)), \
        float(tolerance)


# --- comparing --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FramePair:
    """A frame of A, the frame of B the alignment rule paired it with, and their comparison."""

    index_a: int
    time_a: float
    index_b: int
    time_b: float
    comparison: Comparison

    @property
    def distance(self) -> int:
        return self.comparison.distance

    @property
    def verdict(self) -> str:
        return self.comparison.verdict

    @property
    def same_picture(self) -> bool:
        return self.comparison.same_picture

    @property
    def fetch_again(self) -> bool:
        return self.comparison.fetch_again

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {"index_a": self.index_a, "time_a": round(self.time_a, 6), "index_b": self.index_b,
                "time_b": round(self.time_b, 6), "distance": c.distance, "verdict": c.verdict,
                "fetch_again": c.fetch_again, "hash_a": str(c.hash_a), "hash_b": str(c.hash_b)}


@dataclass(frozen=True)
class FrameRange:
    """Consecutive flagged pairs: frames ``first_a``-``last_a`` of A (``first_b``-``last_b`` of B)."""

    first_a: int
    last_a: int
    first_b: int
    last_b: int
    start: float          # time of the first, s
    end: float            # time of the last, s
    frames: int           # pairs in the range
    max_distance: int     # the largest distance among them

    def to_dict(self) -> dict[str, Any]:
        return {"first_a": self.first_a, "last_a": self.last_a, "first_b": self.first_b, "last_b": self.last_b,
                "start": round(self.start, 6), "end": round(self.end, 6), "frames": self.frames,
                "max_distance": self.max_distance}


VIDEO_VERDICTS = {
    "same": "Every frame is the same picture: nothing to fetch again.",
    "changed": "Some frames changed or are missing: fetch those again.",
    "recoloured": "The same frames, but their colours changed: fetch the video again.",
    "different": "Most frames changed or are missing: a different video; fetch it all again.",
}


@dataclass(frozen=True)
class VideoComparison:
    """Two videos frame by frame: the aligned pairs, what to fetch again, what one lacks, a verdict."""

    pairs: tuple[FramePair, ...]
    only_a: tuple[tuple[int, float], ...]   # (index, time): frames of A that B lacks
    only_b: tuple[tuple[int, float], ...]   # (index, time): frames of B that A lacks
    hashed_a: int
    hashed_b: int
    backend: str
    bits: int
    threshold: float
    tolerance: float                        # seconds, of the alignment rule
    every: int = 1
    offset: float = 0.0
    info_a: Optional[VideoInfo] = None
    info_b: Optional[VideoInfo] = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @functools.cached_property
    def flagged(self) -> list[FramePair]:
        """The pairs whose frame of B is not the same picture (or recoloured, or too flat to tell).

        A colour change shows on a run of frames; one frame alone past a colour limit is codec noise
        (each frame is a fresh draw against limits fitted at a per-image rate, so a long clip would
        otherwise almost always have one), so "recoloured" counts only in runs of ``RECOLOURED_RUN``.
        """
        pairs, keep = self.pairs, []
        i = 0
        while i < len(pairs):
            if pairs[i].verdict != "recoloured":
                if pairs[i].fetch_again:
                    keep.append(pairs[i])
                i += 1
                continue
            j = i
            while j < len(pairs) and pairs[j].verdict == "recoloured":
                j += 1
            if j - i >= min(RECOLOURED_RUN, len(pairs)):
                keep.extend(pairs[i:j])
            i = j
        return keep

    @functools.cached_property
    def _flagged_ids(self) -> frozenset:
        return frozenset(id(p) for p in self.flagged)

    def is_flagged(self, pair: FramePair) -> bool:
        """Whether this pair (one of ``pairs``) is to be fetched again; see ``flagged``."""
        return id(pair) in self._flagged_ids

    @property
    def ranges(self) -> list[FrameRange]:
        """The flagged pairs, consecutive ones merged."""
        out: list[FrameRange] = []
        run: list[FramePair] = []
        for pair in list(self.pairs) + [None]:  # type: ignore[list-item]
            if pair is not None and self.is_flagged(pair):
                run.append(pair)
                continue
            if run:
                out.append(FrameRange(run[0].index_a, run[-1].index_a, run[0].index_b, run[-1].index_b,
                                      run[0].time_a, run[-1].time_a, len(run), max(p.distance for p in run)))
                run = []
        return out

    @property
    def frames_to_fetch(self) -> int:
        return len(self.flagged) + len(self.only_a)

    @property
    def verdict(self) -> str:
        flagged = self.flagged
        if not flagged and not self.only_a and not self.only_b:
            return "same"
        if self.frames_to_fetch < DIFFERENT_SHARE * max(1, self.hashed_a):
            return "changed"
        recoloured = sum(1 for p in flagged if p.verdict == "recoloured")
        return "recoloured" if recoloured > len(flagged) / 2 else "different"

    @property
    def fetch_again(self) -> bool:
        return self.verdict != "same"

    @property
    def verdict_text(self) -> str:
        verdict = self.verdict
        if verdict == "recoloured":
            changes = collections.Counter(c for p in self.flagged for c in p.comparison.changes)
            if changes:
                words = ", ".join(c for c, _ in changes.most_common(3))
                return f"The same frames, but their colours changed ({words}): fetch the video again."
            return VIDEO_VERDICTS[verdict]
        if verdict != "changed":
            return VIDEO_VERDICTS[verdict]
        parts = []
        if self.flagged:
            parts.append(f"{len(self.flagged)} changed")
        if self.only_a:
            parts.append(f"{len(self.only_a)} missing from B")
        text = f"{' and '.join(parts)} of {self.hashed_a} frames of A: fetch those again" if parts else ""
        if self.only_b:
            extra = f"{len(self.only_b)} frame{'s' if len(self.only_b) > 1 else ''} of B not in A"
            text = f"{text}; {extra}" if text else f"Nothing of A to fetch again, but {extra}"
        return text + "."

    def worst(self, n: int = 3) -> list[FramePair]:
        """The ``n`` pairs with the largest distance, largest first (the earlier on ties)."""
        return sorted(self.pairs, key=lambda p: (-p.distance, p.time_a))[:max(0, n)]

    def counts(self) -> dict[str, int]:
        """How many pairs got each verdict of the image compare."""
        return dict(collections.Counter(p.verdict for p in self.pairs))

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "bits": self.bits, "threshold": self.threshold,
                "tolerance": round(self.tolerance, 6), "every": self.every, "offset": self.offset,
                "verdict": self.verdict, "verdict_text": self.verdict_text, "fetch_again": self.fetch_again,
                "hashed_a": self.hashed_a, "hashed_b": self.hashed_b, "aligned": len(self.pairs),
                "frames_to_fetch": self.frames_to_fetch, "verdicts": self.counts(),
                "a": self.info_a.to_dict() if self.info_a else {},
                "b": self.info_b.to_dict() if self.info_b else {},
                "fetch": [r.to_dict() for r in self.ranges],
                "only_a": [{"index": i, "time": round(t, 6)} for i, t in self.only_a],
                "only_b": [{"index": i, "time": round(t, 6)} for i, t in self.only_b],
                "notes": list(self.notes), "frames": [p.to_dict() for p in self.pairs]}


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
        threshold = similar_threshold(first.backend, first.hex_len, fallback)
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
