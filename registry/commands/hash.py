"""``image-deep-hash hash FILE...``: one line per file as soon as it is hashed; failures on stderr.

Exit status: 0 when every file was hashed, 1 when some could not be (the others are still
hashed and printed), 2 for a usage error.
"""
from __future__ import annotations

import json

from ..engines import run_process_pool
from ..errors import HasherError
from ..hasher import progress_bar
from .common import USAGE, add_backend_arguments, make_hasher

#: Below this many files a process pool costs more to start than it saves.
POOL_MIN_FILES = 32


def register(subparsers) -> None:
    p = subparsers.add_parser("hash", help="hash image files")
    add_backend_arguments(p)
    p.add_argument("--workers", "-j", type=int, default=1,
                   help="processes to spread many files over (default 1)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(run=run)


def run(args, out, err) -> int:
    hasher = make_hasher(args, err)
    if hasher is None:
        return USAGE
    files = args.files
    if args.workers > 1 and len(files) > POOL_MIN_FILES:
        stream = run_process_pool(hasher.spec, files, workers=args.workers)
    else:
        stream = hasher.iter_hashes(files)
    failures = 0
    try:
        with progress_bar(len(files), len(files) > 1, hasher.name) as bar:
            for record in stream:
                bar.update(1)
                if record.error is not None:
                    failures += 1
                    err.write(f"image-deep-hash: {record.error}\n")
                elif args.json:
                    out.write(json.dumps({"path": record.source, **record.hash.to_dict()}) + "\n")
                else:
                    out.write(f"{record.hash}  {record.source}\n")
    except HasherError as exc:  # the hasher itself broke (e.g. a worker could not create it)
        err.write(f"image-deep-hash: {exc}\n")
        return USAGE
    return 1 if failures else 0
