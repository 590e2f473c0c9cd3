"""Image Deep Hash: perceptual and deep image hashes that say *how much* an image changed.

    >>> import registry
    >>> h = registry.create("phash", hex_len=16).hash("photo.jpg")
    >>> registry.compare("a.jpg", "b.jpg", backend="phash").verdict
"""
from __future__ import annotations

from typing import Any

from .batch import hash_all
from .compare import Comparison, compare_hashes, compare_with
from .discovery import GROUP, REGISTRY, HasherInfo
from .errors import HasherError, ImageError
from .hasher import API_VERSION, SUPPORTED_API_VERSIONS, Hasher
from .loading import MAX_PIXELS, load_image
from .value import ImageHash

__all__ = ["create", "available", "compare", "refresh", "Hasher", "HasherInfo", "ImageHash",
           "ImageError", "HasherError", "Comparison", "load_image", "compare_hashes",
           "API_VERSION", "SUPPORTED_API_VERSIONS", "GROUP", "MAX_PIXELS", "hash_all"]


def available() -> list[HasherInfo]:
    """Every declared hasher: built-ins first, then plugins; broken ones carry ``error``."""
    return REGISTRY.infos()


def refresh() -> None:
    """Forget what was discovered (call after installing a plugin into a running process)."""
    REGISTRY.refresh()


def create(name: str, hex_len: int = 16, **options: Any) -> Hasher:
    """Make a hasher by backend name, e.g. ``create("timm", hex_len=64, model="vit_small_patch16_224")``."""
    info = REGISTRY.lookup(name)
    if info.error is not None:
        raise HasherError(f"backend {name!r} ({info.origin}) cannot be loaded: {info.error}")
    hasher = info.cls(hex_len=hex_len, **options)
    if not hasher.name:
        hasher.name = name
    return hasher


def compare(src_a: Any, src_b: Any, backend: str = "phash", hex_len: int = 16,
            **options: Any) -> Comparison:
    """Hash two images with one backend and say how far apart they are."""
    return compare_with(create(backend, hex_len=hex_len, **options), src_a, src_b)
