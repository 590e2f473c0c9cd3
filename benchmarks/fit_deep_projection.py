"""Fit the deep hash's learned-v1 projection and write it to hashers/data/deep/ (package data).

    python benchmarks/corpus.py                       # assemble the fitting photos (not ../shared/photos)
    python benchmarks/fit_deep_projection.py          # fit on the corpus's "fit" split, write the .npz

Learned whitening from pairs: for every fit photo and a few random training edits of it (JPEG, crops,
blur, scaling, grayscale, colour, padding, small rotations, mirror, text), the covariance *within* pairs
(photo minus its copy) is the noise a hash must ignore, the covariance *between* photos the signal it
must keep. The generalised eigenvectors of (between, within) are the directions that best separate
different photos relative to copy noise; bit k is the sign of the photo's coordinate along direction
k, kept best first, so the hash's first bits use the best directions at every length (the prefix
property). The shrinkage of the within-pair covariance towards its mean
eigenvalue keeps the fit stable on a corpus of a few thousand photos (``deep_v2_study.py`` measured it).
The file records how it was made; refit with the same command after changing the corpus or the design.
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


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--record", type=Path, default=ROOT / "benchmarks" / "corpus_sources.json")
    parser.add_argument("--limit", type=int, default=0, help="fit on the first N fit photos only")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    from hashers import deep
    fit, _, _ = corpus_photos(args.corpus, args.record)
    if args.limit:
        fit = fit[:args.limit]
    t0 = time.perf_counter()
    extractor = FeatureExtractor()
    raw = features(extractor, fit, "orig")
    widths = [int(raw[f"whole_{part}"].shape[1]) for part in PARTS]
    orig = stack(raw)
    copies = [stack(features(extractor, fit, f"train{k}")) for k in range(AUGMENT)]
    mean, basis, values = fit_whitening(np.concatenate([orig] * AUGMENT), np.concatenate(copies),
                                        keep=KEEP, shrink=SHRINK)
    out = args.out or deep.learned_file(deep.DEFAULT_MODEL, deep.DEFAULT_WEIGHTS_PACKAGE, VIEWS)
    provenance = {
        "fitted_by": "benchmarks/fit_deep_projection.py", "photos": len(fit), "edits_per_photo": AUGMENT,
        "corpus_record_sha256": hashlib.sha256(args.record.read_bytes()).hexdigest(),
        "parts": list(PARTS), "keep": KEEP, "shrink": SHRINK, "views": VIEWS,
        "top_eigenvalues": [round(float(v), 3) for v in values[:8]],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, parts=np.array(PARTS), widths=np.array(widths), normalise=np.array(True),
             mean=mean.astype(np.float32), basis=basis.astype(np.float16),
             provenance=np.array(json.dumps(provenance)))
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB) from {len(fit)} photos in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return out


if __name__ == "__main__":
    main()
