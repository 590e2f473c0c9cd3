"""The verdict where the hash alone cannot tell: flat images, and copies whose colours were changed.

Small generated images and the shipped examples only; the numbers come from benchmarks/verdicts.py.
"""
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps

import registry
from registry import comparison
from registry.optional import MissingDependency
from registry.value import ImageHash
from tests.conftest import EXAMPLES

BACKENDS = ("ahash", "phash", "dhash", "timm")


@pytest.fixture(scope="module")
def hashers():
    """One hasher per built-in backend at 64 bits; the deep one only where its extra is installed."""
    out = {}
    for name in BACKENDS:
        try:
            out[name] = registry.create(name, hex_len=16)
        except MissingDependency:
            continue
    assert {"ahash", "phash", "dhash"} <= set(out)
    return out


def judge_all(hashers, a: Image.Image, b: Image.Image) -> dict:
    """The comparison of a and b per backend, from hashes computed the bulk way (detail and colour filled)."""
    out = {}
    for name, hasher in hashers.items():
        ha, hb = hasher.hash_many([a, b])
        out[name] = comparison.compare_hashes(ha, hb)
    return out


@pytest.fixture(scope="module")
def parrots() -> Image.Image:
    return registry.load_image(EXAMPLES / "parrots.png").convert("RGB")


def test_solid_blue_and_solid_white_are_never_kept(hashers):
    blue, white = Image.new("RGB", (128, 96), (0, 0, 255)), Image.new("RGB", (128, 96), (255, 255, 255))
    for name, c in judge_all(hashers, blue, white).items():
        assert c.verdict not in ("similar", "identical") and c.fetch_again, (name, c.verdict)
        assert c.low_detail, name


def test_a_white_page_and_the_same_page_with_a_word_are_fetched_again(hashers):
    page = Image.new("RGB", (300, 400), (255, 255, 255))
    hello = page.copy()
    ImageDraw.Draw(hello).text((40, 40), "hello", fill=(0, 0, 0), font=ImageFont.load_default(size=24))
    for name, c in judge_all(hashers, page, hello).items():
        assert c.fetch_again, (name, c.verdict, c.distance)


@pytest.mark.parametrize("edit", ["inverted", "red-blue swapped"])
def test_colour_edited_copies_of_parrots_are_fetched_again(hashers, parrots, edit):
    if edit == "inverted":
        copy = ImageOps.invert(parrots)
    else:
        r, g, b = parrots.split()
        copy = Image.merge("RGB", (b, g, r))
    for name, c in judge_all(hashers, parrots, copy).items():
        assert c.fetch_again, (name, c.verdict, c.distance)
        if c.verdict == "recoloured":
            assert c.changes and "fetch it again" in c.verdict_text


def test_a_jpeg_50_copy_of_parrots_is_similar_for_phash_and_its_colours_stay_quiet(hashers, parrots):
    buf = io.BytesIO()
    parrots.save(buf, "JPEG", quality=50)
    copy = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    results = judge_all({k: v for k, v in hashers.items() if k in ("phash", "timm")}, parrots, copy)
    assert results["phash"].verdict == "similar" and not results["phash"].fetch_again
    for name, c in results.items():  # re-encoding is never taken for a colour change
        assert not c.changes and not c.low_detail, (name, c.verdict, c.changes, c.distance)


def test_detail_and_colour_survive_dict_and_json(hashers, parrots):
    for name, hasher in hashers.items():
        h = hasher.hash_many([parrots])[0]
        assert h.detail is not None and h.detail > 0
        assert isinstance(h.colour, str) and len(h.colour) == 102
        back = ImageHash.from_dict(json.loads(json.dumps(h.to_dict())))
        assert back == h and back.detail == h.detail and back.colour == h.colour, name
        # and the verdict from the restored hashes is the verdict from the originals
        assert comparison.compare_hashes(back, h).verdict == comparison.compare_hashes(h, h).verdict


def test_colour_statistics_see_a_swap_on_a_nearly_neutral_photo():
    """A gray scene with one blue object: the swap turns it orange, which the a/b layout shows."""
    from registry.colour import colour_change, signature
    arr = np.full((96, 128, 3), 128, dtype=np.uint8)
    arr += np.random.default_rng(0).integers(0, 20, (96, 128, 1), dtype=np.uint8)
    arr[30:60, 40:90] = (90, 110, 170)
    img = Image.fromarray(arr)
    r, g, b = img.split()
    assert colour_change(signature(img), signature(Image.merge("RGB", (b, g, r))), comparison.colour_limits())
    assert not colour_change(signature(img), signature(img.resize((64, 48), Image.Resampling.LANCZOS)),
                             comparison.colour_limits())


def test_calibrated_limits_are_shipped():
    data = json.loads(comparison.THRESHOLDS_FILE.read_text())
    for name in BACKENDS:
        for hex_len in ("16", "64"):
            assert data["thresholds"][name][hex_len]["min_detail"] > 0
    from registry.colour import COLOUR_LIMITS
    assert set(data["colour"]) == set(COLOUR_LIMITS)
    assert data["low_detail"]["layout_different"] > 0
    assert "never ../shared/photos" in data["verdicts_calibration"]["about"]


def test_verdicts_benchmark_smoke_run(tmp_path):
    from benchmarks import verdicts
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("parrots.png", "lighthouse.png", "parrots_q40.jpg"):
        (photos / name).write_bytes((EXAMPLES / name).read_bytes())
    out = tmp_path / "out"
    verdicts.main(["--photos", str(photos), "--out", str(out), "--smoke"])
    assert {"results.json", "results.md"} <= {p.name for p in out.iterdir()}
    data = json.loads((out / "results.json").read_text())
    assert data["photos"]["count"] == 3 and data["low_detail"]["images"] == len(verdicts.KINDS)
    for name, r in data["backends"].items():
        assert {"different_low_detail_pairs", "low_detail_copies_called_different", "colour_edits_kept",
                "photo_jpeg50_kept"} <= set(r), name
        assert set(r["colour_edits_kept"]) == set(verdicts.COLOUR_EDITS)
        assert r["cost_ms"]["photos"]["colour_ms"] > 0
    assert set(data["goals"]) == set(data["backends"])
