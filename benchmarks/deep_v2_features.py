"""Candidate deep features for the copy-detection hash, extracted fast enough to study thousands of photos.

One ONNX Runtime pass of the default EfficientNet-Lite0 gives three feature maps: a middle stage
(112 channels at 14 x 14), the last stage (320 x 7 x 7) and the head (1280 x 7 x 7, whose average is
today's pre-logits embedding). Each is pooled several ways, for the whole image and its centre 75%, so a
study can compare "what the picture shows" (pre-logits) with "how it looks" (middle stages, GeM) without
running the network twice. Used by ``benchmarks/deep_v2_study.py``; nothing here ships.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

CACHE = Path.home() / ".cache" / "image-deep-hash" / "study"
POOLS = ("s4_avg", "s4_max", "s6_avg", "s6_max", "head_avg", "head_gem")


def _export(model, path: Path) -> None:
    import torch

    class Maps(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            m = self.m
            x = m.bn1(m.conv_stem(x))
            outs = []
            for i, block in enumerate(m.blocks):
                x = block(x)
                if i in (4, 6):
                    outs.append(x)
            outs.append(m.bn2(m.conv_head(x)))
            return tuple(outs)

    x = torch.randn(2, 3, 224, 224)
    tmp = path.with_suffix(".tmp")
    torch.onnx.export(Maps(model).eval(), x, str(tmp), input_names=["x"], output_names=["s4", "s6", "head"],
                      dynamic_axes={k: {0: "n"} for k in ("x", "s4", "s6", "head")}, opset_version=17,
                      dynamo=False)
    tmp.replace(path)


class FeatureExtractor:
    """Pooled feature maps of the default model for PIL images, both views, via ONNX Runtime."""

    def __init__(self, threads: int = 2, canonical: bool = False):
        import onnxruntime as ort

        import registry
        hasher = registry.create("timm", hex_len=16, views=1)
        self.transform = hasher.loaded.transform
        #: With ``canonical``, the features are those of each image's canonical twin (learned-v2's second half).
        self.canonical = canonical
        self.tag = "canonical" if canonical else ""
        CACHE.mkdir(parents=True, exist_ok=True)
        path = CACHE / "lite0_maps.onnx"
        if not path.is_file():
            _export(hasher.model, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def maps(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(self.session.run(None, {"x": batch}))

    def pooled(self, images: list[Image.Image]) -> dict[str, np.ndarray]:
        """{view_pool: (n, dim)} for view in whole/centre and every pool in POOLS."""
        from hashers.deep import _bounded_aspect, _centre_crop, canonical_image
        rgb = [im.convert("RGB") for im in images]
        rgb = [_bounded_aspect(canonical_image(im) if self.canonical else im) for im in rgb]
        out: dict[str, list] = {}
        for view, imgs in (("whole", rgb), ("centre", [_centre_crop(im) for im in rgb])):
            batch = np.stack([self.transform(im).numpy() for im in imgs]).astype(np.float32)
            for name, value in pools(*self.maps(batch)).items():
                out.setdefault(f"{view}_{name}", []).append(value)
        return {k: np.concatenate(v).astype(np.float32) for k, v in out.items()}


def pools(s4: np.ndarray, s6: np.ndarray, head: np.ndarray) -> dict[str, np.ndarray]:
    """Every candidate pooling (POOLS) of the three feature maps of a batch: (n, channels) each."""
    return {
        "s4_avg": s4.mean(axis=(2, 3)), "s4_max": s4.max(axis=(2, 3)),
        "s6_avg": s6.mean(axis=(2, 3)), "s6_max": s6.max(axis=(2, 3)),
        "head_avg": head.mean(axis=(2, 3)),
        "head_gem": np.cbrt(np.mean(np.maximum(head, 0) ** 3, axis=(2, 3))),
    }


def cache_key(*parts) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:16]
