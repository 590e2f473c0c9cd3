"""Bulk hashing: one decode for several hashes, a fast mode, and hash_many over processes."""

import pytest
from PIL import Image

import registry


@pytest.fixture(scope="module")
def large_jpeg(tmp_path_factory, examples):
    """A 12-megapixel JPEG, the size of a phone photo."""
    img = Image.open(examples / "parrots.png").convert("RGB").resize((4032, 3024), Image.Resampling.BICUBIC)
    path = tmp_path_factory.mktemp("large") / "large.jpg"
    img.save(path, quality=90)
    return path


def test_hash_all_equals_each_hasher_alone(examples):
    hashers = [registry.create(b, hex_len=n) for b, n in (("ahash", 16), ("phash", 64), ("dhash", 9))]
    for path in (examples / "parrots.png", examples / "parrots_q40.jpg"):
        together = registry.hash_all(path, hashers)
        assert together == {h.name: h.hash(path) for h in hashers}


def test_fast_mode_decodes_a_reduced_jpeg_and_stays_within_two_bits(large_jpeg):
    decoded = []
    exact, fast = registry.create("phash"), registry.create("phash", fast=True)
    original_decode = fast.decode  # hash() decodes through decode(), then prepare()s the result
    fast.decode = lambda src: decoded.append(original_decode(src)) or decoded[-1]
    h_fast = fast.hash(large_jpeg)
    assert max(decoded[0].size) <= 4032 // 2  # a draft, not the full 12 Mpx
    assert h_fast - exact.hash(large_jpeg) <= 2   # and comparable with the exact hash


def test_fast_mode_changes_nothing_for_small_or_non_jpeg_images(examples):
    for path in (examples / "parrots.png", examples / "parrots_q40.jpg"):
        assert registry.create("dhash", fast=True).hash(path) == registry.create("dhash").hash(path)


def test_hash_many_over_processes_equals_one_process(examples, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    files = [examples / n for n in ("parrots.png", "lighthouse.png", "parrots_q40.jpg")] * 12 + [bad]
    hasher = registry.create("ahash", hex_len=16)
    parallel = hasher.hash_many(files, workers=2, batch_size=8, errors="return")
    serial = hasher.hash_many(files, errors="return")
    assert parallel[:-1] == serial[:-1]
    assert isinstance(parallel[-1], registry.ImageError) and str(parallel[-1]) == str(serial[-1])
