"""Manifests: a perceptual ``sha256sum``. One JSON object per image, in a JSON Lines file.

A manifest records, for every image of a folder, its relative path, size, mtime, the SHA-256 of its
bytes and its perceptual hash, so that a copy of the folder can later be checked file by file
(``registry.check``): identical bytes, the same picture, or changed enough to fetch again.

The file is written to survive being killed at any moment:

- line 1 is a header (format, the project's version, the hasher's ``spec``, the root folder);
- each image is appended as one line with one ``write`` on a file opened for appending, so an
  interruption can tear only the last line, never an earlier one;
- the last line of a finished run is a footer ``{"end": true, "files": N}``. A manifest without it
  is unfinished: readers say so, and ``--resume`` completes it, first cutting off a torn last line;
- when a resumed run finds stale lines (files changed or gone since), it rewrites the manifest
  atomically (a temporary file in the same folder, ``fsync``, ``os.replace``).

Corrupt lines elsewhere, or lines from another backend, are reported with their line number,
never skipped. Filling one from a folder (resuming, rewriting stale lines) is ``folder_manifest``'s.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from .errors import ManifestError
from .files import atomic_write
from .value import ImageHash

FORMAT = "image-deep-hash-manifest"
FORMAT_VERSION = 1
DIST_NAME = "image-deep-hash"
#: Seconds between fsyncs while appending; the footer is always synced.
SYNC_EVERY = 2.0


def project_version() -> str:
    from importlib import metadata
    try:
        return metadata.version(DIST_NAME)
    except metadata.PackageNotFoundError:  # a plain checkout (Spaces): read pyproject.toml
        import tomllib
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            return tomllib.loads(pyproject.read_text())["project"]["version"]
        except (OSError, KeyError, ValueError):
            return "unknown"


# --- the records -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ManifestEntry:
    """One image as it was when hashed: where, how big, which bytes, and its hash (or why none)."""

    path: str
    size: int
    mtime: float
    sha256: str
    hash: Optional[ImageHash] = None
    error: Optional[str] = None
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "size": self.size, "mtime": self.mtime,
                               "sha256": self.sha256}
        if self.hash is not None:
            h = self.hash
            out.update(backend=h.backend, options=h.options, hash=str(h))
            if h.detail is not None:
                out["detail"] = h.detail
            if h.colour is not None:
                out["colour"] = h.colour
        else:
            out["error"] = self.error or "unreadable"
        return out

    def to_line(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False, separators=(",", ":")) + "\n"


def header_for(spec: dict[str, Any], root: Path, recursive: bool = False) -> dict[str, Any]:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "image_deep_hash": project_version(),
            "spec": spec, "root": str(root), "recursive": recursive,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


@dataclass
class Manifest:
    """A manifest as read: its header, its entries (the last line wins for a path), and whether it
    was finished."""

    path: Path
    header: dict[str, Any]
    entries: list[ManifestEntry]
    complete: bool
    torn_tail: bool = False          # an interrupted write left a partial last line (ignored)
    stale_lines: int = 0             # earlier lines superseded by a later one for the same path
    good_bytes: int = 0              # length of the file up to the end of its last whole line
    footer_offset: Optional[int] = None
    by_path: dict[str, ManifestEntry] = field(default_factory=dict)

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.header["spec"])

    @property
    def backend(self) -> str:
        return self.header["spec"]["name"]

    @property
    def root(self) -> Optional[Path]:
        root = self.header.get("root")
        return Path(root) if root else None


def _parse_header(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ManifestError(f"{where}: not an image-deep-hash manifest (the first line is no header)")
    if obj.get("format_version") != FORMAT_VERSION:
        raise ManifestError(f"{where}: manifest format {obj.get('format_version')!r}; this version reads "
                            f"format {FORMAT_VERSION}")
    spec = obj.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or \
            not isinstance(spec.get("hex_len"), int):
        raise ManifestError(f"{where}: the header has no usable hasher spec")
    return obj


def parse_entry(obj: Any, where: str, backend: str, identity: Optional[dict]) -> ManifestEntry:
    """One record, checked: the fields a manifest line must have, and the header's backend."""
    if not isinstance(obj, dict):
        raise ManifestError(f"{where}: not a JSON object")
    try:
        path, size, mtime, digest = obj["path"], obj["size"], obj["mtime"], obj["sha256"]
    except KeyError as exc:
        raise ManifestError(f"{where}: missing field {exc.args[0]!r}") from None
    if not isinstance(path, str) or not isinstance(size, int) or not isinstance(mtime, (int, float)) \
            or not isinstance(digest, str) or len(digest) != 64:
        raise ManifestError(f"{where}: a field has the wrong type (path, size, mtime or sha256)")
    if obj.get("error") is not None and "hash" not in obj:
        return ManifestEntry(path, size, float(mtime), digest, None, str(obj["error"]))
    if obj.get("backend") != backend:
        raise ManifestError(f"{where}: a {obj.get('backend')!r} hash in a {backend!r} manifest")
    try:
        h = ImageHash.from_dict({"hash": obj["hash"], "backend": obj["backend"],
                                 "options": obj.get("options"), "detail": obj.get("detail"),
                                 "colour": obj.get("colour")})
    except (KeyError, ValueError, TypeError) as exc:
        raise ManifestError(f"{where}: bad hash ({exc})") from None
    if identity is not None and h.options != identity:
        raise ManifestError(f"{where}: hashed with other options ({h.options}) than the manifest's "
                            f"({identity})")
    return ManifestEntry(path, size, float(mtime), digest, h, None)


