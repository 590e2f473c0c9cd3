"""registry.video: hashes per frame, alignment by timestamp, bad input, and the ``video`` command.

The videos are made here from the shipped photos (pans and zooms encoded with PyAV, 160 x 120), so
nothing large is committed.
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("av")

import registry  # noqa: E402
from registry import video  # noqa: E402
from registry.commands import video as video_command  # noqa: E402

FRAMES, FPS, SIZE = 45, 30, (160, 120)


@pytest.fixture(scope="module")
def photos(examples):
    return [Image.open(examples / "parrots.png").convert("RGB")]


@pytest.fixture(scope="module")
def other_photo(examples):
    return Image.open(examples / "lighthouse.png").convert("RGB")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def original(clips, photos):
    return video.render_clip(clips / "original.mp4", photos, size=SIZE, fps=FPS, frames=FRAMES)


def reencode(src, dst, *, keep=lambda i: True, rate=FPS, step=1, codec="libx264", crf=32, edit=None):
    """Decode ``src`` and encode the frames ``keep`` accepts again (pts = index // step at ``rate``)."""
    import av
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "fast", "threads": "1"}
        for i, frame in enumerate(inp.decode(video=0)):
            if not keep(i):
                continue
            picture = frame.to_image()
            new = av.VideoFrame.from_image(edit(picture) if edit else picture)
            new.pts = i // step
            for packet in stream.encode(new):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


def frame_picture(photos, k):
    return video.pan_zoom(photos[0], k / (FRAMES - 1), *SIZE)


# --- the cases of the issue ----------------------------------------------------------------------
@pytest.mark.parametrize("name, crf", [("reencoded.mkv", 23), ("reencoded.mp4", 33)])
def test_a_reencoded_copy_has_nothing_to_fetch_again(original, clips, name, crf):
    copy = reencode(original, clips / name, crf=crf)
    result = registry_compare(original, copy)
    assert result.verdict == "same" and not result.fetch_again
    assert len(result.pairs) == FRAMES and not result.only_a and not result.only_b
    assert [p.index_a for p in result.pairs] == [p.index_b for p in result.pairs] == list(range(FRAMES))
    assert not result.ranges and max(p.distance for p in result.pairs) <= result.threshold * result.bits


def test_one_pixel_changed_in_one_frame_counts_as_the_same_picture(clips, photos):
    k = 20
    picture = frame_picture(photos, k)
    picture.putpixel((80, 60), tuple(255 - v for v in picture.getpixel((80, 60))))
    base = video.render_clip(clips / "base_lossless.mp4", photos, size=SIZE, fps=FPS, frames=FRAMES, crf=0)
    pixel = video.render_clip(clips / "pixel.mp4", photos, size=SIZE, fps=FPS, frames=FRAMES, crf=0,
                              replace={k: picture})
    changed = [video.grab_frames(v, [k], side=None)[k] for v in (base, pixel)]
    assert np.abs(np.asarray(changed[0], dtype=int) - np.asarray(changed[1], dtype=int)).max() > 20  # it is there
    result = registry_compare(base, pixel)
    pair = next(p for p in result.pairs if p.index_a == k)
    assert pair.same_picture and not pair.fetch_again
    assert result.verdict == "same"


def test_one_frame_replaced_by_another_photo_flags_exactly_that_frame(original, clips, photos, other_photo):
    k = 17
    swapped = video.render_clip(clips / "swapped.mp4", photos, size=SIZE, fps=FPS, frames=FRAMES,
                                replace={k: other_photo})
    result = registry_compare(original, swapped)
    assert [(p.index_a, p.index_b) for p in result.flagged] == [(k, k)]
    assert [(r.first_a, r.last_a, r.frames) for r in result.ranges] == [(k, k, 1)]
    assert result.verdict == "changed" and result.fetch_again
    assert result.ranges[0].start == pytest.approx(k / FPS)
    assert not result.only_a and not result.only_b


