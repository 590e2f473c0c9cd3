"""How well each hash notices change: detection of edited copies at 1 false match in 1000, beside peers.

    python benchmarks/robustness.py --images ../shared/photos --out benchmarks/out/robustness

Positives: each photo against seeded edits of itself (benchmarks/transforms.py). Negatives: every pair
of different photos. For each backend, hex length and edit: the detection rate at the largest distance
threshold at which at most 1 in 1000 negative pairs match (and that threshold), the mean normalised
distance of the positives, and ROC AUC. Graded series (JPEG quality, noise, crop) report the Spearman
correlation between the damage and the distance. Peers run in the same process on the same pixels:
imagehash's ahash/phash/dhash/whash and, when installed, PDQ. Photos larger than --max-side are
downscaled once on load and that copy is the original (the GCompris files are lossy WebP already).

Writes results.json (every number), results.md (tables), PNG plots, and thresholds_measured.json (the
1-in-1000 thresholds these photos give). The shipped verdict thresholds are NOT fitted here (these photos
score the hashes): benchmarks/calibrate_thresholds.py fits them on the corpus, and this benchmark reports
how they do, with look-alikes (pairs of different photos of the same kind of subject) counted apart.

--smoke is a quick check that every stage still runs (the tests use it), not a measurement: photos
downscaled to SMOKE_MAX_SIDE pixels, the few edits in SMOKE_TRANSFORMS, and only the mildest and the
strongest level of each graded series. Its numbers mean nothing, so it cannot write thresholds.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import registry  # noqa: E402
from benchmarks.transforms import SERIES, TRANSFORMS, photo_files  # noqa: E402

FPR_TARGET = 1e-3
OUR_BACKENDS = ("ahash", "phash", "dhash", "timm")

#: --smoke: longest side of the photos, and one edit of each kind of code path (re-encoding,
#: resampling, cropping, rotation, pixel noise, padding).
SMOKE_MAX_SIDE = 64
SMOKE_TRANSFORMS = ("jpeg50", "scale1/2", "crop10", "rot5", "mirror", "noise15", "letterbox", "rot90")


class Method:
    """One hash under test: a name, its bit count, and a batch function images -> bool arrays."""

    def __init__(self, name: str, bits: int, fn: Callable[[list], list], peer: bool = False,
                 backend: str | None = None, hex_len: int | None = None, prefix_of: str | None = None,
                 projection: str | None = None, dihedral: bool = False):
        self.name, self.bits, self.fn, self.peer = name, bits, fn, peer
        self.dihedral = dihedral  # fn returns (8, bits) per image: the DIHEDRAL orientations
        self.prefix_of = prefix_of
        self.backend, self.hex_len, self.projection = backend, hex_len, projection


def bits_only(outs) -> list:
    """``compute`` may return a registry.hasher.Computed (bits and a detail score): keep the bits."""
    return [getattr(out, "bits", out) for out in outs]


#: Row labels of the deep hash's projections (learned-v1 has been "timm" in every table so far).
DEEP_LABELS = {"learned-v1": "timm", "random": "timm-v1", "learned-v2": "timm-v2"}


def our_methods(backends, hex_lens, deep_projections=("learned-v1",)) -> list[Method]:
    methods = []
    for backend in backends:
        if backend == "timm":
            for projection in deep_projections:
                # One deep pass at the longest length; shorter ones are its prefixes (the prefix property).
                longest = max(hex_lens)
                hasher = registry.create("timm", hex_len=longest, projection=projection)
                shared: dict[str, list] = {}
                label = DEEP_LABELS.get(projection, f"timm-{projection}")

                def deep_full(images, hasher=hasher, shared=shared):
                    shared["bits"] = bits_only(hasher.compute_many(images))
                    return shared["bits"]

                def deep_prefix(images, n, shared=shared):
                    return [b[: 4 * n] for b in shared["bits"]]
                methods.append(Method(f"{label}-{longest}", 4 * longest, deep_full, backend="timm",
                                      hex_len=longest, projection=projection))
                for n in sorted(set(hex_lens) - {longest}, reverse=True):
                    methods.append(Method(f"{label}-{n}", 4 * n, lambda ims, n=n, d=deep_prefix: d(ims, n),
                                          backend="timm", hex_len=n, prefix_of=f"{label}-{longest}",
                                          projection=projection))
        else:
            for n in hex_lens:
                hasher = registry.create(backend, hex_len=n)
                methods.append(Method(f"{backend}-{n}", 4 * n,
                                      lambda ims, h=hasher: bits_only(h.compute_many(ims)),
                                      backend=backend, hex_len=n))
    return methods


def dihedral_methods(backends, hex_lens, deep_projections=("random",)) -> list[Method]:
    """Twins of our methods with ``dihedral=True``: each image hashed in its 8 orientations, and a
    distance that is the smallest over them (as ``registry.compare(..., dihedral=True)``)."""
    from registry.hasher import DIHEDRAL, orient
    methods = []
    for backend in backends:
        for projection in (deep_projections if backend == "timm" else (None,)):
            for n in hex_lens:
                options = {"projection": projection} if projection else {}
                hasher = registry.create(backend, hex_len=n, **options)

                def eight(ims, h=hasher):
                    out = []
                    for im in ims:
                        bits = bits_only(h.compute_many([orient(im, o) for o in DIHEDRAL]))
                        out.append(np.stack([np.asarray(b, bool).reshape(-1) for b in bits]))
                    return out
                label = backend if projection in (None, "learned-v1") else f"{backend}-v1"
                methods.append(Method(f"{label}-{n}+dihedral", 4 * n, eight, backend=backend, hex_len=n,
                                      projection=projection, dihedral=True))
    return methods


def peer_methods() -> list[Method]:
    methods = []
    try:
        import imagehash
        for name, fn in [("ahash", imagehash.average_hash), ("phash", imagehash.phash),
                         ("dhash", imagehash.dhash), ("whash", imagehash.whash)]:
            methods.append(Method(f"imagehash.{name}-16", 64,
                                  lambda ims, fn=fn: [fn(im).hash.reshape(-1) for im in ims], peer=True))
    except ImportError:
        print("imagehash not installed: skipping its peers", file=sys.stderr)
    try:
        import pdqhash

        def pdq(ims):
            return [pdqhash.compute(np.asarray(im.convert("RGB")))[0].astype(bool) for im in ims]
        methods.append(Method("pdq-64", 256, pdq, peer=True))
    except ImportError:
        print("pdqhash not installed: skipping PDQ", file=sys.stderr)
    return methods


def load_photo(path: Path, max_side: int) -> Image.Image:
    img = registry.load_image(path).convert("RGB")
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


def roc_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a positive pair is closer than a negative pair), ties counting half."""
    values = np.concatenate([pos, neg])
    from scipy.stats import rankdata
    ranks = rankdata(values)
    r_pos = ranks[: len(pos)].sum()
    u = r_pos - len(pos) * (len(pos) + 1) / 2
    return float(1 - u / (len(pos) * len(neg)))


