"""Which files a folder command takes, and the two checks every one of them needs.

Folder walking (``find_images``), a path from a manifest resolved only inside its folder (``safe_path``:
a manifest is user input, and must not make ``check`` or the app read files of its choosing), the
SHA-256 of a file read in blocks (``file_digest``), and writing a file so that it is never seen
half-written (``atomic_write``, ``publish``). ``manifest``, ``index``, ``checking``, ``dedup`` and
``ray`` share them.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import IO, Iterator, Optional, Sequence

from PIL import Image

from .errors import ManifestError
from .loading import ALLOWED_FORMATS


def image_extensions() -> frozenset[str]:
    """File name endings of the formats ``registry.loading`` opens (``.jpg``, ``.png``, ...)."""
    Image.init()
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in ALLOWED_FORMATS)


def find_images(paths: Sequence[os.PathLike | str], recursive: bool = False
                ) -> tuple[Path, list[tuple[Path, str]]]:
    """(root, [(file, path relative to root)]) for folders and files given on a command line.

    Folders give the images inside them (by extension; with ``recursive``, in subfolders too,
    without following symlinked folders); files given by name are taken whatever their ending.
    The root is the deepest folder holding everything given (the folder itself when one folder
    is given), so paths in the manifest read as they would inside that folder.
    """
    if not paths:
        raise ManifestError("no folders or files given")
    exts = image_extensions()
    found: list[Path] = []
    tops: list[Path] = []
    for given in paths:
        path = Path(given).absolute()
        if path.is_dir():
            tops.append(path)
            if recursive:
                for folder, dirs, files in os.walk(path):
                    dirs.sort()
                    found.extend(Path(folder, f) for f in sorted(files)
                                 if Path(f).suffix.lower() in exts and Path(folder, f).is_file())
            else:
                found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in exts and p.is_file()))
        elif path.exists():
            tops.append(path.parent)
            found.append(path)
        else:
            raise ManifestError(f"no such file or folder: '{given}'")
    root = Path(os.path.commonpath([str(t) for t in tops]))
    seen: set[str] = set()
    out = []
    for file in found:
        rel = file.relative_to(root).as_posix()
        if rel not in seen:
            seen.add(rel)
            out.append((file, rel))
    return root, out


def safe_path(root: Path, rel: str) -> Optional[Path]:
    """``root / rel`` when it stays inside ``root`` (no ``..``, no absolute path, no symlink out)."""
    pure = PurePosixPath(rel)
    if not rel or pure.is_absolute() or ".." in pure.parts or "\\" in rel or ":" in pure.parts[0]:
        return None
    candidate = root.joinpath(*pure.parts)
    try:
        real_root = root.resolve()
        real = candidate.resolve()
    except (OSError, RuntimeError):
        return None
    if real != real_root and real_root not in real.parents:
        return None
    return candidate


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def publish(tmp: os.PathLike | str, path: os.PathLike | str) -> None:
    """Move a finished temporary file over ``path``: its bytes synced first, then the rename (and the
    folder, where the platform allows), so ``path`` is the old file or the whole new one, never half."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        folder = os.open(Path(path).parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)
    except OSError:
        pass
    finally:
        os.close(folder)


@contextlib.contextmanager
def atomic_write(path: os.PathLike | str, mode: str = "wb", **open_args) -> Iterator[IO]:
    """Write ``path`` through a temporary file beside it, published only when the block ends without
    an error; on any error (or a kill) ``path`` is untouched and the temporary file is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_args) as f:
            yield f
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
