"""``registry.check``, the function: check a folder (or a copy of it) against a manifest, as ``sha256sum -c`` does,
but saying *how much* each file changed.

Every file of the manifest gets one status:

- ``identical``: the same bytes (SHA-256);
- ``same-picture``: other bytes, but the same picture within the backend's calibrated threshold
  (the verdict ``registry.compare`` gives: "similar"), so there is no need to fetch it again;
- ``changed``: beyond the threshold, or recoloured, or edited (a part changed, cropped, turned or
  mirrored), or too little detail to tell: fetch it again;
- ``missing``: in the manifest, not on disk;
- ``unreadable``: on disk but not an image this version can read, or a path that would lead
  outside the root (``..``, an absolute path, a symlink out), which is never followed;

and, when asked (``report_new``, the default when a root is given), files on disk that the
manifest does not list are ``new``. Nothing is all right unless no file is changed, missing or
unreadable.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from .comparison import compare_hashes, similar_threshold
from .factory import create
from .files import file_digest, find_images, safe_path
from .engines import hash_stream
from .manifest import Manifest, ManifestEntry, ManifestError, read_manifest

STATUSES = ("identical", "same-picture", "changed", "missing", "unreadable", "new")
#: Statuses that make a check fail (exit status 1).
PROBLEMS = frozenset({"changed", "missing", "unreadable"})


@dataclass(frozen=True)
class FileCheck:
    """The answer for one file."""

    path: str
    status: str
    distance: Optional[int] = None
    bits: Optional[int] = None
    verdict: Optional[str] = None      # the comparison's verdict, when hashes were compared
    message: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.status not in PROBLEMS

    def to_dict(self) -> dict[str, Any]:
        out = {"path": self.path, "status": self.status, "distance": self.distance, "bits": self.bits}
        if self.verdict is not None:
            out["verdict"] = self.verdict
        if self.message is not None:
            out["message"] = self.message
        return out


@dataclass
class CheckReport:
    """Every file's answer, in the manifest's order (new files last), and the totals."""

    manifest: Path
    root: Path
    files: list[FileCheck] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for f in self.files:
            counts[f.status] += 1
        return counts

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    def summary(self) -> str:
        counts = self.counts
        parts = [f"{counts[s]} {s}" for s in STATUSES if counts[s] or s in ("identical", "changed")]
        verdict = "OK: nothing to fetch again" if self.ok else "FAILED: fetch again what is changed or missing"
        return f"{len(self.files)} files: " + ", ".join(parts) + f". {verdict}."


def _load(manifest: Manifest | os.PathLike | str) -> Manifest:
    if isinstance(manifest, Manifest):
        return manifest
    return read_manifest(manifest)


def iter_check(manifest: Manifest | os.PathLike | str, root: Optional[os.PathLike | str] = None, *,
               report_new: Optional[bool] = None, workers: int = 1, hasher=None) -> Iterator[FileCheck]:
    """The answers one by one, in the manifest's order (for a progress display); see ``check``."""
    manifest = _load(manifest)
    if not manifest.complete:
        raise ManifestError(f"'{manifest.path}' is unfinished (its writing was interrupted): complete it "
                            "with `image-deep-hash hash ... --resume` before checking against it")
    if report_new is None:
        report_new = root is not None
    base = Path(root) if root is not None else manifest.root
    if base is None or not base.is_dir():
        raise ManifestError(f"no folder to check: '{base}' (give the copy's folder as root)")
    first: list[tuple[ManifestEntry, Optional[Path], Optional[FileCheck]]] = []
    for entry in manifest.entries:
        first.append((entry, *_without_hashing(entry, base)))
    needs = [(entry, path) for entry, path, answer in first if answer is None]
    answers: dict[str, FileCheck] = {}
    if needs:
        hasher = hasher or create(**manifest.spec)
        threshold = similar_threshold(hasher, hasher.hex_len, type(hasher).similar_threshold)
        for (entry, path), record in zip(needs, hash_stream(hasher, [p for _, p in needs], workers)):
            answers[entry.path] = _judge(entry, record, threshold)
    for entry, _, answer in first:
        yield answer or answers[entry.path]
    if report_new:
        listed = {e.path for e in manifest.entries}
        _, on_disk = find_images([base], recursive=bool(manifest.header.get("recursive", True)))
        for _, rel in on_disk:
            if rel not in listed:
                yield FileCheck(rel, "new")


def _without_hashing(entry: ManifestEntry, base: Path) -> tuple[Optional[Path], Optional[FileCheck]]:
    """(the file to hash, None) or (None, the answer) when no hash is needed to give it."""
    path = safe_path(base, entry.path)
    if path is None:
        return None, FileCheck(entry.path, "unreadable", message="refused: the path leads outside the root")
    if not path.exists():
        return None, FileCheck(entry.path, "missing")
    if not path.is_file():
        return None, FileCheck(entry.path, "unreadable", message="not a regular file")
    try:
        same_bytes = path.stat().st_size == entry.size and file_digest(path) == entry.sha256
    except OSError as exc:
        return None, FileCheck(entry.path, "unreadable", message=f"cannot read it: {exc.strerror or exc}")
    if same_bytes:
        return None, FileCheck(entry.path, "identical", 0, entry.hash.bit_count if entry.hash else None)
    if entry.hash is None:
        return None, FileCheck(entry.path, "changed",
                               message=f"other bytes, and no hash to compare with ({entry.error})")
    return path, None


def _judge(entry: ManifestEntry, record, threshold: float) -> FileCheck:
    if record.error is not None:
        return FileCheck(entry.path, "unreadable", message=str(record.error))
    comparison = compare_hashes(entry.hash, record.hash, threshold)
    status = "changed" if comparison.fetch_again else "same-picture"
    return FileCheck(entry.path, status, comparison.distance, comparison.bits, comparison.verdict)


def check(manifest: Manifest | os.PathLike | str, root: Optional[os.PathLike | str] = None, *,
          report_new: Optional[bool] = None, workers: int = 1) -> CheckReport:
    """Check the files of ``root`` (default: the folder the manifest was made from) against it.

    Raises :class:`registry.manifest.ManifestError` for a manifest that cannot be used (corrupt,
    unfinished, another format), naming the line.
    """
    manifest = _load(manifest)
    base = Path(root) if root is not None else manifest.root
    report = CheckReport(manifest.path, base)
    report.files.extend(iter_check(manifest, root, report_new=report_new, workers=workers))
    return report
