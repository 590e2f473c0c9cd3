"""Deterministic, seeded image edits: the positives of every robustness measurement.

Each transform takes an RGB PIL image and returns an RGB PIL image; anything random is seeded
from the transform's name, so every run, machine and backend sees the same pixels.
"""
from __future__ import annotations

import io
import zlib
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

Transform = Callable[[Image.Image], Image.Image]


def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


def jpeg(quality: int) -> Transform:
    def f(img):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return f


def webp(quality: int = 75) -> Transform:
    def f(img):
        buf = io.BytesIO()
        img.save(buf, "WEBP", quality=quality)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return f


def downscale(factor: int) -> Transform:
    return lambda img: img.resize((max(1, img.width // factor), max(1, img.height // factor)),
                                  Image.Resampling.LANCZOS)


def centre_crop(percent: float) -> Transform:
    """Cut ``percent`` of the width and of the height away, half on each side."""
    def f(img):
        if percent <= 0:
            return img.copy()
        dx, dy = round(img.width * percent / 200), round(img.height * percent / 200)
        return img.crop((dx, dy, img.width - dx, img.height - dy))
    return f


def rotate(degrees: float) -> Transform:
    if degrees % 90 == 0:
        return lambda img: img.rotate(degrees, expand=True)
    return lambda img: img.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False,
                                  fillcolor=(0, 0, 0))


def mirror(img):
    return ImageOps.mirror(img)


def blur(radius: float) -> Transform:
    return lambda img: img.filter(ImageFilter.GaussianBlur(radius))


def noise(sigma: float) -> Transform:
    def f(img):
        if sigma <= 0:
            return img.copy()
        rng = np.random.default_rng(_seed(f"noise{sigma}"))
        arr = np.asarray(img, dtype=np.float32)
        arr = arr + rng.normal(0.0, sigma, arr.shape)
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))
    return f


def brightness(factor: float) -> Transform:
    return lambda img: ImageEnhance.Brightness(img).enhance(factor)


def contrast(factor: float) -> Transform:
    return lambda img: ImageEnhance.Contrast(img).enhance(factor)


def gamma(g: float) -> Transform:
    lut = [min(255, round(255 * (i / 255) ** g)) for i in range(256)] * 3
    return lambda img: img.point(lut)


def grayscale(img):
    return img.convert("L").convert("RGB")


def watermark(img):
    out = img.copy()
    draw = ImageDraw.Draw(out)
    size = max(12, img.height // 12)
    try:
        from PIL import ImageFont
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        font = None
    draw.text((img.width // 20, img.height - 2 * size), "(c) image-deep-hash", fill=(255, 255, 255),
              font=font, stroke_width=max(1, size // 12), stroke_fill=(0, 0, 0))
    return out


def letterbox(img):
    """Pad to a 16:9 or 9:16 frame with black bars, as a video player or thumbnailer does."""
    w, h = img.size
    if w >= h:
        new = (max(w, round(h * 16 / 9)), max(h, round(w * 9 / 16)) if w * 9 / 16 > h else h)
    else:
        new = (w, max(h, round(w * 16 / 9)))
    if new == (w, h):
        new = (w, round(h * 1.25))
    canvas = Image.new("RGB", new, (0, 0, 0))
    canvas.paste(img, ((new[0] - w) // 2, (new[1] - h) // 2))
    return canvas


def pad(percent: float, fill=(255, 255, 255)) -> Transform:
    """A frame of ``percent`` of the width and height on every side, as a gallery or slide adds."""
    def f(img):
        dx, dy = round(img.width * percent / 100), round(img.height * percent / 100)
        return ImageOps.expand(img, border=(dx, dy, dx, dy), fill=fill)
    return f


def one_pixel(img):
    """Flip one pixel near the centre: the change SHA and MD5 cannot tell from a new photo."""
    out = img.copy()
    x, y = img.width // 2, img.height // 2
    r, g, b = out.getpixel((x, y))
    out.putpixel((x, y), (255 - r, 255 - g, 255 - b))
    return out


#: The named positives of the robustness benchmark, in reporting order.
TRANSFORMS: dict[str, Transform] = {
    "jpeg90": jpeg(90), "jpeg70": jpeg(70), "jpeg50": jpeg(50), "jpeg30": jpeg(30),
    "webp": webp(75),
    "scale1/2": downscale(2), "scale1/4": downscale(4),
    "crop5": centre_crop(5), "crop10": centre_crop(10), "crop25": centre_crop(25),
    "rot2": rotate(2), "rot5": rotate(5), "rot90": rotate(90), "rot180": rotate(180), "rot270": rotate(270),
    "mirror": mirror, "vflip": ImageOps.flip, "transpose": lambda img: img.transpose(Image.Transpose.TRANSPOSE),
    "blur1": blur(1), "blur2": blur(2),
    "noise5": noise(5), "noise15": noise(15),
    "bright+25": brightness(1.25), "bright-25": brightness(0.75),
    "contrast+25": contrast(1.25), "contrast-25": contrast(0.75),
    "gamma0.7": gamma(0.7),
    "grayscale": grayscale, "watermark": watermark, "letterbox": letterbox, "pad10": pad(10),
    "one_pixel": one_pixel,
}

#: Graded series: (parameter values, transform factory) for "how much did it change".
SERIES: dict[str, tuple[list[float], Callable[[float], Transform]]] = {
    "jpeg_quality": ([95, 85, 75, 60, 50, 40, 30, 20, 10], lambda q: jpeg(int(q))),
    "noise_sigma": ([0, 5, 10, 15, 20, 25, 30, 35, 40], noise),
    "crop_percent": ([0, 5, 10, 15, 20, 25, 30, 35, 40], centre_crop),
}


def photo_files(folder) -> list:
    from pathlib import Path
    exts = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in exts)
