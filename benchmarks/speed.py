"""How fast each backend hashes, beside imagehash on the same files in the same run.

    python benchmarks/speed.py --images ../shared/photos --out benchmarks/results/speed

Two sets of files: the folder as given, and multi-megapixel JPEGs (the folder's first photos enlarged
to 4032 x 3024, a phone camera's 12 Mpx, JPEG quality 90) written to a temp folder. For each set, every
method hashes every file, repeated; we report the median over repeats of the time per image and the
ratio to imagehash. "decode only" (Pillow opening and decoding each file, nothing else) is the floor no
hasher that reads the full image can beat on one core. Fast mode is checked for agreement: how many of
its 64 bits differ from the exact hash, per photo.

--smoke is a quick check that every stage runs (the tests use it), not a measurement: the "12 Mpx"
JPEGs are made at SMOKE_LARGE_SIZE instead, and --repeats, --large and --agreement default to 1, 1, 2.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import registry  # noqa: E402
from benchmarks.deep_speed import images_per_second  # noqa: E402
from benchmarks.transforms import photo_files  # noqa: E402

CLASSICAL = ("ahash", "phash", "dhash")
#: A phone camera's 12 Mpx; --smoke makes its "large" JPEGs an eighth as wide and high.
LARGE_SIZE = (4032, 3024)
SMOKE_LARGE_SIZE = (504, 378)
LARGE_SET = "12 Mpx JPEGs"


def large_set_name(smoke: dict | None) -> str:
    """The large set's name: LARGE_SET, or what --smoke made instead (its res["smoke"])."""
    return f"{smoke['large_size'][0]} x {smoke['large_size'][1]} JPEGs (--smoke)" if smoke else LARGE_SET


def make_large_jpegs(files, count: int, folder: Path, size: tuple[int, int] = LARGE_SIZE) -> list[Path]:
    out = []
    for i, f in enumerate(files[:count]):
        img = registry.load_image(f).convert("RGB").resize(size, Image.Resampling.BICUBIC)
        path = folder / f"large_{i:02d}.jpg"
        img.save(path, quality=90)
        out.append(path)
    return out


