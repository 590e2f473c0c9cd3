"""HashIndex: every pair within a radius, searches and k-nearest, exactly as brute force says, by
every method, with or without faiss (and with numpy's popcount or without it); one identity per
index; the default radius is compare's; saved atomically, and a damaged file is refused in words."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import registry
from registry import hamming
from registry import index as index_module
from registry.comparison import compare_hashes, similar_threshold
from registry.index import HashIndex, HashIndexError, default_radius, plan
from registry.value import ImageHash, pack_bits, pack_hashes

HAS_FAISS = index_module.faiss_available()
needs_faiss = pytest.mark.skipif(not HAS_FAISS, reason="faiss-cpu is not installed (the 'index' extra)")
METHODS = ["numpy-mih", "numpy-brute", pytest.param("faiss-flat", marks=needs_faiss),
           pytest.param("faiss-multihash", marks=needs_faiss)]


def planted_bits(n: int, bits: int, near: int, max_flips: int, seed: int = 0) -> np.ndarray:
    """n random codes (as bits) plus ``near`` copies of the first ones with 0..max_flips bits flipped."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2, (n, bits)).astype(bool)
    copies = base[:near].copy()
    for k in range(near):
        copies[k, rng.choice(bits, k % (max_flips + 1), replace=False)] ^= True
    return np.concatenate([base, copies])


def brute_pairs(bits: np.ndarray, radius: int):
    """The definition: every i < j whose bits differ in at most ``radius`` places."""
    b = bits.astype(np.int32)
    d = b @ (1 - b).T + (1 - b) @ b.T            # places where one has a 1 and the other a 0
    i, j = np.nonzero(np.triu(d <= radius, 1))
    return i.tolist(), j.tolist(), d[i, j].tolist()


def as_lists(result):
    return tuple(np.asarray(x).tolist() for x in result)


