"""Make the app's example pairs in assets/examples/ from two Kodak photos (kept for provenance).

    python benchmarks/make_examples.py --kodak ../shared/photos/kodak
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.transforms import centre_crop, mirror  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "assets" / "examples"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kodak", required=True)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    small = (384, 256)
    parrots = Image.open(Path(args.kodak) / "kodim23.png").convert("RGB").resize(small, Image.Resampling.LANCZOS)
    lighthouse = Image.open(Path(args.kodak) / "kodim21.png").convert("RGB").resize(small, Image.Resampling.LANCZOS)
    parrots.save(OUT / "parrots.png", optimize=True)
    parrots.save(OUT / "parrots_q40.jpg", quality=40)
    centre_crop(25)(parrots).save(OUT / "parrots_crop25.png", optimize=True)
    mirror(parrots).save(OUT / "parrots_mirror.png", optimize=True)
    lighthouse.save(OUT / "lighthouse.png", optimize=True)
    print("wrote", sorted(p.name for p in OUT.iterdir()))


if __name__ == "__main__":
    main()
