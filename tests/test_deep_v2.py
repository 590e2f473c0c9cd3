"""Deep hash v2 (projection="learned-v1" or "learned-v2", opt-in): each carries its own identity, keeps the
prefix property, and never compares with v1 hashes, which projection="auto" (the default) still makes bit
for bit."""
import numpy as np
import pytest

pytest.importorskip("timm")

import registry  # noqa: E402
from hashers import deep  # noqa: E402
from hashers.deep_recipe import CANONICAL_SIDE  # noqa: E402


V2 = {"projection": "learned-v1"}
LEARNED = pytest.mark.parametrize("projection", ["learned-v1", "learned-v2"])


@LEARNED
def test_the_learned_projection_has_its_own_identity_and_the_default_stays_v1(examples, projection):
    h = registry.create("timm", hex_len=16, projection=projection).hash(examples / "parrots.png")
    assert h.options["projection"] == projection and "centering" not in h.options
    v1 = registry.create("timm", hex_len=16).hash(examples / "parrots.png")
    assert v1 == registry.create("timm", hex_len=16, projection="random").hash(examples / "parrots.png")
    assert "projection" not in v1.options  # exactly the v1 identity, so stored v1 hashes still compare
    with pytest.raises(ValueError, match="different options"):
        h - v1


def test_the_spec_names_the_projection_auto_chose():
    spec = registry.create("timm").spec
    assert spec["projection"] == "random" and registry.create(**spec).identity == registry.create("timm").identity
    assert registry.create(**registry.create("timm", **V2).spec).identity["projection"] == "learned-v1"


@LEARNED
def test_learned_bits_keep_the_prefix_property(examples, projection):
    full = str(registry.create("timm", hex_len=256, projection=projection).hash(examples / "lighthouse.png"))
    for n in (1, 5, 16, 64, 200):
        short = registry.create("timm", hex_len=n, projection=projection).hash(examples / "lighthouse.png")
        assert full.startswith(str(short))


@LEARNED
def test_learned_bits_split_photos_about_evenly(examples, projection):
    hashes = registry.create("timm", hex_len=64, projection=projection).hash_many(sorted(examples.glob("*.*g")))
    assert 0.4 < np.mean([h.bits.mean() for h in hashes]) < 0.6


def test_the_two_learned_projections_never_compare(examples):
    v1, v2 = (registry.create("timm", hex_len=16, projection=p).hash(examples / "parrots.png")
              for p in ("learned-v1", "learned-v2"))
    with pytest.raises(ValueError, match="different options"):
        v1 - v2


def test_learned_v2_embeds_the_canonical_twin_which_a_grayscale_copy_barely_moves(examples):
    from PIL import ImageOps
    hasher = registry.create("timm", hex_len=16, projection="learned-v2")
    img = registry.load_image(examples / "parrots.png")
    views = hasher._views(img)
    assert len(views) == 4 and views[2].mode == "RGB" and min(views[2].size) == CANONICAL_SIDE
    emb = hasher.embed([img, ImageOps.grayscale(img).convert("RGB"), registry.load_image(examples / "lighthouse.png")])
    half = emb.shape[1] // 2
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert cos(emb[0, half:], emb[1, half:]) > 0.999      # the twin of a grayscale copy is the same twin
    assert cos(emb[0, :half], emb[1, :half]) < cos(emb[0, half:], emb[1, half:])
    assert cos(emb[0, half:], emb[2, half:]) < 0.9         # and a different photo's twin is not


def test_the_onnx_and_torch_engines_agree_on_learned_v2(examples):
    paths = sorted(examples.glob("*.*g"))
    onnx = registry.create("timm", hex_len=64, projection="learned-v2", engine="onnx").hash_many(paths)
    torch = registry.create("timm", hex_len=64, projection="learned-v2", engine="torch").hash_many(paths)
    assert np.mean([(a.bits == b.bits).mean() for a, b in zip(onnx, torch)]) >= 0.99


@LEARNED
def test_a_grayscale_copy_is_closer_than_a_different_photo(examples, projection):
    from PIL import ImageOps
    hasher = registry.create("timm", hex_len=16, projection=projection)
    img = registry.load_image(examples / "parrots.png")
    gray = ImageOps.grayscale(img).convert("RGB")
    base = hasher.hash(img)
    assert base - hasher.hash(gray) < base - hasher.hash(examples / "lighthouse.png")


@LEARNED
def test_the_learned_projection_refuses_to_run_without_its_shipped_file(monkeypatch, tmp_path, projection):
    from hashers import deep_recipe
    monkeypatch.setattr(deep_recipe, "MEANS_DIR", tmp_path)
    with pytest.raises(registry.HasherError, match="installation is incomplete"):
        registry.create("timm", projection=projection)


def test_asking_for_a_learned_projection_a_model_does_not_have_is_a_clear_error():
    with pytest.raises(ValueError, match="no fitted parameters"):
        registry.create("timm", model="test_efficientnet", pretrained=False, projection="learned-v1")
    assert registry.create("timm", model="test_efficientnet", pretrained=False).identity["centering"] == "self"


@LEARNED
def test_compare_and_dedup_judge_a_learned_projection_by_its_own_threshold(examples, tmp_path, projection):
    import json

    from registry import comparison
    from registry.dedup import dedup
    table = json.loads(comparison.THRESHOLDS_FILE.read_text())["thresholds"]
    own = table[f"timm/{projection}"]["16"]
    c = registry.compare(examples / "parrots.png", examples / "lighthouse.png", backend="timm", hex_len=16,
                         projection=projection)
    assert round(c.threshold * 64) == own["max_bits"]
    turned = registry.compare(examples / "parrots.png", examples / "parrots_mirror.png", backend="timm",
                              hex_len=16, projection=projection, dihedral=True)
    # a turned orientation must come within the dihedral threshold less the turn penalty
    assert turned.orientation == "mirror"
    assert round(turned.threshold * 64) == own["max_bits_dihedral"] - own["turn_penalty_bits"]
    result = dedup([examples / "parrots.png", examples / "lighthouse.png"],
                   registry.create("timm", hex_len=16, projection=projection))
    assert result.radius == own["max_bits"]