def threshold_at_fpr(neg: np.ndarray, target: float) -> int:
    """Largest distance t with P(negative distance <= t) <= target (-1 if even 0 is too loose)."""
    counts = np.bincount(neg.astype(int))
    cum = np.cumsum(counts) / len(neg)
    ok = np.nonzero(cum <= target)[0]
    return int(ok[-1]) if len(ok) else -1


def edits(smoke: bool) -> tuple[dict, dict]:
    """(transforms, series) to measure: all of them, or the few that --smoke runs."""
    if not smoke:
        return TRANSFORMS, SERIES
    return ({t: TRANSFORMS[t] for t in SMOKE_TRANSFORMS},
            {s: ([levels[0], levels[-1]], factory) for s, (levels, factory) in SERIES.items()})


def run(args) -> dict:
    files = photo_files(args.images)[: args.limit or None]
    if len(files) < 3:
        raise SystemExit(f"need at least 3 photos in {args.images}")
    methods = ([] if args.no_ours else our_methods(args.backends, args.hex_len, args.deep_projections)) + \
              ([] if args.no_peers else peer_methods()) + \
              (dihedral_methods(args.backends, args.hex_len, args.deep_projections) if args.dihedral else [])
    transforms, series = edits(args.smoke)
    variant_names = ["original"] + list(transforms)
    series_names = [f"{s}={v:g}" for s, (levels, _) in series.items() for v in levels]
    hashes = {m.name: defaultdict(list) for m in methods}  # method -> variant -> [bits per photo]
    seconds = defaultdict(float)
    start = time.time()
    for i, path in enumerate(files):
        img = load_photo(path, args.max_side)
        variants = [img] + [transforms[t](img) for t in transforms]
        if not args.no_series:
            variants += [factory(v)(img) for s, (levels, factory) in series.items() for v in levels]
        names = variant_names + ([] if args.no_series else series_names)
        for m in methods:
            t0 = time.perf_counter()
            out = m.fn(variants)
            seconds[m.name] += time.perf_counter() - t0
            for name, bits in zip(names, out):
                bits = np.asarray(bits, bool)
                hashes[m.name][name].append(bits.reshape(8, -1) if m.dihedral else bits.reshape(-1))
        if args.progress:
            print(f"[{i + 1}/{len(files)}] {path.name}  {time.time() - start:.0f}s", file=sys.stderr, flush=True)
    return summarise(files, methods, hashes, seconds, args, transforms, series)


