"""Which engine runs the deep hash's network, and one loaded network per model, weights and parts.

Eager torch is the reference, the fallback and the GPU path; ONNX Runtime is the CPU engine. Both take a
(N, 3, H, W) float32 batch and return the pooled feature parts (``deep_network``). Networks are kept in a
small LRU, like the torch models behind them, so the app's model menu bounds memory.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from registry.optional import MissingDependency

from . import deep_onnx
from .deep_network import feature_module
from .deep_weights import MODEL_CACHE_SIZE, LoadedModel, WeightsSource, load_model

ENGINES = ("auto", "onnx", "torch")


class TorchNetwork:
    """Eager torch: the reference, the fallback, and the GPU path."""

    engine = "torch"

    def __init__(self, loaded: LoadedModel, parts: tuple[str, ...]):
        self.loaded = loaded
        self.module = feature_module(loaded.model, parts)
        self.data_config = loaded.data_config
        self.device = loaded.device

    def run(self, batch: np.ndarray, precision: str = "fp32") -> np.ndarray:
        import torch
        x = batch.float() if isinstance(batch, torch.Tensor) else \
            torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        if self.device != "cpu":
            x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        with torch.inference_mode(), torch.autocast(device_type=self.device.split(":")[0],
                                                    dtype=dtype or torch.float32, enabled=dtype is not None):
            out = self.module(x)
        return out.float().reshape(out.shape[0], -1).cpu().numpy()


_networks: "OrderedDict[tuple, Any]" = OrderedDict()
_networks_lock = threading.Lock()


def _network(model_name: str, source: WeightsSource, seed: int, device: str, parts: tuple[str, ...],
             engine: str):
    key = (model_name, source.tag, source.digest, device, parts, engine)
    with _networks_lock:
        if key in _networks:
            _networks.move_to_end(key)
            return _networks[key]
    if engine == "onnx":
        export_key = {"model": model_name, "weights": source.digest, "parts": list(parts)}
        found = deep_onnx.cached(export_key)
        if found is None and "torch" not in sys.modules:
            # Export in a child process, so this one (the app, say) never holds torch's ~300 MB.
            # A plain interpreter, not multiprocessing: that would re-run a script's __main__.
            job = json.dumps({"model": model_name, "source": dataclasses.asdict(source), "seed": seed,
                              "parts": list(parts), "key": export_key})
            subprocess.run([sys.executable, "-c", "import sys, hashers.deep_engine as e; e._export_job(sys.argv[1])",
                            job], cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                           timeout=600)
            found = deep_onnx.cached(export_key)
        if found is None:
            found = _export(model_name, source, seed, parts, export_key)
        network = deep_onnx.OnnxNetwork(*found)
        network.engine = "onnx"
    else:
        network = TorchNetwork(load_model(model_name, source, seed, device), parts)
    with _networks_lock:
        _networks[key] = network
        while len(_networks) > max(1, MODEL_CACHE_SIZE):
            _networks.popitem(last=False)
    return network


def _export_job(job: str) -> None:
    """The child side of an export: ``python -c`` runs this with the job as JSON."""
    spec = json.loads(job)
    _export(spec["model"], WeightsSource(**spec["source"]), spec["seed"], tuple(spec["parts"]), spec["key"])


def _export(model_name: str, source: WeightsSource, seed: int, parts: tuple[str, ...], export_key: dict):
    loaded = load_model(model_name, source, seed, "cpu")
    return deep_onnx.build(export_key, feature_module(loaded.model, parts), loaded.data_config)


def choose_engine(engine: str, device: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "torch" or device != "cpu":
        return "torch"
    if deep_onnx.available():
        return "onnx"
    if engine == "onnx":
        raise MissingDependency("engine='onnx' needs onnxruntime, which is not installed: "
                                "pip install onnxruntime (it comes with the 'deep' extra)")
    return "torch"
