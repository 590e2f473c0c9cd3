"""Reading videos safely: what a file may be, how it is opened, and its frames with their times.

The half of ``registry.video`` that touches FFmpeg (through PyAV, imported only when a video is read).
See ``registry.video`` for the rules: local files, bytes or binary file objects only, handed to FFmpeg
as file objects (never a protocol or URL), read by the demuxers in :data:`ALLOWED_DEMUXERS` alone,
within :class:`VideoLimits`. Also here: pictures of chosen frames (``grab_frames``). The synthetic
clips the tests and benchmarks make are in ``registry.video_clips``.
"""
from __future__ import annotations

import io
import os
import re
import stat
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

from PIL import Image

from .errors import ImageError
from .loading import MAX_PIXELS
from .optional import require

#: FFmpeg demuxers a video may be read with: the usual containers, none of which opens another file or
#: a URL (the mov demuxer's external data references are off, as FFmpeg has them by default).
#: Playlists (hls, dash, concat), image sequences (image2) and everything else are refused.
ALLOWED_DEMUXERS = ("mov", "matroska", "avi", "mpegts", "flv", "ogg", "mpeg", "asf", "ivf", "h264",
                    "hevc", "m4v", "yuv4mpegpipe", "nut")
CONTAINERS_TEXT = "MP4/MOV, Matroska/WebM, AVI, MPEG-TS/PS, FLV, Ogg, ASF/WMV, IVF, raw H.264/HEVC"
#: Undecodable packets skipped before a file counts as too damaged to go on with.
MAX_BAD_PACKETS = 1000
#: A frame lasts this long when the container declares no frame rate (frames without timestamps).
DEFAULT_FRAME_SECONDS = 1 / 30
#: Not a path: "proto:..." or "proto,options:..." (FFmpeg's syntax), a URL, a Windows drive is fine.
_PROTOCOL = re.compile(r"^[^/\\:]{2,}:")
_TEXT_PROBE = 4096


def _env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return float(default)


class VideoError(ImageError):
    """A video we cannot or will not hash; the message is written for the person who gave it."""


class DamagedVideo(VideoError):
    """The file ends early, or some of it could not be decoded; ``frames`` frames were decoded."""

    def __init__(self, message: str, frames: int = 0):
        super().__init__(message)
        self.frames = frames


@dataclass(frozen=True)
class VideoLimits:
    """What a video may be: checked from its header before decoding, and again while decoding.

    The defaults come from the environment (``IMAGE_DEEP_HASH_MAX_VIDEO_BYTES``, ``..._SECONDS``,
    ``..._FRAMES``, ``..._PIXELS``); ``timeout`` is wall-clock seconds for one video, None for none.
    """

    max_bytes: int = int(_env_number("IMAGE_DEEP_HASH_MAX_VIDEO_BYTES", 8 * 1024 ** 3))
    max_seconds: float = _env_number("IMAGE_DEEP_HASH_MAX_VIDEO_SECONDS", 2 * 3600)
    max_frames: int = int(_env_number("IMAGE_DEEP_HASH_MAX_VIDEO_FRAMES", 250_000))
    max_pixels: int = int(_env_number("IMAGE_DEEP_HASH_MAX_VIDEO_PIXELS", min(7680 * 4320, MAX_PIXELS)))
    timeout: Optional[float] = None

    def describe(self) -> str:
        """The limits in words."""
        text = (f"at most {_size_text(self.max_bytes)}, {_duration_text(self.max_seconds)}, "
                f"{self.max_frames:,} frames and {self.max_pixels / 1e6:.1f} megapixels a frame")
        return text + (f"; {self.timeout:g} s of work per video" if self.timeout else "")


def _size_text(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} bytes"
    for unit in ("KB", "MB", "GB", "TB"):
        n /= 1024
        if n < 1024 or unit == "TB":
            return f"{n:.3g} {unit}"
    return ""  # pragma: no cover


