"""pHash: signs of the lowest frequencies of a grayscale thumbnail's 2-D DCT around their median."""
from __future__ import annotations

import numpy as np
import scipy.fft

from registry import Hasher

from .grid import exact_shape, first_bits, grid_for, gray_pixels, resample_filter


class PerceptualHash(Hasher):
    """Perceptual (DCT) hash, equal to ``imagehash.phash`` where 4*hex_len is a square."""

    name = "phash"
    summary = "Perceptual (DCT) hash: robust to re-encoding, resizing, blur and light edits."
    defaults = {"resample": "lanczos", "highfreq_factor": 4}
    similar_threshold = 0.15

    def __init__(self, hex_len: int = 16, **options):
        super().__init__(hex_len, **options)
        self._filter = resample_filter(self.options["resample"])
        factor = self.options["highfreq_factor"]
        if isinstance(factor, bool) or not isinstance(factor, int) or not 1 <= factor <= 32:
            raise ValueError(f"highfreq_factor must be an integer from 1 to 32, got {factor!r}")
        self._rows, self._cols = grid_for(self.bit_count)

    @property
    def shape(self):
        return exact_shape(self.bit_count)

    def compute(self, image):
        f = self.options["highfreq_factor"]
        pixels = gray_pixels(image, (self._cols * f, self._rows * f), self._filter)
        dct = scipy.fft.dct(scipy.fft.dct(pixels, axis=0), axis=1)
        low = first_bits(dct[: self._rows, : self._cols], self.bit_count)
        return low > np.median(low)
