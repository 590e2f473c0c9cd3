"""Do the shipped colour limits stay quiet on every benign copy of every fit photo of the corpus?

    python benchmarks/colour_quiet.py     # after benchmarks/corpus.py; writes results/verdicts/colour_quiet.json

`benchmarks/verdicts.py --calibrate` sets the colour limits on 150 fit photos; this checks them on all of
them (never on ../shared/photos), and measures the mean colour shift over the signature's 4 x 4 cells
(a/b only, in the framing that agrees best) of benign copies against that of colour edits, and counts the
colour edits each rule lets through: the shipped one, and the one before the visibility gate
(``registry.colour.VISIBLE_CHROMA``), which ignores colour changes below a just-noticeable difference.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import verdicts as V  # noqa: E402


def colour_shift(sig_a: str, sig_b: str) -> float:
    """Mean a/b distance of the 4 x 4 colour cells (Lab units), in the framing that agrees best."""
    from registry.colour import Colours, _framings
    a, b = Colours.from_hex(sig_a).cells, Colours.from_hex(sig_b).cells
    return min(float(np.mean(np.hypot(*(fa[..., 1:] - fb[..., 1:]).reshape(-1, 2).T))) for fa, fb in _framings(a, b))


def main(argv=None) -> dict:
    from registry.colour import changes_in, colour_change, colour_stats, signature
    from registry.comparison import colour_limits
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=V.CORPUS)
    ap.add_argument("--record", type=Path, default=ROOT / "benchmarks" / "corpus_sources.json")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "verdicts" / "colour_quiet.json")
    args = ap.parse_args(argv)
    t0 = time.time()
    photos = V.corpus_fit_photos(10 ** 6, args.corpus, args.record)
    limits = colour_limits()
    flagged = {name: 0 for name in V.BENIGN_EDITS}
    shifts_benign, shifts_edit = [], {name: [] for name in V.COLOUR_EDITS}
    kept = {name: {"photos": 0, "kept": 0, "kept_without_visibility_gate": 0} for name in V.COLOUR_EDITS}
    for p in photos:
        img = V.load_rgb(p["path"])
        sig, gray = signature(img), V.mostly_gray(img)
        for name, edit in V.BENIGN_EDITS.items():
            copy = signature(edit(img))
            flagged[name] += bool(colour_change(sig, copy, limits))
            if name not in V.GEOMETRIC_EDITS:
                shifts_benign.append(colour_shift(sig, copy))
        for name, edit in V.COLOUR_EDITS.items():
            if not (gray and name in V.GRAY_NO_OPS):
                edited = signature(edit(img))
                shifts_edit[name].append(colour_shift(sig, edited))
                kept[name]["photos"] += 1
                stats = colour_stats(sig, edited)
                kept[name]["kept"] += not changes_in(stats, limits)
                kept[name]["kept_without_visibility_gate"] += not changes_in(stats, limits, visible_chroma=0.0)
    benign = np.array(shifts_benign)
    result = {
        "command": "python benchmarks/colour_quiet.py", "photos": len(photos), "limits": limits,
        "benign_copies_flagged": flagged,
        "benign_copies_not_geometric": len(benign),
        "benign_shift_quantiles": {q: round(float(np.quantile(benign, float(q))), 3)
                                   for q in ("0.5", "0.99", "0.995", "0.999", "1.0")},
        "colour_edit_smallest_shift": {k: round(float(min(v)), 3) for k, v in shifts_edit.items() if v},
        "colour_edits_kept": kept,
        "note": "photos that are nearly gray (benchmarks/verdicts.py mostly_gray) are left out of the edits that "
                "change nothing there (GRAY_NO_OPS), as in the benchmark",
        "seconds": round(time.time() - t0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
