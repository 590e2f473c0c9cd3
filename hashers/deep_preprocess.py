"""timm's eval preprocessing, in Pillow and numpy alone, so the ONNX engine runs without importing torch.

For PIL images, torchvision's ``Resize`` and ``CenterCrop`` call Pillow themselves, so doing the same
steps here gives the same numbers (``tests/test_deep_engines.py`` checks equality with timm's own
transform). Importing torch costs about 300 MB and a second; the app's memory goal needs neither.
Only the common case is covered (centre crop, one scale for both sides); anything else returns None
and the caller uses timm's transform.
"""
from __future__ import annotations

import math
from typing import Callable, Mapping, Optional

import numpy as np
from PIL import Image

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
             "nearest": Image.Resampling.NEAREST, "lanczos": Image.Resampling.LANCZOS}


def eval_transform(config: Mapping) -> Optional[Callable[[Image.Image], np.ndarray]]:
    """A function PIL RGB image -> float32 CHW array equal to timm's eval transform, or None."""
    _, height, width = config["input_size"]
    crop_pct = config.get("crop_pct") or 0.875
    if config.get("crop_mode", "center") != "center" or height != width:
        return None
    resample = _RESAMPLE.get(config.get("interpolation", "bilinear"))
    if resample is None:
        return None
    scale = math.floor(height / crop_pct)
    if scale < height:  # torchvision would pad; leave that rare case to it
        return None
    mean = np.asarray(config["mean"], dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(config["std"], dtype=np.float32).reshape(3, 1, 1)

    def transform(img: Image.Image) -> np.ndarray:
        w, h = img.size
        short, long = (w, h) if w <= h else (h, w)
        if short != scale:  # torchvision: shorter side to `scale`, longer side truncated
            new_long = int(scale * long / short)
            img = img.resize((scale, new_long) if w <= h else (new_long, scale), resample)
        w, h = img.size
        top, left = int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
        img = img.crop((left, top, left + width, top + height))
        arr = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return (arr - mean) / std

    return transform
