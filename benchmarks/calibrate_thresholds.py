"""Calibrate the verdict thresholds that ship in registry/data/thresholds.json, on photos no benchmark scores.

    python benchmarks/calibrate_thresholds.py            # the corpus's holdout photos (benchmarks/corpus.py)

A pair counts as "the same picture, slightly changed" while its normalised Hamming distance is at most
``similar``: the largest distance at which at most 1 in 1000 pairs of *different* photos matched. Those
pairs come from the fitting corpus (for the deep hash only its held-out split, which did not fit its
projection), never from ``../shared/photos``, which ``benchmarks/robustness.py`` scores: the robustness
table then reads the shipped thresholds as an independent check instead of being tuned on its own photos.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FPR = 1e-3
#: Whether the deep hash's default is the projection fitted on the corpus (then only its held-out photos
#: may calibrate it). Today's default is v1 (projection="random"), which fitted nothing on the corpus.
LEARNED_DEFAULT = False
BACKENDS = ("ahash", "phash", "dhash", "timm")
HEX_LENGTHS = (16, 64)
#: The learned projections' lengths: every one is a prefix of the longest hash (the prefix property),
#: so more lengths cost no hashing, and between 16 and 64 the nearest length's fraction was far off.
LEARNED_HEX_LENGTHS = (4, 8, 16, 32, 48, 64)


def pair_distances(hashes) -> np.ndarray:
    from benchmarks.deep_v2_study import negative_distances
    return negative_distances(np.stack([h.bits for h in hashes]))


def threshold_at(distances: np.ndarray, fpr: float = FPR) -> int:
    """Largest distance t with P(d <= t) <= fpr among different photos (-1 if even 0 is too often)."""
    cumulative = np.bincount(distances, minlength=int(distances.max()) + 2).cumsum() / len(distances)
    ok = np.nonzero(cumulative <= fpr)[0]
    return int(ok.max()) if len(ok) else -1


def dihedral_pair_distances(eight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For hashes of shape (n, 8, bits) and each pair i < j: (distance of photo i to photo j as it is,
    smallest distance of photo i to photo j in its 7 other orientations)."""
    first = eight[:, 0, :]
    plain, turned = [], []
    for i in range(len(eight) - 1):
        d = (first[i][None, None, :] != eight[i + 1:]).sum(-1)
        plain.append(d[:, 0])
        turned.append(d[:, 1:].min(1))
    return np.concatenate(plain), np.concatenate(turned)


