"""One loader for every backend: many kinds of source in, an upright opaque image or ImageError out."""
import io

import numpy as np
import pytest
from PIL import Image

import registry
from registry import ImageError
from tests.images import bomb_png, encode


@pytest.fixture(scope="module")
def parrots_bytes(examples):
    return (examples / "parrots.png").read_bytes()


def test_every_kind_of_source_gives_the_same_hash(examples, parrots_bytes):
    hasher = registry.create("phash")
    path = examples / "parrots.png"
    img = Image.open(path)
    expected = hasher.hash(str(path))
    assert hasher.hash(path) == expected
    assert hasher.hash(parrots_bytes) == expected
    assert hasher.hash(bytearray(parrots_bytes)) == expected
    assert hasher.hash(io.BytesIO(parrots_bytes)) == expected
    with open(path, "rb") as fh:
        assert hasher.hash(fh) == expected
    assert hasher.hash(img) == expected
    assert hasher.hash(np.asarray(img.convert("RGB"))) == expected
    gray = img.convert("L")
    assert hasher.hash(np.asarray(gray)) == hasher.hash(gray)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_so_all_eight_hash_like_the_upright_photo(examples, orientation):
    upright = Image.open(examples / "parrots.png").convert("RGB")
    # What a camera stores for each orientation: the pixels rotated so that applying the tag restores them.
    stored = {1: upright, 2: upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
              3: upright.transpose(Image.Transpose.ROTATE_180),
              4: upright.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
              5: upright.transpose(Image.Transpose.TRANSPOSE),
              6: upright.transpose(Image.Transpose.ROTATE_90),
              7: upright.transpose(Image.Transpose.TRANSVERSE),
              8: upright.transpose(Image.Transpose.ROTATE_270)}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    stored.save(buf, "PNG", exif=exif)
    for backend in ("ahash", "phash", "dhash"):
        hasher = registry.create(backend, hex_len=16)
        assert hasher.hash(buf.getvalue()) == hasher.hash(upright), backend


def test_transparent_pixels_hash_as_white_whatever_colour_they_hide():
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[16:48, 16:48] = (200, 30, 30, 255)           # an opaque red square
    hidden_a, hidden_b = rgba.copy(), rgba.copy()
    hidden_a[:16, :, :3] = 0                           # transparent, black underneath
    hidden_b[:16, :, :3] = (0, 255, 0)                 # transparent, green underneath
    on_white = rgba.copy()
    on_white[rgba[..., 3] == 0] = (255, 255, 255, 255)
    hasher = registry.create("ahash", hex_len=16)
    assert hasher.hash(hidden_a) == hasher.hash(hidden_b) == hasher.hash(on_white[..., :3])


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F"])
def test_every_common_mode_loads_as_8_bit_l_or_rgb(examples, mode):
    img = Image.open(examples / "parrots.png").convert("RGB")
    if mode in ("I;16", "I"):
        converted = Image.fromarray((np.asarray(img.convert("L"), np.uint16) * 257).astype(
            np.uint16 if mode == "I;16" else np.int32))
    elif mode == "F":
        converted = Image.fromarray(np.asarray(img.convert("L"), np.float32) / 255.0)
    else:
        converted = img.convert(mode)
    loaded = registry.load_image(converted)
    assert loaded.mode in ("L", "RGB") and loaded.size == img.size
    if mode in ("I;16", "I", "F"):  # high bit depth is scaled, not clipped
        assert np.abs(np.asarray(loaded, int) - np.asarray(img.convert("L"), int)).max() <= 1


def _truncated(fmt: str, examples) -> bytes:
    data = encode(Image.open(examples / "parrots.png").convert("RGB"), fmt)
    return data[: len(data) // 2]


@pytest.mark.parametrize("make, message", [
    (lambda ex, tmp: tmp / "missing.png", "not found"),
    (lambda ex, tmp: tmp, "not a file"),
    (lambda ex, tmp: b"", "empty"),
    (lambda ex, tmp: b"hello, I am text, not a picture", "not an image"),
    (lambda ex, tmp: _truncated("JPEG", ex), "truncated|corrupt"),
    (lambda ex, tmp: _truncated("PNG", ex), "truncated|corrupt"),
    (lambda ex, tmp: _truncated("WEBP", ex), "truncated|corrupt"),
    (lambda ex, tmp: bomb_png(), "over the limit"),
    (lambda ex, tmp: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not an image"),
    (lambda ex, tmp: np.zeros((4, 4), np.float64), "uint8"),
    (lambda ex, tmp: np.zeros((4, 4, 2), np.uint8), "shape"),
    (lambda ex, tmp: np.zeros((0, 4), np.uint8), "no pixels"),
    (lambda ex, tmp: io.StringIO("text"), "text mode"),
    (lambda ex, tmp: 12345, "cannot hash a int"),
], ids=["missing", "directory", "zero-bytes", "text", "truncated-jpeg", "truncated-png",
        "truncated-webp", "bomb", "eps", "float-array", "two-channels", "empty-array",
        "text-file-object", "wrong-type"])
def test_bad_input_raises_image_error_with_a_readable_message(examples, tmp_path, make, message):
    src = make(examples, tmp_path)
    for backend in ("ahash", "phash", "dhash"):
        with pytest.raises(ImageError, match=message) as info:
            registry.create(backend).hash(src)
        assert isinstance(info.value, ValueError)
        assert "Traceback" not in str(info.value)


def test_decompression_bomb_is_refused_before_decoding(monkeypatch):
    import registry.loading as loading
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self) or None)
    with pytest.raises(ImageError, match="over the limit"):
        loading.load_image(bomb_png())
    assert decoded == []


def test_animated_gif_hashes_its_first_frame():
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 255, 255), (0, 0, 0))]
    frames[0].paste((0, 0, 0), (0, 0, 16, 32))
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    hasher = registry.create("ahash", hex_len=16)
    assert hasher.hash(buf.getvalue()) == hasher.hash(frames[0])
