"""Exact Hamming-distance joins over packed codes, in numpy: the engines ``HashIndex`` plans between.

Codes are rows of uint64 words (``HashIndex`` pads packed hashes to whole words). Two joins, both
exact: brute force (every pair, XOR and ``bitwise_count``, in blocks that bound memory) and
multi-index hashing (the bits cut into chunks with flip budgets that sum to ``radius - chunks + 1``,
so every pair within the radius differs by at most its budget in some chunk; each chunk's codes are
sorted, every chunk value is looked up with up to its budget of bits flipped, candidates are checked
on all bits, and a pair is kept only from the first chunk that finds it). Which one answers, and
faiss's own engines, are ``registry.index``'s choice.
"""
from __future__ import annotations

import itertools
from typing import Iterator, Optional

import numpy as np

#: Candidate pairs checked per numpy step, which bounds the working memory (~100 MB).
BLOCK = 1 << 21


# --- popcount ------------------------------------------------------------------------------------
_LUT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount_lut(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 element, by a 256-entry table (numpy < 2 has no bitwise_count)."""
    x = np.ascontiguousarray(x, dtype=np.uint64)
    return _LUT[x.view(np.uint8)].reshape(*x.shape, 8).sum(axis=-1, dtype=np.uint8)


def _popcount_native(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x)


_popcount = _popcount_native if hasattr(np, "bitwise_count") else _popcount_lut


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances of rows a and b (uint64, shape (..., words)), broadcast, as int32."""
    d = _popcount(a[..., 0] ^ b[..., 0]).astype(np.int32)
    for w in range(1, a.shape[-1]):
        d += _popcount(a[..., w] ^ b[..., w])
    return d


# --- multi-index hashing in numpy --------------------------------------------------------------
def _chunk_keys(row_bytes: np.ndarray, start: int, width: int) -> np.ndarray:
    """Bits [start, start + width) of each row (MSB-first order of the packed row) as int64."""
    first, shift = divmod(start, 8)
    nb = (shift + width + 7) // 8
    key = np.zeros(len(row_bytes), dtype=np.int64)
    for k in range(nb):
        key = (key << 8) | row_bytes[:, first + k]
    return (key >> (nb * 8 - shift - width)) & ((1 << width) - 1)


def _masks(top: int, flips: int) -> Iterator[int]:
    """Every flip pattern of at most ``flips`` bits whose highest set bit is ``top``."""
    for k in range(flips):
        for rest in itertools.combinations(range(top), k):
            yield (1 << top) | sum(1 << b for b in rest)


def _expand(qpos: np.ndarray, first: np.ndarray, count: np.ndarray):
    """(query, candidate position) for each query and each of its ``count`` candidates at
    ``first, first + 1, ...``, in blocks of about ``BLOCK`` pairs."""
    ends = np.cumsum(count)
    a = 0
    while a < len(count):
        done = ends[a - 1] if a else 0
        b = max(a + 1, int(np.searchsorted(ends, done + BLOCK, side="right")))
        c = count[a:b]
        offset = np.cumsum(c) - c
        yield np.repeat(qpos[a:b], c), np.arange(int(c.sum())) + np.repeat(first[a:b] - offset, c)
        a = b


class _ChunkTable:
    """The codes sorted by one chunk's value, with each bucket's place in that order."""

    def __init__(self, keys: np.ndarray, width: int, codes: np.ndarray):
        self.order = np.argsort(keys, kind="stable")
        self.sorted_keys = keys[self.order]
        offsets = np.int32 if len(keys) < 2**31 else np.int64
        self.counts = np.bincount(self.sorted_keys, minlength=1 << width).astype(offsets)
        self.occupied = self.counts > 0   # a byte a bucket: the cheapest first look
        self.starts = np.zeros((1 << width) + 1, dtype=offsets)
        np.cumsum(self.counts, out=self.starts[1:])
        self.codes = codes[self.order]

    def look_up(self, qpos: np.ndarray, probe: np.ndarray):
        """(queries, first position, count) of the probes that land in a non-empty bucket."""
        hit = np.flatnonzero(self.occupied[probe])
        probe = probe[hit]
        return qpos[hit], self.starts[probe].astype(np.int64), self.counts[probe].astype(np.int64)


def _mih_join(codes: np.ndarray, row_bytes: np.ndarray, chunks, radius: int,
              queries: Optional[np.ndarray] = None, query_bytes: Optional[np.ndarray] = None):
    """(a, b, d): every pair within ``radius``: among ``codes`` (a < b), or (query, id) with
    ``queries``. Each pair comes from the first chunk whose flip budget covers it, so once."""
    self_join = queries is None
    keys = [_chunk_keys(row_bytes, s, w) for s, w, _ in chunks]
    qkeys = keys if self_join else [_chunk_keys(query_bytes, s, w) for s, w, _ in chunks]
    qcodes = None if self_join else queries
    found = []
    for c, (_, width, flips) in enumerate(chunks):
        table = _ChunkTable(keys[c], width, codes)

        def check(qpos, first, count):
            for qi, cpos in _expand(qpos, first, count):
                left = table.codes[qi] if self_join else qcodes[qi]
                d = _distance(left, table.codes[cpos])
                ok = np.flatnonzero(d <= radius)
                a = table.order[qi[ok]] if self_join else qi[ok]
                b, d = table.order[cpos[ok]], d[ok]
                for e in range(c):   # found by an earlier chunk already?
                    near = _popcount((qkeys[e][a] ^ keys[e][b]).view(np.uint64)) <= chunks[e][2]
                    a, b, d = a[~near], b[~near], d[~near]
                if self_join:
                    a, b = np.minimum(a, b), np.maximum(a, b)
                found.append((a, b, d))

        sk = table.sorted_keys
        if self_join:
            pos = np.arange(len(sk))
            count = table.starts[sk + 1].astype(np.int64) - pos - 1   # the later codes of its bucket
            nz = np.flatnonzero(count)
            check(pos[nz], pos[nz] + 1, count[nz])
            for top in (range(width) if flips else ()):
                sel = np.flatnonzero(((sk >> top) & 1) == 0)  # each pair of buckets from one side
                low = sk[sel]
                for mask in _masks(top, flips):
                    qpos, first, count = table.look_up(sel, low ^ mask)
                    if len(qpos):
                        check(qpos, first, count)
        else:
            qk = qkeys[c]
            qpos = np.arange(len(qk))
            for mask in itertools.chain([0], *(_masks(top, flips) for top in range(width))):
                hits, first, count = table.look_up(qpos, qk ^ mask)
                if len(hits):
                    check(hits, first, count)
        del table
    return _concat(found)


def _concat(found) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not found:
        return tuple(np.zeros(0, dtype=np.int64) for _ in range(3))
    return tuple(np.concatenate([f[k] for f in found]).astype(np.int64) for k in range(3))


# --- brute force ---------------------------------------------------------------------------------
def brute_cross(queries: np.ndarray, codes: np.ndarray, radius: int):
    """(query index, id, distance) for every query/code pair within ``radius``."""
    found = []
    block = max(1, BLOCK // max(len(codes), 1))
    for a in range(0, len(queries), block):
        d = _distance(queries[a:a + block, None, :], codes[None, :, :])
        q, ids = np.nonzero(d <= radius)
        found.append((q + a, ids, d[q, ids]))
    return _concat(found)


def brute_self(codes: np.ndarray, radius: int):
    """(i, j, distance) for every pair i < j of ``codes`` within ``radius``."""
    n = len(codes)
    block = max(1, BLOCK // max(n, 1))
    found = []
    for a in range(0, n, block):
        d = _distance(codes[a:a + block, None, :], codes[None, a:, :])   # j >= a
        i, j = np.nonzero(d <= radius)
        keep = j + a > i + a
        found.append((i[keep] + a, j[keep] + a, d[i[keep], j[keep]]))
    return _concat(found)
