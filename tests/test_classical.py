"""aHash, pHash and dHash: bit-identical to the imagehash package where sizes match, any length."""
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

import registry
from benchmarks.transforms import TRANSFORMS
from hashers.grid import grid_for

imagehash = pytest.importorskip("imagehash")

REFERENCE = {"ahash": imagehash.average_hash, "phash": imagehash.phash, "dhash": imagehash.dhash}
CLASSICAL = list(REFERENCE)
THREADS = min(4, os.cpu_count() or 1)


def _open(path):
    img = Image.open(path)
    img.load()
    return img


@pytest.mark.parametrize("backend", CLASSICAL)
@pytest.mark.parametrize("hex_len", [1, 4, 9, 16, 25, 36, 64, 256])
def test_equals_imagehash_on_shipped_examples(examples, backend, hex_len):
    size = math.isqrt(4 * hex_len)
    hasher = registry.create(backend, hex_len=hex_len)
    for path in sorted(examples.glob("*.*g")):
        assert str(hasher.hash(path)) == str(REFERENCE[backend](_open(path), hash_size=size)), path.name


@pytest.fixture(scope="module")
def shared_images(shared_photos):
    """Every shared photo decoded once for all five lengths below (decoding is ~a third of a length's work)."""
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(_open, shared_photos))


@pytest.mark.slow
@pytest.mark.parametrize("hex_len", [4, 9, 16, 36, 64])
def test_equals_imagehash_on_every_shared_photo(shared_photos, shared_images, hex_len):
    size = math.isqrt(4 * hex_len)
    for backend in CLASSICAL:
        hasher = registry.create(backend, hex_len=hex_len)

        def agrees(img, hasher=hasher, reference=REFERENCE[backend]):
            return str(hasher.hash(img)) == str(reference(img, hash_size=size))
        # Each photo is hashed in one thread only; Pillow releases the GIL while converting and resizing.
        # (The loader's warnings.catch_warnings is not thread-safe, but pytest restores the warning
        # filters after every test, and nothing here checks warnings.)
        with ThreadPoolExecutor(THREADS) as pool:
            agreed = list(pool.map(agrees, shared_images))
        mismatched = [p.name for p, ok in zip(shared_photos, agreed) if not ok]
        assert mismatched == [], f"{backend} hex_len={hex_len}"


def test_options_match_imagehash_parameters(examples):
    img = _open(examples / "parrots.png")
    ours = registry.create("phash", hex_len=16, highfreq_factor=2).hash(img)
    assert str(ours) == str(imagehash.phash(img, hash_size=8, highfreq_factor=2))
    bilinear = registry.create("ahash", hex_len=16, resample="bilinear").hash(img)
    expected = np.asarray(img.convert("L").resize((8, 8), Image.Resampling.BILINEAR))
    assert np.array_equal(bilinear.matrix, expected > expected.mean())


@pytest.mark.parametrize("backend", CLASSICAL)
def test_every_hex_length_from_1_to_256_gives_exactly_that_many_digits(examples, backend):
    img = registry.load_image(examples / "parrots.png")
    for hex_len in range(1, 257):
        h = registry.create(backend, hex_len=hex_len).hash(img)
        assert len(str(h)) == hex_len and h.bit_count == 4 * hex_len
        assert set(str(h)) <= set("0123456789abcdef")


def test_non_square_grid_rule():
    for bits in range(4, 1025, 4):
        rows, cols = grid_for(bits)
        assert rows <= cols <= 2 * rows
        assert 0 <= rows * cols - bits < cols  # fewer than one row is ever dropped
        if math.isqrt(bits) ** 2 == bits:
            assert rows == cols == math.isqrt(bits)
    assert grid_for(8) == (2, 4) and grid_for(12) == (3, 4) and grid_for(244) == (13, 19)


@pytest.mark.parametrize("backend", CLASSICAL)
def test_bits_are_roughly_balanced(examples, backend):
    h = registry.create(backend, hex_len=64).hash(examples / "parrots.png")
    assert 0.3 < h.bits.mean() < 0.7


@pytest.mark.parametrize("backend", ["phash", "dhash"])
def test_light_edits_stay_close_and_other_photos_are_far(examples, backend):
    hasher = registry.create(backend, hex_len=16)
    base = registry.load_image(examples / "parrots.png").convert("RGB")
    original = hasher.hash(base)
    for name in ["jpeg50", "scale1/2", "blur1", "bright+25", "one_pixel"]:
        assert original - hasher.hash(TRANSFORMS[name](base)) <= 8, name
    assert original - hasher.hash(examples / "lighthouse.png") > 16


def test_unsupported_hex_length_and_unknown_options_list_what_is_allowed():
    with pytest.raises(ValueError, match="1-256"):
        registry.create("phash", hex_len=0)
    with pytest.raises(ValueError, match="1-256"):
        registry.create("phash", hex_len=257)
    with pytest.raises(ValueError, match="highfreq_factor.*resample|resample"):
        registry.create("phash", colour=True)
    with pytest.raises(ValueError, match="lanczos"):
        registry.create("ahash", resample="cubic-ish")
    with pytest.raises(ValueError, match="available: .*ahash.*dhash.*phash"):
        registry.create("nohash")
