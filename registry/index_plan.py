"""How ``HashIndex`` answers a join: the methods, the cost model, and the cheapest plan for a join.

A plan names a method (numpy multi-index hashing, numpy brute force, faiss flat or multi-hash) and, for
multi-index hashing, how the bits are cut into chunks and how many bits may flip in each. The cost
model is fitted on this project's machine (``benchmarks/index_scale.py --calibrate``); only its ratios
matter. ``HashIndex`` refines a numpy-mih plan on a sample of its actual codes (``_sampled_candidates``).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .errors import HashIndexError
from .hamming import _chunk_keys, _masks

METHODS = ("auto", "numpy-mih", "numpy-brute", "faiss-flat", "faiss-multihash")
#: Widest chunk for multi-index hashing: its table of 2**b bucket offsets stays under 130 MB.
MAX_CHUNK_BITS = 24
#: Queries per faiss range search: bounds the memory of its result lists.
FAISS_QUERIES = 1 << 14
#: Flipped chunk values one chunk may look up before multi-index hashing is not worth planning.
MAX_PROBES = 1 << 20

#: Seconds per unit of work, fitted by ``python benchmarks/index_scale.py --calibrate`` (non-negative
#: least squares over ~510 timed joins of random codes, 16 to 256 bits, 3k to 300k codes) on the
#: 2-core machine; only their ratios matter, to choose a method.
COST = {
    "brute_word": 2.8e-9,    # numpy brute force: one pair, one 64-bit word
    "flat_call": 5e-3,       # faiss IndexBinaryFlat range search: a call. Fitted 1.3 ms on an idle
                             # machine, ~20 ms measured when other jobs hold the cores (its threads
                             # wait for them); 5 ms keeps small searches on numpy, whose cost holds
    "flat_pair": 0.43e-9,    # ... one pair (both cores)
    "flat_word": 0.15e-9,    # ... each further 64-bit word
    "sort": 6.1e-9,          # numpy-mih: per code and chunk, times log2(n) (argsort, gathers)
    "bucket": 4.4e-9,        # ... per bucket of a chunk's table
    "mask": 18e-6,           # ... per flip pattern (one pass of numpy calls)
    "probe": 5.5e-9,         # ... per chunk value looked up
    "candidate": 11e-9,      # ... per candidate pair checked on all bits
    "mh_add": 0.4e-6,        # faiss-multihash: per code and chunk added to its hash tables
    "mh_probe": 9.9e-9,      # ... per bucket looked up
    "mh_candidate": 15e-9,   # ... per candidate checked
}


def _ball(width: int, flips: int) -> int:
    """How many values lie within ``flips`` bits of a ``width``-bit value."""
    return sum(math.comb(width, k) for k in range(min(flips, width) + 1))


@dataclass(frozen=True)
class Plan:
    """How a join will be answered, and its estimated cost in seconds (``COST``)."""

    method: str
    chunks: tuple[tuple[int, int, int], ...] = ()   # (first bit of the row, width, flips)
    cost: float = 0.0

    def __str__(self) -> str:
        if self.method == "numpy-mih":
            parts = ", ".join(f"{w}b/{t}f" for _, w, t in self.chunks)
            return f"numpy-mih ({len(self.chunks)} chunks: {parts})"
        if self.method == "faiss-multihash":
            _, w, t = self.chunks[0]
            return f"faiss-multihash ({len(self.chunks)} chunks of {w} bits, {t} flips)"
        return self.method


def mih_chunks(bits: int, pad: int, radius: int, m: int) -> tuple[tuple[int, int, int], ...]:
    """``m`` chunks over the ``bits`` real bits (after ``pad`` leading pad bits), at most
    ``MAX_CHUNK_BITS`` wide, with flip budgets summing to ``radius - m + 1`` (wider chunks first)."""
    if not 1 <= m <= min(bits, radius + 1):
        raise ValueError(f"{m} chunks cannot cover {bits} bits within radius {radius}")
    widths = [bits // m + (1 if k < bits % m else 0) for k in range(m)]
    budget = radius - m + 1
    flips = [budget // m + (1 if k < budget % m else 0) for k in range(m)]
    starts = pad + np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(int)
    return tuple((int(s), min(w, MAX_CHUNK_BITS), t) for s, w, t in zip(starts, widths, flips))


def _mih_cost(chunks, n: int, nq: int, words: int, self_join: bool,
              candidates: Optional[Sequence[float]] = None) -> float:
    """Estimated seconds of a numpy-mih join; ``candidates`` per chunk replace the estimate for
    uniformly random codes (pairs x ball / 2**width) when measured."""
    c = COST
    total = 0.0
    pairs = n * (n - 1) / 2 if self_join else nq * n
    for k, (_, w, t) in enumerate(chunks):
        v = _ball(w, t)
        probes = nq * (v + 1) / 2 if self_join else nq * v   # a self-join looks each pair up once
        cands = pairs * v / 2 ** w if candidates is None else candidates[k]
        total += (c["sort"] * (n + nq) * math.log2(max(n, 2)) + c["bucket"] * 2 ** w + c["mask"] * v
                  + c["probe"] * probes + c["candidate"] * (1 + 0.2 * (words - 1)) * cands)
    return total


def plans(bits: int, radius: int, n: int, nq: Optional[int] = None, *, faiss: bool = False) -> list[Plan]:
    """Every exact way to find the pairs within ``radius`` among ``n`` codes of ``bits`` bits (or,
    given ``nq``, between ``nq`` queries and the codes), cheapest first by the cost model."""
    self_join = nq is None
    nq = n if self_join else nq
    nbytes = -(-bits // 8)
    words = -(-nbytes // 8)
    pad = nbytes * 8 - bits
    pairs = n * (n - 1) / 2 if self_join else nq * n
    options = [Plan("numpy-brute", cost=pairs * words * COST["brute_word"])]
    if faiss:
        calls = -(-nq // FAISS_QUERIES)
        options.append(Plan("faiss-flat", cost=calls * COST["flat_call"]
                            + pairs * (COST["flat_pair"] + (words - 1) * COST["flat_word"])))
    for m in range(1, min(bits, radius + 1) + 1):
        chunks = mih_chunks(bits, pad, radius, m)
        if any(_ball(w, t) > MAX_PROBES for _, w, t in chunks):
            continue
        options.append(Plan("numpy-mih", chunks, _mih_cost(chunks, n, nq, words, self_join)))
    if faiss and self_join:
        for m in range(1, min(nbytes * 8, 64) + 1):   # faiss: one flip budget, chunks from bit 0
            w, t = min(nbytes * 8 // m, MAX_CHUNK_BITS), radius // m
            v = _ball(w, t)
            if v > MAX_PROBES:
                continue
            cost = (n * m * (COST["mh_add"] + v * COST["mh_probe"])
                    + 2 * pairs * m * v / 2 ** w * COST["mh_candidate"])
            options.append(Plan("faiss-multihash", tuple((k * w, w, t) for k in range(m)), cost))
    return sorted(options, key=lambda p: p.cost)


def plan(bits: int, radius: int, n: int, nq: Optional[int] = None, *, faiss: bool = False,
         method: str = "auto") -> Plan:
    """The cheapest plan by the cost model alone (``HashIndex`` also looks at its codes): for
    ``auto`` among numpy-mih, numpy-brute and (with ``faiss``) faiss-flat; faiss-multihash, measured
    slower than numpy-mih everywhere (benchmarks/index_scale.py), only when asked for by name."""
    options = plans(bits, radius, n, nq, faiss=faiss)
    wanted = [p for p in options
              if (p.method != "faiss-multihash" if method == "auto" else p.method == method)]
    if not wanted:
        raise HashIndexError(f"method {method!r} cannot answer this (known: {', '.join(METHODS)}"
                             f"{'' if faiss else '; faiss methods need faiss'})")
    return wanted[0]


def _sampled_candidates(chunks, db_bytes: np.ndarray, query_bytes: Optional[np.ndarray],
                        budget: int = 1 << 19) -> list[float]:
    """Candidate pairs each chunk of a numpy-mih join will check, counted for a random sample of
    the queries (all of them when few) and scaled up: the cost model's guess, on the actual codes."""
    n = len(db_bytes)
    self_join = query_bytes is None
    nq = n if self_join else len(query_bytes)
    rng = np.random.default_rng(0)
    out = []
    for s, w, t in chunks:
        keys = _chunk_keys(db_bytes, s, w)
        counts = np.bincount(keys, minlength=1 << w)
        size = int(min(nq, max(64, budget // _ball(w, t))))
        picked = rng.choice(nq, size, replace=False) if size < nq else np.arange(nq)
        qk = keys[picked] if self_join else _chunk_keys(query_bytes[picked], s, w)
        found = sum(int(counts[qk ^ mask].sum()) for mask in
                    itertools.chain([0], *(_masks(top, t) for top in range(w))))
        if self_join:   # each code finds itself once, and each pair twice
            found = (found - size) / 2
        out.append(found * nq / size)
    return out
