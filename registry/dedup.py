"""Near-duplicates: groups of images that show the same picture, from a folder or a manifest.

A group is a connected component of the graph whose edges are the pairs within the threshold
(the backend's calibrated one unless given), found by ``HashIndex.pairs`` and joined by scipy's
``connected_components``. A pair within the threshold is still left out when the verdict rule of
``registry.compare`` calls it "different": two flat images (too little detail for the hash) whose
colour layouts clearly differ. Files with the same bytes always group.

Each group lists its files in input order with their distance to the group's first file; groups
come in the order of their first file.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .comparison import calibration_name, judge, min_detail, turn_penalty
from .index import HashIndex, default_radius
from .files import find_images
from .engines import hash_stream, pool_map, pool_pays_off, worker_hasher
from .errors import HasherError, ImageError
from .manifest import Manifest, ManifestError, is_parquet, read_manifest
from .value import ImageHash


@dataclass(frozen=True)
class DuplicateGroup:
    """Files showing the same picture; ``distances[k]`` is file k's distance to ``files[0]``."""

    files: tuple[str, ...]
    distances: tuple[int, ...]


@dataclass
class DedupResult:
    groups: list[DuplicateGroup]
    unreadable: list[tuple[str, str]]
    backend: str
    radius: int
    bits: int
    files: int
    root: Optional[Path] = None
    hashes: dict[str, ImageHash] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"groups": [list(g.files) for g in self.groups],
                "distances": [list(g.distances) for g in self.groups],
                "unreadable": [path for path, _ in self.unreadable],
                "errors": {path: message for path, message in self.unreadable},
                "backend": self.backend, "radius": self.radius, "bits": self.bits, "files": self.files}

    def to_csv(self) -> str:
        """One row per file in a group: group number, path, distance to the group's first file."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["group", "path", "distance"])
        for number, group in enumerate(self.groups, start=1):
            for path, distance in zip(group.files, group.distances):
                writer.writerow([number, path, distance])
        return buffer.getvalue()


#: The calibrated threshold of ``registry.compare`` in bits (the name dedup's callers know it by).
radius_for = default_radius


def _dihedral_pairs(index: HashIndex, turned: Sequence[Sequence[ImageHash]], radius: int, penalty: int):
    """Pairs as ``compare(..., dihedral=True)`` finds them: within ``radius`` as they are, or within
    ``radius - penalty`` with one of them turned or mirrored (each image's 7 other orientations
    searched against everyone as they are); a pair keeps its smallest distance (as it is, on a tie).

    Returns (i, j, d, t, k): image ``t`` of the pair was turned to orientation ``k`` (0: neither), so
    that the pair is judged as ``compare`` judges it, with that orientation's colour signature."""
    i, j, d = index.pairs(radius)
    none = np.zeros(len(i), dtype=np.int64)
    found = [(i, j, d, none - 1, none)]
    for k in range(1, 8):
        if radius - penalty < 0:
            break
        q, ids, dist = index.cross_pairs([eight[k] for eight in turned], radius - penalty)
        other = q != ids
        q, ids, dist = q[other], ids[other], dist[other]
        found.append((np.minimum(q, ids), np.maximum(q, ids), dist, q, np.full(len(q), k, dtype=np.int64)))
    i, j, d, t, k = (np.concatenate(x) for x in zip(*found))
    order = np.lexsort((d, j, i))   # stable: as it is before turned, on equal distances
    i, j, d, t, k = i[order], j[order], d[order], t[order], k[order]
    first = np.ones(len(i), dtype=bool)
    first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])   # the smallest distance of each pair
    return i[first], j[first], d[first], t[first], k[first]


def group_hashes(paths: Sequence[str], hashes: Sequence[ImageHash], radius: int,
                 digests: Optional[Sequence[Optional[str]]] = None,
                 turned: Optional[Sequence[Sequence[ImageHash]]] = None) -> list[DuplicateGroup]:
    """Groups (of two or more) among hashes of one identity; see the module's docstring.

    ``turned``: each image's 8 hashes from ``Hasher.hash_dihedral`` (then ``hashes`` are their
    first), to find copies turned by 90 degrees or mirrored too.
    """
    n = len(hashes)
    if n < 2:
        return []
    index = HashIndex(hashes[0].bit_count)
    index.add(list(hashes))
    if turned is not None:
        penalty = turn_penalty(hashes[0], hashes[0].hex_len)
        i, j, d, t, k = _dihedral_pairs(index, turned, radius, penalty)
    else:
        i, j, d = index.pairs(radius)
        t = k = np.zeros(len(i), dtype=np.int64)
    keep = np.ones(len(i), dtype=bool)
    threshold = radius / hashes[0].bit_count
    # Within the radius, only a pair with a low-detail side (or one found turned) can be judged
    # "different"; the rule runs on those alone (a full judge is ~0.5 ms a pair).
    limit = min_detail(hashes[0], hashes[0].hex_len)
    low = np.array([h.detail is not None and h.detail < limit for h in hashes], dtype=bool)
    for m in np.flatnonzero(low[i] | low[j] | (k != 0)):
        a, b = int(i[m]), int(j[m])
        if digests is not None and digests[a] and digests[a] == digests[b]:
            continue
        if k[m]:  # judged as found: the turned image in that orientation against the other as it is
            other = b if t[m] == a else a
            pair = (turned[int(t[m])][int(k[m])], hashes[other])
        else:
            pair = (hashes[a], hashes[b])
        verdict, _, _ = judge(*pair, int(d[m]), threshold)
        keep[m] = verdict != "different"
    i, j = i[keep], j[keep]
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    members: dict[int, list[int]] = {}
    for k, label in enumerate(labels):
        members.setdefault(int(label), []).append(k)
    groups = []
    for ids in members.values():
        if len(ids) > 1:
            first = hashes[ids[0]]
            if turned is None:
                distances = tuple(int(first - hashes[k]) for k in ids)
            else:
                distances = tuple(int(min(first - h for h in turned[k])) for k in ids)
            groups.append((ids[0], DuplicateGroup(tuple(paths[k] for k in ids), distances)))
    return [g for _, g in sorted(groups, key=lambda item: item[0])]


