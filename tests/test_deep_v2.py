"""Deep hash v2: the learned projection is the default, carries its own identity, keeps the prefix property,
and never compares with the v1 hashes that projection="random" still makes bit for bit."""
import numpy as np
import pytest

pytest.importorskip("timm")

import registry  # noqa: E402
from hashers import deep  # noqa: E402


def test_the_default_is_the_learned_projection_with_its_own_identity(examples):
    h = registry.create("timm", hex_len=16).hash(examples / "parrots.png")
    assert h.options["projection"] == "learned-v1" and "centering" not in h.options
    v1 = registry.create("timm", hex_len=16, projection="random").hash(examples / "parrots.png")
    assert "projection" not in v1.options  # exactly the v1 identity, so stored v1 hashes still compare
    with pytest.raises(ValueError, match="different options"):
        h - v1


def test_the_spec_names_the_projection_auto_chose():
    spec = registry.create("timm").spec
    assert spec["projection"] == "learned-v1" and registry.create(**spec).identity == registry.create("timm").identity


def test_learned_bits_keep_the_prefix_property(examples):
    full = str(registry.create("timm", hex_len=256).hash(examples / "lighthouse.png"))
    for n in (1, 5, 16, 64, 200):
        assert full.startswith(str(registry.create("timm", hex_len=n).hash(examples / "lighthouse.png")))


def test_learned_bits_split_photos_about_evenly(examples):
    hashes = registry.create("timm", hex_len=64).hash_many(sorted(examples.glob("*.*g")))
    assert 0.4 < np.mean([h.bits.mean() for h in hashes]) < 0.6


def test_a_grayscale_copy_is_closer_than_a_different_photo(examples):
    from PIL import ImageOps
    hasher = registry.create("timm", hex_len=16)
    img = registry.load_image(examples / "parrots.png")
    gray = ImageOps.grayscale(img).convert("RGB")
    base = hasher.hash(img)
    assert base - hasher.hash(gray) < base - hasher.hash(examples / "lighthouse.png")


def test_the_learned_projection_refuses_to_run_without_its_shipped_file(monkeypatch, tmp_path):
    monkeypatch.setattr(deep, "MEANS_DIR", tmp_path)
    with pytest.raises(registry.HasherError, match="installation is incomplete"):
        registry.create("timm")


def test_asking_for_a_learned_projection_a_model_does_not_have_is_a_clear_error():
    with pytest.raises(ValueError, match="no fitted parameters"):
        registry.create("timm", model="test_efficientnet", pretrained=False, projection="learned-v1")
    assert registry.create("timm", model="test_efficientnet", pretrained=False).identity["centering"] == "self"
