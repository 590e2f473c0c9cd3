"""registry/drawing.py: bit grids that read at every length, and the blend and difference images."""
import ast
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from registry import drawing
from registry.value import ImageHash

ROOT = Path(__file__).resolve().parent.parent


def pair(hex_len: int, flip=(), shape=None):
    """Two hashes of hex_len digits: A alternating bits, B the same with the bits in ``flip`` inverted."""
    bits = np.arange(4 * hex_len) % 3 == 0
    other = bits.copy()
    other[list(flip)] ^= True
    return ImageHash(bits, "phash", shape=shape), ImageHash(other, "phash", shape=shape)


def colour_at(img: Image.Image, xy) -> tuple:
    return tuple(int(v) for v in np.asarray(img)[xy[1], xy[0]])


def assert_cells(img, layout, hash_a, hash_b):
    """Every bit of both grids has its own cell, coloured by its value, red where A and B differ."""
    differ = hash_a.bits != hash_b.bits
    for grid, h in enumerate((hash_a, hash_b)):
        for bit, value in enumerate(h.bits):
            palette = drawing.DIFFERENT if differ[bit] else drawing.SAME
            assert colour_at(img, layout.cell_centre(grid, bit)) == palette[int(value)], (grid, bit)


@pytest.mark.parametrize("hex_len, rows, cols", [(1, 2, 2), (16, 8, 8), (256, 32, 32)])
def test_grids_have_one_cell_per_bit_at_every_length(hex_len, rows, cols):
    flip = (0, 4 * hex_len - 1)
    hash_a, hash_b = pair(hex_len, flip)
    img = drawing.bit_grids(hash_a, hash_b)
    layout = drawing.grid_layout(hash_a.bit_count, hash_a.shape)
    assert (layout.rows, layout.cols) == (rows, cols)
    assert img.size == layout.size and img.mode == "RGB"
    assert drawing.MIN_CELL <= layout.cell <= drawing.MAX_CELL
    assert layout.grid_width <= drawing.GRID_SIDE and layout.grid_width >= drawing.GRID_SIDE // 2
    assert_cells(img, layout, hash_a, hash_b)
    marked = [colour_at(img, layout.cell_centre(0, b)) in drawing.DIFFERENT for b in range(hash_a.bit_count)]
    assert [b for b, m in enumerate(marked) if m] == list(flip)


def test_a_one_digit_grid_has_large_cells_and_a_256_digit_grid_small_ones():
    small, large = drawing.grid_layout(4, (2, 2)), drawing.grid_layout(1024, (32, 32))
    assert small.cell == drawing.MAX_CELL and large.cell == drawing.MIN_CELL
    assert large.cell_box(0, 0)[2] < large.cell_box(0, 1)[0]  # a gutter between neighbouring cells


def test_an_elongated_hash_is_wrapped_into_a_near_square_grid():
    hash_a, hash_b = pair(251, flip=(1003,))  # 1004 bits: ImageHash's own shape is 4 x 251
    assert hash_a.shape == (4, 251)
    layout = drawing.grid_layout(hash_a.bit_count, hash_a.shape)
    assert (layout.rows, layout.cols) == (32, 32)
    img = drawing.bit_grids(hash_a, hash_b)
    assert_cells(img, layout, hash_a, hash_b)
    x0, y0, x1, y1 = layout.cell_box(0, 1004)  # past the last bit: left empty
    assert colour_at(img, ((x0 + x1) // 2, (y0 + y1) // 2)) == drawing.EMPTY


def test_a_square_hash_keeps_its_own_shape():
    assert drawing.display_shape(36, (6, 6)) == (6, 6)
    assert drawing.display_shape(28, (4, 7)) == (4, 7)
    assert drawing.display_shape(8, None) == (3, 3)


def test_hashes_that_cannot_be_compared_are_refused():
    a = ImageHash(np.ones(16, bool), "phash")
    with pytest.raises(ValueError):
        drawing.bit_grids(a, ImageHash(np.ones(16, bool), "dhash"))
    with pytest.raises(ValueError):
        drawing.bit_grids(a, ImageHash(np.ones(32, bool), "phash"))


@pytest.mark.parametrize("size_a, size_b, expected", [
    ((800, 600), (300, 300), (512, 384)),
    ((600, 1200), (600, 1200), (256, 512)),
    ((100, 50), (400, 400), (100, 50)),  # never enlarged
])
def test_blend_and_difference_sizes(size_a, size_b, expected):
    a = Image.new("RGB", size_a, (200, 10, 10))
    b = Image.new("L", size_b, 50)
    blend, difference = drawing.blend_and_difference(a, b)
    assert blend.size == difference.size == expected
    assert blend.mode == difference.mode == "RGB"
    assert colour_at(difference, (0, 0)) == (150, 40, 40)


def test_drawing_depends_on_pillow_numpy_and_the_value_type_only():
    tree = ast.parse((ROOT / "registry" / "drawing.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    # (contact sheets also read images, through the one safe loader, and write self-contained HTML)
    allowed = {"__future__", "math", "dataclasses", "numpy", "PIL", ".value", ".errors", ".loading",
               "base64", "io", "html"}
    assert imported <= allowed, imported
