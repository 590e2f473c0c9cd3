"""Fuzzing: mutated real image bytes and random bytes give a hash or an ImageError, nothing else.

Bounded in CI; for a longer run:  FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py
"""
import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import registry
from registry import ImageError

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _seeds() -> dict[str, bytes]:
    from registry.testing import sample_image
    img = sample_image(11, (64, 48))
    out = {}
    for fmt, kw in [("JPEG", {"quality": 80}), ("PNG", {}), ("WEBP", {}), ("GIF", {}), ("BMP", {}),
                    ("TIFF", {})]:
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        out[fmt] = buf.getvalue()
    return out


SEEDS = _seeds()


@st.composite
def mutated_image(draw):
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[pos] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
        elif kind == "cut":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        else:
            del data[pos:]
    return bytes(data)


def only_hash_or_image_error(hasher, data: bytes):
    try:
        h = hasher.hash(data)
    except ImageError as exc:
        assert str(exc)
        return
    assert h.bit_count == hasher.bit_count


@pytest.mark.parametrize("backend", ["ahash", "phash", "dhash"])
def test_mutated_images_through_classical_backends(backend):
    hasher = registry.create(backend, hex_len=16)

    @FUZZ
    @given(mutated_image())
    def run(data):
        only_hash_or_image_error(hasher, data)
    run()


def test_random_bytes_through_the_loader():
    @FUZZ
    @given(st.binary(max_size=2048))
    def run(data):
        try:
            img = registry.load_image(data)
        except ImageError:
            return
        assert isinstance(img, Image.Image) and img.mode in ("L", "RGB")
    run()


def test_mutated_images_through_the_deep_backend():
    pytest.importorskip("timm")
    hasher = registry.create("timm", hex_len=16)

    @settings(FUZZ, max_examples=max(10, EXAMPLES // 10))
    @given(mutated_image())
    def run(data):
        only_hash_or_image_error(hasher, data)
    run()
