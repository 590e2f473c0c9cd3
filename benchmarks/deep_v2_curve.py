"""Learning curve of the learned projection: held-out detection against the number of fitting photos.

    python benchmarks/deep_v2_curve.py                          # learned-v1's design
    python benchmarks/deep_v2_curve.py --projection learned-v2  # with each photo's canonical twin

Fits the shipped design (benchmarks/fit_deep_projection.py) on N fit photos (three random draws of N
below the full fit split) and scores the corpus's held-out photos as deep_v2_study.py does; if detection
still climbs at the full corpus, more photos would still help. Features are cached (deep_v2_features),
so a rerun after the corpus grows extracts only the new photos'. The shipped projection of the same name
is scored on the same held-out photos (``shipped``), so a refit on the full fit split can be compared
with what users have.
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

from benchmarks import fit_deep_projection as fit  # noqa: E402
from benchmarks.deep_v2_features import FeatureExtractor  # noqa: E402
from benchmarks.deep_v2_study import (CORPUS, DIHEDRAL_EDITS, EDITS, Projection, corpus_photos,  # noqa: E402
                                      evaluate, features)

SIZES = (50, 100, 200, 400, 600, 800)


def shipped_score(projection: str, xo: np.ndarray, xe: dict, groups: np.ndarray) -> dict:
    """The shipped file's detection on the held-out photos, scored as the curve's fits are."""
    from hashers.deep_recipe import DEFAULT_MODEL, DEFAULT_WEIGHTS_PACKAGE, _learned_recipe, learned_file
    recipe = _learned_recipe(learned_file(DEFAULT_MODEL, DEFAULT_WEIGHTS_PACKAGE, fit.VIEWS, projection), projection)
    proj = Projection("shipped", xo.shape[1])
    proj.mean, proj.matrix = recipe.mean, recipe.basis.T
    res = evaluate(proj, xo, xe, groups)
    return {"mean_detection": round(res["mean"], 4), "worst_edit_detection": round(res["min"], 4),
            "worst_edit": res["worst"], "threshold_bits": res["threshold"],
            "lookalikes_matched": round(res["lookalike_match"], 4)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projection", choices=("learned-v1", "learned-v2"), default="learned-v1")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--record", type=Path, default=ROOT / "benchmarks" / "corpus_sources.json")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "deep_v2")
    args = ap.parse_args(argv)
    canonical = args.projection == "learned-v2"
    shrink = fit.SHRINK_V2 if canonical else fit.SHRINK
    extractors = [FeatureExtractor()] + ([FeatureExtractor(canonical=True)] if canonical else [])
    fit_paths, hold_paths, groups = corpus_photos(args.corpus, args.record)

    def embed(paths, edit):
        return np.concatenate([fit.stack(features(ex, paths, edit)) for ex in extractors], axis=1)

    x = embed(fit_paths, "orig")
    copies = [embed(fit_paths, f"train{k}") for k in range(fit.AUGMENT)]
    xo = embed(hold_paths, "orig")
    # learned-v2 is scored as its study chose it: the bar sets quarter turns aside
    edits = [k for k in EDITS if not (canonical and k in DIHEDRAL_EDITS)]
    xe = {k: embed(hold_paths, k) for k in edits}
    rows = []
    rng = np.random.default_rng(0)
    for n in [s for s in SIZES if s < len(fit_paths)] + [len(fit_paths)]:
        means, mins, looks = [], [], []
        for draw in range(3 if n < len(fit_paths) else 1):
            pick = rng.choice(len(fit_paths), n, replace=False) if n < len(fit_paths) else np.arange(n)
            proj = Projection("lw-sign", x.shape[1], keep=256, shrink=shrink).fit(
                np.concatenate([x[pick]] * len(copies)), np.concatenate([c[pick] for c in copies]))
            res = evaluate(proj, xo, xe, groups)
            means.append(res["mean"])
            mins.append(res["min"])
            looks.append(res["lookalike_match"])
        rows.append({"fit_photos": n, "mean_detection": round(float(np.mean(means)), 4),
                     "lookalikes_matched": round(float(np.mean(looks)), 4),
                     "worst_edit_detection": round(float(np.mean(mins)), 4),
                     "worst_edit_detection_draws": [round(float(m), 4) for m in mins]})
        print(rows[-1], file=sys.stderr)
    result = {"projection": args.projection, "holdout_photos": len(hold_paths), "fit_photos": len(fit_paths),
              "corpus_record": str(args.record.name), "rows": rows,
              "shipped": shipped_score(args.projection, xo, xe, groups)}
    print({"shipped": result["shipped"]}, file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "learning_curve.json" if not canonical else "learning_curve_v2.json"
    (args.out / name).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
