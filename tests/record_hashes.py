"""Record every built-in backend's hashes of ../shared/photos, to prove later changes keep the bits.

    python -m tests.record_hashes  # writes tests/data/hashes_7b54a9b.json

Run once on commit 7b54a9b (before round 2 reorganised the core and added deep hash v2); the tests
then check that today's code still gives exactly these hashes, with one worker and with two, and
that the deep hash's old projection stays reproducible by option.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT.parent / "shared" / "photos"
OUT = ROOT / "tests" / "data" / "hashes_7b54a9b.json"
#: (backend, hex_len): the lengths users store most, plus a non-square one.
CASES = [("ahash", 16), ("phash", 16), ("dhash", 16), ("phash", 9), ("dhash", 61), ("timm", 16),
         ("timm", 64)]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import registry
    from benchmarks.transforms import photo_files

    files = photo_files(PHOTOS)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    record = {"commit": commit, "photos": [str(f.relative_to(PHOTOS)) for f in files], "hashes": {}}
    for backend, hex_len in CASES:
        hasher = registry.create(backend, hex_len=hex_len)
        hashes = hasher.hash_many(files)
        record["hashes"][f"{backend}-{hex_len}"] = {"options": hashes[0].options,
                                                    "hex": [str(h) for h in hashes]}
        print(backend, hex_len, "done", file=sys.stderr)
    OUT.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
