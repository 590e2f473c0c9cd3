"""Deep hash speed: every engine, device and batch size side by side, against today's main, in one run.

    python benchmarks/deep_speed.py --images ../shared/photos/kodak --baseline /path/to/checkout-of-7b54a9b \
        --out benchmarks/results/deep_speed

Every configuration runs in a fresh process of its own on the same files, so its peak memory is its own
and no cache carries over; "end to end" is ``hash_many`` on file paths (decode, preprocessing, network,
projection), the median of ``--repeats`` timed runs after a warm-up. ``--baseline`` names a checkout of
an earlier commit: its default deep hash is timed the same way in the same run, and every row's speed is
also given as a ratio to it. Bits are compared with the reference: eager torch in fp32 on the CPU with
the same projection. ``--large N`` adds N photos enlarged to 12 Mpx JPEGs (where decoding dominates).
A stage profile of the default configuration (decode, resize and crop, network, projection) comes last.
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: (label, options) measured on the CPU; GPU rows are added when torch sees one.
CPU_CONFIGS = [
    ("default (v1 random projection, onnx, batch 1)", {}),
    ("v1 random projection, onnx, batch 8", {"batch_size": 8}),
    ("v1 random projection, onnx, views=1", {"views": 1}),
    ("v1 random projection, torch (main's engine)", {"engine": "torch"}),
    ("v1 random projection, onnx, fast=True (reduced-scale JPEG decoding)", {"fast": True}),
    ("learned-v1 (opt-in), onnx, batch 1", {"projection": "learned-v1"}),
    ("learned-v1 (opt-in), torch, batch 1", {"projection": "learned-v1", "engine": "torch"}),
]
GPU_CONFIGS = [
    ("cuda, bf16, batch 64", {"device": "cuda", "precision": "bf16", "batch_size": 64}),
    ("cuda, bf16, batch 256", {"device": "cuda", "precision": "bf16", "batch_size": 256}),
    ("cuda, fp32, batch 64", {"device": "cuda", "precision": "fp32", "batch_size": 64}),
    ("cuda, bf16, batch 64, Pillow decoding", {"device": "cuda", "precision": "bf16", "batch_size": 64,
                                              "decode_on_device": False}),
]

#: What a child process runs: time hash_many on the files, report rate, hashes and peak memory.
CHILD = r"""
import json, resource, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import registry
files, options, repeats = json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
decode_on_device = options.pop("decode_on_device", None)
hasher = registry.create("timm", hex_len=64, **options)
if decode_on_device is not None:  # on CUDA, JPEGs decode on the device unless a row says otherwise
    hasher.decode_on_device = decode_on_device
hasher.hash_many(files[:2])  # warm-up: model load, export, first-call costs
rates = []
for _ in range(repeats):
    start = time.perf_counter()
    hashes = hasher.hash_many(files)
    rates.append(len(files) / (time.perf_counter() - start))
