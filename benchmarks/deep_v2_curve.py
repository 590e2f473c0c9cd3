"""Learning curve of the learned projection: held-out detection against the number of fitting photos.

    python benchmarks/deep_v2_curve.py     # after deep_v2_study.py has cached the corpus features

Fits the shipped design (benchmarks/fit_deep_projection.py) on the first N fit photos (several random
draws of N) and scores the corpus's held-out photos as deep_v2_study.py does; if detection still climbs
at the full corpus, more photos would still help.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import fit_deep_projection as fit  # noqa: E402
from benchmarks.deep_v2_features import FeatureExtractor  # noqa: E402
from benchmarks.deep_v2_study import CORPUS, EDITS, Projection, corpus_photos, evaluate, features  # noqa: E402


def main() -> dict:
    fit_paths, hold_paths, groups = corpus_photos(CORPUS, ROOT / "benchmarks" / "corpus_sources.json")
    extractor = FeatureExtractor()
    x = fit.stack(features(extractor, fit_paths, "orig"))
    copies = [fit.stack(features(extractor, fit_paths, f"train{k}")) for k in range(fit.AUGMENT)]
    xo = fit.stack(features(extractor, hold_paths, "orig"))
    xe = {k: fit.stack(features(extractor, hold_paths, k)) for k in EDITS}
    rows = []
    rng = np.random.default_rng(0)
    for n in (50, 100, 200, 400, len(fit_paths)):
        means, mins = [], []
        for draw in range(3 if n < len(fit_paths) else 1):
            pick = rng.choice(len(fit_paths), n, replace=False) if n < len(fit_paths) else np.arange(n)
            proj = Projection("lw-sign", x.shape[1], keep=256, shrink=fit.SHRINK).fit(
                np.concatenate([x[pick]] * len(copies)), np.concatenate([c[pick] for c in copies]))
            res = evaluate(proj, xo, xe, groups)
            means.append(res["mean"])
            mins.append(res["min"])
        rows.append({"fit_photos": n, "mean_detection": round(float(np.mean(means)), 4),
                     "worst_edit_detection": round(float(np.mean(mins)), 4)})
        print(rows[-1], file=sys.stderr)
    out = ROOT / "benchmarks" / "results" / "deep_v2"
    out.mkdir(parents=True, exist_ok=True)
    (out / "learning_curve.json").write_text(json.dumps(rows, indent=1))
    return {"rows": rows}


if __name__ == "__main__":
    main()