def _duration_text(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 60:.3g} min" if seconds >= 60 else f"{seconds:.3g} s"


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video, before decoding it."""

    source: str
    container: str
    codec: str
    width: int
    height: int
    fps: Optional[float]          # the average frame rate declared
    duration: Optional[float]     # seconds, declared
    frames: Optional[int]         # declared frame count (MP4 knows it, Matroska usually not)
    size: int                     # bytes

    def to_dict(self) -> dict[str, Any]:
        return {"container": self.container, "codec": self.codec, "width": self.width,
                "height": self.height, "fps": None if self.fps is None else round(self.fps, 3),
                "duration": None if self.duration is None else round(self.duration, 3),
                "frames": self.frames, "size": self.size}


# --- opening safely ---------------------------------------------------------------------------------
def _av():
    return require("av", "video", needed_by="video hashing")


def _describe(src: Any) -> str:
    if isinstance(src, (str, os.PathLike)):
        return f"'{os.fsdecode(os.fspath(src))}'"
    return "the video data" if isinstance(src, (bytes, bytearray, memoryview)) else "the video file object"


def _open_source(src: Any, limits: VideoLimits) -> tuple[Any, str, str, int]:
    """(binary file object, how to name it, its path or '', size) for a path, bytes or file object."""
    what = _describe(src)
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        _check_bytes(len(data), what, limits)
        return io.BytesIO(data), what, "", len(data)
    if isinstance(src, (str, os.PathLike)):
        text = os.fsdecode(os.fspath(src))
        if "://" in text or _PROTOCOL.match(text):
            raise VideoError(f"{what} looks like a URL or an FFmpeg protocol; only local files are read "
                             f"(for a file whose name has a colon, write ./{text})")
        path = Path(text)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise VideoError(f"file not found: {what}") from None
        except OSError as exc:
            raise VideoError(f"cannot read {what}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(st.st_mode):
            raise VideoError(f"not a regular file: {what}")
        _check_bytes(st.st_size, what, limits)
        try:  # no blocking on a FIFO swapped in after the check; the check is repeated on what opened
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise VideoError(f"cannot read {what}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise VideoError(f"not a regular file: {what}")
        return os.fdopen(fd, "rb"), what, text, st.st_size
    if hasattr(src, "read"):
        if isinstance(src, io.TextIOBase):
            raise VideoError("the file object was opened in text mode; open it with 'rb'")
        size = 0
        try:
            here = src.tell()
            size = src.seek(0, io.SEEK_END) - here
            src.seek(here)
        except (OSError, AttributeError, ValueError):
            pass
        _check_bytes(size or 1, what, limits)
        return src, what, "", size
    raise VideoError(f"cannot read a video from a {type(src).__name__}: give a path, bytes or a binary file")


def _check_bytes(size: int, what: str, limits: VideoLimits) -> None:
    if size == 0:
        raise VideoError(f"{what} is empty (0 bytes), not a video")
    if size > limits.max_bytes:
        raise VideoError(f"{what} is {_size_text(size)}, over the limit of {_size_text(limits.max_bytes)}")


def _looks_like_text(fh) -> bool:
    """Whether the file starts like text (a playlist, a list of files), read without moving on."""
    try:
        here = fh.tell()
        head = fh.read(_TEXT_PROBE)
        fh.seek(here)
    except (OSError, AttributeError, ValueError):
        return False
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not a multi-byte character cut at the end of the probe
            return False
    return True


def _close(*things) -> None:
    for thing in things:
        try:
            if thing is not None:
                thing.close()
        except Exception:  # closing a damaged container must not hide the real error
            pass


class VideoReader:
    """An open video: its first video stream, what its header says, and its frames with their times.

    Opened and checked when made; a context manager. The file object is closed with it unless the
    caller passed it in.
    """

    def __init__(self, src: Any, limits: Optional[VideoLimits] = None, threads: int = 0):
        av = _av()
        self.limits = limits = limits or VideoLimits()
        self.fh, self.what, path, size = _open_source(src, limits)
        owned = self.fh is not src
        self.container = None
        try:
            if _looks_like_text(self.fh):
                raise VideoError(f"{self.what} is a text file (a playlist or a list of files?), not a video; "
                                 f"only video files are read")
            self._open(av, path, size, threads)
        except BaseException:
            _close(self.container, self.fh if owned else None)
            raise
        self._finalizer = weakref.finalize(self, _close, self.container, self.fh if owned else None)

    def _open(self, av, path: str, size: int, threads: int) -> None:
        what, limits = self.what, self.limits
        try:
            self.container = av.open(self.fh, mode="r",
                                     container_options={"format_whitelist": ",".join(ALLOWED_DEMUXERS)})
        except Exception as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise VideoError(f"{what} could not be read as a video: it is corrupt, truncated or unsupported "
                             f"(the containers read are {CONTAINERS_TEXT}; FFmpeg said: {reason})") from None
        container = self.container
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams})
            raise VideoError(f"{what} has no video stream" + (f" (only {', '.join(kinds)})" if kinds else ""))
        self.stream = stream = container.streams.video[0]
        try:
            context = stream.codec_context
            codec = context.name
        except Exception:
            raise VideoError(f"{what}: FFmpeg has no decoder for its video stream") from None
        width, height = int(context.width or 0), int(context.height or 0)
        self.check_pixels(width, height)
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate and 0 < float(rate) < 10_000 else None
        duration = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        frames = int(stream.frames) if stream.frames and stream.frames > 0 else None
        if frames is not None and frames > limits.max_frames:
            raise VideoError(f"{what} declares {frames:,} frames, over the limit of {limits.max_frames:,}")
        if duration is not None and duration > limits.max_seconds:
            raise VideoError(f"{what} lasts {_duration_text(duration)}, over the limit of "
                             f"{_duration_text(limits.max_seconds)}")
        self.info = VideoInfo(path or what, container.format.name, codec, width, height, fps, duration,
                              frames, size)
        stream.thread_type = "AUTO"  # frame and slice threads, as FFmpeg sees fit
        context.thread_count = max(0, int(threads))  # 0: FFmpeg's choice from the cores it sees

    def check_pixels(self, width: int, height: int) -> None:
        if width * height > self.limits.max_pixels:
            raise VideoError(f"{self.what} is {width}x{height} = {width * height:,} pixels a frame, over the "
                             f"limit of {self.limits.max_pixels:,}")

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._finalizer()

    @property
    def step(self) -> float:
        return 1 / self.info.fps if self.info.fps else DEFAULT_FRAME_SECONDS

    def frames(self, problems: Optional[list[str]] = None) -> Iterator[tuple[int, float, Any]]:
        """(index, seconds from the first frame, av.VideoFrame) of every frame, within the limits.

        Undecodable packets are skipped and an error of the demuxer ends the stream; both go to
        ``problems``, as does a stream that ends well before its header says.
        """
        av = _av()
        problems = [] if problems is None else problems
        limits, what, stream, step = self.limits, self.what, self.stream, self.step
        deadline = time.monotonic() + limits.timeout if limits.timeout else None
        index, origin, last, bad = -1, None, None, 0
        packets = self.container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError as exc:
                problems.append(f"reading stopped after {index + 1} frames ({exc.strerror or exc})")
                break
            try:
                decoded = packet.decode()
            except av.FFmpegError as exc:
                bad += 1
                if bad > MAX_BAD_PACKETS:
                    problems.append(f"reading stopped after more than {MAX_BAD_PACKETS} undecodable packets "
                                    f"({exc.strerror or exc})")
                    break
                continue
            for frame in decoded:
                index += 1
                if index >= limits.max_frames:
                    raise VideoError(f"{what} has more than {limits.max_frames:,} frames, over the limit")
                if frame.width < 1 or frame.height < 1:
                    raise VideoError(f"{what} has a frame with no pixels ({frame.width}x{frame.height})")
                self.check_pixels(frame.width, frame.height)
                expected = 0.0 if last is None else last + step
                if frame.pts is None:
                    t = expected
                else:
                    raw = float(frame.pts * stream.time_base)
                    if origin is None:
                        origin = raw - expected
                    t = raw - origin
                if abs(t) > limits.max_seconds:
                    raise VideoError(f"{what} has a frame at {_duration_text(abs(t))}: it lasts longer than "
                                     f"the limit of {_duration_text(limits.max_seconds)}")
                if deadline is not None and time.monotonic() > deadline:
                    raise VideoError(f"{what} took more than {limits.timeout:g} s to decode, the limit")
                last = t
                yield index, t, frame
        count = index + 1
        if bad:
            problems.append(f"{bad} packet{'s' if bad > 1 else ''} could not be decoded")
        declared, duration = self.info.frames, self.info.duration
        if declared is not None and 0 < count < declared - 1:
            problems.append(f"its header declares {declared} frames, {count} could be decoded")
        elif declared is None and duration and last is not None and \
                duration - (last + step) > max(1.0, 0.02 * duration):
            problems.append(f"its header declares {duration:.2f} s, the frames end at {last + step:.2f} s")
        if count == 0:
            raise VideoError(f"{what} has no frame that could be decoded"
                             + (f" ({'; '.join(problems)})" if problems else " (its video stream is empty)"))


def probe_video(src: Any, limits: Optional[VideoLimits] = None) -> VideoInfo:
    """What a video's header says (size, frame rate, duration, frames), checked against ``limits``."""
    with VideoReader(src, limits) as reader:
        return reader.info


