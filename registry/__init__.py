"""Image Deep Hash: perceptual and deep image hashes that say *how much* an image changed.

    >>> import registry
    >>> h = registry.create("phash", hex_len=16).hash("photo.jpg")
    >>> registry.compare("a.jpg", "b.jpg", backend="phash").verdict

This module only names the public API; each name lives in the module of its layer (see the
README's "Architecture"). Importing ``engines`` registers the process pool behind
``Hasher.hash_many(workers=N)``.
"""
from __future__ import annotations

from . import engines  # noqa: F401  (registers the engines by name)
from .batch import hash_all
from .checking import check
from .comparison import Comparison, compare, compare_hashes, compare_with
from .discovery import GROUP, HasherInfo
from .errors import HasherError, ImageError
from .factory import available, create, refresh
from .hasher import API_VERSION, DIHEDRAL, SUPPORTED_API_VERSIONS, Hasher
from .index import HashIndex, HashIndexError
from .loading import MAX_PIXELS, load_image
from .optional import MissingDependency
from .results import HashResult
from .value import ImageHash
from .video import VideoError, compare_videos, hash_video

__all__ = ["create", "available", "compare", "refresh", "Hasher", "HasherInfo", "ImageHash",
           "HashResult", "ImageError", "HasherError", "MissingDependency", "Comparison",
           "load_image", "compare_hashes", "compare_with", "hash_all", "API_VERSION",
           "SUPPORTED_API_VERSIONS", "GROUP", "MAX_PIXELS", "check", "HashIndex", "HashIndexError", "DIHEDRAL", "hash_video",
           "compare_videos", "VideoError"]
