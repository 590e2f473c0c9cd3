"""Hashing a folder into a manifest (``image-deep-hash hash -o``): what is new or changed is hashed,
what is unchanged since a killed or earlier run is kept, and the manifest is never left half-written.

The manifest's format, reading and appending live in ``manifest``; this module is the run that fills
one, over the engines' stream of hash records (in this process or over worker processes).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .engines import hash_stream
from .errors import ManifestError
from .files import file_digest, find_images
from .manifest import ManifestEntry, ManifestWriter, header_for, is_parquet, read_manifest, write_atomically


@dataclass
class HashRun:
    """What ``hash_folder`` did: files hashed now, kept from before, and those that failed."""

    manifest: Path
    hashed: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def files(self) -> int:
        return self.hashed + self.skipped


def same_spec(old: dict[str, Any], new: dict[str, Any], defaults: dict[str, Any]) -> bool:
    """Whether a manifest's spec is this hasher's: an option the old spec lacks (added to the backend
    since) counts as its default, so a manifest written before an option existed still resumes."""
    filled = {**{k: v for k, v in defaults.items() if k not in old}, **old}
    return filled == new


def hash_folder(paths: Sequence[os.PathLike | str], output: os.PathLike | str, hasher, *,
                recursive: bool = False, resume: bool = False, workers: int = 1,
                progress: bool = False, on_error=None) -> HashRun:
    """Hash the images under ``paths`` into the manifest ``output``; see the module's docstring.

    With ``resume``, an existing manifest for the same hasher is continued: files whose size and
    mtime match an entry are not hashed again. ``on_error(path, message)`` hears of each failure.
    """
    from .hasher import progress_bar
    output = Path(output)
    root, files = find_images(paths, recursive)
    spec = hasher.spec
    header = header_for(spec, root, recursive)
    done: dict[str, ManifestEntry] = {}
    keep_bytes = 0
    stale = 0
    if resume and output.exists():
        if is_parquet(output):
            raise ManifestError(f"'{output}' is a Parquet manifest, written whole: it cannot be resumed; "
                                "write a new one")
        old = read_manifest(output)
        if not same_spec(old.spec, spec, getattr(type(hasher), "defaults", {})):
            raise ManifestError(f"'{output}' was made with {old.spec}, not {spec}; "
                                "resume with the same backend and options, or write a new manifest")
        if Path(old.header.get("root", "")) != root:
            raise ManifestError(f"'{output}' is a manifest of '{old.header.get('root')}', not of '{root}'")
        header = old.header
        keep_bytes = old.footer_offset if old.footer_offset is not None else old.good_bytes
        stale = old.stale_lines
        done = old.by_path
    wanted = {rel for _, rel in files}
    todo: list[tuple[Path, str]] = []
    kept: dict[str, ManifestEntry] = {}
    for file, rel in files:
        entry = done.get(rel)
        if entry is not None:
            try:
                st = file.stat()
            except OSError:
                st = None
            if st is not None and st.st_size == entry.size and st.st_mtime == entry.mtime:
                kept[rel] = entry
                continue
            stale += 1   # changed since: its new line supersedes the old one
        todo.append((file, rel))
    stale += sum(1 for rel in done if rel not in wanted)   # gone since
    run = HashRun(output, skipped=len(kept))
    writer = ManifestWriter(output, header, keep_bytes=keep_bytes)
    written: dict[str, ManifestEntry] = {}
    try:
        with progress_bar(len(todo), progress, hasher.name) as bar:
            for (file, rel), record in zip(todo, hash_stream(hasher, [f for f, _ in todo], workers), strict=True):
                bar.update(1)
                try:
                    st = file.stat()
                    digest = file_digest(file)
                except OSError as exc:
                    run.failed.append((rel, f"cannot read '{file}': {exc.strerror or exc}"))
                    if on_error:
                        on_error(rel, run.failed[-1][1])
                    continue
                if record.error is not None:
                    entry = ManifestEntry(rel, st.st_size, st.st_mtime, digest, None, str(record.error))
                    run.failed.append((rel, str(record.error)))
                    if on_error:
                        on_error(rel, str(record.error))
                else:
                    entry = ManifestEntry(rel, st.st_size, st.st_mtime, digest, record.hash)
                    run.hashed += 1
                writer.append(entry)
                written[rel] = entry
        if stale:
            writer.close()
            order = [rel for _, rel in files]
            merged = {**kept, **written}
            write_atomically(output, header, (merged[r] for r in order if r in merged))
        else:
            writer.finish(len(kept) + len(written))
    finally:
        writer.close()
    return run