print(json.dumps({"img_s": statistics.median(rates), "hashes": [str(h) for h in hashes],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_child(checkout: Path, files: list, options: dict, repeats: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(checkout), json.dumps([str(f) for f in files]),
                          json.dumps(options), str(repeats)], capture_output=True, text=True, cwd=checkout)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def interleaved(baseline: Path, files: list, rounds: int) -> dict:
    """The default deep hash here and at the baseline, timed alternately ``rounds`` times each.

    On a shared 2-core machine a burst of other work lands on whichever child runs then; alternating
    spreads it over both sides, and the ratio of medians is the figure the speed goal is judged by.
    """
    ours, theirs = [], []
    for _ in range(rounds):
        theirs.append(run_child(baseline, files, {}, 1)["img_s"])
        ours.append(run_child(ROOT, files, {}, 1)["img_s"])
    return {"this_img_s": [round(x, 2) for x in ours], "baseline_img_s": [round(x, 2) for x in theirs],
            "ratio_of_medians": round(statistics.median(ours) / statistics.median(theirs), 2)}


def bits_equal(a: list[str], b: list[str]) -> float:
    total = sum(4 * len(x) for x in a)
    diff = sum(bin(int(x, 16) ^ int(y, 16)).count("1") for x, y in zip(a, b))
    return 1 - diff / total


def images_per_second(hasher, images, batch_size: int, repeats: int) -> float:
    """Decoded images through compute_many at a batch size (used by benchmarks/speed.py)."""
    rates = []
    for _ in range(repeats):
        hasher.batch_size = batch_size
        start = time.perf_counter()
        for k in range(0, len(images), batch_size):
            hasher.compute_many(images[k:k + batch_size])
        rates.append(len(images) / (time.perf_counter() - start))
    return statistics.median(rates)


def stage_profile(files: list, repeats: int = 3) -> dict:
    """Milliseconds per image in each stage of the default deep hash (one process, medians)."""
    import registry
    from registry.colour import signature
    hasher = registry.create("timm", hex_len=64)
    hasher.hash_many(files[:2])
    stages: dict[str, list[float]] = {k: [] for k in ("decode", "colour signature", "views, resize, crop",
                                                      "network", "projection")}
    for _ in range(repeats):
        t = {k: 0.0 for k in stages}
        for f in files:
            t0 = time.perf_counter()
            img = hasher.prepare(hasher.decode(f))
            t1 = time.perf_counter()
            signature(img)
            t2 = time.perf_counter()
            batch = np.stack([hasher.transform(v) for v in hasher._views(img)])
            t3 = time.perf_counter()
            feats = hasher.network.run(batch) if hasher.engine == "onnx" else hasher.network.run(batch, "fp32")
            t4 = time.perf_counter()
            emb = feats.astype(np.float64).reshape(1, hasher.options["views"], -1).mean(axis=1)
            hasher.bits_from_embeddings(emb)
            t5 = time.perf_counter()
            for key, (a, b) in zip(stages, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5))):
                t[key] += b - a
        for key in stages:
            stages[key].append(1000 * t[key] / len(files))
    out = {k: round(statistics.median(v), 2) for k, v in stages.items()}
    start = time.perf_counter()
    hasher.hash_many(files)
    out["end to end (hash_many)"] = round(1000 * (time.perf_counter() - start) / len(files), 2)
    return out


def as_jpegs(files: list, folder: Path) -> list:
    from PIL import Image
    out = []
    for k, path in enumerate(files):
        out.append(str(folder / f"photo{k:04d}.jpg"))
        Image.open(path).convert("RGB").save(out[-1], quality=90)
    return out


