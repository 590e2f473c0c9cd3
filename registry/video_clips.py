"""Writing videos: the synthetic pan-and-zoom clips that the tests, the benchmarks and the README's plot
are made from, and the one encoding loop they share (``write_clip``).

Kept apart from ``video_reader``, whose job is reading untrusted files safely; nothing here reads.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence, Union

from PIL import Image

from .optional import require


def pan_zoom(photo: Image.Image, u: float, width: int, height: int) -> Image.Image:
    """A ``width`` x ``height`` view of ``photo`` at ``u`` (0 to 1) of a slow zoom in and pan across."""
    pw, ph = photo.size
    aspect = width / height
    cw = min(pw, ph * aspect)
    zoom = 1.0 - 0.25 * u
    vw, vh = cw * zoom, cw * zoom / aspect
    x0 = (pw - vw) * (0.15 + 0.7 * u)
    y0 = (ph - vh) * (0.5 + 0.3 * math.sin(math.pi * u) * (0.5 - u))
    box = (x0, y0, min(pw, x0 + vw), min(ph, y0 + vh))
    return photo.convert("RGB").resize((width, height), Image.Resampling.BICUBIC, box=box)


def write_clip(path: Union[str, os.PathLike], pictures: Iterable[tuple[int, Image.Image]], *,
               size: tuple[int, int], fps: int, codec: str = "libx264",
               options: Optional[Mapping[str, str]] = None, format: Optional[str] = None) -> Path:
    """Encode ``(pts, picture)`` pairs (``pts`` in frames, at ``fps``) as one video stream, YUV 4:2:0."""
    av = require("av", "video", needed_by="writing a video")
    path = Path(path)
    with av.open(str(path), "w", format=format) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        if options:
            stream.options = dict(options)
        for pts, picture in pictures:
            frame = av.VideoFrame.from_image(picture)
            frame.pts = pts
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def render_clip(path: Union[str, os.PathLike], photos: Sequence[Image.Image], *, size: tuple[int, int] = (160, 120),
                fps: int = 30, frames: int = 45, crf: int = 23, codec: str = "libx264",
                replace: Optional[dict[int, Image.Image]] = None, drop: Iterable[int] = ()) -> Path:
    """Write a test video: slow pans and zooms across ``photos`` (each its share of the frames).

    ``replace={k: picture}`` puts another picture at frame ``k``; ``drop`` leaves frames out while the
    others keep their timestamps (frame ``k`` is at ``k / fps`` s), as a lost frame does. ``crf=0`` with
    libx264 is lossless (in YUV 4:2:0). The container follows the suffix (.mp4, .mkv, ...).
    """
    replace, dropped = dict(replace or {}), set(drop)
    per = max(1, -(-frames // len(photos)))

    def pictures():
        for k in range(frames):
            if k in dropped:
                continue
            if k in replace:
                yield k, replace[k].convert("RGB").resize(size, Image.Resampling.BICUBIC)
            else:
                n = min(k // per, len(photos) - 1)
                length = min(per, frames - n * per)
                yield k, pan_zoom(photos[n], (k - n * per) / max(1, length - 1), *size)
    # One thread: x264 on several gives different bits from run to run.
    options = {"crf": str(crf), "preset": "fast", "threads": "1"} if codec == "libx264" else None
    return write_clip(path, pictures(), size=size, fps=fps, codec=codec, options=options)
