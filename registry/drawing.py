"""Pictures of a comparison: two hashes as bit grids, and the blend and difference of two images.

Shared by the web app and, later, the CLI's HTML output. Depends on Pillow, numpy and ``ImageHash``
only, so drawing never pulls in a backend, the registry or a web framework.

A grid reads at every length: a 1-digit hash (4 bits, 2 x 2) gets large cells, a 256-digit hash
(1024 bits, 32 x 32) small ones, and both grids end up about :data:`GRID_SIDE` pixels across.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFont

from .value import ImageHash

#: About how wide and tall one grid is drawn, in pixels.
GRID_SIDE = 256
MIN_CELL, MAX_CELL = 8, 64
#: A hash whose own shape is more elongated than this is drawn wrapped into a near-square grid.
MAX_ASPECT = 2

BACKGROUND = (255, 255, 255)
INK = (30, 30, 30)
#: Cell colours: (bit is 0, bit is 1) where A and B agree, and where they differ.
SAME = ((225, 228, 235), (40, 40, 60))
DIFFERENT = ((255, 170, 170), (210, 30, 30))
EMPTY = (248, 248, 248)  # cells past the last bit of a wrapped grid


def display_shape(bit_count: int, shape: tuple[int, int] | None = None) -> tuple[int, int]:
    """(rows, cols) to draw ``bit_count`` bits in: the hash's own shape unless it is too elongated.

    Square lengths keep their shape, which for the grid hashes is where each bit was sampled.
    A length such as 251 digits (1004 bits, shape 4 x 251) is wrapped into 32 x 32 instead, in the
    same reading order, with the last cells left empty.
    """
    if shape is not None:
        rows, cols = shape
        if rows * cols == bit_count and max(rows, cols) <= MAX_ASPECT * min(rows, cols):
            return rows, cols
    cols = math.isqrt(bit_count - 1) + 1  # ceil(sqrt(n))
    return -(-bit_count // cols), cols


@dataclass(frozen=True)
class GridLayout:
    """Where each cell of the two grids (A left, B right) lies in the picture."""

    bit_count: int
    rows: int
    cols: int
    cell: int
    pad: int
    gap: int
    header: int

    @property
    def grid_width(self) -> int:
        return self.cols * self.cell

    @property
    def grid_height(self) -> int:
        return self.rows * self.cell

    @property
    def size(self) -> tuple[int, int]:
        return (2 * self.pad + 2 * self.grid_width + self.gap,
                2 * self.pad + self.header + self.grid_height)

    def origin(self, grid: int) -> tuple[int, int]:
        """Top-left corner of grid 0 (A) or 1 (B)."""
        return self.pad + grid * (self.grid_width + self.gap), self.pad + self.header

    def cell_box(self, grid: int, bit: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the cell holding ``bit`` (MSB first), inclusive, with a 1 px gutter."""
        x, y = self.origin(grid)
        r, c = divmod(bit, self.cols)
        x0, y0 = x + c * self.cell, y + r * self.cell
        gutter = 1 if self.cell >= 6 else 0
        return x0, y0, x0 + self.cell - 1 - gutter, y0 + self.cell - 1 - gutter

    def cell_centre(self, grid: int, bit: int) -> tuple[int, int]:
        x0, y0, x1, y1 = self.cell_box(grid, bit)
        return (x0 + x1) // 2, (y0 + y1) // 2


def grid_layout(bit_count: int, shape: tuple[int, int] | None = None) -> GridLayout:
    rows, cols = display_shape(bit_count, shape)
    cell = max(MIN_CELL, min(MAX_CELL, GRID_SIDE // max(rows, cols)))
    return GridLayout(bit_count, rows, cols, cell, pad=12, gap=max(32, cell), header=30)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def bit_grids(hash_a: ImageHash, hash_b: ImageHash) -> Image.Image:
    """Both hashes as grids of cells, A left and B right: dark = 1, light = 0, red = the bits that differ.

    Raises ValueError (from ``ImageHash``) when the two hashes are not comparable.
    """
    hash_a - hash_b  # noqa: B018  (refuses hashes of different backends, lengths or options)
    layout = grid_layout(hash_a.bit_count, hash_a.shape)
    img = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(img)
    differ = hash_a.bits != hash_b.bits
    font = _font(20)
    for grid, (name, h) in enumerate((("A", hash_a), ("B", hash_b))):
        x, y = layout.origin(grid)
        draw.text((x, y - layout.header + 2), name, fill=INK, font=font)
        x1, y1 = x + layout.grid_width - 1, y + layout.grid_height - 1
        draw.rectangle((x, y, x1, y1), fill=EMPTY)
        for bit, value in enumerate(h.bits):
            colours = DIFFERENT if differ[bit] else SAME
            draw.rectangle(layout.cell_box(grid, bit), fill=colours[int(value)])
    return img


def blend_and_difference(img_a: Image.Image, img_b: Image.Image,
                         max_side: int = 512) -> tuple[Image.Image, Image.Image]:
    """A half-and-half blend of A and B, and their absolute difference, at A's size (at most max_side).

    B is resized to A's size, so for a crop or a different picture the two show how far the framing
    moved, not only what changed in the pixels.
    """
    a = img_a.convert("RGB")
    a.thumbnail((max_side, max_side))
    b = img_b.convert("RGB").resize(a.size, Image.Resampling.LANCZOS)
    return Image.blend(a, b, 0.5), ImageChops.difference(a, b)



def thumbnail(src, side: int = 160):
    """An RGB picture of ``src`` at most ``side`` pixels a side (a JPEG decoded at a reduced scale),
    or None when it cannot be read."""
    from .errors import ImageError
    from .loading import load_image
    try:
        img = load_image(src, draft=side).convert("RGB")
    except ImageError:
        return None
    img.thumbnail((side, side))
    return img


def thumbnail_data_uri(src, side: int = 160) -> str | None:
    """A small JPEG of an image as a ``data:`` URI (a self-contained HTML page needs no files);
    None when it cannot be read."""
    import base64
    import io

    img = thumbnail(src, side)
    if img is None:
        return None
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def contact_sheet_html(groups, title: str = "Near-duplicates", note: str = "", side: int = 160) -> str:
    """One self-contained HTML page: each group as a row of thumbnails with names and distances.

    ``groups`` is a list of groups, each a list of ``(label, source, distance)``; the labels are
    escaped, so a file name cannot inject markup.
    """
    from html import escape
    parts = [f"<!doctype html><meta charset='utf-8'><title>{escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:1.5em}figure{display:inline-block;margin:.4em;"
             f"width:{side}px;vertical-align:top}}figcaption{{font-size:12px;word-break:break-all}}"
             ".group{border-top:1px solid #ccc;padding:.5em 0}.missing{width:" + str(side) + "px;height:"
             + str(side // 2) + "px;background:#eee}</style>",
             f"<h1>{escape(title)}</h1>"]
    if note:
        parts.append(f"<p>{escape(note)}</p>")
    for number, group in enumerate(groups, start=1):
        parts.append(f"<section class='group'><h2>Group {number} ({len(group)} files)</h2>")
        for label, source, distance in group:
            uri = thumbnail_data_uri(source, side) if source is not None else None
            picture = f"<img src='{uri}' alt='{escape(label)}'>" if uri else "<div class='missing'></div>"
            what = "first" if distance == 0 and group[0][0] == label else f"{distance} bits"
            parts.append(f"<figure>{picture}<figcaption>{escape(label)}<br>{what}</figcaption></figure>")
        parts.append("</section>")
    if not groups:
        parts.append("<p>No near-duplicates.</p>")
    return "\n".join(parts) + "\n"
