"""The deep hash's device input path: JPEG files decoded where the network runs, and transformed there.

Why: on a GPU the network does thousands of images a second, and a CPU core decodes and resizes a photo
in tens of milliseconds, so Pillow would leave the GPU idle. Here the compressed bytes go to the device
(pinned, in one list per batch) and ``torchvision.io.decode_jpeg`` decodes them with nvJPEG; timm's eval
transform (shorter side to ``scale``, centre crop, normalise), the centre view and the colour thumbnail
are then torch operations on the device. Only the bits and two tiny thumbnails come back.

What stays on the CPU path, so its answers stay exactly the CPU's: anything that is not a baseline
RGB/gray JPEG given as a path or bytes (PNGs, PIL images, CMYK JPEGs), JPEGs with an EXIF orientation
(nvJPEG does not apply it), and any file the device decoder refuses (the CPU path then explains it).

The same code runs on the CPU with torchvision's CPU decoder, which is how CI checks it against the
Pillow path without a GPU: torch's antialiased bicubic and Pillow's differ by rounding, so bits agree
closely but not exactly (the GPU test asks for 98%).
"""
from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
from PIL import Image

from registry.colour import FINE, SAMPLE, Thumbnail, box_weights, signature
from registry.loading import MAX_PIXELS

#: The largest JPEG (in bytes) sent to the device; larger files take the CPU path.
MAX_BYTES = 64 * 1024 * 1024
_ORIENTATION = 0x0112
#: The deep hash crops shapes beyond MAX_ASPECT:1 (``deep._bounded_aspect``); the same bound here.
MAX_ASPECT = 4


def supports(config: Mapping[str, Any]) -> bool:
    """Whether ``DeviceInputs`` does this model's eval transform: the common case ``deep_preprocess``
    also covers (shorter side, centre crop, square input), with bicubic or bilinear resizing."""
    from .deep_preprocess import eval_transform
    return config.get("interpolation", "bilinear") in ("bicubic", "bilinear") and eval_transform(config) is not None


def available() -> bool:
    """Whether torchvision can decode JPEGs into tensors here (the device path's one dependency)."""
    try:
        from torchvision.io import decode_jpeg  # noqa: F401
    except Exception:  # ImportError, or a torchvision built without its image extension
        return False
    return True


@dataclass(frozen=True)
class Eligible:
    """A source the device path takes: its JPEG bytes and its size (checked against MAX_PIXELS)."""
    data: bytes
    size: tuple[int, int]


def eligible(src: Any) -> Optional[Eligible]:
    """The JPEG bytes of ``src`` when the device path can decode it exactly as the CPU path would."""
    if isinstance(src, (str, os.PathLike)):
        try:
            path = Path(src)
            if not path.is_file() or not 3 <= path.stat().st_size <= MAX_BYTES:
                return None
            data = path.read_bytes()
        except OSError:
            return None
    elif isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    else:
        return None
    # Starts as a JPEG and ends with its end-of-image marker: a truncated file takes the CPU path, which
    # says so (libjpeg would quietly fill the missing rows with gray).
    if data[:3] != b"\xff\xd8\xff" or data.rstrip(b"\x00")[-2:] != b"\xff\xd9" or len(data) > MAX_BYTES:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = Image.open(io.BytesIO(data), formats=["JPEG"])
            w, h = header.size
            if header.mode not in ("RGB", "L") or not (0 < w * h <= MAX_PIXELS):
                return None
            if header.getexif().get(_ORIENTATION, 1) not in (1, None):
                return None
    except Exception:
        return None
    return Eligible(data, (w, h))