def subject_group(path: Path) -> str:
    """Photos of the same kind of subject: same folder and same name prefix (a GCompris activity,
    a PyPI package, the Kodak set). Pairs within a group are the look-alikes among the negatives."""
    prefix = path.name.split("__")[0] if "__" in path.name else ""
    return f"{path.parent.name}/{prefix}"


def shipped_threshold(m: "Method") -> int | None:
    """The distance the shipped verdicts call 'slightly changed' (registry/data/thresholds.json)."""
    if m.peer or m.backend is None:
        return None
    from registry.comparison import calibration_name, similar_threshold
    name = calibration_name(m.backend, {"projection": m.projection} if m.projection else None)
    return int(similar_threshold(name, m.hex_len, dihedral=m.dihedral) * m.bits + 1e-9)


def distances_of(m: "Method", hashes: dict) -> tuple[np.ndarray, dict, np.ndarray]:
    """(original hashes, each variant's distances to its original, the matrix of original pairs).

    For a dihedral method a distance is the smallest over the 8 orientations of the second image,
    against the first as it is, a turned orientation counting the calibrated ``turn_penalty`` more
    (the rule of ``compare(a, b, dihedral=True)``).
    """
    stacked = np.stack(hashes["original"])
    if not m.dihedral:
        dist = {k: (stacked != np.stack(v)).sum(-1) for k, v in hashes.items() if k != "original"}
        return stacked, dist, (stacked[:, None, :] != stacked[None, :, :]).sum(-1)
    from registry.comparison import turn_penalty
    penalty = np.array([0] + [turn_penalty(m.backend, m.hex_len)] * 7)
    originals = stacked[:, 0, :]
    dist = {k: ((originals[:, None, :] != np.stack(v)).sum(-1) + penalty).min(1) for k, v in hashes.items()
            if k != "original"}
    pairs = np.stack([(originals[:, None, :] != stacked[None, :, k, :]).sum(-1) + penalty[k]
                      for k in range(8)]).min(0)
    return originals, dist, pairs


def verdicts_of_matched_pairs(m: "Method", files, max_side: int, pairs: list, neg: np.ndarray, shipped: int,
                              lookalike: np.ndarray) -> dict:
    """What the shipped verdict (``compare_hashes``: distance, detail, colours, lightness layout) says of
    the pairs of different photos that the distance alone calls the same picture.

    The distance column counts these as "slightly changed"; a user sees the verdict, which also looks
    at what the hash is blind to, so this is how many look-alikes a user would be told to keep.
    """
    from registry.comparison import compare_hashes
    close = np.nonzero(neg <= shipped)[0]
    hasher = registry.create(m.backend, hex_len=m.hex_len,
                             **({"projection": m.projection} if m.backend == "timm" else {}))
    cache: dict[int, object] = {}

    def hashed(i):
        if i not in cache:
            cache[i] = hasher.hash(load_photo(files[i], max_side))
        return cache[i]
    verdicts: dict[str, int] = {}
    kept = kept_lookalikes = 0
    for k in close:
        i, j = pairs[k]
        c = compare_hashes(hashed(i), hashed(j))
        verdicts[c.verdict] = verdicts.get(c.verdict, 0) + 1
        kept += not c.fetch_again
        kept_lookalikes += bool(lookalike[k]) and not c.fetch_again
    n_look = int(lookalike.sum())
    return {"matched_pairs": int(len(close)), "verdicts": verdicts, "kept": kept,
            "kept_rate": kept / len(neg), "lookalikes_kept": kept_lookalikes,
            "lookalikes_kept_rate": kept_lookalikes / n_look if n_look else None}


