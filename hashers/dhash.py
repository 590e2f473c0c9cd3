"""dHash: whether each pixel of a small grayscale thumbnail is brighter than its left neighbour."""
from __future__ import annotations

from registry.colour import gradient_detail
from registry.hasher import Computed

from .grid import GridHasher, first_bits


class DifferenceHash(GridHasher):
    """Difference (gradient) hash, equal to ``imagehash.dhash`` where 4*hex_len is a square."""

    name = "dhash"
    summary = "Difference hash: fast, tracks gradients; robust to brightness and re-encoding."

    def thumbnail_size(self):
        return self._cols + 1, self._rows

    def compute(self, image):
        pixels = self.gray(image)
        return Computed(first_bits(pixels[:, 1:] > pixels[:, :-1], self.bit_count), gradient_detail(pixels))
