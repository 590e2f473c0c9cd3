"""Deep hash v2 (projection="learned-v1", opt-in): carries its own identity, keeps the prefix property,
and never compares with v1 hashes, which projection="auto" (the default) still makes bit for bit."""
import numpy as np
import pytest

pytest.importorskip("timm")

import registry  # noqa: E402
from hashers import deep  # noqa: E402


V2 = {"projection": "learned-v1"}


def test_the_learned_projection_has_its_own_identity_and_the_default_stays_v1(examples):
    h = registry.create("timm", hex_len=16, **V2).hash(examples / "parrots.png")
    assert h.options["projection"] == "learned-v1" and "centering" not in h.options
    v1 = registry.create("timm", hex_len=16).hash(examples / "parrots.png")
    assert v1 == registry.create("timm", hex_len=16, projection="random").hash(examples / "parrots.png")
    assert "projection" not in v1.options  # exactly the v1 identity, so stored v1 hashes still compare
    with pytest.raises(ValueError, match="different options"):
        h - v1


def test_the_spec_names_the_projection_auto_chose():
    spec = registry.create("timm").spec
    assert spec["projection"] == "random" and registry.create(**spec).identity == registry.create("timm").identity
    assert registry.create(**registry.create("timm", **V2).spec).identity["projection"] == "learned-v1"


def test_learned_bits_keep_the_prefix_property(examples):
    full = str(registry.create("timm", hex_len=256, **V2).hash(examples / "lighthouse.png"))
    for n in (1, 5, 16, 64, 200):
        assert full.startswith(str(registry.create("timm", hex_len=n, **V2).hash(examples / "lighthouse.png")))


def test_learned_bits_split_photos_about_evenly(examples):
    hashes = registry.create("timm", hex_len=64, **V2).hash_many(sorted(examples.glob("*.*g")))
    assert 0.4 < np.mean([h.bits.mean() for h in hashes]) < 0.6


def test_a_grayscale_copy_is_closer_than_a_different_photo(examples):
    from PIL import ImageOps
    hasher = registry.create("timm", hex_len=16, **V2)
    img = registry.load_image(examples / "parrots.png")
    gray = ImageOps.grayscale(img).convert("RGB")
    base = hasher.hash(img)
    assert base - hasher.hash(gray) < base - hasher.hash(examples / "lighthouse.png")


def test_the_learned_projection_refuses_to_run_without_its_shipped_file(monkeypatch, tmp_path):
    from hashers import deep_recipe
    monkeypatch.setattr(deep_recipe, "MEANS_DIR", tmp_path)
    with pytest.raises(registry.HasherError, match="installation is incomplete"):
        registry.create("timm", **V2)


def test_asking_for_a_learned_projection_a_model_does_not_have_is_a_clear_error():
    with pytest.raises(ValueError, match="no fitted parameters"):
        registry.create("timm", model="test_efficientnet", pretrained=False, projection="learned-v1")
    assert registry.create("timm", model="test_efficientnet", pretrained=False).identity["centering"] == "self"
