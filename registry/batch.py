"""Several hashes of one image from a single decode.

Decoding dominates the cost of the classical hashes on photos, so asking for aHash, pHash and dHash of
one image should decode it once, not three times. (Many files over many processes: registry.engines.)
"""
from __future__ import annotations

from typing import Any, Sequence

from .loading import load_image
from .value import ImageHash


def hash_all(src: Any, hashers: Sequence) -> dict[str, ImageHash]:
    """Hash one image with several hashers, decoding it once; keys are the hashers' names.

    If every hasher allows a reduced-scale JPEG decode (fast mode), the largest size any of them
    needs is decoded; otherwise the full image. Hashers that ask for the same ``input_mode`` (the
    classical ones work in grayscale) share one conversion.
    """
    drafts = [h.draft_size for h in hashers]
    image = load_image(src, draft=max(drafts) if drafts and all(drafts) else None)
    converted = {image.mode: image}
    out: dict[str, ImageHash] = {}
    for hasher in hashers:
        mode = hasher.input_mode or image.mode
        if mode not in converted:
            converted[mode] = image.convert(mode)
        out[hasher.name] = hasher.hash_image(converted[mode])
    return out