def large_jpegs(files: list, count: int, folder: Path) -> list:
    from PIL import Image
    out = []
    for f in files[:count]:
        img = Image.open(f).convert("RGB")
        scale = (12e6 / (img.width * img.height)) ** 0.5
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)
        path = folder / (Path(f).stem + "_12mpx.jpg")
        img.save(path, quality=90)
        out.append(path)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", required=True)
    ap.add_argument("--out", default="benchmarks/out/deep_speed")
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--large", type=int, default=8, help="also time N photos enlarged to 12 Mpx JPEGs")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", type=Path, default=None, help="a checkout of the commit to compare with")
    ap.add_argument("--configs", nargs="*", default=None, help="labels to run (default: all)")
    ap.add_argument("--interleave", type=int, default=0,
                    help="also time the default and the baseline alternately N times per set (the goal's ratio)")
    args = ap.parse_args(argv)
    from benchmarks.transforms import photo_files
    files = photo_files(args.images)[: args.count]
    sets = {f"{len(files)} photos as given": files}
    tmp = Path(tempfile.mkdtemp(prefix="idh-deep-speed-"))
    if args.large:
        sets[f"{args.large} photos as 12 Mpx JPEGs"] = large_jpegs(files, args.large, tmp)
    configs = list(CPU_CONFIGS)
    try:
        import torch
        if torch.cuda.is_available():
            configs += GPU_CONFIGS
            # The GPU goal is "from JPEG files": the photos at their own size as JPEG q90.
            sets[f"{len(files)} photos as JPEG files"] = as_jpegs(files, tmp)
    except ImportError:
        pass
    if args.configs:
        configs = [c for c in configs if c[0] in args.configs]
    result = {"sets": {}, "baseline": str(args.baseline) if args.baseline else None}
    for set_name, set_files in sets.items():
        rows = []
        baseline = run_child(args.baseline, set_files, {}, args.repeats) if args.baseline else None
        references = {}
        for label, options in configs:
            child = run_child(ROOT, set_files, options, args.repeats)
            ref_key = (options.get("projection", "auto"), options.get("views", 2))
            if ref_key not in references:
                ref_opts = {"engine": "torch", "device": "cpu", "precision": "fp32",
                            "projection": ref_key[0], "views": ref_key[1]}
                references[ref_key] = run_child(ROOT, set_files, ref_opts, 1)["hashes"]
            row = {"config": label, "options": options, "img_s": round(child["img_s"], 2),
                   "bits_equal_to_reference": round(bits_equal(child["hashes"], references[ref_key]), 5),
                   "peak_rss_mb": round(child["peak_rss_mb"])}
            if baseline:
                row["vs_baseline"] = round(child["img_s"] / baseline["img_s"], 2)
            rows.append(row)
            print(set_name, row, file=sys.stderr, flush=True)
        result["sets"][set_name] = {"rows": rows, "baseline": baseline and {
            "img_s": round(baseline["img_s"], 2), "peak_rss_mb": round(baseline["peak_rss_mb"])}}
    if args.baseline and args.interleave:
        result["goal"] = {name: interleaved(args.baseline, set_files, args.interleave)
                          for name, set_files in sets.items()}
    result["profile"] = {name: stage_profile(set_files) for name, set_files in sets.items()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "deep_speed.json").write_text(json.dumps(result, indent=2))
    (out / "deep_speed.md").write_text(markdown(result))
    return result


def markdown(result: dict) -> str:
    lines = []
    for set_name, data in result["sets"].items():
        lines += [f"**{set_name}** (end to end through `hash_many`, 64 bits, median of runs)", ""]
        head = "| configuration | images/s | bits equal to torch fp32 | peak memory (MB) |"
        sep = "|---|---|---|---|"
        if data["baseline"]:
            head += " vs main (7b54a9b) |"
            sep += "---|"
            lines += [head, sep, f"| main (7b54a9b): default deep hash | {data['baseline']['img_s']} | | "
                                 f"{data['baseline']['peak_rss_mb']} | 1.00x |"]
        else:
            lines += [head, sep]
        for r in data["rows"]:
            line = f"| {r['config']} | {r['img_s']} | {100 * r['bits_equal_to_reference']:.2f}% | {r['peak_rss_mb']} |"
            if "vs_baseline" in r:
                line += f" {r['vs_baseline']:.2f}x |"
            lines.append(line)
        lines.append("")
    if result.get("goal"):
        lines += ["**The goal's ratio** (the default deep hash here and main's, timed alternately, one run "
                  "per child after a warm-up)", "",
                  "| set | this checkout, images/s (median) | main (7b54a9b), images/s (median) | ratio |",
                  "|---|---|---|---|"]
        for set_name, g in result["goal"].items():
            lines.append(f"| {set_name} | {statistics.median(g['this_img_s']):.2f} | "
                         f"{statistics.median(g['baseline_img_s']):.2f} | {g['ratio_of_medians']:.2f}x |")
        lines.append("")
    for set_name, stages in result.get("profile", {}).items():
        lines += [f"**Where the time goes** ({set_name}, default configuration, ms per image)", "",
                  "| stage | ms |", "|---|---|"] + [f"| {k} | {v} |" for k, v in stages.items()] + [""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
