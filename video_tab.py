"""The "Video" tab: upload two videos and see which frames changed, when, and how much.

Handlers are plain functions (tests call them without a browser); ``build()`` lays the tab out inside
the page that demo.py assembles. PyAV is imported only when a video is compared (through
``registry.video``), never when the app starts. Uploads are local files that Gradio has stored; they
go to ``registry.video``, which reads only regular files, through no FFmpeg option a user could set,
under the limits shown above the upload boxes.
"""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any, Optional

import gradio as gr

import compare_tab as common

#: What the app accepts; the library's own limits are far larger.
MAX_SECONDS = float(os.environ.get("IMAGE_DEEP_HASH_VIDEO_SECONDS", "120"))


def _megabytes(text: str) -> int:
    """The app's upload limit (``IMAGE_DEEP_HASH_MAX_UPLOAD``, as Gradio reads it: "20mb") in MB."""
    text = text.strip().lower()
    for unit, scale in (("gb", 1024), ("mb", 1), ("kb", 1 / 1024), ("b", 1 / 2**20)):
        if text.endswith(unit):
            try:
                return max(1, int(float(text[: -len(unit)]) * scale))
            except ValueError:
                break
    return 20


#: Gradio refuses larger uploads anyway (common.MAX_FILE_SIZE); the limit shown is that one.
MAX_MB = _megabytes(common.MAX_FILE_SIZE)
MAX_PIXELS = 1920 * 1080
MAX_FRAMES = 60 * 120 * 2
#: How many of the most-changed frames are shown side by side.
SHOWN = 3
#: Wall-clock seconds of decoding and hashing allowed per video, so no upload holds a worker for long.
TIMEOUT = float(os.environ.get("IMAGE_DEEP_HASH_VIDEO_TIMEOUT", "300"))
LIMITS_TEXT = (f"Up to {MAX_SECONDS:g} seconds, {MAX_MB} MB and 1920 × 1080 per video "
               "(MP4, MOV, MKV, WebM, AVI).")


def _limits():
    from registry.video import VideoLimits
    return VideoLimits(max_bytes=MAX_MB * 2**20, max_pixels=MAX_PIXELS, max_frames=MAX_FRAMES,
                       max_seconds=MAX_SECONDS, timeout=TIMEOUT)


def missing_av() -> Optional[str]:
    """Why the tab cannot compare videos here (PyAV is not installed), with the install command; or None."""
    from registry.optional import missing_message
    return missing_message("video", "The Video tab")


def _refuse(message: str) -> gr.Error:
    return common.refuse("compare_videos", message)


def _path(upload: Any, name: str) -> str:
    if upload is None:
        raise _refuse(f"Please add {name} first.")
    path = upload if isinstance(upload, str) else getattr(upload, "path", None) or getattr(upload, "name", None)
    if not path:
        raise _refuse(f"Upload {name} itself; links and server paths are not accepted.")
    return str(path)


def _check(path: str, name: str) -> None:
    from registry.video import VideoError, probe_video
    try:
        probe_video(path, limits=_limits())
    except VideoError as exc:
        message = str(exc).replace(f"'{path}'", f"'{Path(path).name}'")   # not where the server keeps it
        raise _refuse(f"{name[0].upper()}{name[1:]} is refused: {message}") from None


def _summary(result, name_a: str, name_b: str, clean=lambda text: text) -> str:
    limit = result.threshold * result.bits
    keep = result.verdict == "same"
    rows = [f"<div id='video_verdict' data-verdict='{result.verdict}' "
            f"data-flagged='{len(result.flagged)}' data-only='{len(result.only_a) + len(result.only_b)}'>",
            f"<p class='headline'><b>{html.escape(result.verdict_text)}</b></p>",
            f"<p>{html.escape(name_a)} ({result.hashed_a} frames) and {html.escape(name_b)} "
            f"({result.hashed_b} frames): {len(result.pairs)} pairs aligned by time (within "
            f"{result.tolerance * 1000:.0f} ms); a frame is changed beyond {limit:g} of {result.bits} "
            f"bits differing. Fetch again: <b id='video_fetch'>{'no' if keep else 'yes'}</b>.</p>"]
    for note in result.notes:
        rows.append(f"<p><i>{html.escape(clean(note))}</i></p>")
    rows.append("</div>")
    return "\n".join(rows)


def _fetch_rows(result) -> list[list[Any]]:
    rows = []
    for r in result.ranges:
        frames = str(r.first_a) if r.frames == 1 else f"{r.first_a}–{r.last_a}"
        span = f"{r.start:.3f}" if r.frames == 1 else f"{r.start:.3f}–{r.end:.3f}"
        rows.append([span, frames, f"{r.first_b}" if r.frames == 1 else f"{r.first_b}–{r.last_b}",
                     f"changed (up to {r.max_distance} bits)"])
    rows += [[f"{t:.3f}", str(i), "—", "only in A (missing from B)"] for i, t in result.only_a]
    rows += [[f"{t:.3f}", "—", str(i), "only in B (not in A)"] for i, t in result.only_b]
    return sorted(rows, key=lambda row: float(row[0].split("–")[0]))


FETCH_HEADERS = ["time in A (s)", "frames of A", "frames of B", "why"]


