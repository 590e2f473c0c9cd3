"""Deep hasher throughput at batch 1 and 32, and how often reduced precision flips bits.

    python benchmarks/deep_speed.py --images ../shared/photos/kodak --out benchmarks/out

Runs on CUDA when there is a GPU (and then also compares CUDA hashes with the CPU's), else on the
CPU, where bf16/fp16 autocast agreement is measured too as an estimate for the GPU path.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import registry  # noqa: E402
from benchmarks.transforms import photo_files  # noqa: E402


def images_per_second(hasher, images, batch_size: int, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        hasher.batch_size = batch_size
        if batch_size == 1:
            for im in images:
                hasher.compute(im)
        else:
            hasher.compute_many(images)
        if hasher.device != "cpu":
            import torch
            torch.cuda.synchronize()
        rates.append(len(images) / (time.perf_counter() - start))
    return statistics.median(rates)


def agreement(a, b) -> float:
    return float(1 - np.mean([(x - y) / x.bit_count for x, y in zip(a, b)]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", required=True)
    ap.add_argument("--out", default="benchmarks/out")
    ap.add_argument("--count", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    import torch
    files = photo_files(args.images)[: args.count]
    images = [registry.load_image(f) for f in files]
    result = {"images": len(images), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "rows": []}
    reference = registry.create("timm", hex_len=256, device="cpu", precision="fp32").hash_many(images)
    device = "cuda" if (args.device == "auto" and torch.cuda.is_available()) else args.device
    device = "cpu" if device == "auto" else device
    for views in (2, 1):
        for precision in ("fp32", "bf16", "fp16"):
            hasher = registry.create("timm", hex_len=256, device=device, precision=precision,
                                     views=views)
            hasher.compute_many(images[:4])  # warm-up
            row = {"device": device, "views": views, "precision": precision,
                   "batch1_img_s": round(images_per_second(hasher, images[:8], 1, args.repeats), 2),
                   "batch32_img_s": round(images_per_second(hasher, images, 32, args.repeats), 2)}
            ref = reference if views == 2 else registry.create(
                "timm", hex_len=256, device="cpu", precision="fp32", views=1).hash_many(images)
            row["bit_agreement_vs_cpu_fp32"] = round(agreement(ref, hasher.hash_many(images)), 4)
            result["rows"].append(row)
            print(row, flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "deep_speed.json").write_text(json.dumps(result, indent=2))
    lines = ["| device | views | precision | batch 1 (img/s) | batch 32 (img/s) | bits equal to CPU fp32 |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['device']} | {r['views']} | {r['precision']} | {r['batch1_img_s']} | "
              f"{r['batch32_img_s']} | {r['bit_agreement_vs_cpu_fp32']:.2%} |" for r in result["rows"]]
    (out / "deep_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
