"""Which way from embedding to bits: the study behind the deep hasher's design, at 64 bits.

    python benchmarks/deep_projection.py --images ../shared/photos --out benchmarks/results/deep_projection

Embeds every photo and its JPEG-50, 25%-centre-crop, 5-degree-rotation and mirror copies (whole image
and centre-75% view, so one pass serves both the one-view and the two-view embedding), then compares
ways to make 64 bits, each over 5 projection seeds: random hyperplanes without centring, with each
embedding's own mean removed, with the mean embedding of the fitting photos removed (what ships); and
learned projections fitted on the same photos: PCA, and PCA + ITQ (iterative quantisation). Fitting
photos are those whose path contains --fit (default "gcompris"); the rest are held out. Reports the
detection rate of each kind at 1 false match in 1000 pairs of different photos, on all and held-out photos.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import registry  # noqa: E402
from benchmarks.transforms import TRANSFORMS, photo_files  # noqa: E402
from hashers.deep import _centre_crop  # noqa: E402

KINDS = ["jpeg50", "crop25", "rot5", "mirror"]
BITS = 64


def embeddings(files, cache: Path) -> dict:
    if cache.is_file():
        return dict(np.load(cache))
    hasher = registry.create("timm", hex_len=16, views=1)
    out = {}
    images = [registry.load_image(f).convert("RGB") for f in files]
    for kind in ["original"] + KINDS:
        variants = images if kind == "original" else [TRANSFORMS[kind](im) for im in images]
        out[f"{kind}/full"] = hasher.embed(variants)
        out[f"{kind}/centre"] = hasher.embed([_centre_crop(v) for v in variants])
        print(kind, "embedded", file=sys.stderr, flush=True)
    np.savez(cache, **out)
    return out


def detection(bits: dict, mask: np.ndarray) -> dict:
    o = bits["original"][mask]
    n = len(o)
    neg = (o[:, None, :] != o[None, :, :]).sum(-1)[np.triu_indices(n, 1)]
    counts = np.cumsum(np.bincount(neg, minlength=BITS + 1)) / len(neg)
    ok = np.nonzero(counts <= 1e-3)[0]
    thr = int(ok[-1]) if len(ok) else -1
    return {k: float(((o != bits[k][mask]).sum(-1) <= thr).mean()) for k in KINDS}


def itq(v: np.ndarray, iterations: int = 50, seed: int = 0) -> np.ndarray:
    """Gong & Lazebnik's iterative quantisation: the rotation that best fits signs to PCA codes."""
    r = np.linalg.qr(np.random.RandomState(seed).standard_normal((v.shape[1], v.shape[1])))[0]
    for _ in range(iterations):
        b = np.where(v @ r >= 0, 1.0, -1.0)
        u, _, vt = np.linalg.svd(b.T @ v)
        r = (u @ vt).T
    return r


def study(emb: dict, fit: np.ndarray, seeds: int = 5) -> dict:
    results = {}
    for views in (1, 2):
        e = {k: emb[f"{k}/full"] if views == 1 else (emb[f"{k}/full"] + emb[f"{k}/centre"]) / 2
             for k in ["original"] + KINDS}
        mean = e["original"][fit].mean(0)
        u, s, vt = np.linalg.svd(e["original"][fit] - mean, full_matrices=False)
        pca = vt[:BITS].T
        rotation = itq((e["original"][fit] - mean) @ pca)
        variants = {
            "random hyperplanes, no centring": lambda x, p: x @ p.T,
            "random hyperplanes, own mean removed": lambda x, p: (x - x.mean(1, keepdims=True)) @ p.T,
            "random hyperplanes, fitted mean removed (shipped)": lambda x, p: (x - mean) @ p.T,
            "PCA (learned)": lambda x, p: (x - mean) @ pca,
            "PCA + ITQ (learned)": lambda x, p: (x - mean) @ pca @ rotation,
        }
        for name, project in variants.items():
            runs = {"all": [], "held-out": []}
            learned = "learned" in name
            for seed in range(1 if learned else seeds):
                planes = np.random.RandomState(seed).standard_normal((BITS, e["original"].shape[1]))
                bits = {k: project(e[k], planes) > 0 for k in e}
                runs["all"].append(detection(bits, np.ones(len(fit), bool)))
                runs["held-out"].append(detection(bits, ~fit))
            results[f"views={views}: {name}"] = {
                where: {k: {"mean": float(np.mean([r[k] for r in rs])), "worst": float(min(r[k] for r in rs))}
                        for k in KINDS} for where, rs in runs.items()}
    return results


def markdown(results: dict, photos: int, held_out: int) -> str:
    lines = [f"Detection at 1 false match in 1000, 64 bits; mean (worst) over 5 projection seeds; all "
             f"{photos} photos / the {held_out} held out from fitting.", "",
             "| embedding → bits | " + " | ".join(KINDS) + " |", "|---|" + "---|" * len(KINDS)]
    for name, r in results.items():
        cells = [f"{r['all'][k]['mean']:.0%} ({r['all'][k]['worst']:.0%}) / {r['held-out'][k]['mean']:.0%}"
                 for k in KINDS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fit", default="gcompris", help="photos whose path contains this fit the mean/PCA")
    args = ap.parse_args(argv)
    files = photo_files(args.images)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    emb = embeddings(files, Path("/tmp") / "idh_deep_projection_embeddings.npz")
    fit = np.array([args.fit in str(f) for f in files])
    results = study(emb, fit)
    (out / "deep_projection.json").write_text(json.dumps(results, indent=1))
    md = markdown(results, len(files), int((~fit).sum()))
    (out / "deep_projection.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
