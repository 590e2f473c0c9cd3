"""Near-duplicate search beside its peers, in the style of imagededup's published benchmark (issue 13).

    flock /tmp/bench.lock python benchmarks/dedup_peers.py            # the full run, ~15 min on 2 cores
    flock /tmp/bench.lock python benchmarks/dedup_peers.py --limit 10 # a quick sanity run (10 photos)

Dataset: every photo of ../shared/photos (162), downscaled to at most 1024 px on its longest side, plus
6 transformed copies of it: a centre crop keeping 80% of the area, a horizontal flip, a vertical flip,
a 25 degree rotation (bicubic, same canvas, black corners), a resize to 512 x 512 (aspect changed) and
a JPEG at quality 50. 162 groups of 7 = 1134 files, all in one folder, written once to
benchmarks/out/dedup_peers/ (not committed). They are stored as JPEG quality 95 (the JPEG copy at
quality 50, from the same pixels), as most photo collections are. Ground truth: files made from the
same photo are duplicates of each other, and no others (the shared photos have no near-duplicates
among themselves: pHash distance > 12 for every pair).

Metrics, as imagededup's evaluation module ("classification", class 1) defines them: over unordered
pairs of files, a retrieved pair is a pair the method reports as duplicates; precision = retrieved
pairs that are true / retrieved pairs, recall = true pairs retrieved / true pairs (162 x 21 = 3402).
For our ``registry.dedup.dedup`` a group counts as all the pairs inside it (what a user acting on the
groups treats as duplicates; groups are connected components, so a chain can join files farther apart
than the threshold); imagededup's ``find_duplicates`` and the imagehash brute force report pairs
within the threshold. Per-transform recall: the share of photos whose (original, copy of that kind)
pair was retrieved. Time: wall-clock seconds of hashing plus search (creating the hasher included,
so the deep model's loading too; the interpreter's start and imports not). Memory: each method runs
in its own fresh process; "peak" is that process's ru_maxrss (imports included), "delta" is the peak
less the resident size after the imports, and imagededup's encoding pool (2 worker processes by its
default) is reported apart as the largest worker's ru_maxrss.

Methods: ours -- ``dedup()`` with ahash, phash, dhash and timm (its default model and ONNX engine) at
16 hex digits (64 bits), each at its calibrated threshold (``radius_for``), and phash and timm with
``dihedral=True`` (each image also hashed turned and mirrored; its own calibrated threshold). Peers --
imagededup's PHash, DHash, AHash and WHash with the library's defaults (``max_distance_threshold=10``,
its brute-force Cython search, 2 encoding and 2 search workers), its CNN when it can load its
weights (it downloads them, so offline it is reported as skipped), and imagehash's phash, dhash and
average_hash with a brute-force search in numpy over all pairs at distance <= 10 (imagededup's
default threshold, as imagehash has none).
"""
from __future__ import annotations

import argparse
import hashlib
import inspect
import itertools
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHOTOS = ROOT.parent / "shared" / "photos"
CACHE = ROOT / "benchmarks" / "out" / "dedup_peers"
RESULTS = ROOT / "benchmarks" / "results"
MAX_SIDE = 1024
SQUARE = 512
CROP_AREA = 0.80
ROTATION = 25
JPEG_COPY_QUALITY = 50
STORE_QUALITY = 95
PEER_THRESHOLD = 10  # imagededup's default max_distance_threshold, used for imagehash too
HEX_LEN = 16
#: The copies of each photo, in reporting order (the original is "orig").
KINDS = ("crop", "hflip", "vflip", "rot25", "square", "jpeg50")
KIND_TITLES = {"crop": "crop 80%", "hflip": "h-flip", "vflip": "v-flip", "rot25": "rot 25°",
               "square": "square", "jpeg50": "JPEG 50"}
DATASET_VERSION = 1


# --- the dataset ---------------------------------------------------------------------------------

