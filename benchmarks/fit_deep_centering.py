"""Fit the mean embedding that the deep hasher subtracts before projecting, and save it to assets/.

    python benchmarks/fit_deep_centering.py --images ../shared/photos/gcompris

The shipped file was fitted on the 115 GCompris photos of ../shared/photos only, so that the
Kodak and PyPI photos stay held out for tests and the benchmark. Any folder of everyday photos
works; a few hundred give a stable mean.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import registry  # noqa: E402
from benchmarks.transforms import photo_files  # noqa: E402
from hashers.deep import centering_file  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", required=True)
    ap.add_argument("--model", default="tf_efficientnet_lite0")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--views", type=int, default=2)
    args = ap.parse_args()
    hasher = registry.create("timm", hex_len=16, model=args.model, weights=args.weights,
                             views=args.views)
    files = photo_files(args.images)
    emb = hasher.embed([registry.load_image(f) for f in files])
    out = centering_file(args.model, hasher.loaded.weights_tag, args.views)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, emb.mean(axis=0).astype(np.float32))
    print(f"mean of {len(files)} embeddings ({emb.shape[1]} dims) -> {out}")


if __name__ == "__main__":
    main()
