"""``image-deep-hash check MANIFEST [--root DIR]``: is this folder (or a copy) still what was hashed?

One line per file, ``path: status`` as ``sha256sum -c`` prints, with the distance for files whose
bytes differ; then a summary line. ``--json`` gives one object per file (path, status, distance,
bits). Exit status: 0 when nothing is changed, missing or unreadable; 1 otherwise; 2 for a usage
error (no such manifest, a corrupt or unfinished one).
"""
from __future__ import annotations

import json

from ..checking import CheckReport, iter_check
from ..errors import HasherError
from ..manifest import ManifestError, read_manifest
from .common import USAGE


def register(subparsers) -> None:
    p = subparsers.add_parser("check", help="check files against a manifest written by `hash --output`")
    p.add_argument("manifest", metavar="MANIFEST")
    p.add_argument("--root", metavar="DIR",
                   help="the folder to check (default: the one the manifest was made from); files "
                        "there that the manifest lacks are reported as new")
    p.add_argument("--workers", "-j", type=int, default=1, help="processes for hashing (default 1)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the files that are not OK")
    p.add_argument("--json", action="store_true", help="one JSON object per file, no summary")
    p.set_defaults(run=run)


def run(args, out, err) -> int:
    try:
        manifest = read_manifest(args.manifest)
        report = CheckReport(manifest.path, args.root or manifest.root)
        for result in iter_check(manifest, args.root, workers=args.workers):
            report.files.append(result)
            if args.json:
                out.write(json.dumps(result.to_dict()) + "\n")
            elif not (args.quiet and result.ok):
                out.write(_line(result) + "\n")
    except (ManifestError, HasherError) as exc:
        err.write(f"image-deep-hash: {exc}\n")
        return USAGE
    if not args.json:
        err.write(report.summary() + "\n")
    return 0 if report.ok else 1


def _line(result) -> str:
    text = f"{result.path}: {result.status}"
    if result.distance is not None and result.status != "identical":
        text += f" ({result.distance} of {result.bits} bits differ"
        text += f"; {result.verdict})" if result.verdict not in (None, "similar", "different") else ")"
    if result.message:
        text += f" ({result.message})"
    return text
