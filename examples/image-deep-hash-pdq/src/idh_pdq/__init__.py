"""Meta's PDQ hash (256 bits) as an Image Deep Hash backend."""
import numpy as np

from registry import Hasher


class PdqHasher(Hasher):
    """PDQ: Meta's DCT-based hash, built for matching re-encoded and resized copies at scale."""

    name = "pdq"
    summary = "Meta's PDQ (256 bits): the photo-matching hash used in industry hash-sharing."
    hex_lengths = (64,)          # PDQ is always 256 bits, so only hex length 64
    similar_threshold = 31 / 256  # PDQ's own recommended match distance

    def compute(self, image):
        import pdqhash  # imported on first use, so listing backends stays fast

        bits, _quality = pdqhash.compute(np.asarray(image.convert("RGB")))
        return bits.astype(bool)
