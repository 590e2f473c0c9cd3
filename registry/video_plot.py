"""Pictures of a video comparison: the distance of every aligned pair over time, and two frames side by side.

Pillow only (no plotting library), so the app, the CLI and the benchmark draw the same picture
anywhere. ``distance_plot`` reads a ``registry.video.VideoComparison`` by its attributes.
"""
from __future__ import annotations

import math

from PIL import Image, ImageDraw

from .drawing import BACKGROUND, INK, _font

GRID = (228, 230, 236)
LINE = (29, 78, 216)        # distance of each aligned pair
FLAGGED = (210, 30, 30)     # the threshold, and the pairs beyond it
MISSING = (217, 119, 6)     # frames of A that B lacks
EXTRA = (126, 34, 206)      # frames of B that A lacks


def _ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top``."""
    if top <= 0:
        return [0.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(math.ceil(top / step - 1e-9)) + 1)]


def distance_plot(result, width: int = 900, height: int = 300) -> Image.Image:
    """Bits differing between aligned frames over A's time, the threshold as a red dashed line.

    Pairs beyond the threshold (to fetch again) are red dots; frames of A missing from B are orange
    marks along the bottom, frames only in B purple marks along the top.
    """
    img = Image.new("RGB", (int(width), int(height)), BACKGROUND)
    draw = ImageDraw.Draw(img)
    small = _font(max(10, min(14, height // 20)))
    left, right, top, bottom = 48, 14, 26, 34
    x0, x1, y0, y1 = left, width - right, top, height - bottom
    pairs = list(result.pairs)
    limit = result.threshold * result.bits
    times = [p.time_a for p in pairs] + [t for _, t in result.only_a] + [t for _, t in result.only_b]
    span = max(times, default=0.0) or 1.0
    peak = max([p.distance for p in pairs] + [limit * 1.6, 4])
    y_ticks = _ticks(min(result.bits, peak))
    y_top = max(y_ticks[-1], 1e-9)
    x_ticks = _ticks(span, max(2, min(10, width // 90)))
    x_end = max(x_ticks[-1], 1e-9)

    def x(t: float) -> float:
        return x0 + (x1 - x0) * t / x_end

    def y(d: float) -> float:
        return y1 - (y1 - y0) * min(d, y_top) / y_top

    for v in y_ticks:
        draw.line((x0, y(v), x1, y(v)), fill=GRID)
        draw.text((x0 - 6, y(v)), f"{v:g}", fill=INK, font=small, anchor="rm")
    for v in x_ticks:
        draw.line((x(v), y0, x(v), y1), fill=GRID)
        draw.text((x(v), y1 + 4), f"{v:g}", fill=INK, font=small, anchor="mt")
    draw.rectangle((x0, y0, x1, y1), outline=INK)
    draw.text(((x0 + x1) / 2, height - 2), "time in A (s)", fill=INK, font=small, anchor="mb")
    draw.text((4, 4), f"bits differing (of {result.bits}), {result.backend}", fill=INK, font=small)

    # The distances, as a line broken where frames of A are missing from B.
    missing = sorted(t for _, t in result.only_a)
    runs: list[list[tuple[float, float]]] = []
    previous = None
    for p in pairs:
        if previous is None or any(previous < t < p.time_a for t in missing):
            runs.append([])
        runs[-1].append((x(p.time_a), y(p.distance)))
        previous = p.time_a
    for points in runs:
        if len(points) > 1:
            draw.line(points, fill=LINE, width=2)
        else:
            draw.ellipse((points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2), fill=LINE)
    # The threshold: a dashed red line, and its value.
    ty, dash = y(limit), 8
    for start in range(int(x0), int(x1), 2 * dash):
        draw.line((start, ty, min(start + dash, x1), ty), fill=FLAGGED, width=2)
    draw.text((x1 - 4, ty - 3), f"threshold {limit:g} bits", fill=FLAGGED, font=small, anchor="rb")
    for p in pairs:
        if result.is_flagged(p):
            cx, cy = x(p.time_a), y(p.distance)
            draw.ellipse((cx - 4, cy - 4, cx + 4, cy + 4), fill=FLAGGED)
    for t_only, colour, (ya, yb) in ((result.only_a, MISSING, (y1 - 18, y1)),
                                     (result.only_b, EXTRA, (y0, y0 + 18))):
        for _, t in t_only:
            draw.line((x(t), ya, x(t), yb), fill=colour, width=3)
    legend = [("changed: fetch again", FLAGGED)]
    if result.only_a:
        legend.append(("missing from B", MISSING))
    if result.only_b:
        legend.append(("only in B", EXTRA))
    lx = x1
    for text, colour in reversed(legend):
        w = draw.textlength(text, font=small)
        lx -= w + 22
        draw.rectangle((lx, 8, lx + 10, 18), fill=colour)
        draw.text((lx + 14, 13), text, fill=INK, font=small, anchor="lm")
    return img


def side_by_side(left: Image.Image, right: Image.Image, gap: int = 6) -> Image.Image:
    """Two frames next to each other, the right one scaled to the left one's height."""
    left = left.convert("RGB")
    right = right.convert("RGB")
    if right.height != left.height:
        width = max(1, round(right.width * left.height / right.height))
        right = right.resize((width, left.height), Image.Resampling.BICUBIC)
    out = Image.new("RGB", (left.width + gap + right.width, left.height), BACKGROUND)
    out.paste(left, (0, 0))
    out.paste(right, (left.width + gap, 0))
    return out
