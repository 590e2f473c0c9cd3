"""dHash: whether each pixel of a small grayscale thumbnail is brighter than its left neighbour."""
from __future__ import annotations

from registry import Hasher

from .grid import exact_shape, first_bits, grid_for, gray_pixels, resample_filter


class DifferenceHash(Hasher):
    """Difference (gradient) hash, equal to ``imagehash.dhash`` where 4*hex_len is a square."""

    name = "dhash"
    summary = "Difference hash: fast, tracks gradients; robust to brightness and re-encoding."
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
        pixels = gray_pixels(image, (self._cols + 1, self._rows), self._filter)
        return first_bits(pixels[:, 1:] > pixels[:, :-1], self.bit_count)
