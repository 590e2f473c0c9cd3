"""``HashIndex``: Hamming-distance search over millions of hashes, behind one interface.

One index holds packed codes of one length (and, when built from ``ImageHash``es, one identity:
backend and options; a query of another identity is refused, as ``ImageHash`` refuses to compare).
It answers four questions, each exactly as brute force would, whichever way it takes:

- ``search(query, radius)``: every code within ``radius`` bits of a query (or of each of a batch);
- ``knn(query, k)``: the ``k`` nearest, ties broken by id;
- ``pairs(radius)``: every pair (i, j, distance) with i < j within ``radius``;
- ``cross_pairs(queries, radius)``: every (query, id, distance) within ``radius``.

``radius=None`` is ``registry.compare``'s calibrated threshold in bits (``default_radius``), so the
index and ``compare`` call the same pairs the same picture.

Ways to answer (``pairs(method=...)``, ``cross_pairs(method=...)``):

- ``numpy-mih``: multi-index hashing in numpy. The bits are cut into ``m`` chunks with flip budgets
  ``t_1 + ... + t_m = r - m + 1``; two codes within ``r`` bits differ by at most ``t_c`` bits in some
  chunk ``c`` (if every chunk differed by ``t_c + 1`` or more, they would differ by ``r + 1``). So
  sorting the codes by each chunk and looking up every chunk value with up to ``t_c`` bits flipped
  finds every candidate; each is then checked on all bits, and a pair is kept only from the first
  chunk that finds it. Exact, not approximate. All pairs within 8 bits of 1M 64-bit hashes: 3
  chunks of 21-22 bits, 2 flips each.
- ``numpy-brute``: block-wise XOR and ``bitwise_count`` over all pairs; cheapest for small
  collections, and for long codes with a wide radius, where chunks would have to be tiny.
- ``faiss-flat`` (the optional extra ``index``, ``faiss-cpu``): ``IndexBinaryFlat.range_search``,
  brute force in C++ on every core: where brute force is the answer and faiss is installed.
- ``faiss-multihash``: faiss's ``IndexBinaryMultiHash`` (the same pigeonhole with one flip budget
  ``r // m`` for all chunks). Measured 3 to 30 times slower than ``numpy-mih`` (its hash tables are
  slow to fill), so only ``engine="faiss"`` or ``method="faiss-multihash"`` uses it.

``"auto"`` takes the cheapest by a cost model whose constants ``benchmarks/index_scale.py
--calibrate`` measured; when it would take multi-index hashing for more than a blink, it first
counts the candidates of its likeliest plans on a sample of the actual codes (real hashes crowd
some buckets), so a skewed collection gets the plan that suits it. Every method gives the same
answer; only the time differs.

Codes are rows of packed bits, ``bytes(h)`` for a hash ``h`` (``registry.value.pack_hashes``): most
significant bit first, a length that is not whole bytes padded with zero bits at the front. Saved
indexes are ``.npz`` files (no pickle) written atomically: a temporary file beside the target,
``fsync``, ``os.replace``.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .comparison import calibration_name, similar_threshold, threshold_bits, turn_penalty
from .errors import HashIndexError
from .files import atomic_write
from .hamming import _concat, _distance, _mih_join, brute_cross, brute_self
from .index_plan import (COST, FAISS_QUERIES, MAX_CHUNK_BITS, MAX_PROBES, METHODS, Plan,  # noqa: F401
                         _ball, _mih_cost, _sampled_candidates, mih_chunks, plan, plans)
from .optional import missing, require
from .value import ImageHash, pack_bits, pack_hashes

FORMAT = "image-deep-hash-index"
VERSION = 2
#: Below this estimated cost (seconds) a numpy-mih plan is taken on the model's word alone; above
#: it, its candidate count is measured on a sample of the actual codes first (real hashes are not
#: uniformly random: crowded buckets make more candidates than the model expects).
REFINE_ABOVE = 0.05


def default_radius(backend: Any, hex_len: int, fallback: float = 0.15, *, dihedral: bool = False) -> int:
    """``registry.compare``'s calibrated threshold in bits, by the same ``threshold_bits`` that its
    verdicts use, so that the index and ``compare`` always agree on which pairs are the same picture."""
    bits = 4 * hex_len
    threshold = similar_threshold(backend, hex_len, fallback, dihedral=dihedral)
    return max(0, min(bits, threshold_bits(threshold, bits)))


def faiss_available() -> bool:
    return not missing("index")


# --- the index -----------------------------------------------------------------------------------
class HashIndex:
    """An index of packed hash codes of one length, and (once it holds ``ImageHash``es) one identity.

    ``engine``: ``"auto"`` (faiss where installed and cheaper), ``"numpy"`` (never faiss) or
    ``"faiss"`` (faiss's methods only; it must be installed). Results are the same with each.
    """

    def __init__(self, bits: int, *, engine: str = "auto", backend: Optional[str] = None,
                 options: Optional[dict] = None):
        if not isinstance(bits, (int, np.integer)) or isinstance(bits, bool) or bits <= 0:
            raise ValueError(f"bits must be a positive whole number, got {bits!r}")
        if engine not in ("auto", "faiss", "numpy"):
            raise ValueError("engine must be 'auto', 'faiss' or 'numpy'")
        if engine == "faiss":
            require("faiss", "index", needed_by="HashIndex(engine='faiss')")
        self.bits = int(bits)
        self.engine = engine
        self.nbytes = -(-self.bits // 8)
        self.words = -(-self.nbytes // 8)
        self.pad = self.nbytes * 8 - self.bits
        self._buffer = np.zeros((0, self.words), dtype=np.uint64)
        self._n = 0
        self.backend: Optional[str] = None
        self.options: Optional[dict] = None
        self._proto: Optional[ImageHash] = None
        if backend is not None:
            self._set_identity(backend, options)
        self._faiss_flat = None
        #: How the last join was answered (a ``Plan``), for benchmarks and the curious.
        self.last_plan: Optional[Plan] = None

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        who = f", backend={self.backend!r}" if self.backend else ""
        return f"HashIndex(bits={self.bits}{who}, n={self._n})"

    @property
    def last_method(self) -> Optional[str]:
        return None if self.last_plan is None else str(self.last_plan)

    @property
    def _codes(self) -> np.ndarray:
        return self._buffer[: self._n]

    def _set_identity(self, backend: str, options: Optional[dict]) -> None:
        if self.bits % 4:
            raise HashIndexError(f"a {self.bits}-bit index cannot hold ImageHashes (whole hex digits)")
        self._proto = ImageHash(np.zeros(self.bits, dtype=bool), backend, options)
        self.backend, self.options = self._proto.backend, self._proto.options

    def _use_faiss(self) -> bool:
        return self.engine == "faiss" or (self.engine == "auto" and faiss_available())

    # --- codes in -------------------------------------------------------------------------------
    def _rows(self, items: Any, *, adding: bool) -> np.ndarray:
        """Packed uint8 rows (n, nbytes) from ImageHashes or packed rows; identity checked."""
        if isinstance(items, ImageHash):
            items = [items]
        if isinstance(items, np.ndarray) or (isinstance(items, (list, tuple)) and items
                                              and isinstance(items[0], np.ndarray)):
            rows = np.asarray(items)
            if rows.ndim == 1:
                rows = rows[None, :]
            if rows.ndim == 2 and rows.dtype == np.bool_ and rows.shape[1] == self.bits:
                return pack_bits(rows)
            if rows.ndim != 2 or rows.dtype != np.uint8 or rows.shape[1] != self.nbytes:
                raise HashIndexError(f"packed codes for {self.bits} bits must be uint8 rows of "
                                     f"{self.nbytes} bytes, got {rows.dtype} of shape {rows.shape}")
            if self.pad and (rows[:, 0] >> (8 - self.pad)).any():
                raise HashIndexError(f"{self.bits}-bit codes in {self.nbytes} bytes must start with "
                                     f"{self.pad} zero bits, as bytes(ImageHash) and "
                                     f"registry.value.pack_hashes pad them (np.packbits pads at the end)")
            return rows
        hashes = list(items)
        if not hashes:
            return np.zeros((0, self.nbytes), dtype=np.uint8)
        first = hashes[0]
        if not isinstance(first, ImageHash):
            raise HashIndexError(f"expected ImageHashes or packed uint8 rows, got {type(first).__name__}")
        if first.bit_count != self.bits:
            raise HashIndexError(f"a {first.bit_count}-bit hash cannot join a {self.bits}-bit index")
        if self._proto is not None:
            self._check(first, adding)
        try:
            rows = pack_hashes(hashes)   # refuses a mix of identities, as ImageHash does
        except (ValueError, TypeError) as exc:
            raise HashIndexError(f"these hashes cannot share an index: {exc}") from None
        if self._proto is None and adding:
            self._set_identity(first.backend, first.options)
        return rows

    def _check(self, h: ImageHash, adding: bool) -> None:
        try:
            self._proto._check_comparable(h)
        except ValueError as exc:
            what = "join" if adding else "search"
            raise HashIndexError(f"this hash cannot {what} an index of {self.backend!r} hashes "
                                 f"(options {self.options}): {exc}") from None

    def _as_words(self, rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), self.words * 8), dtype=np.uint8)
        out[:, : self.nbytes] = rows
        return out.view(np.uint64)

    def add(self, items: Any) -> range:
        """Add hashes: a list of ``ImageHash`` of one identity, or packed uint8 rows (n, bytes).
        Returns their ids (consecutive, from ``len(index)`` before the call)."""
        rows = self._rows(items, adding=True)
        start, stop = self._n, self._n + len(rows)
        if stop > len(self._buffer):
            grown = np.zeros((max(stop, 2 * len(self._buffer)), self.words), dtype=np.uint64)
            grown[:start] = self._codes
            self._buffer = grown
        self._buffer[start:stop] = self._as_words(rows)
        self._n = stop
        if self._faiss_flat is not None and len(rows):
            self._faiss_flat.add(np.ascontiguousarray(rows))
        return range(start, stop)

    def packed(self) -> np.ndarray:
        """The codes as packed uint8 rows (n, bytes), in id order (a copy)."""
        return self._codes.view(np.uint8)[:, : self.nbytes].copy()

    # --- questions ------------------------------------------------------------------------------
    def _queries(self, query: Any) -> tuple[np.ndarray, bool, Optional[ImageHash]]:
        """(query rows, whether a batch was given, one of the query hashes for a default radius)."""
        single = isinstance(query, ImageHash) or (isinstance(query, np.ndarray) and query.ndim == 1)
        rows = self._rows(query, adding=False)
        hashes = [query] if isinstance(query, ImageHash) else (
            list(query) if isinstance(query, (list, tuple)) else [])
        sample = hashes[0] if hashes and isinstance(hashes[0], ImageHash) else None
        return rows, not single, sample

    def _radius(self, radius: Optional[int], sample: Optional[ImageHash] = None,
                dihedral: bool = False) -> int:
        if radius is not None:
            if isinstance(radius, bool) or int(radius) != radius or radius < 0:
                raise ValueError(f"radius must be a whole number of bits, 0 or more, got {radius!r}")
            return int(radius)
        backend = self.backend or (sample.backend if sample is not None else None)
        if backend is None:
            raise HashIndexError("give a radius: this index holds raw codes, with no backend to take "
                                 "the calibrated threshold from")
        options = self.options if self.backend else (sample.options if sample is not None else None)
        return default_radius(calibration_name(backend, options), self.bits // 4, dihedral=dihedral)

    def distances(self, query: Any) -> np.ndarray:
        """Distance of one query to every code, in id order."""
        rows, batch, _ = self._queries(query)
        if batch and len(rows) != 1:
            raise HashIndexError("distances() takes one query")
        return _distance(self._codes, self._as_words(rows)[0]).astype(np.int64)

    def search(self, query: Any, radius: Optional[int] = None):
        """(ids, distances) of every code within ``radius`` of the query, nearest first, ties by id.

        A batch (a list of hashes, or a 2-D array of packed rows) gives a list with one such pair
        per query.
        """
        rows, batch, sample = self._queries(query)
        r = self._radius(radius, sample)
        qi, ids, d = self._range(rows, r)
        order = np.lexsort((ids, d, qi))
        qi, ids, d = qi[order], ids[order], d[order]
        bounds = np.searchsorted(qi, np.arange(len(rows) + 1))
        results = [(ids[a:b], d[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        return results if batch else results[0]

    def knn(self, query: Any, k: int):
        """(ids, distances) of the ``k`` nearest codes, nearest first, ties broken by id (a list of
        them for a batch of queries)."""
        rows, batch, _ = self._queries(query)
        k = min(int(k), self._n)
        results = []
        for q in self._as_words(rows):
            if k <= 0:
                results.append((np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)))
                continue
            d = _distance(self._codes, q).astype(np.int64)
            kth = np.partition(d, k - 1)[k - 1]
            near = np.flatnonzero(d <= kth)          # every tie of the k-th distance, then by id
            order = np.lexsort((near, d[near]))[:k]
            results.append((near[order], d[near][order]))
        return results if batch else results[0]

    def search_dihedral(self, eight: Sequence[ImageHash], radius: Optional[int] = None,
                        penalty: Optional[int] = None):
        """(ids, distances, orientation index) for a query given in its 8 orientations
        (``Hasher.hash_dihedral``), by the rule of ``compare(..., dihedral=True)``: a code matches the
        query as it is within ``radius``, or a turned orientation within ``radius - penalty`` (both
        calibrated by default); the distance is that of the orientation that matched."""
        rows, _, sample = self._queries(list(eight))
        r = self._radius(radius, sample, dihedral=True)
        if penalty is None:
            penalty = turn_penalty(sample, sample.hex_len) if sample is not None else 0
        d = np.stack([_distance(self._codes, q) for q in self._as_words(rows)]).astype(np.int64)  # (8, n)
        effective = d + np.where(np.arange(len(d)) > 0, int(penalty), 0)[:, None]
        best = effective.argmin(axis=0)
        ids = np.flatnonzero(effective.min(axis=0) <= r)
        dist = d[best[ids], ids]
        order = np.lexsort((ids, dist))
        return ids[order], dist[order], best[ids][order]

    def pairs(self, radius: Optional[int] = None, *, method: str = "auto"):
        """Every pair (i, j, distance) with i < j within ``radius`` bits, as three int64 arrays
        sorted by (i, j): exactly the pairs brute force finds, whichever ``method`` answers."""
        r = self._radius(radius)
        if self._n < 2:
            self.last_plan = None
            return _concat([])
        self.last_plan = self._plan(r, None, method)
        i, j, d = self._join(self.last_plan, r)
        order = np.lexsort((j, i))
        return i[order], j[order], d[order]

    def cross_pairs(self, queries: Any, radius: Optional[int] = None, *, method: str = "auto"):
        """(query index, id, distance) for every query and code within ``radius``, sorted."""
        rows, _, sample = self._queries(queries)
        r = self._radius(radius, sample)
        qi, ids, d = self._range(rows, r, method)
        order = np.lexsort((ids, qi))
        return qi[order], ids[order], d[order]

    # --- the ways to answer ------------------------------------------------------------------
    def _plan(self, r: int, nq: Optional[int], method: str,
              query_rows: Optional[np.ndarray] = None) -> Plan:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")
        if self.engine == "numpy" and method.startswith("faiss"):
            raise HashIndexError(f"method {method!r} needs faiss, and this index has engine='numpy'")
        if method.startswith("faiss") or self.engine == "faiss":
            require("faiss", "index", needed_by=f"HashIndex method {method!r}")
        if method == "faiss-multihash" and nq is not None:
            raise HashIndexError("faiss-multihash answers pairs() only")
        if method != "auto":
            return plan(self.bits, r, self._n, nq, faiss=self._use_faiss(), method=method)
        if self.engine == "faiss":
            ways = ("faiss-flat",) if nq is not None else ("faiss-flat", "faiss-multihash")
            return min((plan(self.bits, r, self._n, nq, faiss=True, method=m) for m in ways),
                       key=lambda p: p.cost)
        options = [p for p in plans(self.bits, r, self._n, nq, faiss=self._use_faiss())
                   if p.method != "faiss-multihash"]
        best = options[0]
        if best.method != "numpy-mih" or best.cost < REFINE_ABOVE:
            return best
        # The model assumed random codes: count the candidates of the likeliest plans on these codes.
        other = next(p for p in options if p.method != "numpy-mih")
        words = self._as_words(query_rows) if query_rows is not None else None
        refined = [other]
        for p in [p for p in options if p.method == "numpy-mih"][:2]:
            counted = _sampled_candidates(p.chunks, self._codes.view(np.uint8),
                                          None if words is None else words.view(np.uint8))
            cost = _mih_cost(p.chunks, self._n, self._n if nq is None else nq, self.words, nq is None,
                             counted)
            refined.append(Plan(p.method, p.chunks, cost))
        return min(refined, key=lambda p: p.cost)

    def _range(self, rows: np.ndarray, r: int, method: str = "auto"):
        """(query index, id, distance) within ``r`` for query rows, by the cheapest way."""
        if self._n == 0 or len(rows) == 0:
            return _concat([])
        chosen = self._plan(r, len(rows), method, rows)
        self.last_plan = chosen
        queries = self._as_words(rows)
        if chosen.method == "numpy-mih":
            return _mih_join(self._codes, self._codes.view(np.uint8), chosen.chunks, r,
                             queries, queries.view(np.uint8))
        if chosen.method == "faiss-flat":
            return self._faiss_range(rows, r, self._flat_index())
        return brute_cross(queries, self._codes, r)

    def _join(self, chosen: Plan, r: int):
        codes = self._codes
        if chosen.method == "numpy-mih":
            return _mih_join(codes, codes.view(np.uint8), chosen.chunks, r)
        if chosen.method == "faiss-flat":
            return self._faiss_self(r, self._flat_index())
        if chosen.method == "faiss-multihash":
            faiss = require("faiss", "index", needed_by="HashIndex")
            _, width, flips = chosen.chunks[0]
            mh = faiss.IndexBinaryMultiHash(self.nbytes * 8, len(chosen.chunks), width)
            mh.nflip = flips
            mh.add(np.ascontiguousarray(self.packed()))
            return self._faiss_self(r, mh)
        return brute_self(codes, r)

    def _flat_index(self):
        if self._faiss_flat is None:
            faiss = require("faiss", "index", needed_by="HashIndex")
            self._faiss_flat = faiss.IndexBinaryFlat(self.nbytes * 8)
            self._faiss_flat.add(np.ascontiguousarray(self.packed()))
        return self._faiss_flat

    def _faiss_range(self, rows: np.ndarray, r: int, index):
        found = []
        for a in range(0, len(rows), FAISS_QUERIES):
            batch = np.ascontiguousarray(rows[a:a + FAISS_QUERIES])
            lims, dist, ids = index.range_search(batch, r + 1)   # faiss: distance < radius
            q = np.repeat(np.arange(len(lims) - 1, dtype=np.int64), np.diff(lims).astype(np.int64))
            found.append((q + a, ids, dist))
        return _concat(found)

    def _faiss_self(self, r: int, index):
        i, j, d = self._faiss_range(self.packed(), r, index)
        keep = i < j
        return i[keep], j[keep], d[keep]

    # --- storage -------------------------------------------------------------------------------
    def save(self, path: os.PathLike | str) -> None:
        """Write the index to ``path`` (an ``.npz``) atomically: a reader sees the old file or the
        new one, never half of one."""
        path = Path(path)
        meta = {"format": FORMAT, "version": VERSION, "bits": self.bits, "backend": self.backend,
                "options": self.options}
        try:
            meta_text = json.dumps(meta, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise HashIndexError(f"this index's options cannot be saved as JSON: {exc}") from None
        buffer = io.BytesIO()
        np.savez(buffer, codes=self.packed(), meta=np.array(meta_text))
        with atomic_write(path) as f:
            f.write(buffer.getbuffer())

    @classmethod
    def load(cls, path: os.PathLike | str, *, engine: str = "auto") -> "HashIndex":
        """Read an index written by ``save``; a missing, truncated or foreign file raises
        ``HashIndexError`` saying so."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"][()]))
                codes = np.asarray(data["codes"])
        except FileNotFoundError:
            raise HashIndexError(f"no index at '{path}'") from None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise HashIndexError(f"'{path}' is not a readable hash index (truncated or not written by "
                                 f"HashIndex.save: {type(exc).__name__}: {exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise HashIndexError(f"'{path}' is not an image-deep-hash index")
        bits = meta.get("bits")
        if meta.get("version") not in (1, VERSION) or not isinstance(bits, int) or bits <= 0:
            raise HashIndexError(f"'{path}' is an index of an unknown version or size ({meta})")
        nbytes = -(-bits // 8)
        if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != nbytes:
            raise HashIndexError(f"'{path}' holds codes of shape {codes.shape} ({codes.dtype}), "
                                 f"not {nbytes}-byte rows for {bits} bits")
        if meta["version"] == 1 and bits % 8:   # version 1 padded short codes at the end
            codes = pack_bits(np.unpackbits(codes, axis=1)[:, :bits].astype(bool))
        backend = meta.get("backend")
        index = cls(bits, engine=engine, backend=backend,
                    options=meta.get("options") if backend is not None else None)
        if len(codes):
            index.add(codes)
        return index
