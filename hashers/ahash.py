"""aHash: each cell of a small grayscale thumbnail brighter than the mean or not."""
from __future__ import annotations

import numpy as np

from registry import Hasher

from .grid import exact_shape, first_bits, grid_for, gray_pixels, resample_filter


class AverageHash(Hasher):
    """Average hash, equal to ``imagehash.average_hash`` where 4*hex_len is a square."""

    name = "ahash"
    summary = "Average hash: fastest; survives re-encoding and resizing, not crops or edits."
    defaults = {"resample": "lanczos"}
    similar_threshold = 0.15

    def __init__(self, hex_len: int = 16, **options):
        super().__init__(hex_len, **options)
        self._filter = resample_filter(self.options["resample"])
        self._rows, self._cols = grid_for(self.bit_count)

    @property
    def shape(self):
        return exact_shape(self.bit_count)

    def compute(self, image):
        cells = first_bits(gray_pixels(image, (self._cols, self._rows), self._filter), self.bit_count)
        return cells > np.mean(cells)
