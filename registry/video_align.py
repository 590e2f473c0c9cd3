"""Two videos' frames lined up by time, each pair judged, and what of B must be fetched again.

The pure half of ``registry.video``: no decoding here, only times and hashes in, a ``VideoComparison``
out (``registry.video.compare_videos`` hashes the frames and calls ``align``).

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
"""
from __future__ import annotations

import collections
import functools
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from .comparison import Comparison
from .video_reader import VideoInfo

#: The alignment tolerance, as a fraction of the larger frame interval.
TOLERANCE = 0.5
#: Consecutive recoloured (or edited) frames that make a change (fewer are codec noise).
RECOLOURED_RUN = 3
#: Frame verdicts from limits fitted per image, which count only in runs of RECOLOURED_RUN.
RUN_VERDICTS = ("recoloured", "edited")
#: Share of A's frames to fetch again at which the verdict calls B a different (or recoloured) video.
DIFFERENT_SHARE = 0.5


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
    "edited": "The same frames, but cropped, turned or partly changed: fetch the video again.",
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
        otherwise almost always have one), so "recoloured" counts only in runs of ``RECOLOURED_RUN``; so
        does "edited" (the lightness layout's limit is fitted the same way).
        """
        pairs, keep = self.pairs, []
        i = 0
        while i < len(pairs):
            if pairs[i].verdict not in RUN_VERDICTS:
                if pairs[i].fetch_again:
                    keep.append(pairs[i])
                i += 1
                continue
            j = i
            while j < len(pairs) and pairs[j].verdict == pairs[i].verdict:
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
        for kind in RUN_VERDICTS:   # the same pictures, changed: not a different video
            if sum(1 for p in flagged if p.verdict == kind) > len(flagged) / 2:
                return kind
        return "different"

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