class _Records:
    """A manifest's records as they are read, whatever the file: the newest line of a path wins (the
    older ones are stale, counted), in the order of those newest lines, and every hash of the
    manifest must have one identity."""

    def __init__(self, backend: str):
        self.backend = backend
        self.by_path: dict[str, ManifestEntry] = {}
        self.stale = 0
        self.identity: Optional[dict] = None

    def add(self, obj: Any, where: str, line: int) -> None:
        entry = dataclasses.replace(parse_entry(obj, where, self.backend, self.identity), line=line)
        if self.identity is None and entry.hash is not None:
            self.identity = entry.hash.options
        if entry.path in self.by_path:
            self.stale += 1
            del self.by_path[entry.path]  # keep the file order of the newest line
        self.by_path[entry.path] = entry


PARQUET_MAGIC = b"PAR1"


def is_parquet(path: os.PathLike | str) -> bool:
    """A Parquet file (a manifest written by ``hash --engine ray --output X.parquet``)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def read_parquet_manifest(path: os.PathLike | str) -> Manifest:
    """A Parquet manifest: the header in the schema's metadata, one row per record (``registry.ray``).

    The file is written whole and moved into place, so it is always complete; rows are checked
    exactly as JSON lines are (``parse_entry``), named by row number.
    """
    from .optional import require
    path = Path(path)
    require("pyarrow", "ray", needed_by="reading a Parquet manifest")
    import pyarrow.parquet as pq
    try:
        pfile = pq.ParquetFile(str(path))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise ManifestError(f"cannot read Parquet manifest '{path}': {exc}") from None
    raw = (pfile.metadata.metadata or {}).get(FORMAT.encode()) or \
        (pfile.schema_arrow.metadata or {}).get(FORMAT.encode())
    if raw is None:
        raise ManifestError(f"{path.name}: a Parquet file without an image-deep-hash header")
    try:
        header = _parse_header(json.loads(raw), f"{path.name} header")
    except ValueError as exc:
        if isinstance(exc, ManifestError):
            raise
        raise ManifestError(f"{path.name} header: not valid JSON") from None
    records = _Records(header["spec"]["name"])
    number = 0
    for batch in pfile.iter_batches(batch_size=65536):
        for row in batch.to_pylist():
            number += 1
            where = f"{path.name} row {number}"
            obj = {k: v for k, v in row.items() if v is not None}
            if "options" in obj:
                try:
                    obj["options"] = json.loads(obj["options"])
                except (TypeError, ValueError):
                    raise ManifestError(f"{where}: options are not valid JSON") from None
            if obj.get("hash") is not None:
                obj.pop("error", None)
            records.add(obj, where, number)
    files = header.get("files")
    if files is not None and files != len(records.by_path) + records.stale:
        raise ManifestError(f"{path.name}: the header says {files} records, the file holds {number}")
    return Manifest(path, header, list(records.by_path.values()), True, False, records.stale, 0, None,
                    records.by_path)


def read_manifest(path: os.PathLike | str) -> Manifest:
    """Read and check a manifest; a torn last line (an interrupted write) is left out, not an error.

    A Parquet manifest (``hash --engine ray --output X.parquet``) is read too (pyarrow, lazily).
    """
    path = Path(path)
    if is_parquet(path):
        return read_parquet_manifest(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"cannot read manifest '{path}': {exc.strerror or exc}") from None
    lines = data.split(b"\n")
    torn = lines[-1] != b""       # no newline at the end: the last write was interrupted
    whole = lines[:-1]
    if not whole:
        raise ManifestError(f"'{path}' is empty or holds no whole line: not a manifest")
    header = None
    records = None
    complete = False
    footer_offset = None
    offset = 0
    for number, raw in enumerate(whole, start=1):
        where = f"{path.name} line {number}"
        start = offset
        offset += len(raw) + 1
        try:
            obj = json.loads(raw)
        except ValueError:  # a whole line (it ends in a newline) cannot be torn: it is corrupt
            raise ManifestError(f"{where}: not valid JSON") from None
        if number == 1:
            header = _parse_header(obj, where)
            records = _Records(header["spec"]["name"])
            continue
        if complete:
            raise ManifestError(f"{where}: data after the manifest's end line")
        if isinstance(obj, dict) and obj.get("end") is True:
            complete, footer_offset = True, start
            continue
        records.add(obj, where, number)
    return Manifest(path, header, list(records.by_path.values()), complete and not torn, torn, records.stale,
                    offset, footer_offset if not torn else None, records.by_path)


# --- writing -----------------------------------------------------------------------------------
class ManifestWriter:
    """Appends entries to a manifest: one ``write`` per line, ``fsync`` every few seconds."""

    def __init__(self, path: os.PathLike | str, header: dict[str, Any], *, keep_bytes: int = 0):
        """Start a new manifest (``keep_bytes=0``) or continue one whose first ``keep_bytes`` bytes
        are whole lines (anything after them, a torn line or an old footer, is cut off)."""
        self.path = Path(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        if keep_bytes:
            with open(self.path, "r+b") as f:
                f.truncate(keep_bytes)
                f.flush()
                os.fsync(f.fileno())
        else:
            flags |= os.O_TRUNC
        self._fd = os.open(self.path, flags, 0o644)
        self.count = 0
        self._synced = time.monotonic()
        if not keep_bytes:
            self._write(json.dumps(header, separators=(",", ":")) + "\n")
            os.fsync(self._fd)

    def _write(self, line: str) -> None:
        data = line.encode()
        written = os.write(self._fd, data)
        while written < len(data):  # a short write: the rest, still appended
            written += os.write(self._fd, data[written:])

    def append(self, entry: ManifestEntry) -> None:
        self._write(entry.to_line())
        self.count += 1
        if time.monotonic() - self._synced > SYNC_EVERY:
            os.fsync(self._fd)
            self._synced = time.monotonic()

    def finish(self, files: int) -> None:
        self._write(json.dumps({"end": True, "files": files}) + "\n")
        os.fsync(self._fd)
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_atomically(path: Path, header: dict[str, Any], entries: Iterable[ManifestEntry]) -> int:
    """The whole manifest in a temporary file beside ``path``, synced, then moved over it."""
    count = 0
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(header, separators=(",", ":")) + "\n")
        for entry in entries:
            f.write(entry.to_line())
            count += 1
        f.write(json.dumps({"end": True, "files": count}) + "\n")
    return count