def _reporter(progress):
    """A registry.video progress callback that moves Gradio's progress bar (video A, then video B)."""
    def report(label: str, done: int, total: Optional[int]) -> None:
        try:
            share = min(1.0, done / total) if total else 0.0
            progress(0.5 * share + (0.5 if label == "B" else 0.0), desc=f"Hashing video {label}: frame {done}")
        except Exception:  # no progress bar outside a Gradio event
            pass
    return report


@common.user_errors
def compare_videos(video_a, video_b, backend: str = common.DEFAULT_BACKEND,
                   hex_len: float = common.DEFAULT_HEX_LEN, every: float = 1, progress=gr.Progress()):
    """(summary HTML, distance plot, most-changed frames side by side, frames to fetch again, JSON)."""
    if missing_av():
        raise _refuse(missing_av())
    from registry import video
    path_a, path_b = _path(video_a, "video A"), _path(video_b, "video B")
    _check(path_a, "video A")
    _check(path_b, "video B")
    hasher = common.make_hasher(backend, hex_len)
    try:
        every = max(1, int(every))
    except (TypeError, ValueError):
        raise _refuse(f"Every N-th frame must be a whole number, got {every!r}.") from None
    name_a, name_b = Path(path_a).name, Path(path_b).name

    def clean(text: str) -> str:  # name the uploads, not where the server keeps them
        return text.replace(f"'{path_a}'", f"'{name_a}'").replace(f"'{path_b}'", f"'{name_b}'")
    try:
        result = video.compare_videos(path_a, path_b, hasher, every=every, limits=_limits(),
                                      progress=_reporter(progress))
    except video.VideoError as exc:
        raise _refuse(f"Unreadable video: {clean(str(exc))}") from None
    plot = common.picture_file(video.distance_plot(result, 900, 300))
    worst = result.worst(SHOWN)
    frames_a = video.grab_frames(path_a, [p.index_a for p in worst], times=[p.time_a for p in worst],
                                 side=180, limits=_limits())
    frames_b = video.grab_frames(path_b, [p.index_b for p in worst],
                                 times=[p.time_b - result.offset for p in worst], side=180, limits=_limits())
    shown = []
    for p in worst:
        if p.index_a in frames_a and p.index_b in frames_b:
            picture = video.side_by_side(frames_a[p.index_a], frames_b[p.index_b])
            shown.append((common.picture_file(picture),
                          f"{p.time_a:.2f} s · A frame {p.index_a} | B frame {p.index_b} · {p.distance} bits"
                          f"{' · fetch again' if result.is_flagged(p) else ''}"))
    payload = result.to_dict()
    payload["a"]["name"], payload["b"]["name"] = name_a, name_b
    payload["notes"] = [clean(note) for note in payload["notes"]]
    return (_summary(result, name_a, name_b, clean), plot, shown,
            {"headers": FETCH_HEADERS, "data": _fetch_rows(result)}, payload)


def build() -> None:
    """The tab's widgets and wiring, inside the current ``gr.Blocks``."""
    gr.Markdown("Did this video change, and which parts must be fetched again? Add the original and "
                "the copy. " + LIMITS_TEXT, elem_id="video_intro")
    absent = missing_av()
    if absent:
        gr.Markdown(f"**Video comparison is not available on this server.** {absent}", elem_id="video_missing")
    with gr.Row():
        video_a = gr.File(label="Video A (the original)", file_types=["video"], elem_id="video_a")
        video_b = gr.File(label="Video B (the copy)", file_types=["video"], elem_id="video_b")
        with gr.Column():
            backend = gr.Dropdown(common.backend_choices(), value=common.DEFAULT_BACKEND,
                                  label="Hashing backend", elem_id="video_backend")
            hex_len = gr.Slider(1, 256, value=common.DEFAULT_HEX_LEN, step=1, label="Hash length (hex digits)",
                                info=common.LENGTH_INFO, elem_id="video_hex_len")
            every = gr.Slider(1, 30, value=1, step=1, label="Compare every N-th frame",
                              info="1 compares every frame; more is faster (the deep hash: try 10)",
                              elem_id="video_every")
            button = gr.Button("Compare videos", variant="primary", elem_id="compare_videos",
                               interactive=not absent)
    summary = gr.HTML(elem_id="video_summary")
    gr.Markdown("Bits differing between aligned frames over time; the red dashed line is the threshold "
                "beyond which a frame must be fetched again.", elem_classes="caption")
    plot = gr.Image(label="Distance between aligned frames over time", show_label=False, type="filepath",
                    interactive=False, format="png", elem_id="video_plot")
    worst = gr.Gallery(label=f"The {SHOWN} most-changed frames: A | B", columns=SHOWN, height="auto",
                       object_fit="contain", elem_id="video_worst")
    fetch = gr.Dataframe(headers=FETCH_HEADERS, label="Frames to fetch again", interactive=False,
                         elem_id="video_fetch_list")
    with gr.Accordion("Result as JSON (every aligned frame)", open=False):
        details = gr.JSON(show_label=False, elem_id="video_json")
    outputs = [summary, plot, worst, fetch, details]
    button.click(compare_videos, [video_a, video_b, backend, hex_len, every], outputs,
                 api_name="compare_videos")
    gr.on([video_a.change, video_b.change, backend.change, hex_len.change, every.change],
          lambda: ("", None, [], {"headers": FETCH_HEADERS, "data": []}, None), None, outputs,
          queue=False, show_progress="hidden", api_visibility="private")
