"""The deep hash's network in ONNX Runtime: the CPU engine, 2-3x eager torch on these 2 cores.

An exported model is built once per model, weights digest and feature parts, and kept in the user's
cache folder (``IMAGE_DEEP_HASH_CACHE``, else ``$XDG_CACHE_HOME/image-deep-hash``, else
``~/.cache/image-deep-hash``). It is written atomically (a temporary file in the same folder, fsync,
``os.replace``) and described by a small JSON file, written last, with the key it was built for, the
SHA-256 of the model file and the preprocessing config. A file whose digest or key does not match is
rebuilt, so a stale or corrupt export never runs. With the export in the cache, hashing needs neither
torch nor timm: ``deep_preprocess`` does timm's preprocessing in Pillow and numpy.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np

#: Bump when the exported graph's inputs or outputs change meaning.
EXPORT_FORMAT = 1
OPSET = 17


def available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def cache_root() -> Path:
    base = os.environ.get("IMAGE_DEEP_HASH_CACHE")
    if not base:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"),
                            "image-deep-hash")
    return Path(base) / "onnx"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _cores() -> int:
    from .deep_cpu import cores
    return cores()


class OnnxNetwork:
    """ORT session for one exported feature module; ``run(batch) -> (N, dim)`` like the torch module."""

    def __init__(self, path: Path, meta: Mapping[str, Any], threads: Optional[int] = None):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(_cores(), 8)
        options.inter_op_num_threads = 1
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.meta = dict(meta)
        self.data_config = meta["data_config"]
        # One run at a time when ORT already uses every core; a single-threaded session runs concurrently.
        self.lock = threading.Lock() if options.intra_op_num_threads > 1 else None
        self._single: Optional["OnnxNetwork"] = None

    def run(self, batch: np.ndarray) -> np.ndarray:
        x = {"x": np.ascontiguousarray(batch, dtype=np.float32)}
        if self.lock is None:
            return self.session.run(None, x)[0]
        with self.lock:
            return self.session.run(None, x)[0]

    def single_threaded(self) -> "OnnxNetwork":
        """A second session of the same export on one thread, for one caller per core at once (bulk
        hashing): ORT sessions may be run from several threads, and one image per core beats one
        image on all cores, whose decoding and resizing would then wait."""
        if self.lock is None:
            return self
        with self.lock:
            if self._single is None:
                self._single = OnnxNetwork(self.path, self.meta, threads=1)
            return self._single


def key_name(key: Mapping[str, Any]) -> str:
    text = json.dumps({**key, "format": EXPORT_FORMAT}, sort_keys=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(key.get("model", "model")))
    return f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def cached(key: Mapping[str, Any]) -> Optional[tuple[Path, dict]]:
    """The export for ``key`` if it is present, complete and intact; else None (build it)."""
    root = cache_root()
    name = key_name(key)
    path, meta_path = root / f"{name}.onnx", root / f"{name}.json"
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("key") != {**key, "format": EXPORT_FORMAT} or meta.get("sha256") != _sha256(path):
            return None
    except (OSError, ValueError):
        return None
    return path, meta


def build(key: Mapping[str, Any], module, data_config: Mapping[str, Any]) -> tuple[Path, dict]:
    """Export ``module`` for ``key``, check ORT reproduces torch, and publish it atomically."""
    import torch
    root = cache_root()
    name = key_name(key)
    path, meta_path = root / f"{name}.onnx", root / f"{name}.json"
    _, height, width = data_config["input_size"]
    sample = torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(0))

    def export(tmp: Path) -> None:
        torch.onnx.export(module, sample, str(tmp), input_names=["x"], output_names=["features"],
                          dynamic_axes={"x": {0: "n"}, "features": {0: "n"}}, opset_version=OPSET,
                          dynamo=False)

    _atomic_write(path, export)
    meta = {"key": {**key, "format": EXPORT_FORMAT}, "sha256": _sha256(path),
            "data_config": {k: list(v) if isinstance(v, tuple) else v for k, v in data_config.items()}}
    with torch.inference_mode():
        expected = module(sample).numpy()
    got = OnnxNetwork(path, meta, threads=1).run(sample.numpy())
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-3, atol=1e-3):
        path.unlink(missing_ok=True)
        raise RuntimeError("the ONNX export does not reproduce the torch model; use engine='torch'")
    _atomic_write(meta_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))
    return path, meta