def per_photo_spearman(distances: np.ndarray) -> dict:
    """How well one photo's copies rank by damage: Spearman's rho between the damage level and the
    distance of each photo's graded copies (rows: photos, columns: levels), then its mean and median.

    The pooled rho (every photo's copies ranked together) also asks whether 5 bits of one photo mean
    more damage than 4 bits of another, which no distance between two hashes can know: photos differ in
    how far the same edit moves them. A user asks the per-photo question: of two copies of my image,
    which changed more? A photo whose copies all sit at one distance ranks nothing: it counts as 0.
    """
    from scipy.stats import spearmanr
    levels = np.arange(distances.shape[1])
    rhos = []
    for row in distances:
        rho = spearmanr(levels, row).statistic if np.ptp(row) else float("nan")
        rhos.append(0.0 if math.isnan(rho) else float(rho))
    return {"spearman_per_photo_mean": float(np.mean(rhos)), "spearman_per_photo_median": float(np.median(rhos)),
            "photos_constant": int(sum(not np.ptp(r) for r in distances))}


def summarise(files, methods, hashes, seconds, args, transforms=TRANSFORMS, series=SERIES) -> dict:
    n = len(files)
    iu = np.triu_indices(n, 1)
    groups = np.array([subject_group(Path(f)) for f in files])
    lookalike = groups[iu[0]] == groups[iu[1]]
    results = {"photos": n, "negative_pairs": int(len(iu[0])), "lookalike_pairs": int(lookalike.sum()),
               "fpr_target": FPR_TARGET, "max_side": args.max_side, "command": " ".join(sys.argv),
               "methods": {}}
    from scipy.stats import spearmanr
    for m in methods:
        # Each variant's distances to its original, computed once and used by every metric below.
        originals, dist, pair_matrix = distances_of(m, hashes[m.name])
        neg = pair_matrix[iu]
        thr = threshold_at_fpr(neg, FPR_TARGET)
        entry = {"bits": m.bits, "peer": m.peer, "backend": m.backend, "hex_len": m.hex_len,
                 "dihedral": m.dihedral,
                 "threshold": thr, "threshold_fraction": thr / m.bits if thr >= 0 else None,
                 "negatives_mean": float(neg.mean() / m.bits),
                 "negatives_p001": float(np.quantile(neg, 0.001) / m.bits),
                 "ms_per_image": 1000 * seconds[m.prefix_of or m.name] / (n * len(hashes[m.name])),
                 "transforms": {}, "series": {},
                 "lookalikes_matched": float((neg[lookalike] <= thr).mean()) if lookalike.any() else None}
        shipped = shipped_threshold(m)
        if shipped is not None:
            entry["shipped_threshold"] = shipped
            entry["shipped_false_match_rate"] = float((neg <= shipped).mean())
            entry["lookalikes_similar_at_shipped"] = float((neg[lookalike] <= shipped).mean()) \
                if lookalike.any() else None
            entry["detection_at_shipped"] = {t: float((dist[t] <= shipped).mean()) for t in transforms}
            if not m.dihedral:
                entry["verdicts_of_matched_pairs"] = verdicts_of_matched_pairs(
                    m, files, args.max_side, [(int(a), int(b)) for a, b in zip(*iu)], neg, shipped, lookalike)
        for t in transforms:
            pos = dist[t]
            entry["transforms"][t] = {
                "detection": float((pos <= thr).mean()),
                "mean_distance": float(pos.mean() / m.bits),
                "auc": roc_auc(pos, neg),
            }
        for s, (levels, _) in series.items():
            key = [f"{s}={v:g}" for v in levels]
            if key[0] not in dist:
                continue
            damage = np.repeat(np.arange(len(key)), [len(dist[k]) for k in key])
            rho = spearmanr(damage, np.concatenate([dist[k] for k in key])).statistic
            entry["series"][s] = {"spearman": None if math.isnan(rho) else float(rho),
                                  **per_photo_spearman(np.stack([dist[k] for k in key], axis=1)),
                                  "levels": list(levels),
                                  "mean_distance": [float(dist[k].mean() / m.bits) for k in key]}
        entry["distances"] = {"negatives": np.bincount(neg, minlength=m.bits + 1).tolist(),
                              "positives": np.bincount(np.concatenate([dist[t] for t in transforms]),
                                                       minlength=m.bits + 1).tolist()}
        results["methods"][m.name] = entry
    return results


