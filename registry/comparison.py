"""Two questions, answered apart: is it the same picture, and can I keep it or must I fetch it again?

*Same picture?* The hash distance answers, with every invariance the hash has: within the calibrated
threshold it is the same picture. *Fetch again?* The verdict answers, from the distance plus what the
hash is blind to:

- ``identical``: same pixels (only known when both images are at hand); keep it.
- ``similar``: the same picture, slightly changed (re-encoded, resized, lightly edited); keep it.
- ``recoloured``: the same picture, but its colours or tone changed beyond what re-encoding does
  (inverted, channels swapped, hue turned, made grayscale, much brighter or darker); fetch it again.
- ``edited``: the same picture to the hash, but a part of it changed (drawn over, covered, replaced)
  or it was cropped, padded, turned or mirrored: its 8 x 8 lightness layout moved beyond what
  re-encoding does; fetch it again.
- ``uncertain``: too little detail for the distance to mean anything (a flat colour, a nearly blank
  page) and the colour layout cannot tell either; fetch it again to be safe.
- ``different``: another picture; fetch it.

Thresholds are data, not code: ``registry/data/thresholds.json`` (package data, so an installed
package judges exactly as a checkout does), written by ``benchmarks/calibrate_thresholds.py`` on photos
no benchmark scores. A backend/length missing from it falls back to the nearest calibrated length of
the same backend, then to the hasher's own ``similar_threshold``. A deep projection calibrated on its
own (``"timm/learned-v2"``) is looked up by the name :func:`calibration_name` gives a hash's or a
hasher's identity, so every face (compare, check, dedup, index, video) judges it alike. The file itself missing is an error:
quietly judging with first estimates would change verdicts without a word.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from .colour import changes_in, colour_stats, fine_change, signature
from .errors import HasherError
from .factory import create
from .value import ImageHash

THRESHOLDS_FILE = Path(__file__).resolve().parent / "data" / "thresholds.json"

VERDICTS = {
    "identical": "Identical pixels: no need to fetch it again.",
    "similar": "Same picture, slightly changed (re-encoded, resized or lightly edited): "
               "no need to fetch it again.",
    "recoloured": "Same picture, but its colours or tone changed: fetch it again.",
    "edited": "Same picture, but part of it changed, or it was cropped, turned or mirrored: fetch it again.",
    "uncertain": "Too little detail to tell whether it is the same picture: fetch it again to be safe.",
    "different": "Different picture: fetch it again.",
}
KEEP = frozenset({"identical", "similar"})
#: How a verdict names the orientation of B that matched (``registry.hasher.DIHEDRAL``).
ORIENTATION_WORDS = {"identity": "as it is", "rot90": "turned 90° counter-clockwise",
                     "rot180": "turned 180°", "rot270": "turned 90° clockwise", "mirror": "mirrored",
                     "transpose": "mirrored and turned 90° counter-clockwise",
                     "flip": "flipped upside down", "transverse": "mirrored and turned 90° clockwise"}
#: Until calibrated: below this detail score (mean thumbnail gradient, gray levels) a hash says little.
DEFAULT_MIN_DETAIL = 2.0
#: Low-detail pairs: mean Lab difference of the 4 x 4 colour layout beyond which they are different.
DEFAULT_LAYOUT_DIFFERENT = 6.0
#: Until calibrated: the most a cell of the 8 x 8 lightness layout moves under re-encoding (L units).
DEFAULT_FINE_LIMIT = 5.0


@lru_cache(maxsize=1)
def _calibration() -> dict:
    try:
        return json.loads(THRESHOLDS_FILE.read_text())
    except (OSError, ValueError) as exc:
        raise HasherError(f"this image-deep-hash installation is incomplete: its calibrated "
                          f"verdict thresholds {THRESHOLDS_FILE} cannot be read ({exc}); "
                          f"reinstall the package") from None


def calibration_name(of: Any, options: Optional[Mapping[str, Any]] = None) -> str:
    """The name a hash's thresholds are calibrated under: ``"timm/learned-v2"`` for a deep projection
    calibrated on its own (a learned projection spreads different photos unlike v1's hyperplanes),
    otherwise the backend's. ``of``: an ImageHash, a hasher, or a backend's name with ``options`` (a
    hash's options, a hasher's identity or a spec)."""
    if isinstance(of, ImageHash):
        of, options = of.backend, of.options
    elif not isinstance(of, str):   # a hasher
        of, options = of.name, of.identity
    projection = (options or {}).get("projection")
    name = f"{of}/{projection}"
    return name if projection and name in _calibration().get("thresholds", {}) else of


def _nearest_len(name: str, hex_len: int) -> Optional[str]:
    by_len = _calibration().get("thresholds", {}).get(name)
    return min(by_len, key=lambda n: (abs(int(n) - hex_len), int(n))) if by_len else None


def _nearest(name: str, hex_len: int) -> Optional[dict]:
    """The calibrated entry nearest ``hex_len``; a projection's own (``"timm/learned-v2"``) over its
    backend's, whose other limits (detail) it shares."""
    table = _calibration().get("thresholds", {})
    backend = name.partition("/")[0]
    # Only a calibrated projection inherits from its backend; any other name (a plugin's "a/b") is its own.
    keys = (backend, name) if name != backend and name in table else (name,)
    entry = None
    for key in keys:
        length = _nearest_len(key, hex_len)
        if length is not None:
            entry = {**(entry or {}), **table[key][length]}
    return entry


def _calibrated_at(name: str, hex_len: int, key: str) -> bool:
    """Whether ``key`` was calibrated at exactly this length (not carried over from another). A
    projection's own entries carry every threshold key; only the verdict limits come from its backend."""
    return key in _calibration().get("thresholds", {}).get(name, {}).get(str(hex_len), {})


def similar_threshold(backend: Any, hex_len: int, fallback: float = 0.15, *, dihedral: bool = False) -> float:
    """Largest normalised distance that still counts as 'slightly changed' for this backend.

    ``backend``: a calibrated name, or a hash or hasher, whose :func:`calibration_name` is taken here
    (as in :func:`turn_penalty` and :func:`min_detail`), so no caller can judge a learned projection
    by its backend's thresholds by forgetting it.

    With ``dihedral``, the threshold for B as it is when its 7 turned and mirrored orientations compete
    too (``similar_dihedral``, calibrated with :func:`turn_penalty`): the best of eight distances falls
    below a threshold more often by chance, so for the same rate of false matches it must be stricter.
    A backend calibrated without it (a plugin) uses its plain threshold.
    """
    backend = calibration_name(backend)
    entry = _nearest(backend, hex_len)
    if not entry:
        return fallback
    key = "similar_dihedral" if dihedral and "similar_dihedral" in entry else "similar"
    bits_key = "max_bits_dihedral" if key == "similar_dihedral" else "max_bits"
    if _calibrated_at(backend, hex_len, bits_key):
        # Exactly the calibrated number of bits: the rounded fraction can fall just below it.
        return int(entry[bits_key]) / (4 * hex_len)
    return float(entry[key])


def turn_penalty(backend: Any, hex_len: int) -> int:
    """Bits added to the distance of a turned or mirrored orientation before it competes with B as it
    is (``dihedral=True``). Calibrated with ``similar_dihedral``: it keeps chance matches among the 7
    other orientations rare, so the threshold for B as it is stays close to the plain one; a turned
    copy then matches within ``threshold * bits - penalty`` bits. 0 where not calibrated."""
    backend = calibration_name(backend)
    entry = _nearest(backend, hex_len)
    if not entry or "turn_penalty_bits" not in entry:
        return 0
    penalty = int(entry["turn_penalty_bits"])
    if _calibrated_at(backend, hex_len, "turn_penalty_bits"):
        return penalty
    return int(round(penalty * hex_len / int(_nearest_len(backend, hex_len))))


def min_detail(backend: Any, hex_len: int) -> float:
    """Detail score below which this backend's distance means too little to call a pair the same."""
    entry = _nearest(calibration_name(backend), hex_len)
    return float(entry.get("min_detail", DEFAULT_MIN_DETAIL)) if entry else DEFAULT_MIN_DETAIL


def colour_limits() -> dict:
    return dict(_calibration().get("colour", {}))


def layout_different() -> float:
    return float(_calibration().get("low_detail", {}).get("layout_different", DEFAULT_LAYOUT_DIFFERENT))


def fine_limit() -> float:
    """Largest :func:`registry.colour.fine_change` of a re-encoded or resized copy."""
    return float(_calibration().get("fine_layout", {}).get("limit", DEFAULT_FINE_LIMIT))


_thresholds = _calibration  # the name the tests clear


def threshold_bits(threshold: float, bits: int) -> int:
    """The largest distance, in bits, that ``threshold`` (a fraction of ``bits``) lets through.

    One rule for every caller (verdicts, the index's radius, dedup): a threshold made from a bit count
    (``radius / bits``) must give that count back, and ``threshold * bits`` in floats can fall just short
    of it (15 / 44 * 44 = 14.999999999999998)."""
    return int(math.floor(threshold * bits + 1e-9))


def judge(hash_a: ImageHash, hash_b: ImageHash, distance: int, threshold: float,
          same_pixels: Optional[bool] = None) -> tuple[str, list[str], bool]:
    """(verdict, colour changes in words, low detail) for a pair; the one rule every face uses."""
    if same_pixels:
        return "identical", [], False
    limit = min_detail(hash_a, hash_a.hex_len)
    details = [h.detail for h in (hash_a, hash_b) if h.detail is not None]
    low = bool(details) and min(details) < limit
    colours = hash_a.colour is not None and hash_b.colour is not None
    stats = colour_stats(hash_a.colour, hash_b.colour) if colours else None
    changes = changes_in(stats, colour_limits()) if colours else []
    same_picture = distance <= threshold_bits(threshold, hash_a.bit_count)
    if low:
        # The hash says little; the colour layout can still tell clearly different images apart. Nothing
        # here matches them: a page whose words changed in place keeps every thumbnail and layout.
        if colours and stats["layout"] > layout_different():
            return "different", changes, True
        return "uncertain", changes, True
    if not same_picture:
        return "different", changes, False
    if changes:
        return "recoloured", changes, False
    fine = fine_change(hash_a.colour, hash_b.colour) if colours else None   # only a kept pair needs it
    if fine is not None and fine > fine_limit():
        return "edited", changes, False
    return "similar", changes, False


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
    changes: tuple[str, ...] = field(default_factory=tuple)  # colour/tone changes found, in words
    low_detail: bool = False
    identical_file: bool = False
    #: With ``dihedral=True``: which orientation of B (see ``registry.hasher.DIHEDRAL``) came closest.
    orientation: Optional[str] = None

    @property
    def similarity(self) -> float:
        return 1.0 - self.distance / self.bits

    @property
    def same_picture(self) -> bool:
        """The hash's answer alone: within the calibrated distance (whatever the colours)."""
        return self.distance <= threshold_bits(self.threshold, self.bits)

    @property
    def fetch_again(self) -> bool:
        """The verdict's answer: False only for identical pixels or a slightly changed copy."""
        return self.verdict not in KEEP

    @property
    def verdict_text(self) -> str:
        if self.verdict == "identical" and self.identical_file:
            return "Identical file: no need to fetch it again."
        if self.verdict == "recoloured" and self.changes:
            text = f"Same picture, but {', '.join(self.changes)}: fetch it again."
        else:
            text = VERDICTS[self.verdict]
        if self.orientation not in (None, "identity") and self.verdict != "different":
            text += f" (B matched when {ORIENTATION_WORDS[self.orientation]}.)"
        return text

    @property
    def differing_bits(self) -> np.ndarray:
        return self.hash_a.bits != self.hash_b.bits

    def to_dict(self) -> dict[str, Any]:
        out = {"backend": self.hash_a.backend, "hash_a": str(self.hash_a), "hash_b": str(self.hash_b),
               "distance": self.distance, "bits": self.bits, "similarity": round(self.similarity, 6),
               "verdict": self.verdict, "verdict_text": self.verdict_text,
               "fetch_again": self.fetch_again, "same_picture": self.same_picture,
               "changes": list(self.changes), "detail_a": self.hash_a.detail,
               "detail_b": self.hash_b.detail, "low_detail": self.low_detail,
               "threshold": self.threshold}
        if self.cosine is not None:
            out["cosine"] = round(self.cosine, 6)
        if self.orientation is not None:
            out["orientation"] = self.orientation
        return out


def compare_hashes(hash_a: ImageHash, hash_b: ImageHash, threshold: Optional[float] = None,
                   cosine: Optional[float] = None, *, same_pixels: Optional[bool] = None,
                   identical_file: bool = False) -> Comparison:
    """Compare two stored hashes. Without the images, equal hashes are 'similar', never 'identical'."""
    distance = hash_a - hash_b  # raises ValueError when they are not comparable
    if threshold is None:
        threshold = similar_threshold(hash_a, hash_a.hex_len)
    verdict, changes, low = judge(hash_a, hash_b, distance, threshold, same_pixels)
    return Comparison(hash_a, hash_b, distance, hash_a.bit_count, threshold, verdict, cosine,
                      tuple(changes), low, identical_file and verdict == "identical")


def _file_bytes(src: Any) -> Optional[bytes]:
    if isinstance(src, (str, Path)):
        try:
            return Path(src).read_bytes()
        except OSError:
            return None
    return src if isinstance(src, bytes) else None


def compare_with(hasher, src_a: Any, src_b: Any, *, dihedral: bool = False) -> Comparison:
    """Compare two images with an existing hasher (reuses its model).

    With ``dihedral``, B is also hashed turned by 90, 180 and 270 degrees and mirrored (8
    orientations); the distance is the smallest of A's hash to those 8, judged against the
    threshold calibrated for that minimum, and ``orientation`` says which one won.
    """
    if dihedral:
        return _compare_dihedral(hasher, src_a, src_b)
    img_a, img_b = hasher.decode(src_a), hasher.decode(src_b)
    hash_a, hash_b, cosine = hasher.hash_pair(hasher.prepare(img_a), hasher.prepare(img_b))
    hash_a = hash_a.with_quality(hash_a.detail, signature(img_a))
    hash_b = hash_b.with_quality(hash_b.detail, signature(img_b))
    same_pixels = img_a.size == img_b.size and img_a.mode == img_b.mode and \
        np.array_equal(np.asarray(img_a), np.asarray(img_b))
    bytes_a, bytes_b = _file_bytes(src_a), _file_bytes(src_b)
    threshold = similar_threshold(hasher, hasher.hex_len, type(hasher).similar_threshold)
    return compare_hashes(hash_a, hash_b, threshold, cosine, same_pixels=same_pixels,
                          identical_file=bytes_a is not None and bytes_a == bytes_b)


def _compare_dihedral(hasher, src_a: Any, src_b: Any) -> Comparison:
    from .hasher import DIHEDRAL, orient
    img_a, img_b = hasher.decode(src_a), hasher.decode(src_b)
    hash_a = hasher.hash_image(hasher.prepare(img_a), colour=signature(img_a))
    turned = hasher.hash_dihedral(img_b)
    penalty = turn_penalty(hasher, hasher.hex_len)
    distances = [hash_a - h for h in turned]
    effective = [d + (penalty if k else 0) for k, d in enumerate(distances)]
    best = int(np.argmin(effective))   # the first of equals: no turn is preferred to a turn
    img_b = orient(img_b, DIHEDRAL[best])
    same_pixels = img_a.size == img_b.size and img_a.mode == img_b.mode and \
        np.array_equal(np.asarray(img_a), np.asarray(img_b))
    bytes_a, bytes_b = _file_bytes(src_a), _file_bytes(src_b)
    threshold = similar_threshold(hasher, hasher.hex_len, type(hasher).similar_threshold, dihedral=True)
    if best:  # a turned orientation must come within the threshold less its penalty
        threshold = max(threshold * hasher.bit_count - penalty, -1) / hasher.bit_count
    result = compare_hashes(hash_a, turned[best], threshold, same_pixels=same_pixels,
                            identical_file=bytes_a is not None and bytes_a == bytes_b)
    if best and result.verdict == "identical":  # the same pixels, once turned: a copy, not the file
        result = dataclasses.replace(result, verdict="similar", identical_file=False)
    return dataclasses.replace(result, orientation=DIHEDRAL[best])


def compare(src_a: Any, src_b: Any, backend: str = "phash", hex_len: int = 16, *,
            dihedral: bool = False, **options: Any) -> Comparison:
    """Hash two images with one backend and say how far apart they are, and whether to fetch again.

    ``dihedral=True`` also finds B turned by a multiple of 90 degrees or mirrored (see
    :func:`compare_with`).
    """
    return compare_with(create(backend, hex_len=hex_len, **options), src_a, src_b, dihedral=dihedral)

