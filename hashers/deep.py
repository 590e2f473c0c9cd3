"""The deep hash: a timm network's pooled features, projected to bits that tell a copy from a look-alike.

Why this shape:
- **Features.** One forward pass of the network (the whole image, and with ``views=2`` its centre 75%,
  in one batch) gives pooled feature parts (``deep_network``). The default model's learned recipe
  also pools a middle and the last stage, which see how a picture *looks*; the pre-logits embedding alone
  sees what it *shows*, and puts two meadows closer than a photo and its grayscale copy.
- **Projection ``learned-v1``** (opt-in; fitted for the default model; ``"auto"`` still means ``random``
  because on the held-out benchmark photos it did not yet beat v1 at equal false-match rates, see the
  README):
  learned whitening from pairs (``benchmarks/fit_deep_projection.py``). Directions are ordered by how
  much they separate different photos against the noise between a photo and its edited copies, and bit
  *k* is the sign of the image's coordinate along direction *k*: the *prefix property* holds, with the
  best directions first. (Random hyperplanes in the whitened space measured far worse: they spend bits
  on the noisy directions.) The ``seed`` option does not change learned bits.
- **Projection ``learned-v2``** (opt-in): the same whitening over the parts of the views and of their
  canonical twins (grayscale, 128 px on the shorter side), one batch of four views per image, so that
  grayscale, blurred and downscaled copies keep half their embedding.
- **Projection ``random``** (``deep_recipe``) is the v1 hash, bit for bit: the pre-logits embedding, centred by a shipped
  mean, projected onto ``RandomState(seed)`` hyperplanes (SimHash). It stays available, and its hashes
  keep their identity, so stored v1 hashes compare with new ``random`` ones and never with learned ones.
- **Engines** (``deep_engine``). On the CPU the network runs in ONNX Runtime when it is installed (``engine="auto"``), 2-3x
  faster than eager torch on 2 cores; the export is cached per model and weights digest
  (``deep_onnx``), and once it exists hashing needs neither torch nor timm. Eager torch is the fallback,
  the reference in tests, and the GPU path (``inference_mode``, channels-last, bf16 autocast).
"""
from __future__ import annotations

import difflib
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import numpy as np

from registry.hasher import Hasher
from registry.loading import load_image
from registry.optional import missing_message
from registry.value import ImageHash

from . import deep_cpu, deep_device
from .deep_engine import ENGINES, TorchNetwork, _network, _networks, choose_engine  # noqa: F401
from .deep_preprocess import eval_transform
from .deep_recipe import (LEARNED, LEARNED_V2, MAX_BITS, MEANS_DIR, PROJECTIONS, SHIPPED_LEARNED,  # noqa: F401
                          SHIPPED_MEANS, Recipe, _projection, canonical_image, centering_file,
                          learned_file, load_centering, resolve_recipe)
from .deep_weights import (DEFAULT_MODEL, DEFAULT_WEIGHTS_PACKAGE, MODEL_CACHE_SIZE,  # noqa: F401
                           LoadedModel, WeightsSource, WeightsUnavailable, _cache, cached_hub_file,
                           load_model, map_in_order, timm_module, weights_source)

#: timm models that the option menu offers when their weights are in the local Hugging Face cache.
WELL_KNOWN_MODELS = ("vit_small_patch16_224", "convnext_tiny", "resnet50", "efficientnet_b0",
                     "mobilenetv3_large_100")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: Longest side / shortest side beyond which an image is centre-cropped before preprocessing.
MAX_ASPECT = 4


# --- names, devices ------------------------------------------------------------------------------
_known_models: Optional[frozenset] = None


def known_models() -> frozenset:
    global _known_models
    if _known_models is None:
        _known_models = frozenset(timm_module().list_models())
    return _known_models


def check_model_name(name: str) -> str:
    """Accept only names in timm's own list; nothing else is ever passed to timm."""
    if name == DEFAULT_MODEL:  # known to be in the list; checking would import torch
        return name
    if not isinstance(name, str) or name not in known_models():
        close = difflib.get_close_matches(str(name), sorted(known_models()), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown timm model {name!r}{hint} (see timm.list_models())")
    return name


def _nvidia_device_present() -> bool:
    """Whether asking torch about CUDA is worth importing it (about 300 MB) at all."""
    return os.path.exists("/dev/nvidiactl") or any(Path("/dev").glob("nvidia[0-9]*"))


def resolve_device(device: str) -> str:
    if device == "cpu" or (device == "auto" and not _nvidia_device_present()):
        return "cpu"
    if device == "auto":
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    if isinstance(device, str) and (device == "cuda" or device.startswith("cuda:")):
        import torch
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for, but no CUDA GPU is available "
                             "to torch here; use device='auto' or 'cpu'")
        return device
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