# --- packing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("nbits", [4, 36, 60, 64, 256])
def test_packed_rows_are_the_hashes_bytes_and_keep_their_distances(nbits):
    rng = np.random.default_rng(nbits)
    hashes = [ImageHash(rng.random(nbits) > 0.5, "dhash") for _ in range(6)]
    packed = pack_hashes(hashes)
    assert packed.dtype == np.uint8 and packed.shape == (6, -(-nbits // 8))
    assert [row.tobytes() for row in packed] == [bytes(h) for h in hashes]
    assert all(np.array_equal(h.packed, row) for h, row in zip(hashes, packed))
    rows = np.unpackbits(packed, axis=1)
    for a in range(6):
        for b in range(6):
            assert int((rows[a] != rows[b]).sum()) == hashes[a] - hashes[b]
    index = HashIndex(nbits)
    index.add(hashes)
    assert index.distances(hashes[0]).tolist() == [hashes[0] - h for h in hashes]


def test_packing_refuses_a_mix_of_identities_as_imagehash_does():
    a = ImageHash(np.ones(64, bool), "phash")
    for other in (ImageHash(np.ones(64, bool), "dhash"), ImageHash(np.ones(64, bool), "phash", {"x": 1}),
                  ImageHash(np.ones(32, bool), "phash")):
        with pytest.raises(ValueError) as from_sub:
            a - other
        with pytest.raises(ValueError) as from_pack:
            pack_hashes([a, a, other])
        assert str(from_pack.value) == str(from_sub.value)


# --- pairs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("nbits,radius", [(64, 8), (64, 3), (36, 5), (256, 40), (64, 0), (8, 2)])
def test_pairs_are_exactly_those_brute_force_finds(method, nbits, radius):
    bits = planted_bits(1200, nbits, 150, radius + 2, seed=nbits + radius)
    index = HashIndex(nbits)
    index.add(pack_bits(bits))
    found = index.pairs(radius, method=method)
    expected = brute_pairs(bits, radius)
    assert len(expected[0]) >= 20   # the planted pairs are there to be found
    assert as_lists(found) == expected
    assert index.last_plan.method == method


def test_without_faiss_auto_answers_the_same_and_asking_for_faiss_says_how_to_install_it(monkeypatch):
    bits = planted_bits(3000, 64, 300, 8, seed=3)
    expected = brute_pairs(bits, 8)
    monkeypatch.setitem(sys.modules, "faiss", None)       # as if faiss-cpu were not installed
    assert not index_module.faiss_available()
    index = HashIndex(64)
    index.add(pack_bits(bits))
    assert as_lists(index.pairs(8)) == expected
    assert index.search(pack_bits(bits[:2]), 8)[1][0].tolist() == [1, 3001]   # itself, its planted copy
    assert not index.last_plan.method.startswith("faiss")
    with pytest.raises(registry.MissingDependency, match=r"pip install 'faiss-cpu>=1.8'"):
        index.pairs(8, method="faiss-flat")
    with pytest.raises(registry.MissingDependency, match=r"\[index\]"):
        HashIndex(64, engine="faiss")


@needs_faiss
@pytest.mark.parametrize("engine", ["faiss", "auto"])
def test_the_faiss_engines_answer_as_numpy(engine):
    bits = planted_bits(3000, 64, 300, 8, seed=4)
    with_faiss, numpy_only = HashIndex(64, engine=engine), HashIndex(64, engine="numpy")
    for index in (with_faiss, numpy_only):
        index.add(pack_bits(bits))
    assert as_lists(with_faiss.pairs(8)) == as_lists(numpy_only.pairs(8)) == brute_pairs(bits, 8)
    if engine == "faiss":
        assert with_faiss.last_plan.method.startswith("faiss")


def test_without_bitwise_count_the_lookup_table_counts_the_same(monkeypatch):
    words = np.random.default_rng(5).integers(0, 2**63, 5000, dtype=np.int64).view(np.uint64) * np.uint64(3)
    assert np.array_equal(hamming._popcount_lut(words),
                          [bin(int(w)).count("1") for w in words])
    monkeypatch.setattr(hamming, "_popcount", hamming._popcount_lut)   # numpy < 2
    bits = planted_bits(800, 64, 100, 6, seed=5)
    index = HashIndex(64, engine="numpy")
    index.add(pack_bits(bits))
    for method in ("numpy-mih", "numpy-brute"):
        assert as_lists(index.pairs(6, method=method)) == brute_pairs(bits, 6)


def test_many_identical_hashes_are_paired_in_bounded_steps(monkeypatch):
    """A crowded bucket (the same picture 300 times) still gives every pair, a few at a time."""
    monkeypatch.setattr(hamming, "BLOCK", 500)
    bits = planted_bits(200, 64, 0, 0, seed=6)
    bits = np.concatenate([bits, np.repeat(bits[:1], 300, axis=0)])
    index = HashIndex(64, engine="numpy")
    index.add(pack_bits(bits))
    found = index.pairs(4, method="numpy-mih")
    assert as_lists(found) == brute_pairs(bits, 4)
    assert len(found[0]) >= 301 * 300 // 2


def test_the_plan_for_a_million_64_bit_hashes_at_8_bits_is_multi_index_hashing():
    """What benchmarks/index_scale.py measured fastest: 3 chunks of 21-22 bits, 2 flips each (the
    flip budgets sum to radius - chunks + 1, so no pair within 8 bits can slip through)."""
    chosen = plan(64, 8, 1_000_000, faiss=True)
    assert chosen.method == "numpy-mih"
    assert [w for _, w, _ in chosen.chunks] == [22, 21, 21]
    assert sum(t for _, _, t in chosen.chunks) == 8 - 3 + 1
    assert plan(256, 101, 5000).method == "numpy-brute"          # phash-64's wide radius: chunks useless
    assert plan(256, 101, 5000, faiss=True).method == "faiss-flat"


def test_counting_candidates_on_the_codes_is_exact_when_every_code_is_in_the_sample():
    """The planner's look at the actual codes: per chunk, the pairs whose chunk differs by at most
    its flip budget, which the join will check."""
    bits = np.random.default_rng(9).random((600, 64)) < 0.2      # crowded: few bits set
    chunks = index_module.mih_chunks(64, 0, 8, 3)
    counted = index_module._sampled_candidates(chunks, pack_bits(bits), None)
    for (start, width, flips), count in zip(chunks, counted):
        part = bits[:, start:start + width].astype(np.int32)
        d = part @ (1 - part).T + (1 - part) @ part.T
        assert count == np.triu(d <= flips, 1).sum()


def test_on_crowded_codes_the_plan_counts_their_candidates_instead_of_guessing(monkeypatch):
    monkeypatch.setattr(index_module, "REFINE_ABOVE", 0.0)
    bits = np.random.default_rng(10).random((4000, 64)) < 0.2
    index = HashIndex(64, engine="numpy")
    index.add(pack_bits(bits))
    guessed = plan(64, 8, 4000)
    assert index._plan(8, None, "auto").cost > 3 * guessed.cost
    assert as_lists(index.pairs(8)) == brute_pairs(bits, 8)


# --- search, knn, cross pairs -------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["numpy", pytest.param("faiss", marks=needs_faiss)])
def test_search_and_knn_answer_as_brute_force_with_ties_by_id(engine):
    bits = planted_bits(600, 64, 60, 6, seed=1)
    bits[100] = bits[7]                                  # a tie at distance 0 for query 7
    index = HashIndex(64, engine=engine)
    index.add(pack_bits(bits))
    codes = index.packed()
    d = (bits != bits[7]).sum(1)
    by_distance = sorted((int(x), k) for k, x in enumerate(d))
    ids, dist = index.search(codes[7], 6)
    assert list(zip(dist.tolist(), ids.tolist())) == [p for p in by_distance if p[0] <= 6]
    ids, dist = index.knn(codes[7], 5)
    assert list(zip(dist.tolist(), ids.tolist())) == by_distance[:5] and ids[:2].tolist() == [7, 100]
    batch = index.search(codes[:8], 6)                   # one (ids, distances) per query
    assert len(batch) == 8 and [r[0][0] for r in batch] == list(range(8))
    for q, (ids, dist) in enumerate(batch):
        dq = (bits != bits[q]).sum(1)
        assert ids.tolist() == sorted(np.flatnonzero(dq <= 6).tolist(), key=lambda k: (dq[k], k))
    knn = index.knn(codes[:3], 4)
    assert [r[0][0] for r in knn] == [0, 1, 2] and all(len(r[0]) == 4 for r in knn)


@pytest.mark.parametrize("method", ["numpy-mih", "numpy-brute",
                                    pytest.param("faiss-flat", marks=needs_faiss)])
def test_cross_pairs_are_every_query_and_code_within_the_radius(method):
    bits = planted_bits(1500, 64, 200, 8, seed=2)
    index = HashIndex(64)
    index.add(pack_bits(bits[:1300]))
    queries = bits[1300:]
    q, ids, d = index.cross_pairs(pack_bits(queries), 8, method=method)
    full = (queries[:, None, :] != bits[None, :1300, :]).sum(-1)
    eq, eids = np.nonzero(full <= 8)
    assert (q.tolist(), ids.tolist(), d.tolist()) == (eq.tolist(), eids.tolist(), full[eq, eids].tolist())
    assert len(q) >= 150


# --- identity and the default radius -----------------------------------------------------------
@pytest.mark.parametrize("backend,hex_len", [("phash", 16), ("dhash", 9), ("ahash", 64), ("timm", 16),
                                             ("dhash", 11), ("nobody", 13)])
def test_the_default_radius_is_compares_threshold_to_the_bit(backend, hex_len):
    bits = 4 * hex_len
    radius = default_radius(backend, hex_len)
    base = ImageHash(np.zeros(bits, bool), backend)
    threshold = similar_threshold(backend, hex_len)
    for d in range(bits + 1):
        other = ImageHash(np.arange(bits) < d, backend)
        assert compare_hashes(base, other, threshold).same_picture == (d <= radius)


def test_built_from_hashes_it_takes_compares_threshold_and_refuses_other_identities(examples):
    phash = registry.create("phash")
    hashes = [phash.hash(examples / n) for n in ("parrots.png", "parrots_q40.jpg", "lighthouse.png")]
    index = HashIndex(64)
    index.add(hashes)
    assert (index.backend, index.options) == ("phash", hashes[0].options)
    r = default_radius("phash", 16)
    flip = np.arange(64) < r + 1
    at = ImageHash(hashes[2].bits ^ np.r_[flip[1:], False], "phash", hashes[2].options)
    beyond = ImageHash(hashes[2].bits ^ flip, "phash", hashes[2].options)
    assert compare_hashes(hashes[2], at).same_picture and not compare_hashes(hashes[2], beyond).same_picture
    index.add([at, beyond])
    ids, _ = index.search(hashes[2])              # radius=None: compare's calibrated threshold
    assert 3 in ids and 4 not in ids
    i, j, _ = index.pairs()
    assert (0, 1) in set(zip(i.tolist(), j.tolist()))  # the JPEG copy pairs with its original
    with pytest.raises(ValueError, match="cannot join"):
        index.add([registry.create("dhash").hash(examples / "parrots.png")])
    with pytest.raises(ValueError, match="cannot search"):
        index.search(registry.create("phash", resample="bilinear").hash(examples / "parrots.png"))
    with pytest.raises(ValueError, match="cannot share an index"):
        HashIndex(64).add([hashes[0], registry.create("dhash").hash(examples / "parrots.png")])
    with pytest.raises(ValueError, match="give a radius"):
        HashIndex(64).pairs()


def test_codes_that_are_not_whole_bytes_must_be_padded_at_the_front():
    index = HashIndex(36)
    with pytest.raises(HashIndexError, match="start with 4 zero bits"):
        index.add(np.packbits(np.ones((2, 36), bool), axis=1))        # np.packbits pads at the end
    with pytest.raises(HashIndexError, match="5 bytes"):
        index.add(np.zeros((2, 8), np.uint8))
    index.add(pack_bits(np.ones((2, 36), bool)))
    assert index.pairs(0)[2].tolist() == [0]


def test_a_rotated_copy_is_found_with_the_eight_orientations(examples):
    from PIL import Image
    phash = registry.create("phash")
    img = registry.load_image(examples / "parrots.png")
    index = HashIndex(64)
    index.add([phash.hash(examples / "lighthouse.png"), phash.hash(img)])
    turned = phash.hash_dihedral(img.transpose(Image.Transpose.ROTATE_90))
    assert 1 not in index.search(turned[0])[0]
    ids, dist, orientation = index.search_dihedral(turned)
    assert ids.tolist() == [1] and dist.tolist() == [0] and orientation.tolist() == [3]  # rot270 undoes it


# --- saving --------------------------------------------------------------------------------------
def test_save_and_load_round_trip(tmp_path, examples):
    phash = registry.create("phash", hex_len=9)   # 36 bits: not whole bytes
    index = HashIndex(36)
    index.add([phash.hash(examples / "parrots.png"), phash.hash(examples / "lighthouse.png")])
    path = tmp_path / "photos.idx"
    index.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["photos.idx"]   # no temporary file left
    again = HashIndex.load(path)
    assert (again.bits, again.backend, again.options, len(again)) == (36, "phash", index.options, 2)
    assert np.array_equal(again.packed(), index.packed())
    with pytest.raises(ValueError, match="cannot search"):
        again.search(registry.create("dhash", hex_len=9).hash(examples / "parrots.png"))


def test_a_failed_save_leaves_the_old_file_whole_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "codes.idx"
    old = HashIndex(64)
    old.add(np.arange(16, dtype=np.uint8).reshape(2, 8))
    old.save(path)
    before = path.read_bytes()
    new = HashIndex(64)
    new.add(np.zeros((5, 8), np.uint8))

    def crash(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        new.save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["codes.idx"]


def test_damaged_or_foreign_files_are_refused_in_words(tmp_path):
    index = HashIndex(64)
    index.add(np.zeros((3, 8), np.uint8))
    path = tmp_path / "photos.idx"
    index.save(path)
    data = path.read_bytes()
    for name, content in [("truncated", data[: len(data) // 2]), ("text", b"hello"), ("empty", b"")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(HashIndexError, match="not a readable hash index"):
            HashIndex.load(tmp_path / name)
    np.savez(tmp_path / "foreign.npz", codes=np.zeros((2, 8), np.uint8), meta=np.array(json.dumps({"a": 1})))
    with pytest.raises(HashIndexError, match="not an image-deep-hash index"):
        HashIndex.load(tmp_path / "foreign.npz")
    np.savez(tmp_path / "wrong.npz", codes=np.zeros((2, 7), np.uint8), meta=np.array(json.dumps(
        {"format": index_module.FORMAT, "version": 2, "bits": 64, "backend": None, "options": None})))
    with pytest.raises(HashIndexError, match="7"):
        HashIndex.load(tmp_path / "wrong.npz")
    with pytest.raises(HashIndexError, match="no index"):
        HashIndex.load(tmp_path / "missing.idx")


def test_a_version_1_file_with_end_padded_codes_loads_as_the_same_hashes(tmp_path):
    rng = np.random.default_rng(8)
    bits = rng.random((4, 36)) > 0.5
    meta = {"format": index_module.FORMAT, "version": 1, "bits": 36, "backend": None, "options": None}
    np.savez(tmp_path / "old.npz", codes=np.packbits(bits, axis=1), meta=np.array(json.dumps(meta)))
    assert np.array_equal(HashIndex.load(tmp_path / "old.npz").packed(), pack_bits(bits))


def test_the_scale_benchmark_runs_and_finds_every_planted_pair(tmp_path):
    from benchmarks import index_scale
    result = index_scale.main(["--sizes", "3000", "--repeats", "1", "--methods", "auto", "numpy-mih",
                               "--out", str(tmp_path)])
    rows = result["runs"]
    assert {r["method"] for r in rows} == {"auto", "numpy-mih"}
    for r in rows:
        assert r["planted_found"] == r["planted"] > 0 and r["sample_exact"] is True
    assert (tmp_path / "index_scale.json").exists()
    assert "| method |" in (tmp_path / "index_scale.md").read_text()
