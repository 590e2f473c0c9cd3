"""What Ray adds: images/s on Ray Data beside local ``hash_many`` with 1 and 2 worker processes.

    flock /tmp/bench.lock python benchmarks/ray_overhead.py --images ../shared/photos \\
        --out benchmarks/results/ray_overhead

One run, one machine, the same photos for every method. Per backend (phash, timm):

- ``hash_many(workers=1)``: this process; ``hash_many(workers=2)``: two spawned processes (each
  call starts its pool, as the CLI's ``--workers 2`` does);
- Ray: ``registry.ray.hash_records`` on a local Ray instance (``num_cpus`` = the cores here), one
  actor per core, the default batch size for the backend. Each repeat is a new Dataset, so it pays
  for starting its actors (and loading the model in each) as a job on a running cluster does;
  ``ray.init`` itself is timed once, apart (Ray start-up).

Medians over repeats, and the ratio to ``workers=1``. "Steady" is the rate after the first rows came
back (actors started, model loaded): what a long job sees. The per-stage figures (reading the files,
decoding them, the model's forward pass, per image on one core) are what docs/ray.md's scaling plan
is computed from.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.transforms import photo_files  # noqa: E402
from registry.factory import create  # noqa: E402
from registry.loading import load_image  # noqa: E402

BACKENDS = ("phash", "timm")


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def stage_figures(hasher, files: list[Path]) -> dict[str, float]:
    """ms per image on one core: read the bytes, decode them (as the hasher does), compute the bits."""
    read_s, blobs = timed(lambda: [f.read_bytes() for f in files])
    decode_s, images = timed(lambda: [hasher.load(b) for b in blobs])
    compute_s, _ = timed(lambda: hasher.compute_many(images))
    total_bytes = sum(len(b) for b in blobs)
    n = len(files)
    return {"read_ms": 1000 * read_s / n, "decode_ms": 1000 * decode_s / n, "compute_ms": 1000 * compute_s / n,
            "mean_file_kb": total_bytes / n / 1024, "read_mb_s": total_bytes / 1e6 / read_s}


def ray_run(files: list[Path], spec: dict, concurrency: int) -> dict[str, float]:
    from registry.ray import _override_blocks, batch_size_for_count, hash_dataset
    import ray
    items = [{"path": str(f), "file": str(f)} for f in files]
    batch_size = batch_size_for_count(spec, len(items), concurrency)
    start = time.perf_counter()
    ds = ray.data.from_items(items, **_override_blocks(ray.data.from_items, min(len(items), 200)))
    first = first_rows = None
    count = errors = 0
    hashed = hash_dataset(ds, spec, concurrency=concurrency, batch_size=batch_size)
    for table in hashed.iter_batches(batch_format="pyarrow", batch_size=None):
        rows = table.to_pylist()
        if first is None:
            first, first_rows = time.perf_counter() - start, len(rows)
        count += len(rows)
        errors += sum(r["error"] is not None for r in rows)
    total = time.perf_counter() - start
    assert count == len(files) and errors == 0, (count, errors)
    steady = (count - first_rows) / max(total - first, 1e-9) if count > first_rows else float("nan")
    return {"seconds": total, "first_row_s": first, "steady_img_s": steady, "batch_size": batch_size}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=str(ROOT.parent / "shared" / "photos"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ray_overhead"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos (a smoke run)")
    args = parser.parse_args(argv)
    files = photo_files(args.images)
    if args.limit:
        files = files[: args.limit]
    cores = os.cpu_count() or 1
    import ray
    import ray.data  # noqa: F401 - imported before timing ray.init
    ray.data.DataContext.get_current().enable_progress_bars = False
    init_s, _ = timed(lambda: ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False,
                                       logging_level="ERROR"))
    results: dict = {"images": len(files), "cores": cores, "ray": ray.__version__,
                     "python": platform.python_version(), "ray_init_s": init_s, "repeats": args.repeats,
                     "backends": {}}
    try:
        for name in args.backends:
            hasher = create(name)
            spec = hasher.spec
            hasher.hash_many(files[:4])   # warm: the model loaded, the file cache filled
            runs: dict[str, list[float]] = {"workers=1": [], "workers=2": [], "ray": []}
            ray_detail = []
            for _ in range(args.repeats):
                runs["workers=1"].append(timed(lambda: hasher.hash_many(files, workers=1))[0])
                runs["workers=2"].append(timed(lambda: hasher.hash_many(files, workers=2))[0])
                detail = ray_run(files, spec, concurrency=cores)
                ray_detail.append(detail)
                runs["ray"].append(detail["seconds"])
            base = statistics.median(runs["workers=1"])
            entry = {k: {"median_s": statistics.median(v), "img_s": len(files) / statistics.median(v),
                         "ratio_to_workers1": base / statistics.median(v), "all_s": v}
                     for k, v in runs.items()}
            entry["ray"]["first_row_s"] = statistics.median(d["first_row_s"] for d in ray_detail)
            entry["ray"]["steady_img_s"] = statistics.median(d["steady_img_s"] for d in ray_detail)
            entry["ray"]["batch_size"] = ray_detail[0]["batch_size"]
            entry["stages"] = stage_figures(hasher, files)
            results["backends"][name] = entry
            print(name, json.dumps({k: round(v["img_s"], 1) for k, v in entry.items() if "img_s" in v}),
                  flush=True)
    finally:
        ray.shutdown()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(table(results))
    print(table(results))
    return 0


def table(results: dict) -> str:
    lines = [f"# Ray overhead: {results['images']} photos, {results['cores']} cores, Ray {results['ray']}",
             "",
             f"Median of {results['repeats']} runs; Ray start-up (`ray.init`, a new local instance): "
             f"{results['ray_init_s']:.1f} s, paid once per process and not in the Ray column. Each Ray "
             "run is a new Dataset: it starts its actors (and loads the model in each).",
             "",
             "| backend | method | images/s | vs workers=1 | median s |",
             "|---|---|---:|---:|---:|"]
    for name, entry in results["backends"].items():
        for method in ("workers=1", "workers=2", "ray"):
            e = entry[method]
            lines.append(f"| {name} | {method} | {e['img_s']:.1f} | {e['ratio_to_workers1']:.2f}x | "
                         f"{e['median_s']:.2f} |")
        r = entry["ray"]
        lines.append(f"| {name} | ray, steady (after the first batch, at {r['first_row_s']:.1f} s; "
                     f"batches of {r['batch_size']}) | "
                     f"{r['steady_img_s']:.1f} | | |")
    lines += ["", "Per image, one core (what the scaling plan in docs/ray.md is computed from):", "",
              "| backend | read ms | decode ms | compute ms | mean file KB | read MB/s (page cache) |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, entry in results["backends"].items():
        s = entry["stages"]
        lines.append(f"| {name} | {s['read_ms']:.2f} | {s['decode_ms']:.1f} | {s['compute_ms']:.1f} | "
                     f"{s['mean_file_kb']:.0f} | {s['read_mb_s']:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