def timed(fn, files, repeats: int) -> float:
    """Median over repeats of seconds per file."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for f in files:
            fn(f)
        runs.append((time.perf_counter() - start) / len(files))
    return statistics.median(runs)


def methods():
    import imagehash
    ih = {"ahash": imagehash.average_hash, "phash": imagehash.phash, "dhash": imagehash.dhash}

    def decode(f):
        with Image.open(f) as im:
            im.load()

    def decode_draft(f):
        with Image.open(f) as im:
            if im.format == "JPEG":
                im.draft(None, (im.width // 8, im.height // 8))
            im.load()

    def ih_one(name):
        def run(f):
            with Image.open(f) as im:
                return ih[name](im)
        return run

    def ih_three(f):
        with Image.open(f) as im:
            return [ih[n](im) for n in CLASSICAL]

    exact = {n: registry.create(n) for n in CLASSICAL}
    fast = {n: registry.create(n, fast=True) for n in CLASSICAL}
    table = {"decode only": decode, "decode only (JPEG draft 1/8)": decode_draft}
    for n in CLASSICAL:
        table[f"imagehash.{n}"] = ih_one(n)
        table[f"{n} (exact)"] = exact[n].hash
        table[f"{n} (fast)"] = fast[n].hash
    table["imagehash: ahash+phash+dhash"] = ih_three
    table["ahash+phash+dhash (exact, hash_all)"] = lambda f: registry.hash_all(f, list(exact.values()))
    table["ahash+phash+dhash (fast, hash_all)"] = lambda f: registry.hash_all(f, list(fast.values()))
    return table, exact, fast


def fast_agreement(files, exact, fast) -> dict:
    out = {}
    for n in CLASSICAL:
        diffs = [exact[n].hash(f) - fast[n].hash(f) for f in files]
        out[n] = {"max_bits": int(max(diffs)), "mean_bits": float(np.mean(diffs)),
                  "share_within_2_bits": float(np.mean([d <= 2 for d in diffs])),
                  "share_identical": float(np.mean([d == 0 for d in diffs]))}
    return out


def deep_rates(files, repeats: int) -> dict:
    try:
        hasher = registry.create("timm", hex_len=16)
    except Exception as exc:  # torch/timm missing
        return {"error": str(exc)}
    images = [registry.load_image(f) for f in files[:32]]
    hasher.compute_many(images[:2])  # warm-up
    one = images_per_second(hasher, images, 1, repeats)
    many = images_per_second(hasher, images, 32, repeats)
    return {"device": hasher.device, "batch1_img_s": round(one, 2), "batch32_img_s": round(many, 2),
            "images": len(images), "views": hasher.options["views"]}


def _secs(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def parallel_rates(files, repeats: int) -> dict:
    hasher = registry.create("phash")
    files = list(files)
    serial = statistics.median([len(files) / _secs(lambda: hasher.hash_many(files)) for _ in range(repeats)])
    par = statistics.median([len(files) / _secs(lambda: hasher.hash_many(files, workers=2, batch_size=16))
                             for _ in range(repeats)])
    return {"files": len(files), "serial_img_s": round(serial, 1), "workers2_img_s": round(par, 1),
            "speedup": round(par / serial, 2)}


def markdown(res: dict) -> str:
    lines = []
    large = large_set_name(res.get("smoke"))
    for set_name, rows in res["sets"].items():
        lines += [f"**{set_name}** ({rows['files']} files, {rows['megapixels']:.1f} Mpx median; "
                  f"median of {res['repeats']} runs, one process)", "",
                  "| method | ms per image | images/s | vs imagehash |", "|---|---|---|---|"]
        for name, secs in rows["seconds"].items():
            ref = rows["reference"].get(name)
            ratio = f"{rows['seconds'][ref] / secs:.2f}x faster" if ref else ""
            lines.append(f"| {name} | {1000 * secs:.1f} | {1 / secs:.1f} | {ratio} |")
        lines.append("")
        agree = rows["fast_agreement"]
        lines.append("Fast mode vs exact (64-bit hashes): " + "; ".join(
            f"{n}: {a['share_within_2_bits']:.0%} of photos within 2 bits, {a['share_identical']:.0%} identical, "
            f"worst {a['max_bits']}" for n, a in agree.items()))
        lines.append("")
    agree = res.get("fast_agreement_12mpx")
    if agree:
        lines.append(f"Fast mode vs exact on {agree['files']} photos enlarged to {large} (64-bit hashes): " + "; ".join(
            f"{n}: {a['share_within_2_bits']:.0%} within 2 bits, {a['share_identical']:.0%} identical, worst {a['max_bits']}"
            for n, a in agree.items() if n != "files"))
        lines.append("")
    d = res.get("deep", {})
    if "batch1_img_s" in d:
        lines.append(f"Deep hash (timm, default model, views={d['views']}) on {d['device']}: "
                     f"{d['batch1_img_s']} images/s at batch 1, {d['batch32_img_s']} at batch 32.")
    p = res.get("parallel")
    if p:
        lines.append(f"`hash_many(workers=2)` (pHash, {p['files']} {large}): {p['workers2_img_s']} images/s vs "
                     f"{p['serial_img_s']} in one process ({p['speedup']}x).")
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--repeats", type=int, default=None, help="default 5 (1 with --smoke)")
    ap.add_argument("--limit", type=int, default=0, help="use an evenly spaced sample of N photos")
    ap.add_argument("--large", type=int, default=None,
                    help="how many 12 Mpx JPEGs to make (default 12; 1 with --smoke)")
    ap.add_argument("--agreement", type=int, default=None,
                    help="how many 12 Mpx JPEGs to check fast mode against exact mode on "
                         "(default 48; 2 with --smoke)")
    ap.add_argument("--no-deep", action="store_true")
    ap.add_argument("--no-parallel", action="store_true")
    ap.add_argument("--smoke", action="store_true",
                    help=f"a quick check that every stage runs, not a measurement: the large JPEGs are "
                         f"{SMOKE_LARGE_SIZE[0]} x {SMOKE_LARGE_SIZE[1]}, and fewer of everything")
    args = ap.parse_args(argv)
    for name, full, smoke in (("repeats", 5, 1), ("large", 12, 1), ("agreement", 48, 2)):
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
    large_size = SMOKE_LARGE_SIZE if args.smoke else LARGE_SIZE
    files = photo_files(args.images)
    if args.limit and args.limit < len(files):
        files = [files[round(i * len(files) / args.limit)] for i in range(args.limit)]
    table, exact, fast = methods()
    reference = {f"{n} (exact)": f"imagehash.{n}" for n in CLASSICAL}
    reference.update({f"{n} (fast)": f"imagehash.{n}" for n in CLASSICAL})
    reference["ahash+phash+dhash (exact, hash_all)"] = "imagehash: ahash+phash+dhash"
    reference["ahash+phash+dhash (fast, hash_all)"] = "imagehash: ahash+phash+dhash"
    res = {"repeats": args.repeats, "command": " ".join(sys.argv), "sets": {}}
    if args.smoke:
        res["smoke"] = {"large_size": list(large_size)}
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"the photos as given": files,
                large_set_name(res.get("smoke")): make_large_jpegs(files, args.large, Path(tmp), large_size)}
        for set_name, set_files in sets.items():
            sizes = []
            for f in set_files:
                with Image.open(f) as im:
                    sizes.append(im.width * im.height / 1e6)
            seconds = {name: timed(fn, set_files, args.repeats) for name, fn in table.items()}
            res["sets"][set_name] = {"files": len(set_files), "megapixels": statistics.median(sizes),
                                     "seconds": seconds, "reference": reference,
                                     "fast_agreement": fast_agreement(set_files, exact, fast)}
            print(f"{set_name}: done", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        sample = files[:: max(1, len(files) // max(1, args.agreement))][: args.agreement]
        large = make_large_jpegs(sample, len(sample), Path(tmp), large_size)
        res["fast_agreement_12mpx"] = {"files": len(large), **fast_agreement(large, exact, fast)}
    if not args.no_deep:
        res["deep"] = deep_rates(files, max(1, min(3, args.repeats)))
    if not args.no_parallel:
        with tempfile.TemporaryDirectory() as tmp:
            res["parallel"] = parallel_rates(make_large_jpegs(files, 48, Path(tmp), large_size),
                                             max(1, min(3, args.repeats)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.json").write_text(json.dumps(res, indent=1))
    (out / "speed.md").write_text(markdown(res))
    print(markdown(res))
    return res


if __name__ == "__main__":
    main()
