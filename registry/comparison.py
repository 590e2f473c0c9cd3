"""Answering the user's real question: is this the same image, a slightly changed copy, or another?

Thresholds are data, not code: ``registry/data/thresholds.json`` (package data, so an installed
package judges exactly as a checkout does) is written by ``benchmarks/robustness.py`` from measured
distance distributions. A backend/length missing from it falls back to the nearest calibrated length
of the same backend, then to the hasher's own ``similar_threshold``. The file itself missing is an
error: quietly judging with first estimates would change verdicts without a word.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .errors import HasherError
from .factory import create
from .value import ImageHash

THRESHOLDS_FILE = Path(__file__).resolve().parent / "data" / "thresholds.json"

VERDICTS = {
    "identical": "Same image: the hashes are identical.",
    "similar": "Slightly changed copy of the same image: no need to fetch it again.",
    "different": "Different image.",
}


@lru_cache(maxsize=1)
def _thresholds() -> dict[str, dict[int, float]]:
    try:
        data = json.loads(THRESHOLDS_FILE.read_text())
    except (OSError, ValueError) as exc:
        raise HasherError(f"this image-deep-hash installation is incomplete: its calibrated "
                          f"verdict thresholds {THRESHOLDS_FILE} cannot be read ({exc}); "
                          f"reinstall the package") from None
    table: dict[str, dict[int, float]] = {}
    for backend, by_len in data.get("thresholds", {}).items():
        table[backend] = {int(k): float(v["similar"]) for k, v in by_len.items()}
    return table


def similar_threshold(backend: str, hex_len: int, fallback: float = 0.15) -> float:
    """Largest normalised distance that still counts as 'slightly changed' for this backend."""
    by_len = _thresholds().get(backend)
    if not by_len:
        return fallback
    nearest = min(by_len, key=lambda n: (abs(n - hex_len), n))
    return by_len[nearest]


def verdict(distance: int, bits: int, threshold: float) -> str:
    if distance == 0:
        return "identical"
    return "similar" if distance / bits <= threshold else "different"


@dataclass(frozen=True)
class Comparison:
    """The result of comparing two images with one backend."""

    hash_a: ImageHash
    hash_b: ImageHash
    distance: int
    bits: int
    threshold: float
    verdict: str
    cosine: Optional[float] = None  # for backends with embeddings

    @property
    def similarity(self) -> float:
        return 1.0 - self.distance / self.bits

    @property
    def verdict_text(self) -> str:
        return VERDICTS[self.verdict]

    @property
    def differing_bits(self) -> np.ndarray:
        return self.hash_a.bits != self.hash_b.bits

    def to_dict(self) -> dict[str, Any]:
        out = {"backend": self.hash_a.backend, "hash_a": str(self.hash_a), "hash_b": str(self.hash_b),
               "distance": self.distance, "bits": self.bits, "similarity": round(self.similarity, 6),
               "verdict": self.verdict, "verdict_text": self.verdict_text,
               "threshold": self.threshold}
        if self.cosine is not None:
            out["cosine"] = round(self.cosine, 6)
        return out


def compare_hashes(hash_a: ImageHash, hash_b: ImageHash, threshold: Optional[float] = None,
                   cosine: Optional[float] = None) -> Comparison:
    distance = hash_a - hash_b  # raises ValueError when they are not comparable
    if threshold is None:
        threshold = similar_threshold(hash_a.backend, hash_a.hex_len)
    return Comparison(hash_a, hash_b, distance, hash_a.bit_count, threshold,
                      verdict(distance, hash_a.bit_count, threshold), cosine)


def compare_with(hasher, src_a: Any, src_b: Any) -> Comparison:
    """Compare two images with an existing hasher (reuses its model)."""
    hash_a, hash_b, cosine = hasher.hash_pair(hasher.load(src_a), hasher.load(src_b))
    threshold = similar_threshold(hasher.name, hasher.hex_len, type(hasher).similar_threshold)
    return compare_hashes(hash_a, hash_b, threshold, cosine)


def compare(src_a: Any, src_b: Any, backend: str = "phash", hex_len: int = 16,
            **options: Any) -> Comparison:
    """Hash two images with one backend and say how far apart they are."""
    return compare_with(create(backend, hex_len=hex_len, **options), src_a, src_b)