class DeviceInputs:
    """timm's eval transform for one model, as torch operations on ``device``."""

    def __init__(self, data_config: Mapping[str, Any], views: int, device: str):
        import torch
        _, self.height, self.width = data_config["input_size"]
        crop_pct = data_config.get("crop_pct") or 0.875
        self.scale = math.floor(self.height / crop_pct)
        self.mode = data_config.get("interpolation", "bilinear")  # bicubic or bilinear: see supports()
        self.views = views
        self.device = device
        self.mean = torch.tensor(data_config["mean"], dtype=torch.float32, device=device).view(3, 1, 1)
        self.std = torch.tensor(data_config["std"], dtype=torch.float32, device=device).view(3, 1, 1)

    def decode(self, items: list[Eligible]) -> list:
        """RGB uint8 (3, h, w) tensors on the device; None where the decoder refused an image."""
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg
        pin = self.device != "cpu"
        blobs = [torch.frombuffer(bytearray(item.data), dtype=torch.uint8) for item in items]
        if pin:
            blobs = [b.pin_memory() for b in blobs]
        try:
            return list(decode_jpeg(blobs, mode=ImageReadMode.RGB, device=self.device))
        except RuntimeError:  # one bad file fails the whole list: find it
            out = []
            for blob in blobs:
                try:
                    out.append(decode_jpeg(blob, mode=ImageReadMode.RGB, device=self.device))
                except RuntimeError:
                    out.append(None)
            return out

    def batch(self, images: list) -> "Any":
        """The network's input for decoded images: (len(images) * views, 3, H, W) float32."""
        import torch
        return torch.stack([self.transform(view) for img in images for view in self._views(img)])

    def _views(self, img) -> list:
        _, h, w = img.shape
        if w > MAX_ASPECT * h:
            left = (w - MAX_ASPECT * h) // 2
            img = img[:, :, left:left + MAX_ASPECT * h]
        elif h > MAX_ASPECT * w:
            top = (h - MAX_ASPECT * w) // 2
            img = img[:, top:top + MAX_ASPECT * w, :]
        if self.views == 1:
            return [img]
        _, h, w = img.shape
        dx, dy = round(w * 0.25 / 2), round(h * 0.25 / 2)
        return [img, img[:, dy:h - dy, dx:w - dx] if dx or dy else img]

    def transform(self, img):
        """Shorter side to ``scale`` (longer side truncated, as torchvision does), centre crop, normalise.

        The resize rounds to 8-bit values, as Pillow's does on the CPU path."""
        import torch
        _, h, w = img.shape
        short, long = (w, h) if w <= h else (h, w)
        x = img.unsqueeze(0).float()
        if short != self.scale:
            new_long = int(self.scale * long / short)
            size = (new_long, self.scale) if w <= h else (self.scale, new_long)
            x = torch.nn.functional.interpolate(x, size=size, mode=self.mode, antialias=True,
                                                align_corners=False).round_().clamp_(0, 255)
        _, _, h, w = x.shape
        top, left = int(round((h - self.height) / 2.0)), int(round((w - self.width) / 2.0))
        x = x[0, :, top:top + self.height, left:left + self.width] / 255.0
        return (x - self.mean) / self.std

    def thumbnails(self, images: list) -> list[Thumbnail]:
        """The colour signature's thumbnails: SAMPLE x SAMPLE (also the detail score's input) and
        FINE x FINE, the latter with Pillow's BOX weights, as the CPU path makes it."""
        import torch

        def fine(img):
            _, h, w = img.shape
            wy, wx = (torch.as_tensor(box_weights(n, FINE), dtype=torch.float32, device=img.device)
                      for n in (h, w))
            return torch.einsum("ky,cyx,lx->ckl", wy, img.float(), wx)

        def to_pil(batch):
            arr = batch.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
            return [Image.fromarray(np.ascontiguousarray(a), "RGB") for a in arr]

        small = torch.stack([torch.nn.functional.adaptive_avg_pool2d(img.unsqueeze(0).float(), SAMPLE)[0]
                             for img in images])
        return [Thumbnail(s, f) for s, f in zip(to_pil(small), to_pil(torch.stack([fine(img) for img in images])))]


def stream(hasher, sources, batch_size: int):
    """``hasher.iter_hashes`` with JPEGs decoded on the device: the same records, in input order.

    Files are read (and their headers checked) in a thread while the device works on the previous
    batch; what the device path does not take goes through the hasher's CPU path in the same batch.
    """
    import collections
    import itertools
    from concurrent.futures import ThreadPoolExecutor

    inputs = DeviceInputs(hasher.network.data_config, hasher.options["views"], hasher.device)
    iterator = iter(sources)
    chunks = iter(lambda: list(itertools.islice(iterator, max(1, int(batch_size)))), [])
    read = lambda start, chunk: (start, chunk, [eligible(src) for src in chunk])
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="idh-device-read") as pool:
        pending: collections.deque = collections.deque()
        index = 0
        for chunk in chunks:
            pending.append(pool.submit(read, index, chunk))
            index += len(chunk)
            if len(pending) > 1:
                yield from _chunk(hasher, inputs, *pending.popleft().result())
        while pending:
            yield from _chunk(hasher, inputs, *pending.popleft().result())


def _chunk(hasher, inputs: DeviceInputs, start: int, chunk: list, found: list) -> list:
    import dataclasses

    from registry.errors import HasherError
    from registry.results import HashResult

    def on_device(items: list) -> tuple[list, Any, list]:
        decoded = inputs.decode(items)
        images = [img for img in decoded if img is not None]
        if not images:
            return decoded, None, []
        return decoded, hasher.run_network(inputs.batch(images)), inputs.thumbnails(images)

    wanted = [k for k, item in enumerate(found) if item is not None]
    records: dict[int, HashResult] = {}
    if wanted:
        try:  # anything that fails on the device (out of memory, say) goes the CPU way, which explains it
            decoded, feats, thumbs = hasher._call(on_device, [found[k] for k in wanted])
            keys = [k for k, img in zip(wanted, decoded) if img is not None]
            if keys:
                bits = hasher.bits_from_embeddings(hasher.pooled(feats, len(keys)))
                for k, b, thumb in zip(keys, bits, thumbs):
                    records[k] = HashResult(start + k, chunk[k],
                                            hash=hasher._wrap(b, thumb.small, signature(thumb)))
        except HasherError:
            records = {}
    rest = [k for k in range(len(chunk)) if k not in records]
    if rest:
        cpu = hasher._compute_chunk(hasher._load_chunk(0, [chunk[k] for k in rest]))
        for k, record in zip(rest, cpu):
            records[k] = dataclasses.replace(record, index=start + k)
    return [records[k] for k in range(len(chunk))]
