"""Hash a Ray Dataset of images with any registered backend (the optional ``[ray]`` extra).

Ray Data batch inference: ``Dataset.map_batches`` with a callable class, :class:`HashActor`,
that re-creates the hasher from its ``spec`` once per actor (a deep model loads once per worker,
not once per batch) and turns each batch of files into rows with the fields of a manifest record
(``registry.manifest.ManifestEntry.to_dict``)::

    path, size, mtime, sha256, backend, options, hash, detail, colour, error

``options`` is the JSON text of the hash's options (one Arrow type for every backend). A row has
``hash`` or ``error``, never both: an unreadable image is a row with its error, never a failed job.
The hashing itself is ``Hasher.iter_hashes``, so the hashes, details and colour signatures equal
``hash_many``'s and a local manifest's, bit for bit.

Sources:

- local files and folders (``find_images``): the dataset holds their paths and each actor reads
  the files itself, so every node must see them at the same path (a shared file system). ``size``
  and ``mtime`` come from ``os.stat`` on the worker, as ``hash --output`` records them.
- URIs (``s3://``, ``gs://``, ``file://`` ...): the driver lists them with ``pyarrow.fs`` (by
  extension, as ``find_images`` does) and each actor reads its objects; a row's path is relative to
  the URI given, ``size`` is the number of bytes read and ``mtime`` the listing's modification time
  (0 when the store gives none).
- any Ray Dataset with ``path`` and ``bytes`` columns (``ray.data.read_binary_files(...,
  include_paths=True)``): :func:`hash_dataset` hashes the bytes; ``size`` is their length, ``mtime`` 0.

Ray is imported here, inside functions, and nowhere else: ``import registry`` and the local CLI
never load it.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

from .engines import limit_threads
from .factory import create
from .files import file_digest, find_images, image_extensions, publish
from .folder_manifest import HashRun
from .manifest import FORMAT, ManifestEntry, ManifestError, ManifestWriter, header_for, parse_entry
from .optional import require

NEEDED_BY = "the Ray engine (hash --engine ray)"

#: Files per ``map_batches`` batch, per backend: big enough that Ray's per-batch cost (a task call,
#: an Arrow block) is small next to the hashing, small enough that every actor gets several batches.
#: Measured on 2 cores (benchmarks/ray_overhead.py): a classical hash does ~100 photos/s per core,
#: the deep hash ~20 on a CPU and hundreds on a GPU.
BATCH_SIZES: dict[str, int] = {"ahash": 64, "dhash": 64, "phash": 64, "timm": 16}
GPU_BATCH_SIZE = 256
DEFAULT_BATCH_SIZE = 64

#: The columns of every row, in order (an error row leaves the hash fields empty, and the other way round).
COLUMNS = ("path", "size", "mtime", "sha256", "backend", "options", "hash", "detail", "colour", "error")


def _ray():
    return require("ray", "ray", needed_by=NEEDED_BY)


def _pyarrow():
    return require("pyarrow", "ray", needed_by=NEEDED_BY)


def row_schema():
    """The Arrow schema of the rows (and of a Parquet manifest)."""
    pa = _pyarrow()
    return pa.schema([("path", pa.string()), ("size", pa.int64()), ("mtime", pa.float64()),
                      ("sha256", pa.string()), ("backend", pa.string()), ("options", pa.string()),
                      ("hash", pa.string()), ("detail", pa.float64()), ("colour", pa.string()),
                      ("error", pa.string())])


def is_uri(text: str) -> bool:
    return "://" in str(text)


def is_deep(spec: Mapping[str, Any]) -> bool:
    """A backend that runs a neural network (the one that wants a GPU)."""
    from .factory import available
    info = next((i for i in available() if i.name == spec.get("name")), None)
    cls = getattr(info, "cls", None)
    return getattr(cls, "extra", None) == "deep" or bool(getattr(cls, "prefetch", 0))


def batch_size_for(spec: Mapping[str, Any], gpus: float = 0) -> int:
    if gpus and is_deep(spec):
        return GPU_BATCH_SIZE
    return BATCH_SIZES.get(spec["name"], DEFAULT_BATCH_SIZE)


def batch_size_for_count(spec: Mapping[str, Any], count: int, concurrency: int, gpus: float = 0) -> int:
    """The backend's batch size, made smaller for a small job so that every actor gets about four
    batches (a job of 162 photos on 2 actors would otherwise be 3 batches, one actor idle at the end)."""
    return max(1, min(batch_size_for(spec, gpus), math.ceil(count / (4 * max(1, concurrency)))))


# --- the actor -----------------------------------------------------------------------------------
def _record_fields(record) -> dict[str, Any]:
    if record.error is not None:
        return {"error": str(record.error)}
    h = record.hash
    return {"backend": h.backend, "options": json.dumps(h.options, sort_keys=True), "hash": str(h),
            "detail": h.detail, "colour": h.colour}


def _limit_to_assigned_cpus() -> None:
    """An actor hashes with the CPUs Ray gave it, not with every core of the machine."""
    try:
        import ray
        context = ray.get_runtime_context()
        if context.get_actor_id() is None:  # the driver (a test calling the actor directly): leave it be
            return
        cpus = context.get_assigned_resources().get("CPU", 1)
    except Exception:
        return
    limit_threads(max(1, int(cpus)))


class HashActor:
    """The callable class for ``map_batches``: one hasher per actor, built from the spec.

    A batch has a ``path`` column (the name to record) and either ``file`` (a local path this
    worker opens) or ``bytes`` (what ``read_binary_files`` read). Returns a ``pyarrow.Table`` in
    :func:`row_schema`.
    """

    def __init__(self, spec: Mapping[str, Any], batch_size: int = 32):
        _limit_to_assigned_cpus()
        self.spec = dict(spec)
        self.hasher = create(**self.spec)
        self.batch_size = max(1, int(batch_size))

    def __call__(self, batch) -> Any:
        pa = _pyarrow()
        columns = batch.column_names if hasattr(batch, "column_names") else list(batch)
        paths = [str(p) for p in _column(batch, "path")]
        if "bytes" in columns:
            rows = self._from_bytes(paths, _column(batch, "bytes"))
        else:
            files = [str(f) for f in _column(batch, "file")]
            mtimes = _column(batch, "mtime") if "mtime" in columns else None
            rows = (self._from_uris(paths, files, mtimes) if any(is_uri(f) for f in files)
                    else self._from_files(paths, files))
        return pa.Table.from_pylist(rows, schema=row_schema())

    def _from_files(self, paths: list[str], files: list[str]) -> list[dict]:
        """As ``hash_folder`` does: hash the file, then stat it and hash its bytes."""
        rows = []
        for rel, file, record in zip(paths, files, self.hasher.iter_hashes(files, batch_size=self.batch_size)):
            row: dict[str, Any] = {"path": rel}
            try:
                st = os.stat(file)
                row.update(size=st.st_size, mtime=st.st_mtime, sha256=file_digest(file))
            except OSError as exc:   # no bytes to record: a row with the error only
                row["error"] = f"cannot read '{file}': {exc.strerror or exc}"
                rows.append(row)
                continue
            row.update(_record_fields(record))
            rows.append(row)
        return rows

    def _from_uris(self, paths: list[str], files: list[str], mtimes: Optional[list] = None) -> list[dict]:
        """Objects read through ``pyarrow.fs``; one that cannot be read is a row with its error."""
        fs_module = require("pyarrow.fs", "ray", NEEDED_BY)
        blobs: list[Optional[bytes]] = []
        errors: list[Optional[str]] = []
        for uri in files:
            try:
                fs, where = fs_module.FileSystem.from_uri(uri)
                with fs.open_input_file(where) as f:
                    blobs.append(f.read())
                errors.append(None)
            except Exception as exc:  # noqa: BLE001 - OSError, or pyarrow's own for a refused request
                blobs.append(None)
                errors.append(f"cannot read '{uri}': {exc}")
        return self._from_bytes(paths, blobs, names=files, errors=errors, mtimes=mtimes)

    def _from_bytes(self, paths: list[str], blobs: Sequence[Any], *, names: Optional[list[str]] = None,
                    errors: Optional[list] = None, mtimes: Optional[list] = None) -> list[dict]:
        names = names or paths
        errors = errors or [None] * len(paths)
        mtimes = mtimes or [None] * len(paths)
        readable = [k for k, e in enumerate(errors) if e is None and blobs[k] is not None]
        data = [bytes(blobs[k]) for k in readable]
        records = dict(zip(readable, self.hasher.iter_hashes(data, batch_size=self.batch_size)))
        rows = []
        for k, rel in enumerate(paths):
            if k not in records:
                rows.append({"path": rel, "error": errors[k] or "no bytes"})
                continue
            blob = bytes(blobs[k])
            row: dict[str, Any] = {"path": rel, "size": len(blob), "mtime": float(mtimes[k] or 0.0),
                                   "sha256": hashlib.sha256(blob).hexdigest()}
            fields = _record_fields(records[k])
            if "error" in fields:   # the loader says "the image data ...": name the file, as locally
                fields["error"] = _name_error(fields["error"], names[k])
            row.update(fields)
            rows.append(row)
        return rows


def _name_error(message: str, name: str) -> str:
    lead = "the image data"
    return f"'{name}'{message[len(lead):]}" if message.startswith(lead) else f"'{name}': {message}"


def _column(batch, name: str) -> list:
    if hasattr(batch, "column"):          # a pyarrow.Table
        return batch.column(name).to_pylist()
    return list(batch[name])              # a dict of numpy arrays, or pandas


# --- datasets ------------------------------------------------------------------------------------
def _override_blocks(fn: Callable, blocks: int) -> dict[str, int]:
    params = inspect.signature(fn).parameters
    if "override_num_blocks" in params:
        return {"override_num_blocks": blocks}
    if "parallelism" in params:           # Ray before 2.10
        return {"parallelism": blocks}
    return {}


def _from_items(items: list, blocks: int = 0):
    """``ray.data.from_items`` in ``blocks`` blocks (default: one per item, at most 200), so that small
    jobs still spread over the actors."""
    ray = _ray()
    fn = ray.data.from_items
    return fn(items, **_override_blocks(fn, blocks or max(1, min(len(items), 200))))


def files_dataset(paths: Sequence[os.PathLike | str], recursive: bool = False, blocks: int = 0):
    """(root, dataset of {path, file}, count) for local files and folders, as ``find_images`` finds them."""
    _ray()  # the missing-dependency message before any work
    root, files = find_images(paths, recursive)
    items = [{"path": rel, "file": str(file)} for file, rel in files]
    if not items:
        return root, None, 0
    ds = _from_items(items, blocks)
    return root, ds, len(items)


def list_uris(uris: Sequence[str], recursive: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """(root, [{path, file, mtime}]) for URIs: folders listed by image extension, sorted; paths
    relative to the folder given (several URIs: their deepest common folder)."""
    fs_module = require("pyarrow.fs", "ray", NEEDED_BY)
    schemes = {u.partition("://")[0] for u in uris}
    if len(schemes) != 1:
        raise ManifestError(f"give URIs of one kind, not {', '.join(sorted(schemes))}")
    scheme = schemes.pop()
    exts = image_extensions()
    found: list[tuple[str, float]] = []
    tops: list[str] = []
    for uri in uris:
        try:
            fs, where = fs_module.FileSystem.from_uri(uri)
            info = fs.get_file_info(where)
            if info.type == fs_module.FileType.Directory:
                tops.append(where.rstrip("/"))
                listed = fs.get_file_info(fs_module.FileSelector(where, recursive=recursive))
                found.extend((i.path, _mtime(i)) for i in sorted(listed, key=lambda i: i.path)
                             if i.type == fs_module.FileType.File and Path(i.path).suffix.lower() in exts)
            elif info.type == fs_module.FileType.File:
                tops.append(str(Path(where).parent))
                found.append((info.path, _mtime(info)))
            else:
                raise ManifestError(f"no such file or folder: '{uri}'")
        except ManifestError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyarrow's errors for a bad bucket or no credentials
            raise ManifestError(f"cannot list '{uri}': {exc}") from None
    base = os.path.commonpath(tops) if len(tops) > 1 else tops[0]
    items, seen = [], set()
    for where, mtime in found:
        rel = where[len(base):].lstrip("/") if where.startswith(base) else where
        if rel not in seen:
            seen.add(rel)
            items.append({"path": rel, "file": f"{scheme}://{where}", "mtime": mtime})
    return f"{scheme}://{base}", items


def _mtime(info) -> float:
    ns = getattr(info, "mtime_ns", None)
    return ns / 1e9 if ns is not None else 0.0


def uri_dataset(uris: Sequence[str], recursive: bool = True):
    """(root, dataset of {path, file, mtime}, count) for URIs; the actors read the objects."""
    _ray()  # the missing-dependency message before any work
    root, items = list_uris(uris, recursive)
    if not items:
        return root, None, 0
    ds = _from_items(items)
    return root, ds, len(items)


def hash_dataset(ds, spec: Mapping[str, Any], *, batch_size: Optional[int] = None,
                 concurrency: Optional[int] = None, num_gpus: float = 0, num_cpus: float = 1):
    """``ds`` (rows {path, file} or {path, bytes}) mapped to hash rows by :class:`HashActor`s.

    ``num_gpus`` is per actor (1 for a deep backend on a GPU node, 0.5 to share one GPU between
    two actors); ``concurrency`` the number of actors (default: one per CPU, or per GPU asked).
    """
    ray = _ray()
    spec = dict(spec)
    batch_size = int(batch_size or batch_size_for(spec, num_gpus))
    if concurrency is None:
        concurrency = default_concurrency(num_gpus, num_cpus)
    # A deep hasher decodes its next chunk while the model runs (``prefetch``): give it two chunks.
    inner = max(1, batch_size // 2) if is_deep(spec) else batch_size
    kwargs: dict[str, Any] = {"fn_constructor_kwargs": {"spec": spec, "batch_size": inner},
                              "batch_size": batch_size, "batch_format": "pyarrow",
                              "compute": ray.data.ActorPoolStrategy(size=int(concurrency)),
                              "num_cpus": num_cpus}
    if num_gpus:
        kwargs["num_gpus"] = num_gpus
    return ds.map_batches(HashActor, **kwargs)


def default_concurrency(num_gpus: float = 0, num_cpus: float = 1) -> int:
    """Actors to start: one per GPU share asked for, else one per CPU of the cluster.

    A dataset read by Ray's own read tasks (``read_binary_files``) needs CPUs left for them: pass a
    smaller ``concurrency`` then, or the actors holding every CPU wait for blocks no task can read.
    """
    resources = _ray().cluster_resources()
    if num_gpus:
        return max(1, int(resources.get("GPU", 1) / num_gpus))
    return max(1, int(resources.get("CPU", 1) / max(num_cpus, 1e-3)))


def iter_rows(ds) -> Iterator[dict[str, Any]]:
    """The rows of a hashed dataset as plain dicts, as they stream back to the driver."""
    for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        yield from table.to_pylist()


def row_to_entry(row: Mapping[str, Any], backend: str, where: str = "ray row") -> Optional[ManifestEntry]:
    """A row as a manifest entry (checked by ``parse_entry``), or None for a file with no bytes read."""
    if not row.get("sha256"):
        return None
    obj = {k: row[k] for k in ("path", "size", "mtime", "sha256")}
    if row.get("hash") is None:
        obj["error"] = row.get("error") or "unreadable"
    else:
        obj.update(backend=row["backend"], options=json.loads(row["options"]), hash=row["hash"])
        for key in ("detail", "colour"):
            if row.get(key) is not None:
                obj[key] = row[key]
    return parse_entry(obj, where, backend, None)


# --- running a job -------------------------------------------------------------------------------
def quiet() -> None:
    """Keep Ray's INFO and WARNING lines (start-up, progress) off the driver's stderr."""
    import logging
    _ray()
    import ray.data  # noqa: F401 - it configures its loggers when imported; set them after
    for name in ("ray", "ray.data", "ray.serve"):
        logging.getLogger(name).setLevel(logging.ERROR)


def init(address: Optional[str] = None, **kwargs: Any) -> float:
    """Connect to Ray unless already connected: ``RAY_ADDRESS`` (a cluster) or, without it, a new
    local instance with ``ray.init()``'s defaults. Returns the seconds it took."""
    ray = _ray()
    start = time.perf_counter()
    if not ray.is_initialized():
        kwargs.setdefault("include_dashboard", False)
        kwargs.setdefault("log_to_driver", False)
        ray.init(address=address, **kwargs)
    return time.perf_counter() - start


