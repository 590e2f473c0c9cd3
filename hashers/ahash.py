"""aHash: each cell of a small grayscale thumbnail brighter than the mean or not."""
from __future__ import annotations

import numpy as np

from registry.colour import gradient_detail
from registry.hasher import Computed

from .grid import GridHasher, first_bits


class AverageHash(GridHasher):
    """Average hash, equal to ``imagehash.average_hash`` where 4*hex_len is a square."""

    name = "ahash"
    summary = "Average hash: fastest; survives re-encoding and resizing, not crops or edits."

    def compute(self, image):
        gray = self.gray(image)
        cells = first_bits(gray, self.bit_count)
        return Computed(cells > np.mean(cells), gradient_detail(gray))
