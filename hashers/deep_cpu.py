"""The deep hash's bulk path on the CPU: one image per core, each through decode, views and network.

Why: hashing one image at a time with ONNX Runtime on every core leaves the cores idle while Pillow
decodes and resizes, and a prefetch thread overlaps only the decoding. Running whole images side by side
(Pillow and ORT release the GIL), each core with a single-threaded session, measured 71-73 images/s on
the Kodak PNGs against 45 for the prefetch pipeline (2 cores; main: ~20), with the same bits.

Records come back in input order, with errors in place, exactly as ``Hasher.iter_hashes`` gives them:
each image goes through the hasher's own ``_load_chunk`` and ``_compute_chunk``, with the network of
its thread swapped for the single-threaded one.
"""
from __future__ import annotations

import collections
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Iterator


def cores() -> int:
    """The cores this process may hash with: those it may run on, or fewer where
    ``IMAGE_DEEP_HASH_THREADS`` says so (process-pool and Ray workers set it to their share)."""
    try:
        usable = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        usable = max(1, os.cpu_count() or 1)
    try:
        return max(1, min(usable, int(os.environ["IMAGE_DEEP_HASH_THREADS"])))
    except (KeyError, ValueError):
        return usable


def stream(hasher, sources: Iterable[Any], workers: int) -> Iterator:
    """``hasher.iter_hashes`` with ``workers`` images in flight at once (at most ``2 * workers`` read ahead)."""
    network = hasher.network.single_threaded()

    def one(index: int, src: Any) -> list:
        hasher._local.network = network
        try:
            return hasher._compute_chunk(hasher._load_chunk(index, [src]))
        finally:
            hasher._local.network = None

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="idh-cpu")
    try:
        pending: collections.deque = collections.deque()
        for index, src in enumerate(sources):
            pending.append(pool.submit(one, index, src))
            if len(pending) >= 2 * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:  # a consumer that stops early (or an error) does not wait for images nobody will read
        pool.shutdown(wait=True, cancel_futures=True)
