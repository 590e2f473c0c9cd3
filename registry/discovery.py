"""Finding hashers: one road for built-ins and plugins alike, through entry points.

Built-ins are declared once, as entry points in this project's ``pyproject.toml``. When the project
is installed, ``importlib.metadata`` reports them like any plugin; when it is not (a plain checkout,
Hugging Face Spaces) the same declarations are read from ``pyproject.toml`` itself.

Loading is lazy: listing imports each hasher's module (which must keep heavy imports such as torch
inside methods) but creates no models. Failures are collected, in the manner of pluggy and npe2:
a plugin that cannot be imported, is not a Hasher, or needs a newer contract is listed with its
error and never breaks the registry or the other hashers. On a name clash the built-in wins.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Collection, Optional

from .hasher import API_VERSION, SUPPORTED_API_VERSIONS, Hasher, describe_lengths
from .optional import missing_message

GROUP = "image_deep_hash.hashers"
DIST_NAME = "image-deep-hash"
BUILTIN = "built-in"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class HasherInfo:
    """What the registry knows about one declared hasher, loadable or not."""

    name: str
    origin: str                      # "built-in" or "dist==version"
    target: str                      # "module:Class", the entry point's value
    summary: str = ""
    error: Optional[str] = None      # None when the hasher can be created
    hex_lengths: Collection[int] = field(default_factory=lambda: range(1, 257))
    cls: Optional[type] = field(default=None, repr=False, compare=False)
    requires: Optional[str] = field(default=None, repr=False)  # plugin's own requirement on us
    missing_extra: Optional[str] = None  # the extra to install when its dependencies are missing

    @property
    def builtin(self) -> bool:
        return self.origin == BUILTIN

    @property
    def hex_lengths_text(self) -> str:
        return describe_lengths(self.hex_lengths)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject_entry_points() -> list[tuple[str, str]]:
    path = PROJECT_ROOT / "pyproject.toml"
    if not path.is_file():
        return []
    import tomllib
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    eps = data.get("project", {}).get("entry-points", {}).get(GROUP, {})
    return list(eps.items())


def _declared() -> list[HasherInfo]:
    """Every declaration, built-ins first, without importing anything."""
    builtins: list[HasherInfo] = []
    plugins: list[HasherInfo] = []
    seen_dists: set[tuple[str, str]] = set()
    for ep in metadata.entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else "unknown"
        version = dist.version if dist is not None else "?"
        key = (ep.name, ep.value)
        if key in seen_dists:  # the same dist found twice on sys.path
            continue
        seen_dists.add(key)
        if _norm(dist_name) == DIST_NAME:
            builtins.append(HasherInfo(ep.name, BUILTIN, ep.value))
        else:
            plugins.append(HasherInfo(ep.name, f"{dist_name}=={version}", ep.value,
                                      requires=_requirement_on_us(dist)))
    declared = _pyproject_entry_points()
    declared_order = [n for n, _ in declared]
    if not builtins:
        builtins = [HasherInfo(n, BUILTIN, v) for n, v in declared]
    # Keep the order the project declares (cheapest first), however the installer stored them.
    builtins.sort(key=lambda i: declared_order.index(i.name) if i.name in declared_order else 99)
    return builtins + sorted(plugins, key=lambda i: (i.name, i.origin))


def _requirement_on_us(dist) -> Optional[str]:
    for req in (dist.requires or []) if dist is not None else []:
        if _norm(re.split(r"[\s<>=!~;\[(]", req, 1)[0]) == DIST_NAME and "extra ==" not in req:
            return req.split(";")[0].strip()
    return None


def _our_version() -> str:
    try:
        return metadata.version(DIST_NAME)
    except metadata.PackageNotFoundError:
        return "source checkout"


def _load(info: HasherInfo) -> None:
    """Import the entry point's target and check it; record an error instead of raising."""
    module_name, _, attr = info.target.partition(":")
    try:
        import importlib
        obj = importlib.import_module(module_name.strip())
        for part in attr.strip().split(".") if attr else []:
            obj = getattr(obj, part)
    except BaseException as exc:  # a plugin's SystemExit or KeyboardInterrupt-free crash too
        if isinstance(exc, KeyboardInterrupt):
            raise
        info.error = f"cannot import {info.target}: {type(exc).__name__}: {exc}"
        return
    if not (isinstance(obj, type) and issubclass(obj, Hasher)):
        info.error = f"{info.target} is not a registry.Hasher subclass"
        return
    version = getattr(obj, "api_version", None)
    if version not in SUPPORTED_API_VERSIONS:
        needs = info.requires or ("a newer image-deep-hash" if isinstance(version, int)
                                   and version > API_VERSION else "a different image-deep-hash")
        info.error = (f"built for hasher API version {version!r}, but this image-deep-hash "
                      f"({_our_version()}) supports {sorted(SUPPORTED_API_VERSIONS)}; "
                      f"needs {needs}")
        return
    info.cls = obj
    info.summary = (obj.summary or (obj.__doc__ or "").strip().split("\n")[0]).strip()
    info.hex_lengths = obj.hex_lengths
    extra = getattr(obj, "extra", None)
    if extra:  # found without importing torch & co: listing stays fast and tells the truth
        info.error = missing_message(extra, f"the {info.name!r} backend")
        info.missing_extra = extra if info.error else None


class Registry:
    """Discovered hashers by name; built once, refreshed on demand (e.g. after a pip install)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._infos: Optional[list[HasherInfo]] = None

    def refresh(self) -> None:
        with self._lock:
            self._infos = None

    def infos(self) -> list[HasherInfo]:
        with self._lock:
            if self._infos is None:
                self._infos = self._discover()
            return list(self._infos)

    def _discover(self) -> list[HasherInfo]:
        infos = _declared()
        owners: dict[str, HasherInfo] = {}
        for info in infos:
            if info.name in owners:
                first = owners[info.name]
                info.error = (f"name clash: {info.name!r} is already provided by {first.origin}; "
                              f"this entry from {info.origin} is ignored")
                continue
            _load(info)
            if info.error is None:
                owners[info.name] = info
            elif info.builtin:
                owners[info.name] = info  # a broken built-in still owns its name
        return infos

    def lookup(self, name: str) -> HasherInfo:
        infos = self.infos()
        for info in infos:
            if info.name == name and (info.error is None or info.builtin):
                return info
        for info in infos:
            if info.name == name:
                return info
        names = ", ".join(sorted({i.name for i in infos if i.error is None})) or "none"
        raise ValueError(f"unknown backend {name!r}; available: {names}")


REGISTRY = Registry()
