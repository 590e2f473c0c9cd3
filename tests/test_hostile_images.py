"""Odd and hostile images: every backend hashes each one or raises ImageError; none hangs or blows up."""
import io
import resource

import numpy as np
import pytest
from PIL import Image

import registry
from registry import ImageError
from tests.images import bomb_png, encode

BACKENDS = ["ahash", "phash", "dhash", "timm"]


def photo() -> Image.Image:
    from registry.testing import sample_image
    return sample_image(7, (96, 64))


def animated(fmt: str) -> bytes:
    frames = [photo(), Image.new("RGB", (96, 64), (0, 0, 0))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


HASHABLE = {
    "1x1": lambda: encode(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"),
    "16-bit gray PNG": lambda: encode(Image.fromarray((np.arange(64 * 96, dtype=np.uint16) * 10).reshape(64, 96)), "PNG"),
    "1-bit PNG": lambda: encode(photo().convert("1"), "PNG"),
    "CMYK JPEG": lambda: encode(photo().convert("CMYK"), "JPEG"),
    "palette with transparency": lambda: encode(photo().convert("P"), "PNG", transparency=0),
    "LA PNG": lambda: encode(photo().convert("LA"), "PNG"),
    "RGBA PNG": lambda: encode(photo().convert("RGBA"), "PNG"),
    "animated GIF": lambda: animated("GIF"),
    "animated WebP": lambda: animated("WEBP"),
    "1 x 5000": lambda: encode(Image.new("RGB", (1, 5000), (30, 90, 200)), "PNG"),
    "5000 x 1": lambda: encode(Image.new("L", (5000, 1), 128), "PNG"),
    "grayscale JPEG": lambda: encode(photo().convert("L"), "JPEG"),
    "TIFF": lambda: encode(photo(), "TIFF"),
    "BMP": lambda: encode(photo(), "BMP"),
}

REFUSED = {
    "zero bytes": (lambda: b"", "empty"),
    "text": (lambda: b"GIF89a? no, just text", "not an image|corrupt|truncated"),
    "truncated JPEG": (lambda: encode(photo(), "JPEG")[:300], "truncated|corrupt"),
    "truncated PNG": (lambda: encode(photo(), "PNG")[:300], "truncated|corrupt"),
    "truncated WebP": (lambda: encode(photo(), "WEBP")[:100], "truncated|corrupt|not an image"),
    "100000 x 100000 PNG bomb": (lambda: bomb_png(), "over the limit"),
    "EPS (would run Ghostscript)": (lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
                                    "not an image"),
}


@pytest.fixture(scope="module", params=BACKENDS)
def hasher(request):
    if request.param == "timm":
        pytest.importorskip("timm")
    return registry.create(request.param, hex_len=16)


@pytest.mark.parametrize("case", list(HASHABLE))
def test_odd_but_valid_images_are_hashed(hasher, case):
    h = hasher.hash(HASHABLE[case]())
    assert h.hex_len == 16


@pytest.mark.parametrize("case", list(REFUSED))
def test_hostile_inputs_raise_image_error(hasher, case):
    make, message = REFUSED[case]
    with pytest.raises(ImageError, match=message):
        hasher.hash(make())


def test_the_first_frame_of_an_animation_is_hashed():
    hasher = registry.create("phash")
    assert hasher.hash(animated("GIF")) == hasher.hash(encode(photo(), "GIF"))
    assert hasher.hash(animated("WEBP")) == hasher.hash(Image.open(io.BytesIO(animated("WEBP"))).convert("RGB"))


def test_an_extreme_strip_does_not_blow_up_the_deep_hasher(monkeypatch):
    pytest.importorskip("timm")
    hasher = registry.create("timm")
    seen = []
    transform = hasher.transform  # the preprocessing every view goes through, whichever engine runs
    monkeypatch.setattr(hasher, "transform", lambda im: seen.append(im.size) or transform(im))
    hasher.hash(Image.new("RGB", (1, 2_000), (10, 200, 10)))  # small enough to survive a missing guard
    assert seen and all(max(w, h) <= 4 * min(w, h) for w, h in seen), seen
    # ru_maxrss is the process's peak so far: it can only show growth beyond earlier tests' peaks.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hasher.hash(Image.new("RGB", (1, 60_000), (10, 200, 10)))
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 500  # unbounded, the resize alone would need ~45 GB