def _copies(img):
    """The 6 transformed copies of an RGB image, by kind (the JPEG copy is done on saving)."""
    from PIL import Image, ImageOps
    from benchmarks.transforms import centre_crop, rotate
    cut = 100 * (1 - math.sqrt(CROP_AREA))  # percent of each side cut away: 80% of the area kept
    return {"crop": centre_crop(cut)(img), "hflip": ImageOps.mirror(img), "vflip": ImageOps.flip(img),
            "rot25": rotate(ROTATION)(img),
            "square": img.resize((SQUARE, SQUARE), Image.Resampling.LANCZOS), "jpeg50": img}


def build_dataset(photos: Path, cache: Path, limit: int | None) -> tuple[Path, int]:
    """Write (once) the originals and their copies into one folder; returns (folder, photos)."""
    from PIL import Image
    import registry
    from benchmarks.transforms import photo_files
    files = photo_files(photos)
    if limit:
        files = files[:limit]
    if not files:
        raise SystemExit(f"no photos under {photos}")
    stamp = hashlib.sha256(json.dumps([DATASET_VERSION, MAX_SIDE, [str(f.relative_to(photos)) for f in files]])
                           .encode()).hexdigest()[:16]
    folder = cache / (f"limit{limit}" if limit else "full") / "images"
    marker = folder.parent / "dataset.json"
    if marker.exists() and json.loads(marker.read_text()).get("stamp") == stamp:
        return folder, len(files)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    sources = {}
    for number, path in enumerate(files):
        img = registry.load_image(path).convert("RGB")
        if max(img.size) > MAX_SIDE:
            img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        stem = f"p{number:03d}"
        img.save(folder / f"{stem}_orig.jpg", "JPEG", quality=STORE_QUALITY)
        for kind, copy in _copies(img).items():
            quality = JPEG_COPY_QUALITY if kind == "jpeg50" else STORE_QUALITY
            copy.save(folder / f"{stem}_{kind}.jpg", "JPEG", quality=quality)
        sources[stem] = str(path.relative_to(photos))
    marker.write_text(json.dumps({"stamp": stamp, "photos": len(files), "sources": sources}, indent=1))
    return folder, len(files)


def ground_truth(names) -> set[tuple[str, str]]:
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.split("_")[0], []).append(name)
    return {tuple(sorted(p)) for g in groups.values() for p in itertools.combinations(g, 2)}


# --- the methods, each run in a worker process ---------------------------------------------------

def dihedral_supported() -> bool:
    from registry.dedup import dedup
    return "dihedral" in inspect.signature(dedup).parameters


def method_names(dihedral: bool) -> list[str]:
    ours = ["ahash", "phash", "dhash", "timm"]
    if dihedral:
        ours += ["phash+dihedral", "timm+dihedral"]
    return ours + ["imagededup.PHash", "imagededup.DHash", "imagededup.AHash", "imagededup.WHash",
                   "imagededup.CNN", "imagehash.phash", "imagehash.dhash", "imagehash.average_hash"]


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _ours(name: str, folder: Path):
    import registry
    import registry.dedup as dd
    from registry.dedup import dedup, radius_for
    backend, _, extra = name.partition("+")
    dihedral = extra == "dihedral"
    # The pairs within the threshold that dedup keeps, before it joins them into groups: the graph it
    # hands to connected_components, caught on the way (dedup is not changed, only watched).
    edges: dict = {}
    real = dd.connected_components

    def watch(graph, *args, **kwargs):
        coo = graph.tocoo()
        edges["ij"] = (coo.row.tolist(), coo.col.tolist())
        return real(graph, *args, **kwargs)
    dd.connected_components = watch

    def run():
        hasher = registry.create(backend, hex_len=HEX_LEN)
        kwargs = {"dihedral": True} if dihedral else {}
        return dedup([folder], hasher, **kwargs)
    threshold = radius_for(backend, HEX_LEN, dihedral=dihedral)

    def pairs(result):
        if result.unreadable:
            print(f"unreadable: {result.unreadable[:3]}", file=sys.stderr)
        return [tuple(sorted((Path(a).name, Path(b).name))) for g in result.groups
                for a, b in itertools.combinations(g.files, 2)]

    def details(result):
        names = [Path(rel).name for rel in result.hashes]  # dedup's order: the graph's node numbers
        i, j = edges.get("ij", ([], []))
        return {"edges": sorted({tuple(sorted((names[a], names[b]))) for a, b in zip(i, j)}),
                "groups": len(result.groups),
                "largest_group": max((len(g.files) for g in result.groups), default=0)}
    return run, pairs, {"threshold": threshold, "threshold_note": "calibrated"
                        + (", dihedral" if dihedral else ""), "details": details}