def test_a_dropped_frame_keeps_the_alignment(original, clips):
    k = 12
    dropped = reencode(original, clips / "dropped.mp4", keep=lambda i: i != k, crf=20)
    result = registry_compare(original, dropped)
    assert result.only_a == ((k, pytest.approx(k / FPS)),) and not result.only_b
    assert len(result.pairs) == FRAMES - 1
    assert all(p.time_a == p.time_b for p in result.pairs)     # every other frame keeps its partner
    assert [p.index_b for p in result.pairs] == [i - (i > k) for i in range(FRAMES) if i != k]
    assert not result.flagged and result.verdict == "changed"


def test_different_frame_rates_and_lengths_align_by_time(original, clips):
    half = reencode(original, clips / "half_rate.mp4", keep=lambda i: i % 2 == 0, rate=FPS // 2, step=2, crf=20)
    result = registry_compare(original, half)
    assert result.tolerance == pytest.approx(1 / FPS)           # half of the slower video's interval
    assert [(p.index_a, p.index_b) for p in result.pairs] == [(2 * j, j) for j in range((FRAMES + 1) // 2)]
    assert not result.only_a and not result.only_b and result.verdict == "same"
    short = reencode(original, clips / "short.mp4", keep=lambda i: i < 30, crf=20)
    cut = registry_compare(original, short)
    assert [i for i, _ in cut.only_a] == list(range(30, FRAMES)) and not cut.flagged
    assert cut.verdict == "changed"


def test_a_copy_with_its_colours_changed_is_recoloured(original, clips):
    swapped = reencode(original, clips / "bgr.mp4", crf=20, edit=lambda im: Image.merge("RGB", im.split()[::-1]))
    result = registry_compare(original, swapped)
    assert result.verdict == "recoloured" and result.fetch_again
    assert "colours" in result.verdict_text


def test_a_mirrored_copy_is_the_same_frames_edited_and_fetched_again(original, clips):
    mirrored = reencode(original, clips / "mirror.mp4", crf=20,
                        edit=lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    result = video.compare_videos(original, mirrored, backend="timm")
    assert result.verdict == "edited" and result.fetch_again, [p.verdict for p in result.pairs]
    assert "cropped, turned or partly changed" in result.verdict_text


def test_a_few_consecutive_recoloured_frames_are_flagged_but_one_alone_is_codec_noise(original, clips):
    swap = lambda im: Image.merge("RGB", im.split()[::-1])
    one = reencode(original, clips / "one_bgr.mp4", crf=20, edit=lambda im, n=iter(range(FRAMES)):
                   swap(im) if next(n) == 10 else im)
    run = reencode(original, clips / "run_bgr.mp4", crf=20, edit=lambda im, n=iter(range(FRAMES)):
                   swap(im) if 10 <= next(n) < 10 + video.RECOLOURED_RUN else im)
    lone = registry_compare(original, one)
    assert [p.verdict for p in lone.pairs if p.index_a == 10] == ["recoloured"]  # the frame saw it
    assert lone.verdict == "same" and not lone.flagged
    several = registry_compare(original, run)
    assert [p.index_a for p in several.flagged] == list(range(10, 10 + video.RECOLOURED_RUN))
    assert several.verdict == "changed" and several.fetch_again


def registry_compare(a, b, **kwargs):
    return video.compare_videos(a, b, "phash", 16, **kwargs)


# --- the hash itself -----------------------------------------------------------------------------
def test_hash_video_yields_every_nth_frame_with_its_time(original):
    rows = list(video.hash_video(original, "phash", hex_len=16, every=4))
    assert [i for i, _, _ in rows] == list(range(0, FRAMES, 4))
    assert [t for _, t, _ in rows] == pytest.approx([i / FPS for i in range(0, FRAMES, 4)])
    assert all(isinstance(h, registry.ImageHash) and h.bit_count == 64 for _, _, h in rows)
    with pytest.raises(ValueError):
        list(video.hash_video(original, every=0))


def test_a_frame_hash_is_the_hash_of_the_reduced_frame_and_close_to_the_full_frame(clips, photos):
    """pHash-64 needs a 32 x 32 thumbnail; FFmpeg scales each frame to the size pHash's own fast mode
    accepts (shorter side 8 x 32), and the hash is exactly that picture's; exact=True hashes full frames."""
    import av
    big = video.render_clip(clips / "big.mp4", photos, size=(640, 480), fps=FPS, frames=10)
    hasher = registry.create("phash", hex_len=16)
    side = video.needed_side(hasher)
    assert side == registry.create("phash", hex_len=16, fast=True).draft_size == 256
    assert video.frame_size(640, 480, side) == (341, 256) and video.frame_size(200, 100, side) == (200, 100)
    got = [h for _, _, h in video.hash_video(big, hasher)]
    exact = [h for _, _, h in video.hash_video(big, hasher, exact=True)]
    with av.open(str(big)) as container:
        frames = list(container.decode(video=0))
    reduced = [hasher.hash(f.reformat(width=341, height=256, interpolation="AREA").to_image()) for f in frames]
    full = [hasher.hash(f.to_image()) for f in frames]
    assert [str(h) for h in got] == [str(h) for h in reduced]
    assert [str(h) for h in exact] == [str(h) for h in full]
    gaps = [a - b for a, b in zip(got, full)]
    assert np.mean(gaps) <= 2 and max(gaps) <= 6   # far below the threshold (17 of 64 bits)
    assert all(g.same_picture for g in (registry.compare_hashes(a, b) for a, b in zip(got, full)))


def test_import_registry_does_not_import_av():
    code = "import registry, registry.video, sys; assert 'av' not in sys.modules, 'av imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- bad input: a clear VideoError (an ImageError), quickly ---------------------------------------
def expect_error(src, match, **kwargs):
    start = time.monotonic()
    with pytest.raises(video.VideoError, match=match):
        list(video.hash_video(src, **kwargs))
    assert time.monotonic() - start < 5
    assert issubclass(video.VideoError, registry.ImageError)


def test_truncated_corrupt_and_empty_files_are_refused(original, tmp_path):
    data = original.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])          # the index (moov) is at the end: nothing to read
    expect_error(cut, "corrupt, truncated or unsupported")
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    expect_error(noise, "corrupt, truncated or unsupported")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    expect_error(empty, "empty")
    expect_error(tmp_path / "missing.mp4", "not found")
    expect_error(tmp_path, "not a regular file")


def test_damage_inside_the_frames_ends_in_an_error_or_a_result_quickly(original, tmp_path):
    data = bytearray(original.read_bytes())
    rng = np.random.default_rng(1)
    middle = len(data) // 2
    data[middle: middle + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    start = time.monotonic()
    try:
        rows = list(video.hash_video(broken))
        assert 0 < len(rows) <= FRAMES
    except video.VideoError as exc:
        assert "broken.mp4" in str(exc)
    assert time.monotonic() - start < 5


def test_an_empty_stream_and_an_audio_only_file_are_refused(tmp_path):
    import av
    for name in ("no_frames.mp4", "no_frames.mkv"):
        empty = tmp_path / name
        with av.open(str(empty), "w") as out:
            stream = out.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            out.start_encoding()
        expect_error(empty, "no video stream|no frame that could be decoded|End of file")
    audio = tmp_path / "audio.mka"
    with av.open(str(audio), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), dtype=np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    expect_error(audio, "no video stream.*audio")


def test_limits_on_size_frames_duration_and_time(original, clips):
    expect_error(original, "over the limit", limits=video.VideoLimits(max_pixels=160 * 119))
    expect_error(original, "frames, over the limit", limits=video.VideoLimits(max_frames=10))
    expect_error(original, "lasts", limits=video.VideoLimits(max_seconds=1.0))
    expect_error(original, "over the limit", limits=video.VideoLimits(max_bytes=1000))
    expect_error(original, "took more than", limits=video.VideoLimits(timeout=1e-9))
    assert video.probe_video(original).frames == FRAMES
    # Matroska does not declare its frame count: the count is checked while decoding.
    mkv = reencode(original, clips / "count.mkv", crf=20)
    assert video.probe_video(mkv).frames is None
    expect_error(mkv, "more than 44 frames", limits=video.VideoLimits(max_frames=44))
    assert len(list(video.hash_video(mkv, limits=video.VideoLimits(max_frames=45)))) == FRAMES


def test_an_absurd_duration_is_refused_from_the_header(tmp_path, photos):
    """Two frames 30 hours apart: refused before decoding, not after hashing a day of nothing."""
    path = video.render_clip(tmp_path / "absurd.mp4", photos, frames=2, fps=30)
    import av
    with av.open(str(tmp_path / "absurd2.mp4"), "w") as out, av.open(str(path)) as inp:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        for k, frame in zip((0, 30 * 3600 * 30), inp.decode(video=0)):
            new = av.VideoFrame.from_image(frame.to_image())
            new.pts = k
            for packet in stream.encode(new):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    expect_error(tmp_path / "absurd2.mp4", "lasts 30 h, over the limit of 2 h")


def test_an_absurd_resolution_is_refused_from_the_header(tmp_path):
    """A Y4M header claiming 16000 x 16000 pixels (FFmpeg would allocate it): refused before a frame is allocated."""
    y4m = tmp_path / "huge.y4m"
    y4m.write_bytes(b"YUV4MPEG2 W16000 H16000 F30:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(1000))
    expect_error(y4m, "16000x16000 = 256,000,000 pixels a frame, over the limit")


def test_a_file_cut_short_yields_its_frames_then_a_damaged_video_error(clips, photos):
    """Matroska keeps its index at the front: a cut copy still opens, with fewer frames than it says."""
    long = reencode(video.render_clip(clips / "long.mp4", photos, frames=150), clips / "long.mkv", crf=20)
    data = long.read_bytes()
    cut = clips / "long_cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 5])
    rows = []
    with pytest.raises(video.DamagedVideo, match="damaged or truncated") as exc:
        for row in video.hash_video(cut):
            rows.append(row)
    assert 10 < len(rows) < 100 and exc.value.frames >= len(rows)
    assert [i for i, _, _ in rows] == list(range(len(rows)))
    result = video.compare_videos(long, cut)     # what was decoded is compared; the rest is missing
    assert [i for i, _ in result.only_a] == list(range(len(rows), 150))
    assert not result.flagged and result.verdict == "different"
    assert any("B: " in note and "damaged or truncated" in note for note in result.notes)


def test_a_photo_is_not_a_video(examples):
    expect_error(examples / "parrots.png", "corrupt, truncated or unsupported")


@pytest.mark.parametrize("src", ["http://example.com/a.mp4", "concat:a.mp4|b.mp4", "pipe:0",
                                 "file:/etc/passwd", "subfile,,start,0,end,0,,:x.mp4"])
def test_urls_and_ffmpeg_protocols_are_refused(src):
    expect_error(src, "URL or an FFmpeg protocol")


def test_playlists_and_text_files_are_refused(original, tmp_path):
    playlist = tmp_path / "list.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.5,\n{original}\n#EXT-X-ENDLIST\n")
    expect_error(playlist, "text file")
    concat = tmp_path / "list.txt"
    concat.write_text(f"ffconcat version 1.0\nfile {original}\n")
    expect_error(concat, "text file")


def test_variable_frame_rate_aligns_by_timestamp_and_is_noted(clips, photos):
    import av
    path = clips / "vfr.mkv"
    times = [0, 1, 2, 4, 5, 8, 9, 10, 14, 15, 16, 20, 21, 22, 26, 27]   # in 1/30 s
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.codec_context.time_base = stream.time_base = __import__("fractions").Fraction(1, 30)
        for t in times:
            frame = av.VideoFrame.from_image(frame_picture(photos, t))
            frame.pts = t
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    rows = list(video.hash_video(path))
    assert [round(t * 30) for _, t, _ in rows] == times
    result = video.compare_videos(path, path)
    assert result.verdict == "same" and any("variable frame rate" in n for n in result.notes)


def test_file_objects_and_bytes_are_read(original):
    from_path = [str(h) for _, _, h in video.hash_video(original)]
    assert [str(h) for _, _, h in video.hash_video(original.read_bytes())] == from_path
    with open(original, "rb") as fh:
        assert [str(h) for _, _, h in video.hash_video(fh)] == from_path


def test_alignment_rule_on_plain_times():
    pairs, only_a, only_b, tol = video.align([0, 1, 2, 3, 4], [0, 1, 3, 4, 5, 6])
    assert pairs == [(0, 0), (1, 1), (3, 2), (4, 3)] and only_a == [2] and only_b == [4, 5]
    assert tol == 0.5
    pairs, only_a, only_b, _ = video.align([0, 0.5, 1, 1.5, 2], [0, 1, 2])   # B leads (slower)
    assert pairs == [(0, 0), (2, 1), (4, 2)] and only_a == [] and only_b == []
    assert video.align([], [0, 1])[:3] == ([], [], [0, 1])
    pairs, only_a, only_b, tol = video.align([0, 1, 2], [0.3, 1.2, 2.0], tolerance=0.25)
    assert pairs == [(1, 1), (2, 2)] and only_a == [0] and only_b == [0] and tol == 0.25


# --- pictures ------------------------------------------------------------------------------------
def test_distance_plot_and_side_by_side(original, clips, photos, other_photo):
    swapped = video.render_clip(clips / "swapped_plot.mp4", photos, size=SIZE, fps=FPS, frames=FRAMES,
                                replace={30: other_photo})
    result = registry_compare(original, swapped)
    plot = video.distance_plot(result, 600, 240)
    assert plot.size == (600, 240)
    red = lambda picture: int(np.all(np.asarray(picture) == (210, 30, 30), axis=-1).sum())
    unflagged = video.distance_plot(registry_compare(original, original), 600, 240)
    assert red(plot) > red(unflagged) + 40   # the flagged frame's dot, beyond the threshold line and legend
    frames = video.grab_frames(swapped, [30, 5], side=60)
    assert sorted(frames) == [5, 30] and min(frames[30].size) == 60
    seeking = video.grab_frames(swapped, [30, 5], side=60, times=[30 / FPS, 5 / FPS])
    assert all(np.array_equal(np.asarray(frames[i]), np.asarray(seeking[i])) for i in (5, 30))
    hasher = registry.create("phash")
    assert hasher.hash(frames[30]) - hasher.hash(other_photo) < hasher.hash(frames[5]) - hasher.hash(other_photo)
    assert video.side_by_side(frames[5], frames[30]).width == 2 * frames[5].width + 6


# --- the command line ----------------------------------------------------------------------------
def cli(*argv):
    parser = argparse.ArgumentParser(prog="image-deep-hash")
    video_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["video", *map(str, argv)])
    out, err = io.StringIO(), io.StringIO()
    status = args.run(args, out, err)
    return status, out.getvalue(), err.getvalue()


def test_cli_video_hash(original):
    status, out, _ = cli("hash", original, "--every", "5")
    assert status == 0 and len(out.splitlines()) == 9
    status, out, _ = cli("hash", original, "--json", "-b", "dhash", "-n", "8")
    data = json.loads(out)
    assert status == 0 and len(data["frames"]) == FRAMES and data["video"]["fps"] == FPS
    assert all(len(f["hash"]) == 8 for f in data["frames"])


def test_cli_video_compare_exit_status_follows_check(original, clips, photos, other_photo, tmp_path):
    assert cli("compare", original, original)[0] == 0
    swapped = video.render_clip(clips / "swapped_cli.mp4", photos, size=SIZE, fps=FPS, frames=FRAMES,
                                replace={9: other_photo})
    status, out, _ = cli("compare", original, swapped)
    assert status == 1 and "fetch again: 0.300 s (A frame 9;" in out
    status, out, _ = cli("compare", original, swapped, "--json")
    data = json.loads(out)
    assert status == 1 and [r["first_a"] for r in data["fetch"]] == [9] and len(data["frames"]) == FRAMES
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    status, _, err = cli("compare", original, bad)
    assert status == 1 and "bad.mp4" in err
    assert cli("compare", original, original, "-b", "no-such-backend")[0] == 2
    with pytest.raises(SystemExit) as exc:
        cli("compare", original)
    assert exc.value.code == 2


def test_the_deep_hash_on_sampled_frames_flags_the_replaced_one(original, clips, photos, other_photo):
    if any(i.name == "timm" and i.error for i in registry.available()):
        pytest.skip("the deep extra is not installed")
    swapped = video.render_clip(clips / "swapped_deep.mp4", photos, size=SIZE, fps=FPS, frames=FRAMES,
                                replace={20: other_photo})
    result = video.compare_videos(original, swapped, "timm", 16, every=10)
    assert [p.index_a for p in result.pairs] == [0, 10, 20, 30, 40]
    assert [(p.index_a, p.index_b) for p in result.flagged] == [(20, 20)]
    assert result.tolerance == pytest.approx(10 / FPS / 2)


# --- the app's Video tab, without a browser -------------------------------------------------------
def test_the_video_tab_handler_gives_verdict_plot_frames_and_list(original, clips, photos, other_photo):
    gr = pytest.importorskip("gradio")
    import video_tab
    copy = video.render_clip(clips / "tab_copy.mp4", photos, size=SIZE, fps=FPS, frames=FRAMES,
                             replace={25: other_photo}, drop={10})
    summary, plot, shown, table, payload = video_tab.compare_videos(str(original), str(copy), "phash", 16, 1)
    expected = registry_compare(original, copy)
    assert f"data-verdict='{expected.verdict}'" in summary and expected.verdict == "changed"
    assert Image.open(plot).size == (900, 300)
    assert len(shown) == video_tab.SHOWN and "A frame 25 | B frame 24" in shown[0][1]   # the worst first
    assert Image.open(shown[0][0]).width > 2 * 100
    rows = {row[3].split(" ")[0]: row for row in table["data"]}
    assert rows["changed"][1] == "25" and rows["only"][1] == "10"
    assert payload["a"]["name"] == "original.mp4" and payload["fetch"][0]["first_a"] == 25
    with pytest.raises(gr.Error, match="Please add video A first"):
        video_tab.compare_videos(None, str(copy))
    fake = clips / "fake.mp4"
    fake.write_bytes(b"\x00\x01 not a video" * 50)
    with pytest.raises(gr.Error, match="Video B is refused: 'fake.mp4'") as exc:
        video_tab.compare_videos(str(original), str(fake))
    assert str(clips) not in exc.value.message                        # not where the server keeps it


def test_the_app_does_not_import_av_when_it_starts():
    pytest.importorskip("gradio")
    code = ("import sys, gradio as gr, video_tab\nwith gr.Blocks():\n    video_tab.build()\n"
            "assert 'av' not in sys.modules, 'av imported'\nassert video_tab.missing_av() is None")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).parent.parent),
                   capture_output=True)


