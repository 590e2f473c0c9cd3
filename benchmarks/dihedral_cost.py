"""What finding rotated and flipped copies costs: ``hash`` against ``hash_dihedral`` (8 orientations), per backend.

    python benchmarks/dihedral_cost.py --images ../shared/photos --limit 24

Both run on the same photos in the same process, alternating, after a warm-up; medians per image.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import registry  # noqa: E402
from benchmarks.transforms import photo_files  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", required=True)
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--backends", nargs="+", default=["ahash", "phash", "dhash", "timm"])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "dihedral_cost.json")
    args = ap.parse_args(argv)
    files = photo_files(args.images)[: args.limit]
    rows = {}
    for backend in args.backends:
        hasher = registry.create(backend)
        hasher.hash(files[0])
        hasher.hash_dihedral(files[0])   # warm-up: model load, ONNX session
        plain, eight = [], []
        for f in files:
            t0 = time.perf_counter()
            hasher.hash(f)
            t1 = time.perf_counter()
            hasher.hash_dihedral(f)
            t2 = time.perf_counter()
            plain.append(t1 - t0)
            eight.append(t2 - t1)
        p, e = statistics.median(plain) * 1000, statistics.median(eight) * 1000
        rows[backend] = {"hash_ms": round(p, 2), "hash_dihedral_ms": round(e, 2), "ratio": round(e / p, 2),
                         "photos": len(files)}
        print(f"{backend}: hash {p:.1f} ms, hash_dihedral {e:.1f} ms ({e / p:.1f}x)", flush=True)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()