# --- frames as pictures -------------------------------------------------------------------------
def frame_size(width: int, height: int, side: Optional[int]) -> tuple[int, int]:
    """The size a width x height frame is scaled to: shorter side ``side``, same shape; never larger."""
    if not side or min(width, height) <= side:
        return width, height
    scale = side / min(width, height)
    return max(side, round(width * scale)), max(side, round(height * scale))


def frame_picture(frame, side: Optional[int]) -> Image.Image:
    """The frame as an RGB picture, scaled first (in its own pixel format, by FFmpeg's area filter) when
    ``side`` allows: scaling YUV and converting the small picture costs a third less than both at once."""
    width, height = frame_size(frame.width, frame.height, side)
    if (width, height) == (frame.width, frame.height):
        return frame.to_image()
    return frame.reformat(width=width, height=height, interpolation="AREA").to_image()


# --- pictures of frames -----------------------------------------------------------------------------
def grab_frames(src: Any, indices: Iterable[int], *, side: Optional[int] = 160,
                times: Optional[Sequence[float]] = None, limits: Optional[VideoLimits] = None
                ) -> dict[int, Image.Image]:
    """Pictures of some frames, by frame number: ``{index: RGB image}``, the shorter side ``side``.

    Without ``times`` the video is decoded from the start up to the last frame asked for. With
    ``times`` (the frames' times, as ``hash_video`` gives them) it seeks to the keyframe before each
    and decodes from there, so a few frames of a long video cost a few groups of pictures.
    """
    wanted = list(dict.fromkeys(int(i) for i in indices))
    if times is not None:
        found = _grab_by_time(src, dict(zip(wanted, (float(t) for t in times))), limits)
    else:
        found = {}
        if wanted:
            with VideoReader(src, limits) as reader:
                last = max(wanted)
                for index, _, frame in reader.frames():
                    if index in wanted:
                        found[index] = frame.to_image()
                    if index >= last:
                        break
    return {i: _thumbnail(img, side) for i, img in found.items()}


