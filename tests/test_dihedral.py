"""Rotated and flipped copies: the 8 orientations of an image, and comparisons that find them when asked."""
from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from PIL import Image

import registry
from registry.cli import main
from registry.comparison import similar_threshold
from registry.hasher import DIHEDRAL, orient

CLASSICAL = {"ahash": imagehash.average_hash, "phash": imagehash.phash, "dhash": imagehash.dhash}


def tiny_deep():
    pytest.importorskip("timm")
    return registry.create("timm", model="test_efficientnet", pretrained=False)


def test_the_order_is_the_four_turns_then_the_four_turns_of_the_mirror_image():
    img = Image.fromarray(np.arange(6, dtype=np.uint8).reshape(2, 3))  # [[0 1 2], [3 4 5]]
    turns = [np.asarray(orient(img, name)).tolist() for name in DIHEDRAL]
    assert DIHEDRAL[0] == "identity" and turns[0] == [[0, 1, 2], [3, 4, 5]]
    assert turns[1] == [[2, 5], [1, 4], [0, 3]]            # 90° counter-clockwise
    assert turns[2] == [[5, 4, 3], [2, 1, 0]]
    assert turns[4] == [[2, 1, 0], [5, 4, 3]]              # the mirror image
    mirror = orient(img, "mirror")
    for k in range(4):                                     # then the mirror image turned likewise
        assert turns[4 + k] == np.asarray(orient(mirror, DIHEDRAL[k])).tolist()


@pytest.mark.parametrize("backend", sorted(CLASSICAL))
def test_each_of_the_eight_equals_imagehash_of_that_turned_image(backend, examples):
    img = registry.load_image(examples / "parrots.png")
    eight = registry.create(backend).hash_dihedral(examples / "parrots.png")
    assert len(eight) == 8
    for name, h in zip(DIHEDRAL, eight):
        assert str(h) == str(CLASSICAL[backend](orient(img, name))), name


@pytest.mark.parametrize("backend", ["ahash", "phash", "dhash", "timm"])
def test_turning_the_image_permutes_its_eight_hashes(backend, examples):
    hasher = tiny_deep() if backend == "timm" else registry.create(backend)
    img = registry.load_image(examples / "lighthouse.png")
    eight = hasher.hash_dihedral(img)
    assert eight[0] == hasher.hash(img)
    for k, name in enumerate(DIHEDRAL):
        assert hasher.hash_dihedral(orient(img, name))[0] == eight[k]


@pytest.mark.parametrize("backend", ["ahash", "phash", "dhash", "timm"])
def test_compare_finds_every_orientation_only_when_asked(backend, examples, tmp_path):
    options = {"model": "test_efficientnet", "pretrained": False} if backend == "timm" else {}
    if backend == "timm":
        pytest.importorskip("timm")
    img = registry.load_image(examples / "parrots.png")
    for name in DIHEDRAL[1:]:
        copy = orient(img, name)
        found = registry.compare(img, copy, backend=backend, dihedral=True, **options)
        assert found.to_dict()["orientation"] == found.orientation
        assert found.same_picture
        if backend != "timm":  # (a random-init network may also find the turned copy close as it is)
            assert found.verdict == "similar" and not found.fetch_again
            assert found.distance == 0
            assert orient(copy, found.orientation).tobytes() == img.tobytes()  # turning B back gives A
    plain = registry.compare(img, img, backend=backend, **options)
    assert plain.orientation is None and "orientation" not in plain.to_dict()
    same = registry.compare(img, img, backend=backend, dihedral=True, **options)
    assert same.verdict == "identical" and same.orientation == "identity"


def test_another_photo_stays_different_with_the_option(examples):
    result = registry.compare(examples / "parrots.png", examples / "lighthouse.png", dihedral=True)
    assert result.verdict == "different" and result.fetch_again


def test_the_dihedral_rule_is_calibrated_and_no_looser_than_the_plain_threshold():
    """B as it is keeps at most the plain threshold; a turned B must come closer by the penalty."""
    from registry.comparison import turn_penalty
    for backend in ("ahash", "phash", "dhash", "timm"):
        for hex_len in (16, 64):
            bits = 4 * hex_len
            plain = similar_threshold(backend, hex_len) * bits
            as_it_is = similar_threshold(backend, hex_len, dihedral=True) * bits
            assert as_it_is <= plain + 1e-9
            assert 0 <= turn_penalty(backend, hex_len) <= as_it_is
    assert similar_threshold("phash", 16, dihedral=True) * 64 - turn_penalty("phash", 16) < \
        similar_threshold("phash", 16) * 64


def test_the_cli_option(examples, tmp_path):
    turned = tmp_path / "turned.png"
    registry.load_image(examples / "parrots.png").transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(turned)
    out, err = io.StringIO(), io.StringIO()
    assert main(["compare", str(examples / "parrots.png"), str(turned)], out, err) == 1
    out = io.StringIO()
    assert main(["compare", "--dihedral", str(examples / "parrots.png"), str(turned)], out, err) == 0
    assert "orientation: flip" in out.getvalue()