def _imagededup(name: str, folder: Path):
    import imagededup
    from imagededup import methods
    cls = getattr(methods, name.split(".")[1])

    def run():
        if cls is methods.CNN:
            return cls(verbose=False).find_duplicates(image_dir=folder)  # its default min_similarity_threshold
        return cls(verbose=False).find_duplicates(image_dir=folder, max_distance_threshold=PEER_THRESHOLD)

    def pairs(found):
        return [tuple(sorted((a, b))) for a, dups in found.items() for b in dups]
    meta = {"version": imagededup.__version__}
    if cls is methods.CNN:
        meta.update(threshold=0.9, threshold_note="cosine >= 0.9 (default)")
    else:
        meta.update(threshold=PEER_THRESHOLD, threshold_note="library default")
    return run, pairs, meta


def _imagehash(name: str, folder: Path):
    import imagehash
    import numpy as np
    from PIL import Image
    fn = getattr(imagehash, name.split(".")[1])

    def run():
        files = sorted(p for p in folder.iterdir() if p.suffix == ".jpg")
        bits = []
        for path in files:
            with Image.open(path) as img:
                bits.append(np.asarray(fn(img).hash, dtype=bool).reshape(-1))
        codes = np.packbits(np.stack(bits), axis=1).view(">u8").astype(np.uint64).reshape(-1)
        dist = np.bitwise_count(codes[:, None] ^ codes[None, :])  # all pairs: brute force
        i, j = np.nonzero(np.triu(dist <= PEER_THRESHOLD, k=1))
        return [(files[a].name, files[b].name) for a, b in zip(i.tolist(), j.tolist())]

    def pairs(found):
        return [tuple(sorted(p)) for p in found]
    return run, pairs, {"threshold": PEER_THRESHOLD, "threshold_note": "imagededup's default",
                        "version": getattr(imagehash, "__version__", "?")}


def worker(name: str, folder: Path, out: Path) -> None:
    """Run one method in this (fresh) process and write its pairs, time and memory to ``out``."""
    if name.startswith("imagededup."):
        setup = _imagededup
    elif name.startswith("imagehash."):
        setup = _imagehash
    else:
        setup = _ours
    record = {"method": name}
    try:
        run, pairs, meta = setup(name, folder)
        details = meta.pop("details", None)
        record.update(meta)
        baseline = _rss_mb()
        start = time.perf_counter()
        found = run()
        record["time_s"] = time.perf_counter() - start
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        record.update(status="ok", peak_mb=own, delta_mb=own - baseline, baseline_mb=baseline,
                      workers_peak_mb=kids or None, pairs=sorted(set(pairs(found))))
        if details is not None:
            record.update(details(found))
    except Exception as exc:  # reported as the method's outcome, not a crash of the benchmark
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
    out.write_text(json.dumps(record))


