"""Video hashing speed on a 1080p60 H.264 clip, against the decode-only floor measured in the same run.

    flock /tmp/bench.lock python benchmarks/video_speed.py [--photos ../shared/photos/kodak] \
        [--seconds 10] [--repeats 3] [--out benchmarks/results/video_speed] [--plot docs/video_plot.png]

The clip is made here (and cached): pans and zooms over the photos, with light film grain so the
bitrate is that of a real 1080p60 stream rather than of a smooth still, encoded with PyAV's libx264.
Rows, each the median of ``--repeats`` runs over the whole clip:

- decode only: PyAV decoding every frame with FFmpeg's threads, nothing converted (the floor);
- decode + scale: also FFmpeg's scaler to the RGB size pHash-64 needs (the video hash's input);
- pHash-64: ``registry.video.hash_video(clip, "phash", 16)``, all frames;
- pHash-64 with ``exact=True``: each full-size frame converted to RGB and hashed (what scaling saves);
- deep (timm), every 30th frame: ``hash_video(clip, "timm", 16, every=30)``, the model loaded first.

"x real time" is frames per second over the clip's frame rate. It also measures how far a frame's
video hash lies from the hash of the full-size frame, and draws the distance plot of a real compare
(an original against a copy with five frames replaced, one dropped, re-encoded) for the README.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from registry import create, video  # noqa: E402

DEFAULT_PHOTOS = ROOT.parent / "shared" / "photos" / "kodak"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "image-deep-hash" / "video-bench"


def photos(folder: Path) -> list:
    from PIL import Image
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
    if not files:
        files = [ROOT / "assets" / "examples" / n for n in ("parrots.png", "lighthouse.png")]
    return [Image.open(f).convert("RGB") for f in files[:6]]


def make_clip(path: Path, pictures_in: list, size=(1920, 1080), fps=60, seconds=6.0, crf=18,
              grain: float = 3.0, replace=None, drop=()) -> Path:
    """A pan-and-zoom clip with film grain (cached by its name)."""
    from PIL import Image
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = int(round(seconds * fps))
    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".part" + path.suffix)

    def pictures():
        for k in range(frames):
            if k in drop:
                continue
            if replace and k in replace:
                picture = replace[k].resize(size, Image.Resampling.BICUBIC)
            else:
                photo = pictures_in[(k * len(pictures_in)) // frames]
                picture = video.pan_zoom(photo, (k * len(pictures_in) % frames) / frames, *size)
            if grain:
                pixels = np.asarray(picture, dtype=np.int16)
                noise = rng.normal(0, grain, pixels.shape[:2])[..., None].astype(np.int16)
                picture = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
            yield k, picture
    video.write_clip(tmp, pictures(), size=size, fps=fps, options={"crf": str(crf), "preset": "veryfast"},
                     format=path.suffix.lstrip(".").replace("mkv", "matroska"))
    tmp.replace(path)
    return path


def timed(fn, repeats: int) -> tuple[float, list[float], int]:
    times, count = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        count = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, count


def decode_only(clip: Path) -> int:
    with video.VideoReader(clip) as reader:
        return sum(1 for _ in reader.frames())


def decode_and_scale(clip: Path, side: int) -> int:
    with video.VideoReader(clip) as reader:
        return sum(1 for _, _, frame in reader.frames() if video.frame_picture(frame, side))


def full_frame_gap(clip: Path, every: int = 20) -> dict:
    """Bits by which the video hash differs from the hash of the full-size frame (pHash-64)."""
    import av
    hasher = create("phash", hex_len=16)
    got = {i: h for i, _, h in video.hash_video(clip, hasher, every=every)}
    gaps = []
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in got:
                gaps.append(got[i] - hasher.hash(frame.to_image()))
    return {"frames": len(gaps), "mean_bits": round(float(np.mean(gaps)), 2), "max_bits": int(max(gaps)),
            "threshold_bits": int(video.similar_threshold("phash", 16) * 64)}


def plot_run(pictures: list, plot: Path, cache: Path, size=(854, 480), seconds: float = 8.0) -> dict:
    """A real compare: a 30 fps original against a re-encoded copy (another container, lower quality)
    with frames 100-104 replaced by another picture and frame 150 dropped."""
    from PIL import Image
    fps = 30
    original = make_clip(cache / f"plot_original_{size[1]}p.mp4", pictures, size, fps, seconds, crf=18, grain=2)
    other = pictures[-1].transpose(Image.Transpose.FLIP_LEFT_RIGHT)   # another picture: a mirrored photo
    frames = int(seconds * fps)
    replaced, dropped = [k for k in range(100, 105) if k < frames], [k for k in (150,) if k < frames]
    copy = make_clip(cache / f"plot_copy_{size[1]}p.mkv", pictures, size, fps, seconds, crf=26, grain=2,
                     replace={k: other for k in replaced}, drop=set(dropped))
    result = video.compare_videos(original, copy, "phash", 16)
    plot.parent.mkdir(parents=True, exist_ok=True)
    video.distance_plot(result, 900, 300).save(plot)
    return {"original": f"{size[0]}x{size[1]} {fps} fps H.264 (MP4), {frames} frames",
            "copy": f"re-encoded (MKV, crf 26), frames {replaced} replaced, frames {dropped} dropped",
            "verdict": result.verdict, "verdict_text": result.verdict_text,
            "fetch": [r.to_dict() for r in result.ranges],
            "only_a": [i for i, _ in result.only_a], "only_b": [i for i, _ in result.only_b],
            "aligned": len(result.pairs), "max_distance_kept": max(p.distance for p in result.pairs
                                                                   if not p.fetch_again),
            "threshold_bits": result.threshold * result.bits,
            "plot": str(plot.relative_to(ROOT)) if plot.is_relative_to(ROOT) else str(plot)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-deep", action="store_true", help="skip the deep hash row")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "video_speed")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "video_plot.png")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the generated clips are kept")
    parser.add_argument("--smoke", action="store_true", help="a tiny clip, one run: checks that it all runs")
    args = parser.parse_args(argv)

    pictures = photos(args.photos)
    fps = 60
    size = (320, 180) if args.smoke else (1920, 1080)
    seconds = 0.5 if args.smoke else args.seconds
    repeats = 1 if args.smoke else args.repeats
    clip = make_clip(args.cache / f"clip{size[1]}p60_{seconds:g}s.mp4", pictures, size=size, seconds=seconds, fps=fps)
    info = video.probe_video(clip)
    bitrate = info.size * 8 / info.duration / 1e6
    print(f"clip: {clip} ({info.width}x{info.height}, {info.fps:g} fps, {info.frames} frames, "
          f"{bitrate:.1f} Mbit/s)", flush=True)
    phash = create("phash", hex_len=16)
    side = video.needed_side(phash)
    rows = []

    def row(name, seconds, runs, frames, hashed=None):
        rate = frames / seconds
        rows.append({"name": name, "seconds": round(seconds, 3), "runs": [round(r, 3) for r in runs],
                     "frames": frames, "hashed": hashed if hashed is not None else frames,
                     "fps": round(rate, 1), "x_real_time": round(rate / fps, 2)})
        rows[-1]["of_floor"] = round(rate / rows[0]["fps"], 2)
        print(f"{name:44s} {rate:7.1f} frames/s  {rate / fps:5.2f}x real time", flush=True)

    decode_only(clip)   # warm the file cache
    row("decode only (floor)", *timed(lambda: decode_only(clip), repeats))
    scaled = "x".join(map(str, video.frame_size(*size, side)))
    row(f"decode + scale to {scaled} RGB", *timed(lambda: decode_and_scale(clip, side), repeats))
    row("pHash-64, every frame", *timed(lambda: sum(1 for _ in video.hash_video(clip, phash)), repeats))
    phash_row = rows[-1]
    row("pHash-64, every frame, full-size (exact=True)",
        *timed(lambda: sum(1 for _ in video.hash_video(clip, phash, exact=True)), repeats))
    deep = None
    if not args.no_deep and not args.smoke:
        try:
            timm = create("timm", hex_len=16)
            timm.hash(pictures[0])   # load (and export) the model before timing
            seconds_, runs, hashed = timed(lambda: sum(1 for _ in video.hash_video(clip, timm, every=30)),
                                           repeats)
            row("deep (timm), every 30th frame", seconds_, runs, info.frames, hashed)
            deep = {"hashed_frames": hashed, "hashed_per_second": round(hashed / seconds_, 2),
                    "video_seconds_per_second": round(info.frames / fps / seconds_, 2), "spec": timm.spec}
            print(f"  deep: {hashed} sampled frames in {seconds_:.2f} s = {hashed / seconds_:.1f} hashed "
                  f"frames/s", flush=True)
        except Exception as exc:   # the deep extra may be missing
            print(f"deep hash skipped: {exc}", flush=True)
    gap = full_frame_gap(clip, every=1 if args.smoke else 20)
    print(f"video hash vs full-size frame hash: mean {gap['mean_bits']} bits, max {gap['max_bits']} of 64 "
          f"(threshold {gap['threshold_bits']})", flush=True)
    plotted = plot_run(pictures, args.plot, args.cache, *(((320, 180), 6.0) if args.smoke else ()))
    print(f"plot: {plotted['plot']}: {plotted['verdict_text']}", flush=True)

    result = {"clip": {"width": info.width, "height": info.height, "fps": info.fps, "frames": info.frames,
                       "seconds": info.duration, "mbit_per_s": round(bitrate, 2), "codec": info.codec,
                       "photos": os.path.relpath(args.photos, ROOT)},
              "rows": rows, "deep": deep, "full_frame_gap": gap, "plot_run": plotted,
              "goal": {"fps": 2 * fps, "met": phash_row["fps"] >= 2 * fps},
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform(), "av": _av_version()}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Video hashing speed", "",
             f"{info.width}x{info.height} {fps} fps H.264 clip made by `benchmarks/video_speed.py` (pans and zooms "
             f"over photos, with film grain): {info.frames} frames, {info.duration:g} s, {bitrate:.1f} Mbit/s; "
             f"{os.cpu_count()} CPU cores; median of {repeats} runs; PyAV {_av_version()}.", "",
             "| what | frames/s | × real time (60 fps) | of the decode-only floor |", "|---|---:|---:|---:|"]
    lines += [f"| {r['name']} | {r['fps']} | {r['x_real_time']} | {r['of_floor']:.0%} |" for r in rows]
    lines += ["", f"Goal: pHash-64 at ≥ {2 * fps} frames/s (2× real time): "
              f"**{'met' if result['goal']['met'] else 'NOT met'}** ({phash_row['fps']} frames/s)."]
    if deep:
        lines += ["", f"Deep hash (timm, {deep['spec'].get('model')}) on every 30th frame: {deep['hashed_frames']} "
                  f"frames hashed at {deep['hashed_per_second']} hashed frames/s, "
                  f"{deep['video_seconds_per_second']} s of video per second (decoding every frame included)."]
    lines += ["", f"A frame's video hash (frame scaled by FFmpeg to a shorter side of {side} px) against the "
              f"hash of the full-size frame, {gap['frames']} frames: {gap['mean_bits']} bits apart on "
              f"average, at most {gap['max_bits']} of 64 (the threshold is {gap['threshold_bits']}).", "",
              f"Plot run ({plotted['plot']}): {plotted['original']} against a copy {plotted['copy']}: "
              f"{plotted['verdict_text']}", ""]
    (args.out / "results.md").write_text("\n".join(lines))
    return result


def _av_version() -> str:
    import av
    return av.__version__


if __name__ == "__main__":
    sys.exit(0 if main()["goal"]["met"] else 1)
