"""Create by name, list what exists: the factory over discovery, as timm's ``_factory.py`` sits over
its ``_registry.py``. Kept out of the package ``__init__`` so that no module inside ``registry/``
needs to import the package itself.
"""
from __future__ import annotations

from typing import Any

from .discovery import REGISTRY, HasherInfo
from .errors import HasherError
from .hasher import Hasher
from .optional import MissingDependency


def available() -> list[HasherInfo]:
    """Every declared hasher: built-ins first, then plugins; unusable ones carry ``error``."""
    return REGISTRY.infos()


def refresh() -> None:
    """Forget what was discovered (call after installing a plugin into a running process)."""
    REGISTRY.refresh()


def create(name: str, hex_len: int = 16, **options: Any) -> Hasher:
    """Make a hasher by backend name, e.g. ``create("timm", hex_len=64, model="vit_small_patch16_224")``.

    ``create(**hasher.spec)`` re-creates a hasher with the same identity and bits.
    """
    info = REGISTRY.lookup(name)
    if info.missing_extra is not None:
        raise MissingDependency(info.error)
    if info.error is not None:
        raise HasherError(f"backend {name!r} ({info.origin}) cannot be loaded: {info.error}")
    hasher = info.cls(hex_len=hex_len, **options)
    if not hasher.name:
        hasher.name = name
    return hasher