def turned_floor(bits: int) -> int:
    """The distance within which a turned copy must still match: room for a re-encoded turn."""
    return max(2, bits // 8)


def dihedral_rule(plain: np.ndarray, turned: np.ndarray, bits: int) -> tuple[int, int, float]:
    """(threshold T, penalty p, false-match rate): pairs match when ``min(plain, turned + p) <= T``.

    The largest T at 1 false match in 1000 such that turned copies still match within
    ``T - p >= turned_floor(bits)``: a larger penalty lets T grow back towards the plain threshold.
    """
    best = None
    for p in range(0, bits + 1):
        effective = np.minimum(plain, turned + p)
        t = max(threshold_at(effective), 0)
        if t - p >= turned_floor(bits):
            best = (t, p, float(np.mean(effective <= t)))
        elif best is not None:
            break
    if best is None:  # even no penalty leaves too little room: the plain minimum of eight
        effective = np.minimum(plain, turned)
        t = max(threshold_at(effective), 0)
        best = (t, 0, float(np.mean(effective <= t)))
    return best


def hash_eight(backend: str, hex_len: int, photos, **options) -> np.ndarray:
    from concurrent.futures import ThreadPoolExecutor
    import registry
    hasher = registry.create(backend, hex_len=hex_len, **options)
    with ThreadPoolExecutor(2) as pool:
        rows = list(pool.map(lambda p: np.stack([h.bits for h in hasher.hash_dihedral(p)]), photos))
    return np.stack(rows)


def calibrate_dihedral(table: dict, photos, backends=BACKENDS) -> None:
    """Add ``similar_dihedral``/``max_bits_dihedral`` beside each plain threshold: the minimum over
    8 orientations falls below a threshold more often by chance, so it gets its own 1-in-1000 point."""
    for backend in backends:
        longest = max(HEX_LENGTHS)
        # The deep hash's shorter lengths are prefixes of its longest one: one pass serves both.
        deep = hash_eight(backend, longest, photos) if backend == "timm" else None
        for hex_len in HEX_LENGTHS:
            bits = 4 * hex_len
            eight = deep[:, :, :bits] if deep is not None else hash_eight(backend, hex_len, photos)
            t, p, rate = dihedral_rule(*dihedral_pair_distances(eight), bits)
            entry = table.setdefault(backend, {}).setdefault(str(hex_len), {})
            entry.update({"similar_dihedral": round(t / bits, 4), "max_bits_dihedral": t,
                          "turn_penalty_bits": p, "measured_false_match_rate_dihedral": round(rate, 6)})
            print(f"{backend}-{hex_len} dihedral: {t} of {bits} bits as it is, {t - p} turned "
                  f"(plain {entry.get('max_bits')})", file=sys.stderr)


def calibrate_learned(fitted_record: Path, corpus: Path, record: Path, table: dict, report: Path) -> dict:
    """Thresholds of their own for the learned deep projections (``"timm/learned-v2"`` beside
    ``"timm"``), on corpus photos their fit never saw: a projection fitted on a photo sits its
    different neighbours too far apart to calibrate on it.

    ``fitted_record`` is the corpus record they were fitted from (its sha256 is in their provenance,
    and is checked); its ``fit`` photos are left out, whichever split they have now. The entries carry
    every threshold key, plain and dihedral; the detail limits stay the backend's.
    """
    import hashlib
    from benchmarks.deep_v2_study import negative_distances
    from hashers.deep_recipe import LEARNED_PROJECTIONS, learned_file
    from hashers.deep_weights import DEFAULT_MODEL, DEFAULT_WEIGHTS_PACKAGE
    from registry import comparison
    digest = hashlib.sha256(fitted_record.read_bytes()).hexdigest()
    fitted = {p["name"] for p in json.loads(fitted_record.read_text())["photos"] if p["split"] == "fit"}
    photos = [corpus / "photos" / p["name"] for p in json.loads(record.read_text())["photos"]
              if p["name"] not in fitted]
    result = {"command": "python benchmarks/calibrate_thresholds.py --learned <corpus record of the fit>",
              "fitted_record_sha256": digest, "photos": len(photos),
              "pairs": len(photos) * (len(photos) - 1) // 2, "projections": {}}
    longest = max(LEARNED_HEX_LENGTHS)
    for projection in LEARNED_PROJECTIONS:
        with np.load(learned_file(DEFAULT_MODEL, DEFAULT_WEIGHTS_PACKAGE, 2, projection)) as data:
            provenance = json.loads(str(data["provenance"]))
        if provenance["corpus_record_sha256"] != digest:
            raise SystemExit(f"{projection} was fitted from another corpus record "
                             f"({provenance['corpus_record_sha256'][:12]}, given {digest[:12]})")
        eight = hash_eight("timm", longest, photos, projection=projection)   # [:, 0]: as it is
        rows, entries = {}, {}
        for hex_len in LEARNED_HEX_LENGTHS:
            bits = 4 * hex_len
            distances = negative_distances(eight[:, 0, :bits])   # shorter hashes are prefixes
            t = max(threshold_at(distances), 0)
            shared = comparison.threshold_bits(comparison.similar_threshold("timm", hex_len), bits)
            td, p, rate = dihedral_rule(*dihedral_pair_distances(eight[:, :, :bits]), bits)
            entries[str(hex_len)] = {"similar": round(t / bits, 4), "max_bits": t, "false_match_rate": FPR,
                                     "measured_false_match_rate": round(float(np.mean(distances <= t)), 6),
                                     "similar_dihedral": round(td / bits, 4), "max_bits_dihedral": td,
                                     "turn_penalty_bits": p, "measured_false_match_rate_dihedral": round(rate, 6)}
            rows[str(hex_len)] = {"own_threshold_bits": t, "v1_threshold_bits": shared,
                                  "false_match_rate_at_v1_threshold": round(float(np.mean(distances <= shared)), 6),
                                  "dihedral_bits": td, "turn_penalty_bits": p}
            print(f"{projection}-{hex_len}: {rows[str(hex_len)]}", file=sys.stderr)
        table[f"timm/{projection}"] = entries
        result["projections"][projection] = rows
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(result, indent=1) + "\n")
    return result


def main(argv=None) -> dict:
    from benchmarks.deep_v2_study import CORPUS, corpus_photos
    import registry
    from registry import comparison

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--record", type=Path, default=ROOT / "benchmarks" / "corpus_sources.json")
    ap.add_argument("--out", type=Path, default=comparison.THRESHOLDS_FILE)
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--dihedral-only", action="store_true",
                      help="only (re)calibrate the dihedral thresholds, keeping every other number")
    only.add_argument("--learned", type=Path, metavar="FITTED_RECORD",
                      help="only (re)calibrate the learned deep projections' own thresholds, on the corpus "
                           "photos their fit never saw (FITTED_RECORD: the corpus record they were fitted from)")
    args = ap.parse_args(argv)
    fit, holdout, _ = corpus_photos(args.corpus, args.record)
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    table: dict = previous.get("thresholds", {})
    used = {}
    if args.dihedral_only or args.learned:
        if args.learned:
            report = calibrate_learned(args.learned, args.corpus, args.record, table,
                                       ROOT / "benchmarks" / "results" / "deep_v2" / "learned_thresholds.json")
            for projection in report["projections"]:
                previous.setdefault("photos", {})[f"timm/{projection}"] = report["photos"]
                previous.setdefault("pairs", {})[f"timm/{projection}"] = report["pairs"]
        else:
            calibrate_dihedral(table, fit + holdout)
        previous["thresholds"] = table
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(previous, indent=1) + "\n")
        tmp.replace(args.out)
        return previous
    for backend in BACKENDS:
        # A deep projection fitted on the fit split would sit its negatives there too far apart: such a
        # default is calibrated on the held-out photos only. Hashes that fit nothing on the corpus get
        # every corpus photo (more pairs, a steadier 1-in-1000 quantile).
        photos = holdout if backend == "timm" and LEARNED_DEFAULT else fit + holdout
        used[backend] = len(photos)
        for hex_len in HEX_LENGTHS:
            hashes = registry.create(backend, hex_len=hex_len).hash_many(photos, progress=True)
            distances = pair_distances(hashes)
            t = max(threshold_at(distances), 0)
            bits = 4 * hex_len
            entry = table.setdefault(backend, {}).setdefault(str(hex_len), {})
            entry.update({"similar": round(t / bits, 4), "max_bits": t, "false_match_rate": FPR,
                          "measured_false_match_rate": round(float(np.mean(distances <= t)), 6)})
            print(f"{backend}-{hex_len}: {t} of {bits} bits", file=sys.stderr)
    calibrate_dihedral(table, fit + holdout)
    out = {**previous, "about": "Written by benchmarks/calibrate_thresholds.py: a pair counts as 'slightly changed' while "
                    "its normalised distance is at most 'similar', the largest at which at most 1 in 1000 "
                    "pairs of different photos matched, measured on the fitting corpus (the deep hash: its held-out "
                    "photos only) and never on ../shared/photos, which the robustness benchmark scores.",
           # merged: the learned projections' own counts (--learned) stay beside the backends'
           "photos": {**previous.get("photos", {}), **used},
           "pairs": {**previous.get("pairs", {}), **{b: n * (n - 1) // 2 for b, n in used.items()}},
           "command": "python benchmarks/calibrate_thresholds.py", "thresholds": table}
    # (benchmarks/verdicts.py adds the detail and colour limits to the same file, keeping these.)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    tmp.replace(args.out)
    return out


if __name__ == "__main__":
    main()