def test_without_pyav_the_tab_says_how_to_install_it(original, monkeypatch):
    gr = pytest.importorskip("gradio")
    import video_tab
    from registry import optional
    monkeypatch.setattr(optional, "missing", lambda extra: ["av"] if extra == "video" else [])
    with pytest.raises(gr.Error, match=r"pip install 'av>=12'"):
        video_tab.compare_videos(str(original), str(original))


def test_the_speed_benchmark_runs_on_a_tiny_clip(tmp_path, examples):
    from benchmarks import video_speed
    res = video_speed.main(["--photos", str(examples), "--smoke", "--cache", str(tmp_path / "cache"),
                            "--out", str(tmp_path / "out"), "--plot", str(tmp_path / "plot.png")])
    assert (tmp_path / "out" / "results.md").read_text().count("|") > 20
    assert [r["name"].split(",")[0] for r in res["rows"]][:3] == ["decode only (floor)", "decode + scale to 320x180 RGB",
                                                                   "pHash-64"]
    assert all(r["fps"] > 0 for r in res["rows"]) and res["full_frame_gap"]["frames"] == 30
    plot = res["plot_run"]
    assert plot["fetch"][0]["first_a"] == 100 and plot["only_a"] == [150] and plot["verdict"] == "changed"
    assert Image.open(tmp_path / "plot.png").size == (900, 300)
