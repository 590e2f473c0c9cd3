"""``image-deep-hash compare A B``: both hashes, the distance and the verdict.

Exit status, as ``cmp``: 0 when B need not be fetched again (identical, or the same picture slightly
changed), 1 when it must (different, recoloured, edited, too little detail to tell) or cannot be read, 2 for a
usage error.
"""
from __future__ import annotations

import json

from ..comparison import compare_with
from ..errors import HasherError, ImageError
from .common import USAGE, add_backend_arguments, make_hasher


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="compare two images")
    add_backend_arguments(p)
    p.add_argument("--dihedral", action="store_true",
                   help="also find B turned by 90, 180 or 270 degrees or mirrored (8 orientations)")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.set_defaults(run=run)


def run(args, out, err) -> int:
    hasher = make_hasher(args, err)
    if hasher is None:
        return USAGE
    try:
        result = compare_with(hasher, args.a, args.b, dihedral=args.dihedral)
    except (ImageError, HasherError) as exc:
        err.write(f"image-deep-hash: {exc}\n")
        return 1
    if args.json:
        out.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        out.write(f"{result.hash_a}  {args.a}\n{result.hash_b}  {args.b}\n"
                  f"distance:   {result.distance} of {result.bits} bits\n"
                  f"similarity: {result.similarity:.1%}\n")
        if result.cosine is not None:
            out.write(f"cosine:     {result.cosine:.4f}\n")
        out.write(f"detail:     {result.hash_a.detail:.1f} and {result.hash_b.detail:.1f}"
                  f"{'  (too little for the distance to tell)' if result.low_detail else ''}\n")
        if result.orientation is not None:
            out.write(f"orientation: {result.orientation} (of B, closest of 8)\n")
        out.write(f"verdict:    {result.verdict_text}\n")
    return 1 if result.fetch_again else 0
