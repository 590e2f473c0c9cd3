"""pHash: signs of the lowest frequencies of a grayscale thumbnail's 2-D DCT around their median."""
from __future__ import annotations

import numpy as np
import scipy.fft

from .grid import GridHasher, first_bits


class PerceptualHash(GridHasher):
    """Perceptual (DCT) hash, equal to ``imagehash.phash`` where 4*hex_len is a square."""

    name = "phash"
    summary = "Perceptual (DCT) hash: robust to re-encoding, resizing, blur and light edits."
    defaults = {**GridHasher.defaults, "highfreq_factor": 4}

    def __init__(self, hex_len: int = 16, **options):
        super().__init__(hex_len, **options)
        factor = self.options["highfreq_factor"]
        if isinstance(factor, bool) or not isinstance(factor, int) or not 1 <= factor <= 32:
            raise ValueError(f"highfreq_factor must be an integer from 1 to 32, got {factor!r}")

    def thumbnail_size(self):
        f = self.options["highfreq_factor"]
        return self._cols * f, self._rows * f

    def compute(self, image):
        dct = scipy.fft.dct(scipy.fft.dct(self.gray(image), axis=0), axis=1)
        low = first_bits(dct[: self._rows, : self._cols], self.bit_count)
        return low > np.median(low)
