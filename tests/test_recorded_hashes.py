"""Hashes recorded on commit 7b54a9b, before round 2 reorganised the core, still come out bit for bit:
through hash_many with one worker and with two, for every built-in backend."""
import json

import pytest

import registry
from tests.conftest import ROOT, SHARED_PHOTOS

RECORD = json.loads((ROOT / "tests" / "data" / "hashes_7b54a9b.json").read_text())
CLASSICAL = ["ahash-16", "phash-16", "dhash-16", "phash-9", "dhash-61"]


def recorded(case: str, photos: list[str]) -> list[str]:
    index = {p: i for i, p in enumerate(RECORD["photos"])}
    return [RECORD["hashes"][case]["hex"][index[p]] for p in photos]


def create(case: str, **options):
    name, hex_len = case.rsplit("-", 1)
    if name == "timm":  # the v1 deep hash, which round 2 keeps bit for bit as projection="random"
        options.setdefault("projection", "random")
    return registry.create(name, hex_len=int(hex_len), **options)


@pytest.fixture(scope="module")
def photos():
    if not SHARED_PHOTOS.is_dir():
        pytest.skip("../shared/photos is not beside this checkout")
    return RECORD["photos"]


@pytest.mark.parametrize("case", CLASSICAL)
def test_classical_hashes_of_every_shared_photo_are_unchanged_with_one_worker(case, photos):
    hashes = create(case).hash_many([SHARED_PHOTOS / p for p in photos])
    assert [str(h) for h in hashes] == recorded(case, photos)
    assert hashes[0].options == RECORD["hashes"][case]["options"]


@pytest.mark.parametrize("case", ["ahash-16", "phash-16", "dhash-16"])
def test_classical_hashes_are_unchanged_with_two_workers(case, photos):
    hashes = create(case).hash_many([SHARED_PHOTOS / p for p in photos], workers=2)
    assert [str(h) for h in hashes] == recorded(case, photos)


def test_deep_hashes_are_unchanged_with_one_worker_and_with_two(photos):
    pytest.importorskip("timm")
    # Every 16th photo: a spread of Kodak, GCompris and PyPI photos, small enough for the suite's time.
    some = photos[::16]
    for case in ("timm-16", "timm-64"):
        hasher = create(case, engine="torch")  # the engine v1 ran; the ONNX engine: test_deep_engines
        assert [str(h) for h in hasher.hash_many([SHARED_PHOTOS / p for p in some])] == recorded(case, some)
        assert hasher.identity == RECORD["hashes"][case]["options"]
    # batch_size=4 so that the pool engine runs (it does for more sources than one batch).
    pooled = create("timm-64").hash_many([SHARED_PHOTOS / p for p in some[:8]], workers=2, batch_size=4)
    assert [str(h) for h in pooled] == recorded("timm-64", some[:8])
