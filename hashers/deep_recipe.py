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
#: (model, weights tag, views) that ship a fitted learned-v1 projection; missing means broken, likewise.
SHIPPED_LEARNED = frozenset({(DEFAULT_MODEL, DEFAULT_WEIGHTS_PACKAGE, 2)})
LEARNED = "learned-v1"
PROJECTIONS = ("auto", "random", LEARNED)

# --- shipped data: v1 centring means, learned projections ----------------------------------------
def _data_name(model_name: str, weights_tag: str, views: int, suffix: str = "") -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_"
                   for c in f"{model_name}__{weights_tag}__views{views}{suffix}")


def centering_file(model_name: str, weights_tag: str, views: int) -> Path:
    return MEANS_DIR / f"{_data_name(model_name, weights_tag, views)}.npy"


def learned_file(model_name: str, weights_tag: str, views: int) -> Path:
    return MEANS_DIR / f"{_data_name(model_name, weights_tag, views, '__' + LEARNED)}.npz"


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


def _learned_recipe(path: Path) -> Recipe:
    with np.load(path, allow_pickle=False) as data:
        return Recipe(LEARNED, tuple(str(p) for p in data["parts"]), tuple(int(w) for w in data["widths"]),
                      bool(data["normalise"]), data["mean"].astype(np.float64),
                      data["basis"].astype(np.float64), "")


def resolve_recipe(model_name: str, weights_tag: str, views: int, projection: str) -> Recipe:
    path = learned_file(model_name, weights_tag, views)
    shipped = (model_name, weights_tag, views) in SHIPPED_LEARNED
    if projection == LEARNED and shipped and not path.is_file():
        raise HasherError(f"this image-deep-hash installation is incomplete: the learned projection "
                          f"{path.name} is missing from {path.parent}; reinstall the package")
    if projection == LEARNED and not path.is_file():
        raise ValueError(f"projection={LEARNED!r} has no fitted parameters for model {model_name!r} with "
                         f"weights {weights_tag!r} and views={views}; use projection='random' or fit "
                         f"them with benchmarks/fit_deep_projection.py")
    if projection == LEARNED and path.is_file():
        return _learned_recipe(path)
    mean = load_centering(model_name, weights_tag, views)
    centering = "mean:" + centering_file(model_name, weights_tag, views).stem if mean is not None else "self"
    return Recipe("random", ("head_avg",), (), False, mean, None, centering)


@lru_cache(maxsize=16)
def _projection(dim: int, seed: int) -> np.ndarray:
    """MAX_BITS x dim Gaussian hyperplanes from a frozen-stream generator; row k gives bit k."""
    planes = np.random.RandomState(seed).standard_normal((MAX_BITS, dim))
    planes.flags.writeable = False  # shared by every hasher with this seed
    return planes
