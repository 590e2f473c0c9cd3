"""pHash: signs of the lowest frequencies of a grayscale thumbnail's 2-D DCT around their median."""
from __future__ import annotations

import numpy as np
import scipy.fft

from registry.colour import gradient_detail
from registry.hasher import Computed

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
        gray = self.gray(image)
        dct = scipy.fft.dct(scipy.fft.dct(gray, axis=0), axis=1)
        low = first_bits(dct[: self._rows, : self._cols], self.bit_count)
        # Its bits see only the lowest frequencies: measure detail at the grid's own resolution.
        f = self.options["highfreq_factor"]
        coarse = gray.reshape(self._rows, f, self._cols, f).mean(axis=(1, 3))
        return Computed(low > np.median(low), gradient_detail(coarse))