def run_method(name: str, folder: Path, scratch: Path, timeout: float) -> dict:
    out = scratch / f"{name}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--dir", str(folder),
           "--result", str(out)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"method": name, "status": "failed", "error": f"timed out after {timeout:.0f} s"}
    if not out.exists():
        return {"method": name, "status": "failed",
                "error": f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"}
    return json.loads(out.read_text())


# --- scoring and reporting -----------------------------------------------------------------------

def _pair_scores(found: set, truth: set, photos: int) -> dict:
    tp = len(found & truth)
    return {"retrieved": len(found), "true_positives": tp, "false_positives": len(found) - tp,
            "precision": tp / len(found) if found else None, "recall": tp / len(truth),
            "false_positive_examples": sorted(found - truth)[:20],
            "recall_by_kind": {
                kind: sum(tuple(sorted((f"p{n:03d}_{kind}.jpg", f"p{n:03d}_orig.jpg"))) in found
                          for n in range(photos)) / photos
                for kind in KINDS}}


def score(record: dict, truth: set, photos: int) -> dict:
    record.update(_pair_scores({tuple(p) for p in record.pop("pairs")}, truth, photos))
    if "edges" in record:  # ours: the pairs within the threshold, before grouping
        record["within_threshold"] = _pair_scores({tuple(p) for p in record.pop("edges")}, truth, photos)
    return record


def _fmt(x, digits=3):
    return "–" if x is None else f"{x:.{digits}f}"


def table(records: list[dict]) -> str:
    head = ["method", "threshold (of 64 bits)", "precision", "recall",
            *(f"recall {KIND_TITLES[k]}" for k in KINDS), "time (s)", "peak RSS (MB)", "Δ RSS (MB)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        if r["status"] != "ok":
            lines.append(f"| {r['method']} | {r.get('threshold_note', '')} | "
                         + f"{r['status']}: {r['error'][:120]}".replace("|", "/") + " |" + " |" * (len(head) - 3))
            continue
        thr = f"{r['threshold']} ({r['threshold_note']})"
        peak = f"{r['peak_mb']:.0f}"
        if r.get("workers_peak_mb"):
            peak += f" (+ workers {r['workers_peak_mb']:.0f})"
        cells = [r["method"], thr, _fmt(r["precision"]), _fmt(r["recall"]),
                 *(_fmt(r["recall_by_kind"][k], 2) for k in KINDS), f"{r['time_s']:.1f}", peak,
                 f"{r['delta_mb']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def grouping_table(records: list[dict]) -> str:
    """Ours: the groups dedup returns beside the pairs within the threshold that it joined into them."""
    head = ["method", "groups", "largest group", "precision (groups)", "recall (groups)",
            "precision (pairs within threshold)", "recall (pairs within threshold)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        if r["status"] == "ok" and "within_threshold" in r:
            w = r["within_threshold"]
            lines.append(f"| {r['method']} | {r['groups']} | {r['largest_group']} | {_fmt(r['precision'])} | "
                         f"{_fmt(r['recall'])} | {_fmt(w['precision'])} | {_fmt(w['recall'])} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def markdown(records, meta) -> str:
    return f"""# Near-duplicate search beside peers (imagededup-style benchmark)

Written by `benchmarks/dedup_peers.py`{' --limit ' + str(meta['limit']) if meta['limit'] else ''} on {meta['date']}.
Dataset: {meta['photos']} photos of `../shared/photos` (longest side at most {MAX_SIDE} px) plus 6 copies of each
(centre crop keeping 80% of the area, horizontal flip, vertical flip, {ROTATION}° rotation, resize to
{SQUARE}×{SQUARE}, JPEG quality {JPEG_COPY_QUALITY}): {meta['files']} files, {meta['true_pairs']} true duplicate pairs among
{meta['all_pairs']} pairs. Machine: {meta['machine']}; each method in its own fresh process, one at a time.

{table(records)}

Precision and recall are over unordered pairs of files, as imagededup's `evaluate(..., metric="classification")`
(class 1) defines them: a pair is retrieved when the method reports the two files as duplicates (for our
`dedup`, when they are in the same group). Per-transform recall: the share of photos whose (original,
copy) pair was retrieved. Time: hashing + search, hasher creation included (the deep model's loading too),
imports not. Peak RSS: the method's process (imports included; imagededup's 2 encoding workers apart);
Δ: peak less the resident size after the imports. Ours use 64 bits (16 hex digits) and the calibrated
thresholds of `registry.compare`; imagededup uses its defaults (distance <= {PEER_THRESHOLD}); imagehash has
no search, so every pair is compared at distance <= {PEER_THRESHOLD} (imagededup's default). imagededup's
workers are forked from its main process after it imported torch, so their resident pages are
mostly shared with it: the two numbers do not add up.

Our `dedup` returns groups (connected components of the pairs within the threshold), imagededup and the
imagehash brute force return the pairs themselves. A group counts as all the pairs inside it, so one
false pair can join two whole groups: below, the same runs scored on the pairs within the threshold
that `dedup` joined into its groups (after its verdict rule), as imagededup's output is.

{grouping_table(records)}
{meta['notes']}
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--cache", type=Path, default=CACHE, help="where the dataset is written (not committed)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N photos: a quick sanity run")
    ap.add_argument("--methods", default=None, help="comma-separated subset of the methods")
    ap.add_argument("--timeout", type=float, default=1200, help="seconds allowed to each method")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder for dedup_peers.md/.json (default: benchmarks/results, or the cache "
                         "folder with --limit or --methods)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.dir, args.result)
        return 0

    folder, photos = build_dataset(args.photos, args.cache, args.limit)
    names = sorted(p.name for p in folder.iterdir() if p.suffix == ".jpg")
    truth = ground_truth(names)
    dihedral = dihedral_supported()
    methods = method_names(dihedral)
    if args.methods:
        wanted = args.methods.split(",")
        unknown = set(wanted) - set(methods)
        if unknown:
            raise SystemExit(f"unknown method(s): {', '.join(sorted(unknown))}; known: {', '.join(methods)}")
        methods = wanted
    print(f"{len(names)} files ({photos} photos x 7) in {folder}; {len(truth)} true pairs", flush=True)
    scratch = folder.parent / "runs"
    scratch.mkdir(exist_ok=True)
    records, notes = [], []
    for name in methods:
        record = run_method(name, folder, scratch, args.timeout)
        if record["status"] == "ok":
            record = score(record, truth, photos)
            print(f"{name:24s} P={_fmt(record['precision'])} R={_fmt(record['recall'])} "
                  f"t={record['time_s']:.1f}s peak={record['peak_mb']:.0f}MB", flush=True)
        else:
            print(f"{name:24s} {record['status']}: {record['error']}", flush=True)
            if name == "imagededup.CNN":
                record["status"] = "skipped"
                notes.append("imagededup's CNN could not run: it downloads torchvision's MobileNetV3 "
                             "weights at run time, and this machine reaches no model hub "
                             f"({record['error'][:160]}).")
        records.append(record)
    if not dihedral:
        notes.append("This checkout's `dedup` has no `dihedral` option: its rows are missing.")
    n = len(names)
    meta = {"date": time.strftime("%Y-%m-%d"), "limit": args.limit, "photos": photos, "files": n,
            "true_pairs": len(truth), "all_pairs": n * (n - 1) // 2,
            "machine": f"{os.cpu_count()} CPU cores, Python {platform.python_version()}, {platform.machine()}",
            "notes": "\n".join(f"\n{x}" for x in notes)}
    out = args.out or (args.cache / ("limit" + str(args.limit) if args.limit else "full")
                       if args.limit or args.methods else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(records, meta)
    (out / "dedup_peers.md").write_text(md)
    (out / "dedup_peers.json").write_text(json.dumps({"meta": {**meta, "dataset": {
        "max_side": MAX_SIDE, "crop_area": CROP_AREA, "rotation": ROTATION, "square": SQUARE,
        "jpeg_quality": JPEG_COPY_QUALITY, "stored_as": f"JPEG quality {STORE_QUALITY}"}},
        "results": records}, indent=1))
    print("\n" + table(records))
    print(f"\nwrote {out / 'dedup_peers.md'} and {out / 'dedup_peers.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
