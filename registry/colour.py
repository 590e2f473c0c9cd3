"""What a hash is blind to, in a few bytes: the colours of an image, and how much detail it has.

The hashes are built to survive colour and tone changes, which is right for finding copies and wrong
for deciding whether a download must be fetched again: a copy with inverted colours or swapped
channels is the same picture, and broken. So every hash carries a colour signature (a 4 x 4 CIELAB
thumbnail, the spread of each channel and an 8 x 8 lightness layout, 115 bytes as hex) from which
``colour_change`` measures lightness, contrast, saturation and hue shifts and sign flips and
``fine_change`` finds a part of the picture that changed, and a detail score (the mean gradient of a
grayscale thumbnail, in gray levels) that says when an image is too flat for its hash to mean much.
Both cost 0.4-2 ms per photo (most of it one pass over the image for the lightness layout).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np
from PIL import Image

GRID = 4          # the signature's thumbnail is GRID x GRID cells
SAMPLE = 16       # pixels per side the statistics are computed from
#: The fine lightness layout is FINE x FINE block means of the whole image, never of a reduction that
#: leaves a sliver of pixels at the edge: that sliver moves 8 x 8 cells of a detailed photo by up to
#: 7 L units under a rescale or a mirror (block means: 1.4).
FINE = 8
#: Signatures written before the fine layout was added are this long (they compare without it).
COARSE_BYTES = GRID * GRID * 3 + 3
#: chroma_corr is only measured when both images' a/b vary across the cells by at least this much
#: (benchmarks/verdicts.py --calibrate: below it, benign re-encodings decorrelate the rounding noise).
CHROMA_CORR_MIN_LAYOUT = 1.0
#: A colour change smaller than this (Lab units) is never called a saturation or colour-layout change:
#: about one just-noticeable difference (CIELAB Delta E 2.3), so a viewer cannot see it. It is measured
#: where the change is largest: the most changed of the 4 x 4 cells, or the change of the colours' spread
#: over the thumbnail's pixels. The ratio and correlation limits, fitted on colourful and gray photos,
#: took JPEG's rounding of a faint uniform tint for a recolouring (64% of JPEG-50 copies of toned prints;
#: 22% with this gate, since JPEG-50 moves such a tint's most changed cell by up to 2.8 at p99.5:
#: benchmarks/verdicts.py --calibrate, colour.toned). The tint's turn (``hue_shift``) is not gated: it
#: is what catches a channel swap of a faint photo.
VISIBLE_CHROMA = 2.3


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in 0..255 to CIELAB (D65): L in 0..100, a and b about -128..127."""
    c = rgb.astype(np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def _reduced(image: Image.Image, size: int) -> tuple[Image.Image, int]:
    """The image shrunk by the integer factor that leaves at least 4 x ``size`` pixels a side."""
    img = image if image.mode in ("RGB", "L") else image.convert("RGB")
    factor = min(img.width, img.height) // (4 * size)
    return (img.reduce(factor) if factor > 1 else img), factor


def _small(image: Image.Image, size: int) -> Image.Image:
    """A size x size RGB thumbnail, cheaply: integer box reduction first, then one box resize."""
    return _reduced(image, size)[0].convert("RGB").resize((size, size), Image.Resampling.BOX)


@dataclass(frozen=True)
class Thumbnail:
    """What a signature is computed from: ``signature`` of it equals that of the image. Hashers that
    need the signature of turned copies too turn this (both parts are images) instead of the photo."""

    small: Image.Image   # SAMPLE x SAMPLE RGB: colour cells, spreads and the fallback detail score
    fine: Image.Image    # FINE x FINE block means of the whole image, RGB

    def transpose(self, op) -> "Thumbnail":
        return Thumbnail(self.small.transpose(op), self.fine.transpose(op))


def box_weights(pixels: int, cells: int) -> np.ndarray:
    """(cells, pixels) weights that resize one side as Pillow's BOX filter does: each cell is the mean
    of the pixels whose centres fall in it (the nearest pixel when none does), for code that resizes
    with a matrix, such as the device path."""
    edges = np.arange(cells + 1) * pixels / cells
    centres = np.arange(pixels) + 0.5
    inside = (centres > edges[:-1, None]) & (centres <= edges[1:, None])
    empty = ~inside.any(axis=1)
    inside[np.nonzero(empty)[0], np.minimum(((edges[:-1] + edges[1:]) / 2).astype(int), pixels - 1)[empty]] = True
    return inside / inside.sum(axis=1, keepdims=True)


def colour_thumbnail(image: Image.Image) -> Thumbnail:
    """The thumbnails a signature is computed from.

    The fine layout is one BOX resize of the whole image, or of the small thumbnail's reduction
    when that reduction's blocks tile the FINE x FINE cells exactly (then its cells are the same block
    means, within rounding, and a 768 x 512 photo is read once instead of twice)."""
    img = image if image.mode in ("RGB", "L") else image.convert("RGB")
    reduced, factor = _reduced(img, SAMPLE)
    small = reduced.convert("RGB").resize((SAMPLE, SAMPLE), Image.Resampling.BOX)
    tiles = factor <= 1 or (img.width % (FINE * factor) == 0 and img.height % (FINE * factor) == 0)
    fine = (reduced if tiles else img).resize((FINE, FINE), Image.Resampling.BOX).convert("RGB")
    return Thumbnail(small, fine)


def turned_thumbnail(thumb: Thumbnail, image: Image.Image, op) -> Thumbnail:
    """The thumbnail of ``image.transpose(op)``; see :func:`turned_thumbnails`."""
    return turned_thumbnails(thumb, image, [op])[0]


def turned_thumbnails(thumb: Thumbnail, image: Image.Image, ops) -> list[Thumbnail]:
    """The thumbnails of ``image.transpose(op)`` for each op, from the image's own where turning
    commutes with them.

    The box filter gives a pixel whose centre lies on a cell's edge to one side only, so a side that
    is not a multiple of FINE turns into a different layout (a 36 x 36 icon: up to 9 L units); such an
    image's layout is taken again from the image with the same axes reversed. Only which axes are
    reversed matters, not whether they are swapped (a swap turns the 8 x 8 cells alike), so the eight
    turns of ``hash_dihedral`` cost three passes over the image, not seven.
    """
    if image.width % FINE == 0 and image.height % FINE == 0:
        return [thumb if op is None else thumb.transpose(op) for op in ops]
    reversed_fine: dict = {None: thumb.fine}
    out = []
    for op in ops:
        if op is None:
            out.append(thumb)
            continue
        flip, swap = _as_flip_and_swap(op)
        if flip not in reversed_fine:
            reversed_fine[flip] = image.transpose(flip).resize((FINE, FINE), Image.Resampling.BOX).convert("RGB")
        fine = reversed_fine[flip]
        out.append(Thumbnail(thumb.small.transpose(op), fine.transpose(Image.Transpose.TRANSPOSE) if swap else fine))
    return out


@lru_cache(maxsize=None)
def _as_flip_and_swap(op) -> tuple:
    """``op`` as (the flip that reverses the same axes of the image, or None; then whether the axes
    are swapped), found on a probe image."""
    probe = Image.fromarray(np.arange(6, dtype=np.uint8).reshape(2, 3))
    want = np.asarray(probe.transpose(op))
    T = Image.Transpose
    for flip in (None, T.FLIP_LEFT_RIGHT, T.FLIP_TOP_BOTTOM, T.ROTATE_180):
        flipped = probe if flip is None else probe.transpose(flip)
        for swap in (False, True):
            got = np.asarray(flipped.transpose(T.TRANSPOSE) if swap else flipped)
            if got.shape == want.shape and np.array_equal(got, want):
                return flip, swap
    raise ValueError(f"not a turn or mirror: {op!r}")


def signature(image) -> str:
    """The colour signature of a decoded image (or of its :class:`Thumbnail`), as 230 hex digits."""
    thumb = image if isinstance(image, Thumbnail) else colour_thumbnail(image)
    lab = _srgb_to_lab(np.asarray(thumb.small))
    cells = lab.reshape(GRID, SAMPLE // GRID, GRID, SAMPLE // GRID, 3).mean(axis=(1, 3))
    spread = lab.reshape(-1, 3).std(axis=0)
    packed = np.concatenate([
        np.clip(np.rint(cells[..., 0] * 2.55), 0, 255).reshape(-1),
        np.clip(np.rint(cells[..., 1:] + 128), 0, 255).reshape(-1),
        np.clip(np.rint(spread * np.array([2.55, 2, 2])), 0, 255),
        np.clip(np.rint(_srgb_to_lab(np.asarray(thumb.fine))[..., 0] * 2.55), 0, 255).reshape(-1),
    ]).astype(np.uint8)
    return packed.tobytes().hex()


@dataclass(frozen=True)
class Colours:
    """A decoded signature: the Lab cells (GRID, GRID, 3), the per-channel spread and the fine
    lightness layout (FINE, FINE), None in a signature written before it existed."""

    cells: np.ndarray
    spread: np.ndarray
    fine: Optional[np.ndarray] = None

    @classmethod
    def from_hex(cls, text: str) -> "Colours":
        raw = np.frombuffer(bytes.fromhex(text), dtype=np.uint8).astype(np.float64)
        n = GRID * GRID
        lightness = raw[:n] / 2.55
        ab = raw[n:3 * n].reshape(GRID, GRID, 2) - 128
        cells = np.concatenate([lightness.reshape(GRID, GRID, 1), ab], axis=-1)
        fine = raw[COARSE_BYTES:COARSE_BYTES + FINE * FINE]
        return cls(cells, raw[3 * n:3 * n + 3] / np.array([2.55, 2, 2]),
                   fine.reshape(FINE, FINE) / 2.55 if fine.size == FINE * FINE else None)

    @property
    def chroma(self) -> float:
        return float(np.mean(np.hypot(self.cells[..., 1], self.cells[..., 2])))

    @property
    def chroma_layout(self) -> float:
        """How much the a/b colour varies from cell to cell (RMS over both channels, Lab units)."""
        return float(np.sqrt(self.cells[..., 1:].reshape(-1, 2).var(axis=0).mean()))


def _centre(cells: np.ndarray, margin: float) -> np.ndarray:
    """The cells of a picture's centre, without ``margin`` of each side, resampled from its cells."""
    if margin <= 0:
        return cells
    pos = np.clip((margin + (1 - 2 * margin) * (np.arange(GRID) + 0.5) / GRID) * GRID - 0.5, 0, GRID - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, GRID - 1)
    w = pos - lo
    rows = cells[lo] * (1 - w)[:, None, None] + cells[hi] * w[:, None, None]
    return rows[:, lo] * (1 - w)[None, :, None] + rows[:, hi] * w[None, :, None]


#: Framings the comparison forgives, as the hashes do: a centre crop of this share of each side of
#: either picture (the deep hash matches crops), each also mirrored (it matches mirror images too).
CROP_MARGINS = (0.0, 0.05, 0.125)


def _framings(a: np.ndarray, b: np.ndarray):
    for margin in CROP_MARGINS:
        for fa, fb in ((_centre(a, margin), b), (a, _centre(b, margin))) if margin else ((a, b),):
            yield fa, fb
            yield fa, fb[:, ::-1]


def _row_corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's correlation of each row of x with the same row of y (1 where either row is flat)."""
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    denom = np.sqrt(np.einsum("ij,ij->i", x, x) * np.einsum("ij,ij->i", y, y))
    return np.where(denom > 1e-9, np.einsum("ij,ij->i", x, y) / np.maximum(denom, 1e-300), 1.0)


def colour_stats(sig_a: str, sig_b: str) -> dict[str, float]:
    """How two images' colours differ, in measures each colour edit moves and re-encoding does not.

    The layout measures (lightness, hue, the two correlations) are taken in the framing that agrees
    best: as is, mirrored, or one picture a centre crop of the other, since a crop or a mirror image
    is the same picture; a colour edit moves them in every framing. All framings are measured at
    once (one array each), since every judged pair of hashes pays for this.
    """
    a, b = Colours.from_hex(sig_a), Colours.from_hex(sig_b)
    # Each cell's chroma rides along as a fourth channel: a centre crop interpolates between cells, and
    # interpolating a/b vectors of different hues cancels part of them, which would make any crop of a
    # many-coloured photo look desaturated and forgive a real desaturation of up to a third.
    with_chroma = [np.concatenate([c.cells, np.hypot(c.cells[..., 1], c.cells[..., 2])[..., None]], axis=-1)
                   for c in (a, b)]
    framed_a, framed_b = (np.stack(f) for f in zip(*_framings(*with_chroma)))
    n = len(framed_a)
    la, lb = framed_a[..., 0].reshape(n, -1), framed_b[..., 0].reshape(n, -1)
    ab_a, ab_b = framed_a[..., 1:3].reshape(n, -1, 2), framed_b[..., 1:3].reshape(n, -1, 2)
    mean_a, mean_b = ab_a.mean(axis=1), ab_b.mean(axis=1)
    lightness = np.abs(la.mean(axis=1) - lb.mean(axis=1)).min()
    # How far the overall tint (mean a/b) moved, less what a stronger or weaker tint explains. A crop
    # or a re-encoding makes a tinted picture a little more or less tinted (saturation measures that);
    # swapping channels or turning hues turns the tint. Counting only the turn keeps a 10% crop of a
    # warm photo quiet while a red-blue swap of it, which turns its tint by 15 degrees, is seen.
    turn = np.hypot(*(mean_a - mean_b).T) - np.abs(np.hypot(*mean_a.T) - np.hypot(*mean_b.T))
    hue = max(0.0, float(turn.min()))
    corr_l = _row_corr(la, lb).max()
    # Each of a and b is centred on its own mean first: the overall tint is hue_shift's business, and
    # a tint left in would correlate a layout with its red-blue swap whenever the swap keeps the
    # tint (a green photo, where red and blue are alike).
    corr_ab = _row_corr((ab_a - mean_a[:, None]).reshape(n, -1), (ab_b - mean_b[:, None]).reshape(n, -1)).max()
    ratio = (framed_a[..., 3].reshape(n, -1).mean(axis=1) + 2) / (framed_b[..., 3].reshape(n, -1).mean(axis=1) + 2)
    sat = ratio[np.argmin(np.abs(np.log(ratio)))]
    shift = np.sqrt(np.sum((ab_a - ab_b) ** 2, axis=-1).max(axis=1)).min()
    spread_shift = np.hypot(*(a.spread[1:] - b.spread[1:]))
    return {
        "lightness": float(lightness),
        "contrast": float(max(a.spread[0], 1) / max(b.spread[0], 1)),
        "saturation": float(sat),
        "hue_shift": float(hue),
        "lightness_corr": float(corr_l) if min(a.spread[0], b.spread[0]) > 3 else 1.0,
        # The a/b layout correlates meaningfully when the colour varies across the picture: a uniformly
        # tinted image's cells differ only by rounding, however saturated it is, while a nearly neutral
        # photo with one coloured object (a blue car) still shows a channel swap clearly.
        "chroma_corr": float(corr_ab) if min(a.chroma_layout, b.chroma_layout) >= CHROMA_CORR_MIN_LAYOUT else 1.0,
        "layout": float(np.mean(np.abs(a.cells - b.cells))),
        # How visible a colour change is: the most changed cell (the framing that agrees best), and
        # the change of the colour's spread over the thumbnail's pixels, which cell means average away.
        "chroma_shift": float(shift),
        "chroma_spread_shift": float(spread_shift),
        "visible_shift": float(max(shift, spread_shift)),   # what VISIBLE_CHROMA is compared with
    }


#: The largest contrast ratio ``fine_change`` fits away before it compares cells (a tone edit within the
#: colour limits, which allow 1.3); beyond it, the cells' difference counts.
FINE_CONTRAST = 1.5


def fine_change(sig_a: str, sig_b: str) -> Optional[float]:
    """How far the most changed cell of the 8 x 8 lightness layout moved (L units), once the overall
    brightness and contrast that a tone edit changes are fitted away; None when either signature
    predates the fine layout.

    The hashes match crops, padding, turns and mirror images, and overlook a small part drawn over
    or replaced (an emblem on an icon, a word on a page): "the same picture". A copy that is only
    re-encoded or resized keeps every cell within a few L units; those edits move some cells far.
    The comparison is as is: a cropped, turned or mirrored download is not the file that was sent.
    """
    a, b = Colours.from_hex(sig_a).fine, Colours.from_hex(sig_b).fine
    if a is None or b is None:
        return None
    sa, sb = a.std(), b.std()
    gain = float(np.clip(sb / sa, 1 / FINE_CONTRAST, FINE_CONTRAST)) if min(sa, sb) > 3 else 1.0
    residual = b / np.sqrt(gain) - a * np.sqrt(gain)   # the same either way round
    return float(np.abs(residual - np.median(residual)).max())


#: Defaults until `benchmarks/verdicts.py --calibrate` has measured them (registry/data/thresholds.json).
COLOUR_LIMITS = {"lightness": 12.0, "contrast": 1.45, "saturation": 1.9, "hue_shift": 12.0,
                 "lightness_corr": 0.3, "chroma_corr": 0.0}


def colour_change(sig_a: str, sig_b: str, limits: dict | None = None,
                  visible_chroma: float = VISIBLE_CHROMA) -> list[str]:
    """The colour or tone changes beyond what re-encoding does, in words (empty: none).
    ``visible_chroma=0`` is the rule before the visibility gate, for benchmarks that compare the two."""
    return changes_in(colour_stats(sig_a, sig_b), limits, visible_chroma)


def changes_in(s: dict[str, float], limits: dict | None = None, visible_chroma: float = VISIBLE_CHROMA) -> list[str]:
    """:func:`colour_change` from :func:`colour_stats` already taken (the verdict needs both)."""
    lim = {**COLOUR_LIMITS, **(limits or {})}
    found = []
    visible = s["visible_shift"] > visible_chroma
    if s["lightness_corr"] < lim["lightness_corr"]:
        found.append("lightness inverted")
    if (visible and s["chroma_corr"] < lim["chroma_corr"]) or s["hue_shift"] > lim["hue_shift"]:
        found.append("hues changed")
    if visible and not 1 / lim["saturation"] <= s["saturation"] <= lim["saturation"]:
        found.append("saturation changed" if min(s["saturation"], 1 / s["saturation"]) > 0.35
                     else "colour removed" if s["saturation"] > 1 else "colour added")
    if s["lightness"] > lim["lightness"]:
        found.append("brightness changed")
    if not 1 / lim["contrast"] <= s["contrast"] <= lim["contrast"]:
        found.append("contrast changed")
    return found


def gradient_detail(gray: np.ndarray) -> float:
    """Mean absolute difference between neighbouring thumbnail pixels, in gray levels."""
    g = np.asarray(gray, dtype=np.float64)
    parts = []
    if g.shape[1] > 1:
        parts.append(np.abs(np.diff(g, axis=1)).mean())
    if g.shape[0] > 1:
        parts.append(np.abs(np.diff(g, axis=0)).mean())
    return float(np.mean(parts)) if parts else 0.0


def thumbnail_detail(image: Image.Image, size: int = SAMPLE) -> float:
    """The detail score for hashers without a thumbnail of their own (the deep hash, plugins)."""
    return gradient_detail(np.asarray(_small(image, size).convert("L")))