def _thumbnail(img: Image.Image, side: Optional[int]) -> Image.Image:
    w, h = frame_size(img.width, img.height, side)
    return img if (w, h) == img.size else img.resize((w, h), Image.Resampling.BOX)


def _grab_by_time(src: Any, wanted: dict[int, float], limits: Optional[VideoLimits]) -> dict[int, Image.Image]:
    found = {}
    for index, t in wanted.items():
        if hasattr(src, "seek"):
            src.seek(0)
        with VideoReader(src, limits) as reader:
            found[index] = _frame_near(reader, t)
    return found


def _frame_near(reader: VideoReader, t: float) -> Image.Image:
    """The picture of the frame nearest ``t`` seconds from the first frame."""
    stream, step = reader.stream, reader.step
    frames = reader.frames()
    _, _, first = next(frames)  # raises VideoError for a video with no frames
    best, gap = first.to_image(), abs(t)
    if first.pts is not None and t > 2 * step:
        origin = float(first.pts * stream.time_base)
        try:
            reader.container.seek(int((origin + t) / stream.time_base), stream=stream, backward=True)
            frames = _after_seek(reader, origin)
        except Exception:  # a stream that cannot seek: decode on from the first frame
            pass
    for _, ft, frame in frames:
        if abs(ft - t) < gap:
            best, gap = frame.to_image(), abs(ft - t)
        if ft > t + step:
            break
    return best


def _after_seek(reader: VideoReader, origin: float) -> Iterator[tuple[int, float, Any]]:
    """Frames after a seek, with their times from the video's first frame (their numbers unknown)."""
    stream = reader.stream
    for packet in reader.container.demux(stream):
        try:
            decoded = packet.decode()
        except Exception:
            continue
        for frame in decoded:
            if frame.pts is not None:
                yield -1, float(frame.pts * stream.time_base) - origin, frame