def _ordered(methods: dict) -> list[str]:
    return sorted(methods, key=lambda k: (methods[k]["peer"], k.split("-")[0], methods[k]["bits"]))


def _edits_in(methods: dict) -> list[str]:
    """The edits these results measured, in reporting order (all of TRANSFORMS but with --smoke)."""
    measured = next(iter(methods.values()))["transforms"] if methods else {}
    return [t for t in TRANSFORMS if t in measured]


def markdown(results: dict) -> str:
    methods = results["methods"]
    names = _ordered(methods)
    measured = _edits_in(methods)
    lines = [f"Detection rate of each edit at the threshold where at most 1 in 1000 of the "
             f"{results['negative_pairs']:,} pairs of different photos match ({results['photos']} photos). "
             f"Columns are backend-hex length: `phash-16` is 16 hex digits, 64 bits; imagehash and PDQ "
             f"at their usual sizes (64 and 256 bits).", "",
             "| edit | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for t in measured:
        row = [f"{methods[n]['transforms'][t]['detection']:.0%}" for n in names]
        lines.append(f"| {t} | " + " | ".join(row) + " |")
    lines.append("| **mean detection** | " + " | ".join(
        f"**{np.mean([methods[n]['transforms'][t]['detection'] for t in measured]):.0%}**" for n in names) + " |")
    lines.append("| mean ROC AUC | " + " | ".join(
        f"{np.mean([methods[n]['transforms'][t]['auc'] for t in measured]):.3f}" for n in names) + " |")
    lines.append("| threshold (bits) | " + " | ".join(
        f"{methods[n]['threshold']} of {methods[n]['bits']}" for n in names) + " |")
    lines.append(f"| look-alikes matched ({results.get('lookalike_pairs', 0):,} pairs of the same kind of subject) | "
                 + " | ".join("n/a" if methods[n].get("lookalikes_matched") is None
                              else f"{methods[n]['lookalikes_matched']:.2%}" for n in names) + " |")
    lines.append("| shipped threshold (bits) | " + " | ".join(
        f"{methods[n]['shipped_threshold']}" if "shipped_threshold" in methods[n] else "" for n in names) + " |")
    lines.append("| mean detection at the shipped threshold | " + " | ".join(
        f"{np.mean([methods[n]['detection_at_shipped'][t] for t in measured]):.0%}"
        if "detection_at_shipped" in methods[n] else "" for n in names) + " |")
    lines.append("| false matches at the shipped threshold | " + " | ".join(
        f"{methods[n]['shipped_false_match_rate']:.2%}" if "shipped_false_match_rate" in methods[n] else ""
        for n in names) + " |")
    lines.append("| look-alikes called \"slightly changed\" at the shipped threshold | " + " | ".join(
        f"{methods[n]['lookalikes_similar_at_shipped']:.2%}"
        if methods[n].get("lookalikes_similar_at_shipped") is not None else "" for n in names) + " |")
    lines.append("| look-alikes kept by the verdict (`fetch_again` False) | " + " | ".join(
        f"{methods[n]['verdicts_of_matched_pairs']['lookalikes_kept_rate']:.2%}"
        if (methods[n].get("verdicts_of_matched_pairs") or {}).get("lookalikes_kept_rate") is not None else ""
        for n in names) + " |")
    lines.append("| different photos kept by the verdict | " + " | ".join(
        f"{methods[n]['verdicts_of_matched_pairs']['kept']} of {results['negative_pairs']:,}"
        if methods[n].get("verdicts_of_matched_pairs") else "" for n in names) + " |")
    if any(methods[n]["series"] for n in names):
        for s in SERIES:
            lines.append(f"| Spearman: {s} | " + " | ".join(
                "n/a" if methods[n]["series"].get(s, {}).get("spearman") is None
                else f"{methods[n]['series'][s]['spearman']:.2f}" for n in names) + " |")
        for s in SERIES:
            lines.append(f"| Spearman per photo (mean): {s} | " + " | ".join(
                "n/a" if methods[n]["series"].get(s, {}).get("spearman_per_photo_mean") is None
                else f"{methods[n]['series'][s]['spearman_per_photo_mean']:.2f}" for n in names) + " |")
    lines.append("| ms per image (1 core) | " + " | ".join(f"{methods[n]['ms_per_image']:.1f}" for n in names) + " |")
    return "\n".join(lines) + "\n"


def plots(results: dict, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    methods = results["methods"]
    names = _ordered(methods)
    paths = []
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        m = methods[name]
        x = np.arange(m["bits"] + 1) / m["bits"]
        for key, colour in (("negatives", "tab:red"), ("positives", "tab:blue")):
            counts = np.asarray(m["distances"][key], float)
            ax.plot(x, counts / counts.sum(), color=colour, label=key)
        if m["threshold"] >= 0:
            ax.axvline(m["threshold"] / m["bits"], color="k", ls="--", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("normalised Hamming distance", fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Distances of edited copies (blue) vs different photos (red); dashed: threshold at 1/1000 false matches",
                 fontsize=10)
    fig.tight_layout()
    paths.append(out / "distances.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)

    measured = _edits_in(methods)
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(names)), 7))
    grid = np.array([[methods[n]["transforms"][t]["detection"] for n in names] for t in measured])
    im = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(measured)), measured, fontsize=8)
    for (r, c), v in np.ndenumerate(grid):
        ax.text(c, r, f"{v:.0%}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, label="detection at 1/1000 false matches")
    ax.set_title("Detection rate per edit")
    fig.tight_layout()
    paths.append(out / "detection.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)
    return paths


def thresholds(results: dict) -> dict:
    """The thresholds this run measured, in the shipped file's format, to compare with the shipped ones.

    The shipped thresholds come from benchmarks/calibrate_thresholds.py on the fitting corpus: this
    benchmark's photos score the hashes, so they must not also tune them.
    """
    table: dict = {}
    for m in results["methods"].values():
        if m["peer"] or m["backend"] is None or m.get("dihedral"):
            continue
        frac = max(m["threshold"], 0) / m["bits"]
        table.setdefault(m["backend"], {})[str(m["hex_len"])] = {
            "similar": round(frac, 4), "max_bits": max(m["threshold"], 0),
            "false_match_rate": FPR_TARGET,
            "mean_detection": round(float(np.mean([t["detection"] for t in m["transforms"].values()])), 4)}
    return {"about": "Written by benchmarks/robustness.py: a pair counts as 'slightly changed' while its "
                     "normalised distance is at most 'similar', the largest at which at most 1 in 1000 pairs "
                     "of different photos matched.",
            "photos": results["photos"], "command": results["command"], "thresholds": table}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", required=True, help="a folder of photos (searched recursively)")
    ap.add_argument("--out", required=True, help="folder for results.json, results.md and plots")
    ap.add_argument("--backends", nargs="+", default=list(OUR_BACKENDS))
    ap.add_argument("--hex-len", nargs="+", type=int, default=[16, 64])
    ap.add_argument("--limit", type=int, default=0, help="use only the first N photos")
    ap.add_argument("--max-side", type=int, default=None,
                    help=f"downscale larger photos to this longest side "
                         f"(default 1024; {SMOKE_MAX_SIDE} with --smoke)")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-ours", action="store_true")
    ap.add_argument("--no-series", action="store_true")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--deep-projections", nargs="+", default=["learned-v1", "random"],
                    help="deep hash projections to measure (default: learned-v1 and random, v1; learned-v2 on request)")
    ap.add_argument("--smoke", action="store_true",
                    help=f"a quick check that every stage runs, not a measurement: photos downscaled to "
                         f"{SMOKE_MAX_SIDE} px, {len(SMOKE_TRANSFORMS)} edits, 2 levels per series")
    ap.add_argument("--dihedral", action="store_true",
                    help="also measure each of our hashes with dihedral=True (min over 8 orientations)")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    if args.max_side is None:
        args.max_side = SMOKE_MAX_SIDE if args.smoke else 1024
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = run(args)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(markdown(results))
    if not args.no_plots:
        plots(results, out)
    (out / "thresholds_measured.json").write_text(json.dumps(thresholds(results), indent=1) + "\n")
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
