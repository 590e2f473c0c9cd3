"""Hashing in bulk: several hashes of one image from a single decode, and many files over processes.

Decoding dominates the cost of the classical hashes on photos, so asking for aHash, pHash and dHash of
one image should decode it once, not three times; and a folder of photos should use every core.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Sequence

from .errors import HasherError, ImageError
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


def _worker(spec: tuple[str, int, dict], chunk: list) -> list:
    import registry
    name, hex_len, options = spec
    hasher = registry.create(name, hex_len=hex_len, **options)
    results = []
    for item in hasher.hash_many(chunk, errors="return"):
        results.append(item.to_dict() if isinstance(item, ImageHash) else item)
    return results


def hash_many_parallel(hasher, srcs: list, workers: int, errors: str, progress: bool,
                       chunk_size: int = 16) -> list:
    """Split ``srcs`` over ``workers`` processes, each re-creating the hasher through the registry."""
    import multiprocessing

    from .hasher import _progress
    workers = max(1, min(workers, os.cpu_count() or 1))
    # Several chunks per worker keep both busy to the end; small chunks cost little next to decoding.
    chunk_size = max(1, min(chunk_size, -(-len(srcs) // (4 * workers))))
    spec = (hasher.name, hasher.hex_len, dict(hasher.options))
    chunks = [(i, srcs[i:i + chunk_size]) for i in range(0, len(srcs), chunk_size)]
    results: list = [None] * len(srcs)
    bar = _progress(len(srcs), progress, hasher.name)
    ctx = multiprocessing.get_context("spawn")  # safe with torch and threads, unlike fork
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(_worker, spec, chunk): start for start, chunk in chunks}
            for future in as_completed(futures):
                start, done = futures[future], future.result()
                for k, item in enumerate(done):
                    results[start + k] = ImageHash.from_dict(item) if isinstance(item, dict) else item
                if bar is not None:
                    bar.update(len(done))
    finally:
        if bar is not None:
            bar.close()
    if errors == "raise":
        for item in results:
            if isinstance(item, (ImageError, HasherError)):
                raise item
    return results
