"""Fit the deep hash's learned-v1 projection and write it to hashers/data/deep/ (package data).

    python benchmarks/corpus.py                       # assemble the fitting photos (not ../shared/photos)
    python benchmarks/fit_deep_projection.py          # fit on the corpus's "fit" split, write the .npz
    python benchmarks/fit_deep_projection.py --projection learned-v2   # the same with canonical twins

Learned whitening from pairs: for every fit photo and a few random training edits of it (JPEG, crops,
blur, scaling, grayscale, colour, padding, small rotations, mirror, text), the covariance *within* pairs
(photo minus its copy) is the noise a hash must ignore, the covariance *between* photos the signal it
must keep. The generalised eigenvectors of (between, within) are the directions that best separate
different photos relative to copy noise; bit k is the sign of the photo's coordinate along direction
k, kept best first, so the hash's first bits use the best directions at every length (the prefix
property). The shrinkage of the within-pair covariance towards its mean
eigenvalue keeps the fit stable on a corpus of a few thousand photos (``deep_v2_study.py`` measured it).
The file records how it was made; refit with the same command after changing the corpus or the design.

learned-v2 whitens the parts of each photo's views and of its canonical twin's views (grayscale, 128 px
on the shorter side: ``hashers.deep_recipe.canonical_image``) together, with the stronger shrinkage
that the study chose on the held-out corpus photos (``deep_v2_study.py --canonical``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.deep_v2_features import FeatureExtractor  # noqa: E402
from benchmarks.deep_v2_study import CORPUS, corpus_photos, features, fit_whitening  # noqa: E402

#: The design chosen by benchmarks/deep_v2_study.py (see benchmarks/results/deep_v2/).
PARTS = ("s6_avg", "head_gem")
KEEP = 1024  # one direction per bit, up to hex length 256
SHRINK = 0.1
#: learned-v2's shrinkage, chosen on the held-out corpus photos (0.1: worst edit 95%; 0.3: 99%).
SHRINK_V2 = 0.3
AUGMENT = 3
VIEWS = 2


def stack(feats: dict, parts=PARTS) -> np.ndarray:
    """Views averaged per part, each part L2-normalised, concatenated: exactly TimmHasher.embed."""
    out = []
    for part in parts:
        views = [feats[f"whole_{part}"]] + ([feats[f"centre_{part}"]] if VIEWS == 2 else [])
        x = np.mean(views, axis=0).astype(np.float64)
        out.append(x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12))
    return np.concatenate(out, axis=1)


def quantised(basis: np.ndarray) -> dict:
    """int8 directions and their scales: each column divided by its largest magnitude over 127."""
    scale = np.abs(basis).max(axis=0) / 127.0
    scale[scale == 0] = 1.0
    return {"basis_int8": np.rint(basis / scale).astype(np.int8), "basis_scale": scale.astype(np.float32)}


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--record", type=Path, default=ROOT / "benchmarks" / "corpus_sources.json")
    parser.add_argument("--limit", type=int, default=0, help="fit on the first N fit photos only")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--projection", choices=("learned-v1", "learned-v2"), default="learned-v1")
    args = parser.parse_args(argv)
    canonical = args.projection == "learned-v2"
    shrink = SHRINK_V2 if canonical else SHRINK

    from hashers import deep
    fit, _, _ = corpus_photos(args.corpus, args.record)
    if args.limit:
        fit = fit[:args.limit]
    t0 = time.perf_counter()
    extractors = [FeatureExtractor()] + ([FeatureExtractor(canonical=True)] if canonical else [])
    raw = features(extractors[0], fit, "orig")
    widths = [int(raw[f"whole_{part}"].shape[1]) for part in PARTS]
    embed = lambda edit: np.concatenate([stack(features(ex, fit, edit)) for ex in extractors], axis=1)
    orig = embed("orig")
    copies = [embed(f"train{k}") for k in range(AUGMENT)]
    mean, basis, values = fit_whitening(np.concatenate([orig] * AUGMENT), np.concatenate(copies),
                                        keep=KEEP, shrink=shrink)
    out = args.out or deep.learned_file(deep.DEFAULT_MODEL, deep.DEFAULT_WEIGHTS_PACKAGE, VIEWS, args.projection)
    provenance = {
        "fitted_by": "benchmarks/fit_deep_projection.py", "photos": len(fit), "edits_per_photo": AUGMENT,
        "corpus_record_sha256": hashlib.sha256(args.record.read_bytes()).hexdigest(),
        "projection": args.projection, "canonical": canonical,
        "parts": list(PARTS), "keep": KEEP, "shrink": shrink, "views": VIEWS,
        "top_eigenvalues": [round(float(v), 3) for v in values[:8]],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    # learned-v2's 3200 x 1024 directions are 6.4 MB in float16: stored as int8 with one scale per
    # direction (3.3 MB) instead; the signs it gives are the hash (the shipped file defines it).
    stored = quantised(basis) if canonical else {"basis": basis.astype(np.float16)}
    np.savez(tmp, parts=np.array(PARTS), widths=np.array(widths), normalise=np.array(True),
             canonical=np.array(canonical), mean=mean.astype(np.float32), **stored,
             provenance=np.array(json.dumps(provenance)))
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB) from {len(fit)} photos in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return out


if __name__ == "__main__":
    main()
