"""One stream of results: iter_hashes yields HashResults lazily and in order; spec re-creates a hasher;
every engine gives the same records."""
import dataclasses
import json

import pytest

import registry
from registry import HashResult, engines
from tests.images import encode
from PIL import Image


def sources_with_a_bad_one(examples, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    return [examples / "parrots.png", bad, examples / "lighthouse.png", examples / "parrots_q40.jpg"]


def test_records_come_in_input_order_with_the_error_in_place_of_the_hash(examples, tmp_path):
    srcs = sources_with_a_bad_one(examples, tmp_path)
    hasher = registry.create("phash")
    records = list(hasher.iter_hashes(srcs, batch_size=2))
    assert [r.index for r in records] == [0, 1, 2, 3]
    assert [r.source for r in records] == srcs
    assert [r.ok for r in records] == [True, False, True, True]
    assert isinstance(records[1].error, registry.ImageError) and records[1].hash is None
    assert [r.hash for r in records if r.ok] == [hasher.hash(s) for s in srcs if s.name != "bad.png"]


def test_a_record_is_a_small_frozen_value(examples):
    record = next(registry.create("dhash").iter_hashes([examples / "parrots.png"]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.hash = None
    assert record.unwrap() == record.hash
    with pytest.raises(ValueError):
        HashResult(0, "x")  # neither a hash nor an error
    assert HashResult.from_dict(json.loads(json.dumps(record.to_dict())), record.source) == record


def test_the_stream_is_lazy_so_results_can_be_written_while_hashing_goes_on(examples):
    pulled = []

    def endless():
        while True:
            pulled.append(1)
            yield examples / "parrots.png"

    stream = registry.create("ahash").iter_hashes(endless(), batch_size=4)
    first = next(stream)
    assert first.ok and first.index == 0 and len(pulled) == 4  # one batch read, not the whole input


def test_a_hasher_failing_on_one_image_fails_only_that_record(examples):
    class Picky(registry.Hasher):
        name = "picky"

        def compute(self, image):
            if image.width == 1:
                raise RuntimeError("too thin")
            return [True, False, True, False] * self.hex_len

    thin = encode(Image.new("RGB", (1, 8)), "PNG")
    records = list(Picky(hex_len=4).iter_hashes([examples / "parrots.png", thin, examples / "lighthouse.png"]))
    assert [r.ok for r in records] == [True, False, True]
    assert isinstance(records[1].error, registry.HasherError) and "too thin" in str(records[1].error)


def test_hash_many_is_the_stream_as_a_list(examples, tmp_path):
    srcs = sources_with_a_bad_one(examples, tmp_path)
    hasher = registry.create("phash", hex_len=9)
    listed = hasher.hash_many(srcs, errors="return")
    streamed = list(hasher.iter_hashes(srcs))
    assert len(listed) == len(streamed) == len(srcs)
    for item, record in zip(listed, streamed):
        if record.ok:
            assert item == record.hash
        else:
            assert type(item) is type(record.error) and str(item) == str(record.error)
    with pytest.raises(registry.ImageError, match="bad.png"):
        hasher.hash_many(srcs)


@pytest.mark.parametrize("name, options", [
    ("ahash", {}), ("phash", {"highfreq_factor": 2, "fast": True}), ("dhash", {"resample": "bilinear"}),
    ("timm", {}), ("timm", {"views": 1, "seed": 3}),
    ("timm", {"model": "test_vit", "pretrained": False, "seed": 1}),
])
def test_create_of_spec_reproduces_identity_and_bits(name, options, examples):
    if name == "timm":
        pytest.importorskip("timm")
    hasher = registry.create(name, hex_len=16, **options)
    spec = hasher.spec
    assert json.loads(json.dumps(spec)) == spec  # JSON-ready
    again = registry.create(**spec)
    assert again.identity == hasher.identity and again.hex_len == hasher.hex_len
    assert again.hash(examples / "parrots.png") == hasher.hash(examples / "parrots.png")


def test_the_spec_of_a_weights_file_given_as_a_path_is_plain_text(tmp_path, examples):
    timm = pytest.importorskip("timm")
    import torch
    weights = tmp_path / "test_vit.pth"
    torch.save(timm.create_model("test_vit", pretrained=False).state_dict(), weights)
    hasher = registry.create("timm", model="test_vit", weights=weights)
    assert hasher.spec["weights"] == str(weights)
    assert registry.create(**hasher.spec).hash(examples / "parrots.png") == hasher.hash(examples / "parrots.png")


def test_every_engine_gives_the_same_records(examples, tmp_path):
    srcs = sources_with_a_bad_one(examples, tmp_path) * 3
    spec = registry.create("dhash", hex_len=9).spec
    local = list(engines.run_local(spec, srcs))
    pooled = list(engines.run_process_pool(spec, srcs, workers=2, chunk_size=2))
    assert [r.index for r in pooled] == list(range(len(srcs)))
    assert [r.hash for r in pooled] == [r.hash for r in local]
    assert [str(r.error) if r.error else None for r in pooled] == \
        [str(r.error) if r.error else None for r in local]
    assert [type(r.error) for r in pooled] == [type(r.error) for r in local]


def _one_item_short(spec, start, chunk):
    """A pool task that loses the last source of its chunk."""
    return [start + k for k in range(len(chunk))][:-1]


def _one_item_each(spec, start, chunk):
    return [start + k for k in range(len(chunk))]


def test_a_pool_task_that_loses_a_source_is_an_error_never_a_shifted_stream():
    spec = registry.create("dhash").spec
    assert list(engines.pool_map(_one_item_each, spec, list("abcde"), workers=2)) == list(zip("abcde", range(5)))
    with pytest.raises(ValueError):
        list(engines.pool_map(_one_item_short, spec, list("abcde"), workers=2))


def test_a_hasher_that_prefetches_gives_the_same_stream_and_reads_at_most_one_batch_ahead(examples, tmp_path):
    class Prefetching(type(registry.create("phash"))):
        prefetch = 1

    srcs = sources_with_a_bad_one(examples, tmp_path) * 3
    plain, ahead = registry.create("phash"), Prefetching(hex_len=16)
    assert [(r.index, r.hash, str(r.error)) for r in ahead.iter_hashes(srcs, batch_size=2)] == \
        [(r.index, r.hash, str(r.error)) for r in plain.iter_hashes(srcs, batch_size=2)]
    pulled = []

    def counted():
        for s in srcs:
            pulled.append(s)
            yield s

    first = next(ahead.iter_hashes(counted(), batch_size=2))
    assert first.index == 0 and len(pulled) <= 4
