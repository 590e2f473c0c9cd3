"""Engines: run ``(spec, sources)`` and stream back one HashResult per source, in input order.

The contract (``Hasher.iter_hashes``) says how one process hashes; an engine says where. Every
engine takes the same plain ``spec`` (``Hasher.spec``) and sources and gives the same records, so a
manifest writer, ``check`` or a Ray job never care which one ran. Engines re-create the hasher from
the spec through the factory, as a worker on another machine must.

- ``local``: this process, through ``iter_hashes``.
- ``process``: a pool of spawned processes, chunks handed out round the pool, results released
  in input order as soon as every earlier chunk is done.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Iterable, Iterator, Mapping

from .factory import create
from .hasher import register_engine
from .results import HashResult


#: Below this many sources a process pool costs more to start than it saves (24 photos: dedup
#: --dihedral with pHash took 1.24 s over 2 processes, 0.95 s in one; 162 photos: 4.2 s against 7.2 s).
POOL_MIN_SOURCES = 32


def pool_pays_off(workers: int, count: int) -> bool:
    """Whether ``count`` sources go over ``workers`` processes: the one rule of ``hash_stream``,
    ``check``, ``dedup`` (``--dihedral`` too) and ``hash -j``."""
    return workers > 1 and count > max(POOL_MIN_SOURCES, 2 * workers)


def hash_stream(hasher, sources: list, workers: int = 1) -> Iterator[HashResult]:
    """HashResults for ``sources`` in order: in this process, or over ``workers`` processes."""
    if pool_pays_off(workers, len(sources)):
        return run_process_pool(hasher.spec, sources, workers=workers)
    return hasher.iter_hashes(sources)


def run_local(spec: Mapping[str, Any], sources: Iterable[Any], *, batch_size: int = 32
              ) -> Iterator[HashResult]:
    """Hash in this process; lazy, so the sources may be an endless generator."""
    yield from create(**spec).iter_hashes(sources, batch_size=batch_size)


#: How many threads one hashing process may use (read by hashers that run their own; unset: every core).
THREADS_ENV = "IMAGE_DEEP_HASH_THREADS"


def limit_threads(n: int) -> None:
    """Run in a worker process: this process may use ``n`` threads for hashing."""
    os.environ[THREADS_ENV] = str(max(1, int(n)))


def _hash_chunk_in_worker(spec: Mapping[str, Any], start: int, chunk: list) -> list[dict]:
    """Runs in a worker: plain dicts cross the process boundary, not ImageHash objects."""
    hasher = worker_hasher(spec)
    out = []
    for record in hasher.iter_hashes(chunk):
        out.append({**record.to_dict(), "index": start + record.index})
    return out


_worker_cache: dict[str, Any] = {}


def worker_hasher(spec: Mapping[str, Any]):
    """One hasher per spec per worker process (a deep model loads once, not once per chunk)."""
    import json
    key = json.dumps(spec, sort_keys=True)
    if key not in _worker_cache:
        _worker_cache.clear()
        _worker_cache[key] = create(**spec)
    return _worker_cache[key]


def run_process_pool(spec: Mapping[str, Any], sources: Iterable[Any], *, workers: int = 2,
                     chunk_size: int = 16) -> Iterator[HashResult]:
    """Spread sources over ``workers`` spawned processes; yield records in input order.

    Several chunks per worker keep every process busy to the end; small chunks cost little next
    to decoding. Spawn, not fork: safe with torch and with threads.
    """
    for source, item in pool_map(_hash_chunk_in_worker, spec, sources, workers=workers, chunk_size=chunk_size):
        yield HashResult.from_dict(item, source=source)


def pool_map(task, spec: Mapping[str, Any], sources: Iterable[Any], *, workers: int = 2,
             chunk_size: int = 16) -> Iterator[tuple[Any, Any]]:
    """(source, what ``task(spec, start, chunk)`` made of it) for each source, in input order, the
    chunks run over ``workers`` spawned processes. ``task`` is a module-level function (it is pickled
    by name) returning one picklable item per source of its chunk, in order: the process engine's is
    a hash record; ``dedup --dihedral``'s is the eight hashes of the turned images."""
    sources = list(sources)
    workers = max(1, min(int(workers), os.cpu_count() or 1))
    chunk_size = max(1, min(chunk_size, -(-len(sources) // (4 * workers)) or 1))
    chunks = [(i, sources[i:i + chunk_size]) for i in range(0, len(sources), chunk_size)]
    ctx = multiprocessing.get_context("spawn")
    done: dict[int, list] = {}
    next_chunk = 0
    # Each worker gets its share of the cores, so a hasher that runs threads of its own (the deep hash's
    # one image per core) does not start cores x workers of them.
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    try:
        usable = min(usable, int(os.environ[THREADS_ENV]))
    except (KeyError, ValueError):
        pass
    share = max(1, usable // workers)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=limit_threads,
                             initargs=(share,)) as pool:
        pending: dict[Future, int] = {pool.submit(task, dict(spec), start, chunk): k
                                      for k, (start, chunk) in enumerate(chunks)}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                done[pending.pop(future)] = future.result()
            while next_chunk in done:  # release in input order, as soon as possible
                _, chunk = chunks[next_chunk]
                yield from zip(chunk, done.pop(next_chunk), strict=True)  # one item per source, or an error
                next_chunk += 1


register_engine("local", run_local)
register_engine("process", run_process_pool)
