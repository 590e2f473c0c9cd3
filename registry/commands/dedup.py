"""``image-deep-hash dedup DIR_OR_MANIFEST...``: groups of near-duplicate images.

Prints each group with every file's distance to the group's first; ``--json`` gives
``{"groups": [[path, ...], ...], "unreadable": [...]}`` (with the distances and the radius used),
``--csv FILE`` a table and ``--html FILE`` a contact sheet to look at. Given a manifest (written by
``hash --output``), it groups the hashes stored there instead of hashing again.

Exit status: 0 when no file was unreadable (whether or not duplicates were found), 1 when some
were, 2 for a usage error.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..dedup import dedup, dedup_manifest, is_manifest
from ..drawing import contact_sheet_html
from ..errors import HasherError
from ..errors import ManifestError
from ..files import safe_path
from .common import USAGE, add_backend_arguments, make_hasher


def register(subparsers) -> None:
    p = subparsers.add_parser("dedup", help="find groups of near-duplicate images in folders or a manifest")
    add_backend_arguments(p)
    p.add_argument("--threshold", "-t", type=int, metavar="BITS",
                   help="largest distance in bits that counts as a duplicate (default: the backend's "
                        "calibrated threshold)")
    p.add_argument("--recursive", "-r", action="store_true", help="also the images in subfolders")
    p.add_argument("--dihedral", action="store_true",
                   help="also group copies turned by 90, 180 or 270 degrees or mirrored")
    p.add_argument("--workers", "-j", type=int, default=1, help="processes for hashing (default 1)")
    p.add_argument("--csv", metavar="FILE", help="also write the groups as CSV (group, path, distance)")
    p.add_argument("--html", metavar="FILE", help="also write a contact sheet of the groups (HTML)")
    p.add_argument("paths", nargs="+", metavar="DIR_OR_MANIFEST")
    p.set_defaults(run=run)


def run(args, out, err) -> int:
    if args.threshold is not None and args.threshold < 0:
        err.write("image-deep-hash: --threshold is a number of bits, 0 or more\n")
        return USAGE
    manifests = [p for p in args.paths if is_manifest(p)]
    try:
        if manifests:
            if len(args.paths) > 1:
                err.write("image-deep-hash: give one manifest, or folders and files, not both\n")
                return USAGE
            if args.dihedral:
                err.write("image-deep-hash: --dihedral needs the images: give folders, not a manifest\n")
                return USAGE
            result = dedup_manifest(manifests[0], args.threshold)
        else:
            hasher = make_hasher(args, err)
            if hasher is None:
                return USAGE
            result = dedup(args.paths, hasher, radius=args.threshold, recursive=args.recursive,
                           workers=args.workers, progress=True, dihedral=args.dihedral)
    except (ManifestError, HasherError) as exc:
        err.write(f"image-deep-hash: {exc}\n")
        return USAGE
    for path, message in result.unreadable:
        err.write(f"image-deep-hash: {message}\n")
    if args.json:
        out.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        for number, group in enumerate(result.groups, start=1):
            out.write(f"group {number}:\n")
            for path, distance in zip(group.files, group.distances):
                out.write(f"  {distance:4d}  {path}\n")
    if args.csv:
        Path(args.csv).write_text(result.to_csv())
    if args.html:
        Path(args.html).write_text(_sheet(result))
    in_groups = sum(len(g.files) for g in result.groups)
    err.write(f"{result.files} files, {len(result.groups)} groups of near-duplicates ({in_groups} files), "
              f"{len(result.unreadable)} unreadable; within {result.radius} of {result.bits} bits "
              f"({result.backend})\n")
    return 1 if result.unreadable else 0


def _sheet(result) -> str:
    root = result.root

    def source(rel):
        if root is None:
            return None
        path = safe_path(Path(root), rel)
        return os.fspath(path) if path is not None and path.is_file() else None

    groups = [[(p, source(p), d) for p, d in zip(g.files, g.distances)] for g in result.groups]
    note = (f"{result.files} files, {len(result.groups)} groups; {result.backend}, within {result.radius} of "
            f"{result.bits} bits. Distances are to each group's first file.")
    return contact_sheet_html(groups, note=note)