def dedup_manifest(manifest: Manifest | os.PathLike | str, radius: Optional[int] = None) -> DedupResult:
    """Groups from the hashes a manifest already holds: nothing is hashed again."""
    if not isinstance(manifest, Manifest):
        manifest = read_manifest(manifest)
    spec = manifest.spec
    bits = int(spec["hex_len"]) * 4
    radius = radius_for(calibration_name(spec["name"], spec), spec["hex_len"]) if radius is None else int(radius)
    good = [e for e in manifest.entries if e.hash is not None]
    groups = group_hashes([e.path for e in good], [e.hash for e in good], radius,
                          [e.sha256 for e in good])
    return DedupResult(groups, [(e.path, e.error or "unreadable") for e in manifest.entries if e.hash is None],
                       spec["name"], radius, bits, len(manifest.entries), manifest.root,
                       {e.path: e.hash for e in good})


def _dihedral_stream(hasher, files, workers: int = 1):
    """(eight hashes or None, an error or None) per file, in order; one decode each, in this process
    or, as plain hashing does (``hash_stream``), over ``workers`` processes."""
    if pool_pays_off(workers, len(files)):
        for _, (found, error) in pool_map(_dihedral_chunk, hasher.spec, files, workers=workers):
            if error is not None:
                yield None, (ImageError if error[0] == "image" else HasherError)(error[1])
            else:
                yield [ImageHash.from_dict(h) for h in found], None
        return
    for file in files:
        try:
            yield hasher.hash_dihedral(file), None
        except (ImageError, HasherError) as exc:
            yield None, exc


def _dihedral_chunk(spec, start: int, chunk: list) -> list:
    """Runs in a worker process: each file's eight hashes as plain dicts, or (kind, message) of its error."""
    hasher = worker_hasher(spec)
    out = []
    for file in chunk:
        try:
            out.append(([h.to_dict() for h in hasher.hash_dihedral(file)], None))
        except (ImageError, HasherError) as exc:
            out.append((None, ("image" if isinstance(exc, ImageError) else "hasher", str(exc))))
    return out


def dedup(paths: Sequence[os.PathLike | str], hasher, *, radius: Optional[int] = None,
          recursive: bool = False, workers: int = 1, progress: bool = False,
          dihedral: bool = False) -> DedupResult:
    """Hash the images under ``paths`` with ``hasher`` and group the near-duplicates.

    ``dihedral``: also group copies turned by 90, 180 or 270 degrees or mirrored (the distance of a
    pair is the smallest over the 8 orientations, judged against the threshold calibrated for that).
    """
    from .hasher import progress_bar
    root, files = find_images(paths, recursive)
    if radius is None:
        radius = radius_for(hasher, hasher.hex_len, type(hasher).similar_threshold, dihedral=dihedral)
    rels, hashes, unreadable, turned = [], [], [], []
    if dihedral:
        stream = _dihedral_stream(hasher, [f for f, _ in files], workers)
    else:
        stream = ((r.hash, r.error) for r in hash_stream(hasher, [f for f, _ in files], workers))
    with progress_bar(len(files), progress, hasher.name) as bar:
        for (file, rel), (found, error) in zip(files, stream, strict=True):
            bar.update(1)
            if error is not None:
                unreadable.append((rel, str(error)))
                continue
            rels.append(rel)
            if dihedral:
                turned.append(found)
                found = found[0]
            hashes.append(found)
    # No SHA-256 here: equal bytes give equal hashes and colours, which the rule never calls different.
    groups = group_hashes(rels, hashes, radius, None, turned if dihedral else None)
    return DedupResult(groups, unreadable, hasher.name, radius, hasher.bit_count, len(files), root,
                       dict(zip(rels, hashes)))


def is_manifest(path: os.PathLike | str) -> bool:
    """A manifest (``dedup`` then reads it instead of hashing): a JSON Lines file that starts as one
    does, or the Parquet file that ``hash --engine ray`` writes."""
    path = Path(path)
    if is_parquet(path):   # the Parquet manifest of `hash --engine ray`
        return True
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            start = f.read(64)
    except OSError:
        return False
    return start.lstrip().startswith(b'{"format":"image-deep-hash-manifest"')


__all__ = ["DuplicateGroup", "DedupResult", "dedup", "dedup_manifest", "group_hashes", "radius_for",
           "is_manifest", "ManifestError"]
