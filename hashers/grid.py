"""What the three classical hashes share: the bit grid for any length, and grayscale resizing.

At lengths where 4 * hex_len is a perfect square the grid is square and the hashes equal the
``imagehash`` package's bit for bit. Other lengths use the grid ``rows x cols`` with
``rows <= cols <= 2 * rows`` that wastes the fewest cells (the most square one on ties); when
``rows * cols`` exceeds the bit count, the surplus cells at the end in row-major order are dropped.
So 8 bits is 2 x 4, 12 bits 3 x 4, and 244 bits (hex 61, a prime) 13 x 19 less 3 cells.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image

from registry.hasher import Hasher

RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,   # imagehash's ANTIALIAS
}


@lru_cache(maxsize=None)
def grid_for(bit_count: int) -> tuple[int, int]:
    """(rows, cols) of the sampling grid for ``bit_count`` bits; see the module docstring."""
    best = None
    for rows in range(math.isqrt(bit_count), 0, -1):
        cols = -(-bit_count // rows)
        if cols > 2 * rows:
            break
        waste = rows * cols - bit_count
        if best is None or waste < best[0]:
            best = (waste, rows, cols)
    assert best is not None
    return best[1], best[2]


def exact_shape(bit_count: int) -> tuple[int, int] | None:
    rows, cols = grid_for(bit_count)
    return (rows, cols) if rows * cols == bit_count else None


def resample_filter(name: str) -> Image.Resampling:
    try:
        return RESAMPLING[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown resample filter {name!r}; allowed: {', '.join(RESAMPLING)}") from None


def gray_pixels(image: Image.Image, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Grayscale pixels at ``size`` = (width, height), exactly as imagehash prepares them."""
    gray = image if image.mode == "L" else image.convert("L")  # usually already L (input_mode)
    return np.asarray(gray.resize(size, resample))


def first_bits(values: np.ndarray, bit_count: int) -> np.ndarray:
    return values.reshape(-1)[:bit_count]


class GridHasher(Hasher):
    """What aHash, pHash and dHash share: a resample filter, a bit grid, and a fast mode.

    ``fast=True`` lets JPEGs decode at a reduced scale (Pillow's draft mode) that still leaves at least
    ``FAST_MARGIN`` times the pixels of the thumbnail the hash is made from. It is several times faster
    on large photos and usually changes no bit, or one or two (see the speed benchmark); so a fast hash
    compares with an exact one, ``fast`` is not part of the hash's identity.
    """

    defaults = {"resample": "lanczos", "fast": False}
    similar_threshold = 0.15
    input_mode = "L"  # converted once by load(), and shared across hashers by registry.hash_all
    FAST_MARGIN = 8

    def __init__(self, hex_len: int = 16, **options):
        super().__init__(hex_len, **options)
        self._filter = resample_filter(self.options["resample"])
        if not isinstance(self.options["fast"], bool):
            raise ValueError(f"fast must be True or False, got {self.options['fast']!r}")
        self._rows, self._cols = grid_for(self.bit_count)

    def thumbnail_size(self) -> tuple[int, int]:
        """(width, height) of the grayscale thumbnail this hash is computed from."""
        return self._cols, self._rows

    @property
    def fast_draft_size(self) -> int:
        return self.FAST_MARGIN * max(self.thumbnail_size())

    @property
    def draft_size(self):
        return self.fast_draft_size if self.options["fast"] else None

    @property
    def identity(self):
        return {k: v for k, v in self.options.items() if k != "fast"}

    @property
    def shape(self):
        return exact_shape(self.bit_count)

    def gray(self, image: Image.Image) -> np.ndarray:
        return gray_pixels(image, self.thumbnail_size(), self._filter)