# --- geometry of the views -----------------------------------------------------------------------
def _bounded_aspect(img):
    """Crop extreme shapes (1 x 5000) to MAX_ASPECT:1 around the centre.

    timm's eval preprocessing scales the *shorter* side to the model's size, so a 1 x 5000 strip would
    become 256 x 1,280,000 pixels before its centre crop: gigabytes for one request. The crop keeps
    everything that centre crop would keep.
    """
    w, h = img.size
    if w > MAX_ASPECT * h:
        left = (w - MAX_ASPECT * h) // 2
        return img.crop((left, 0, left + MAX_ASPECT * h, h))
    if h > MAX_ASPECT * w:
        top = (h - MAX_ASPECT * w) // 2
        return img.crop((0, top, w, top + MAX_ASPECT * w))
    return img


def _centre_crop(img, keep: float = 0.75):
    """The centre ``keep`` of each side: the second view of the two-view embedding."""
    dx, dy = round(img.width * (1 - keep) / 2), round(img.height * (1 - keep) / 2)
    return img.crop((dx, dy, img.width - dx, img.height - dy)) if dx or dy else img


def _in_hub_cache(model_name: str) -> bool:
    """Whether timm weights for ``model_name`` sit in the Hugging Face cache, without importing timm."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    root = Path(constants.HF_HUB_CACHE)
    return root.is_dir() and any(root.glob(f"models--timm--{model_name}*/snapshots/*/*.safetensors"))



class TimmHasher(Hasher):
    """Deep hash from any timm model; defaults to an offline EfficientNet-Lite0 with ImageNet weights."""

    name = "timm"
    summary = ("Deep hash (timm CNN/ViT features): finds edited copies, crops, rotations and mirror "
               "images, and tells them from look-alikes.")
    extra = "deep"
    prefetch = 1
    defaults = {"model": DEFAULT_MODEL, "device": "auto", "weights": None, "pretrained": True,
                "seed": 0, "views": 2, "precision": "auto", "batch_size": None, "projection": "auto",
                "engine": "auto", "fast": False}
    similar_threshold = 0.2

    def __init__(self, hex_len: int = 16, **options: Any):
        if isinstance(options.get("weights"), os.PathLike):  # keep the spec JSON-ready
            options["weights"] = os.fspath(options["weights"])
        super().__init__(hex_len, **options)
        opts = self.options
        check_model_name(opts["model"])
        if not isinstance(opts["seed"], int) or isinstance(opts["seed"], bool) or opts["seed"] < 0:
            raise ValueError(f"seed must be a non-negative integer, got {opts['seed']!r}")
        if opts["precision"] not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {opts['precision']!r}")
        if opts["batch_size"] is not None and (not isinstance(opts["batch_size"], int) or opts["batch_size"] < 1):
            raise ValueError(f"batch_size must be a positive integer or None (auto), got {opts['batch_size']!r}")
        if opts["views"] not in (1, 2):
            raise ValueError(f"views must be 1 (whole image) or 2 (whole image and its centre), "
                             f"got {opts['views']!r}")
        if opts["projection"] not in PROJECTIONS:
            raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}, got {opts['projection']!r}")
        if not isinstance(opts["fast"], bool):
            raise ValueError(f"fast must be True or False, got {opts['fast']!r}")
        self.device = resolve_device(opts["device"])
        self.source = weights_source(opts["model"], opts["weights"], bool(opts["pretrained"]), opts["seed"])
        self.recipe = resolve_recipe(opts["model"], self.source.tag, opts["views"], opts["projection"])
        opts["projection"] = self.recipe.projection  # the spec carries what "auto" chose
        self.engine = choose_engine(opts["engine"], self.device)
        self.network = _network(opts["model"], self.source, opts["seed"], self.device, self.recipe.parts,
                                self.engine)
        self.precision = opts["precision"] if opts["precision"] != "auto" else (
            "fp32" if self.device == "cpu" else "bf16")
        # Measured (benchmarks/deep_speed.py): on a 2-core CPU small batches are fastest; a GPU
        # wants large ones.
        self.batch_size = opts["batch_size"] or (1 if self.device == "cpu" else 64)
        self.transform = eval_transform(self.network.data_config) or self._timm_transform()
        # JPEG files decode on the device when the network runs there (tests switch it on for the CPU).
        self.decode_on_device = (self.device != "cpu" and self.engine == "torch" and deep_device.available()
                                 and deep_device.supports(self.network.data_config) and not self.recipe.canonical)
        self._local = threading.local()  # deep_cpu gives each of its threads a network of its own
        self.centering = self.recipe.centering
        self.mean = self.recipe.mean

    def _timm_transform(self):
        transform = load_model(self.options["model"], self.source, self.options["seed"], "cpu").transform
        return lambda img: transform(img).numpy()

    @classmethod
    def option_choices(cls) -> dict[str, list[tuple[str, Any]]]:
        """The default model always; other well-known models only when their weights are cached here."""
        if missing_message("deep", "the timm backend"):
            return {}
        choices = [(f"{DEFAULT_MODEL} (built in)", DEFAULT_MODEL)]
        choices += [(name, name) for name in WELL_KNOWN_MODELS if _in_hub_cache(name)]
        return {"model": choices}

    @property
    def draft_size(self) -> Optional[int]:
        """Large JPEGs decode at 1/2, 1/4 or 1/8 scale while both sides stay >= twice the resize target.

        Every resize stays a downscale by at least 1.5x (the centre view keeps 75%), and the decode of
        a 12 Mpx photo drops from about 90 ms to 20. The v1 ``random`` projection keeps full decoding,
        so its bits stay exactly those of v1, unless ``fast=True`` (as for the classical hashes): about
        2-3% of its bits then differ on large JPEGs (1-2 of 64), so ``fast`` is not part of the identity
        and a fast hash compares with an exact one.
        """
        if self.recipe.projection == "random" and not self.options["fast"]:
            return None
        return self.fast_draft_size

    @property
    def fast_draft_size(self) -> int:
        _, height, _ = self.network.data_config["input_size"]
        crop_pct = self.network.data_config.get("crop_pct") or 0.875
        return 2 * int(height / crop_pct)

    @property
    def loaded(self) -> LoadedModel:
        """The torch model (loaded on first use when the ONNX engine runs the hashing)."""
        return load_model(self.options["model"], self.source, self.options["seed"],
                          self.device if self.engine == "torch" else "cpu")

    @property
    def model(self):
        return self.loaded.model

    @property
    def identity(self) -> dict[str, Any]:
        # Device, precision, engine, batch size and fast decoding change speed, not meaning: they compare.
        ident = {"model": self.options["model"], "weights": self.source.tag, "seed": self.options["seed"],
                 "views": self.options["views"]}
        if self.recipe.projection == "random":
            return {**ident, "centering": self.centering}  # exactly the v1 identity
        return {**ident, "projection": self.recipe.projection}

    # --- embedding ----------------------------------------------------------------------------
    def _views(self, img):
        """The views the network sees: the image (and its centre), then for learned-v2 the same of
        its canonical twin."""
        rgb = img.convert("RGB")
        sources = [rgb, canonical_image(rgb)] if self.recipe.canonical else [rgb]
        out = []
        for source in sources:
            source = _bounded_aspect(source)
            out += [source, _centre_crop(source)] if self.options["views"] == 2 else [source]
        return out

    def embed(self, images) -> np.ndarray:
        """Float embeddings (n x dim) of images or image sources, before centring and projection."""
        pil = [im if _is_loaded(im) else load_image(im) for im in images]
        outs = []
        for start in range(0, len(pil), self.batch_size):
            chunk = pil[start:start + self.batch_size]
            arrays = self._transform_views([v for im in chunk for v in self._views(im)])
            outs.append(self.pooled(self.run_network(np.stack(arrays)), len(chunk)))
        return np.concatenate(outs, axis=0)

    def _transform_views(self, views: list) -> list:
        """timm's eval transform of each view; large ones on several cores at once.

        Downscaling a 12 Mpx photo's two views takes most of its hash on the CPU, and Pillow releases
        the GIL while it resizes, so threads share the work with the same result, pixel for pixel.
        """
        in_cpu_worker = getattr(self._local, "network", None) is not None  # deep_cpu: the cores are busy
        if not in_cpu_worker and len(views) > 1 and sum(v.width * v.height for v in views) >= PARALLEL_PIXELS:
            return list(_transform_pool().map(self.transform, views))
        return [self.transform(v) for v in views]

    def run_network(self, batch) -> np.ndarray:
        """Feature parts for a (n * views, 3, H, W) batch: a numpy array, or a torch tensor on the device."""
        if self.engine == "torch":
            return self.network.run(batch, self.precision)
        network = getattr(self._local, "network", None) or self.network  # deep_cpu's threads have their own
        return network.run(batch if isinstance(batch, np.ndarray) else batch.cpu().numpy())

    def pooled(self, feats: np.ndarray, n: int) -> np.ndarray:
        """The embeddings of ``n`` images from their views' features: views averaged, parts normalised
        (for learned-v2, the image's views and its canonical twin's views each on their own)."""
        groups = 2 if self.recipe.canonical else 1
        emb = feats.astype(np.float64).reshape(n, groups, self.options["views"], -1).mean(axis=2)
        if not self.recipe.normalise:
            return emb.reshape(n, -1)
        parts = []
        for g in range(groups):
            start = 0
            for width in self.recipe.widths:
                part = emb[:, g, start:start + width]
                parts.append(part / (np.linalg.norm(part, axis=1, keepdims=True) + 1e-12))
                start += width
        return np.concatenate(parts, axis=1)

    def iter_hashes(self, sources, *, batch_size: int = 32):
        """On a GPU, JPEG files are decoded and transformed on the device (``deep_device``).

        On the CPU with ONNX Runtime, one image per core goes through decode, views and network at once
        (``deep_cpu``). With eager torch, sources are read a couple at a time, so the prefetch thread
        decodes the next ones while the network runs on these (with 32 at a time, a folder of 24 photos
        was one batch, decoded before any network ran). The bits are the same every way.
        """
        if not self.decode_on_device:
            if self.device == "cpu" and self.engine == "onnx" and self.batch_size == 1 and deep_cpu.cores() > 1:
                yield from deep_cpu.stream(self, sources, min(deep_cpu.cores(), MAX_CPU_WORKERS))
                return
            if self.device == "cpu":
                batch_size = min(batch_size, max(CPU_PIPELINE_CHUNK, self.batch_size))
            yield from super().iter_hashes(sources, batch_size=batch_size)
            return
        yield from deep_device.stream(self, sources, batch_size)

    def bits_from_embeddings(self, emb: np.ndarray) -> np.ndarray:
        emb = np.atleast_2d(np.asarray(emb, dtype=np.float64))
        centred = emb - (self.mean if self.mean is not None else emb.mean(axis=1, keepdims=True))
        if self.recipe.basis is None:
            planes = _projection(emb.shape[1], self.options["seed"])[: self.bit_count]
            return centred @ planes.T > 0
        return centred @ self.recipe.basis[:, : self.bit_count] > 0

    def compute(self, image) -> np.ndarray:
        return self.bits_from_embeddings(self.embed([image]))[0]

    def compute_many(self, images):
        return list(self.bits_from_embeddings(self.embed(images)))

    def hash_pair(self, image_a, image_b) -> tuple[ImageHash, ImageHash, Optional[float]]:
        """One forward pass for the pair gives both hashes and the cosine of their embeddings."""
        emb = np.asarray(self._call(self.embed, [image_a, image_b]), dtype=np.float64)
        hash_a, hash_b = (self._wrap(bits, img) for bits, img in zip(self.bits_from_embeddings(emb), (image_a, image_b)))
        denom = np.linalg.norm(emb[0]) * np.linalg.norm(emb[1])
        return hash_a, hash_b, float(emb[0] @ emb[1] / denom) if denom else 0.0


#: Sources read per step on the CPU (see ``TimmHasher.iter_hashes``): measured best on 2 cores.
CPU_PIPELINE_CHUNK = 2
#: Images hashed at once on the CPU with ONNX Runtime (one per core, up to this many).
MAX_CPU_WORKERS = 8
#: Views with at least this many pixels in all are transformed in threads (smaller ones: not worth it).
PARALLEL_PIXELS = 2_000_000


@lru_cache(maxsize=1)
def _transform_pool():
    from concurrent.futures import ThreadPoolExecutor
    return ThreadPoolExecutor(max_workers=max(2, min(4, deep_cpu.cores())),
                              thread_name_prefix="idh-transform")


def _is_loaded(im) -> bool:
    from PIL import Image
    return isinstance(im, Image.Image) and im.mode in ("L", "RGB")


# Names the tests and benchmarks used before the weights code moved to deep_weights.
_map_in_order = map_in_order
_cached_hub_file = cached_hub_file
_timm = timm_module
