"""What the deep hash hashes and how it turns it into bits: recipes, and the data shipped for them.

A ``Recipe`` says which feature parts of the network are used, how they are post-processed and which
projection makes the bits: v1 (``random``) centres the pre-logits by a shipped mean and projects onto
seeded Gaussian hyperplanes; ``learned-v1`` whitens several parts with directions fitted by
``benchmarks/fit_deep_projection.py``. The fitted files ship inside the package (``data/deep``); for
the combinations listed in ``SHIPPED_*`` a missing file is a broken installation, never a quiet change
of every hash.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from registry.errors import HasherError

from .deep_weights import DEFAULT_MODEL, DEFAULT_WEIGHTS_PACKAGE

MAX_BITS = 1024
#: Package data: inside the installed package, wherever it is installed (wheel, editable, checkout).
MEANS_DIR = Path(__file__).resolve().parent / "data" / "deep"
#: (model, weights tag, views) that ship a fitted mean in MEANS_DIR. For these, a missing file means
#: a broken installation; falling back to self-centring would silently change every hash.
SHIPPED_MEANS = frozenset({(DEFAULT_MODEL, DEFAULT_WEIGHTS_PACKAGE, 1), (DEFAULT_MODEL, DEFAULT_WEIGHTS_PACKAGE, 2)})
#: (model, weights tag, views) that ship fitted learned projections; missing means broken, likewise.
SHIPPED_LEARNED = frozenset({(DEFAULT_MODEL, DEFAULT_WEIGHTS_PACKAGE, 2)})
LEARNED = "learned-v1"
LEARNED_V2 = "learned-v2"
LEARNED_PROJECTIONS = (LEARNED, LEARNED_V2)
PROJECTIONS = ("auto", "random", *LEARNED_PROJECTIONS)
#: learned-v2's canonical twin: grayscale, and the shorter side box-filtered down to this many pixels.
CANONICAL_SIDE = 128


def canonical_image(img):
    """The canonical twin of an RGB image: what grayscale, blur and downscaling change least."""
    from PIL import Image
    gray = img.convert("L").convert("RGB")
    scale = CANONICAL_SIDE / min(gray.size)
    if scale >= 1:
        return gray
    size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
    return gray.resize(size, Image.Resampling.BOX)

# --- shipped data: v1 centring means, learned projections ----------------------------------------
def _data_name(model_name: str, weights_tag: str, views: int, suffix: str = "") -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_"
                   for c in f"{model_name}__{weights_tag}__views{views}{suffix}")


def centering_file(model_name: str, weights_tag: str, views: int) -> Path:
    return MEANS_DIR / f"{_data_name(model_name, weights_tag, views)}.npy"


def learned_file(model_name: str, weights_tag: str, views: int, projection: str = LEARNED) -> Path:
    return MEANS_DIR / f"{_data_name(model_name, weights_tag, views, '__' + projection)}.npz"


def load_centering(model_name: str, weights_tag: str, views: int) -> Optional[np.ndarray]:
    """The shipped mean embedding, None for models that have none; never None for one that has."""
    path = centering_file(model_name, weights_tag, views)
    if (model_name, weights_tag, views) in SHIPPED_MEANS and not path.is_file():
        raise HasherError(f"this image-deep-hash installation is incomplete: the mean embedding "
                          f"{path.name} that the deep hash of {model_name!r} needs is missing from "
                          f"{path.parent}; reinstall the package")
    return np.load(path) if path.is_file() else None


@dataclass(frozen=True)
class Recipe:
    """From network outputs to bits: which parts, how post-processed, which projection."""

    projection: str
    parts: tuple[str, ...]
    widths: tuple[int, ...]
    normalise: bool                 # L2-normalise each part after averaging the views
    mean: Optional[np.ndarray]      # subtracted before projecting (None: each embedding's own mean)
    basis: Optional[np.ndarray]     # (dim, MAX_BITS) whitening directions, best first; None for random
    centering: str                  # the v1 identity field
    canonical: bool = False         # the views' canonical twins are embedded too (learned-v2)


def _learned_recipe(path: Path, projection: str) -> Recipe:
    with np.load(path, allow_pickle=False) as data:
        canonical = bool(data["canonical"]) if "canonical" in data.files else False
        if "basis_int8" in data.files:   # int8 with one scale per direction: half float16's size
            basis = data["basis_int8"].astype(np.float64) * data["basis_scale"].astype(np.float64)[None, :]
        else:
            basis = data["basis"].astype(np.float64)
        return Recipe(projection, tuple(str(p) for p in data["parts"]), tuple(int(w) for w in data["widths"]),
                      bool(data["normalise"]), data["mean"].astype(np.float64), basis, "", canonical)


def resolve_recipe(model_name: str, weights_tag: str, views: int, projection: str) -> Recipe:
    if projection in LEARNED_PROJECTIONS:
        path = learned_file(model_name, weights_tag, views, projection)
        if (model_name, weights_tag, views) in SHIPPED_LEARNED and not path.is_file():
            raise HasherError(f"this image-deep-hash installation is incomplete: the learned projection "
                              f"{path.name} is missing from {path.parent}; reinstall the package")
        if not path.is_file():
            raise ValueError(f"projection={projection!r} has no fitted parameters for model {model_name!r} "
                             f"with weights {weights_tag!r} and views={views}; use projection='random' or "
                             f"fit them with benchmarks/fit_deep_projection.py")
        return _learned_recipe(path, projection)
    mean = load_centering(model_name, weights_tag, views)
    centering = "mean:" + centering_file(model_name, weights_tag, views).stem if mean is not None else "self"
    return Recipe("random", ("head_avg",), (), False, mean, None, centering)


@lru_cache(maxsize=16)
def _projection(dim: int, seed: int) -> np.ndarray:
    """MAX_BITS x dim Gaussian hyperplanes from a frozen-stream generator; row k gives bit k."""
    planes = np.random.RandomState(seed).standard_normal((MAX_BITS, dim))
    planes.flags.writeable = False  # shared by every hasher with this seed
    return planes