def _preserve_order():
    ray = _ray()
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False


class _ParquetOut:
    """A Parquet manifest: written to a temporary file beside the target, then moved over it."""

    def __init__(self, path: Path, header: dict[str, Any]):
        import pyarrow.parquet as pq
        self.path = path
        self.header = header
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.schema = row_schema()
        self._pq = pq
        self.rows: list[dict] = []
        self.count = 0
        self.writer = pq.ParquetWriter(str(self.tmp), self.schema)

    def append(self, entry: ManifestEntry) -> None:
        d = entry.to_dict()
        if "options" in d:
            d["options"] = json.dumps(d["options"], sort_keys=True)
        self.rows.append(d)
        self.count += 1
        if len(self.rows) >= 10_000:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            pa = _pyarrow()
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def finish(self, files: int) -> None:
        self._flush()
        header = {**self.header, "files": files}
        self.writer.add_key_value_metadata({FORMAT: json.dumps(header, separators=(",", ":"))})
        self.writer.close()
        publish(self.tmp, self.path)

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - already closed
            pass
        if self.tmp.exists():
            self.tmp.unlink()


def hash_to_manifest(paths: Sequence[os.PathLike | str], output: os.PathLike | str, hasher, *,
                     recursive: bool = False, batch_size: Optional[int] = None,
                     concurrency: Optional[int] = None, num_gpus: float = 0,
                     on_error=None, on_row=None, verbose: bool = True) -> HashRun:
    """Hash local folders and files, or URIs, on Ray into a manifest that ``check`` and ``dedup`` read.

    ``output`` ending in ``.parquet`` gives a Parquet file (the header in its schema metadata, written
    to a temporary file and moved into place); anything else a JSON Lines manifest written by the
    driver with ``ManifestWriter`` as rows stream back. Connects with :func:`init` if needed.
    """
    output = Path(output)
    given = [str(p) for p in paths]
    uris = [p for p in given if is_uri(p)]
    if uris and len(uris) != len(given):
        raise ManifestError("give local folders and files, or URIs, not both")
    spec = hasher.spec
    if not verbose:
        quiet()
    init(**({} if verbose else {"logging_level": "ERROR"}))
    if not verbose:
        quiet()
    _preserve_order()
    if uris:
        root, ds, count = uri_dataset(uris, recursive)
        header = {**header_for(spec, Path("."), recursive), "root": root}
    else:
        root, ds, count = files_dataset(given, recursive)
        header = header_for(spec, root, recursive)
    header["engine"] = "ray"
    writer: Any = (_ParquetOut(output, header) if output.suffix.lower() == ".parquet"
                   else ManifestWriter(output, header))
    run = HashRun(output)
    try:
        if ds is not None:
            if concurrency is None:
                concurrency = default_concurrency(num_gpus)
            if batch_size is None:   # several batches per actor, even for few files
                batch_size = batch_size_for_count(spec, count, concurrency, num_gpus)
            hashed = hash_dataset(ds, spec, batch_size=batch_size, concurrency=concurrency,
                                  num_gpus=num_gpus)
            for row in iter_rows(hashed):
                if on_row:
                    on_row(row)
                entry = row_to_entry(row, spec["name"])
                if entry is None or entry.hash is None:
                    message = (entry.error if entry is not None else row.get("error")) or "unreadable"
                    run.failed.append((row["path"], message))
                    if on_error:
                        on_error(row["path"], message)
                else:
                    run.hashed += 1
                if entry is not None:
                    writer.append(entry)
        writer.finish(writer.count)
    except BaseException:
        writer.close()
        raise
    finally:
        if isinstance(writer, ManifestWriter):
            writer.close()
    return run


def hash_records(sources: Iterable[os.PathLike | str], spec: Mapping[str, Any], **kwargs: Any
                 ) -> list[dict[str, Any]]:
    """Rows for local files, in their order (for tests and notebooks): one Ray job, all rows back."""
    init()
    _preserve_order()
    _ray()  # the missing-dependency message before any work
    files = [str(s) for s in sources]
    items = [{"path": f, "file": f} for f in files]
    ds = _from_items(items)
    return list(iter_rows(hash_dataset(ds, spec, **kwargs)))


__all__ = ["BATCH_SIZES", "COLUMNS", "HashActor", "files_dataset", "uri_dataset", "hash_dataset",
           "iter_rows", "row_to_entry", "row_schema", "hash_to_manifest", "hash_records", "init",
           "list_uris", "default_concurrency"]
