"""``image-deep-hash video hash FILE`` and ``image-deep-hash video compare A B``.

``video hash`` prints one line per hashed frame, ``index  seconds  hash``; ``--json`` gives the
video's header and the frames as one object. ``video compare`` aligns the frames of the two videos by
timestamp (see ``registry.video``) and prints the verdict, the ranges of frames to fetch again and
the frames present in one video only; ``--json`` adds the distance of every aligned pair.

Exit status, as ``check``: 0 when nothing needs fetching again, 1 when something does or a file
cannot be read (``video hash``: 0 when the file could be hashed), 2 for a usage error.
"""
from __future__ import annotations

import json

from ..errors import HasherError, ImageError
from ..optional import MissingDependency
from ..video import compare_videos, hash_video
from .common import USAGE, add_backend_arguments, make_hasher


def _every(text: str) -> int:
    import argparse
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--every takes a whole number of frames, 1 or more; got {text!r}")
    return value


def _video_arguments(parser, what: str) -> None:
    add_backend_arguments(parser)
    parser.add_argument("--every", type=_every, default=1, metavar="N", help=f"{what} every N-th frame (default 1)")
    parser.add_argument("--exact", action="store_true",
                        help="hash each frame at full size, not scaled to what the backend needs (slower)")


def register(subparsers) -> None:
    p = subparsers.add_parser("video", help="hash the frames of a video, or compare two videos")
    sub = p.add_subparsers(dest="video_command", required=True, metavar="{hash,compare}")
    h = sub.add_parser("hash", help="a hash for every frame (or every N-th) of a video",
                       epilog="exit status: 0 every frame hashed, 1 the file failed or is damaged, 2 usage error")
    _video_arguments(h, "hash")
    h.add_argument("file", metavar="FILE")
    h.set_defaults(run=run)
    c = sub.add_parser("compare", help="compare two videos frame by frame: which parts to fetch again",
                       epilog="frames are aligned by timestamp (see registry.video); exit status: 0 nothing "
                              "to fetch again, 1 something to fetch again or a file failed, 2 usage error")
    _video_arguments(c, "compare")
    c.add_argument("--offset", type=float, default=0.0, metavar="SECONDS",
                   help="seconds added to B's frame times before aligning (default 0)")
    c.add_argument("a", metavar="A", help="the original")
    c.add_argument("b", metavar="B", help="the copy")
    c.set_defaults(run=run)


def run(args, out, err) -> int:
    hasher = make_hasher(args, err)
    if hasher is None:
        return USAGE
    try:
        if args.video_command == "hash":
            return _hash(args, hasher, out)
        return _compare(args, hasher, out)
    except MissingDependency as exc:
        err.write(f"image-deep-hash: {exc}\n")
        return USAGE
    except (ImageError, HasherError) as exc:
        err.write(f"image-deep-hash: {exc}\n")
        return 1


def _hash(args, hasher, out) -> int:
    with hash_video(args.file, hasher, every=args.every, exact=args.exact) as frames:
        if not args.json:
            for index, t, h in frames:  # each line as soon as it is known; a damaged file raises after
                out.write(f"{index}\t{t:.3f}\t{h}\n")
            return 0
        rows = [{"index": i, "time": round(t, 6), "hash": str(h)} for i, t, h in frames]
        out.write(json.dumps({"file": args.file, "backend": hasher.name, "spec": hasher.spec,
                              "every": args.every, "video": frames.info.to_dict(), "frames": rows},
                             indent=2) + "\n")
    return 0


def _compare(args, hasher, out) -> int:
    result = compare_videos(args.a, args.b, hasher, every=args.every, exact=args.exact, offset=args.offset)
    if args.json:
        out.write(json.dumps(result.to_dict(), indent=2) + "\n")
        return 1 if result.fetch_again else 0
    limit = result.threshold * result.bits
    out.write(f"A: {args.a} ({result.hashed_a} frames hashed)\nB: {args.b} ({result.hashed_b} frames hashed)\n"
              f"aligned:  {len(result.pairs)} pairs within {result.tolerance * 1000:.1f} ms; "
              f"changed beyond {limit:g} of {result.bits} bits: {len(result.flagged)}\n")
    for r in result.ranges:
        span = f"{r.start:.3f} s" if r.frames == 1 else f"{r.start:.3f}-{r.end:.3f} s"
        frames = f"frame {r.first_a}" if r.frames == 1 else f"frames {r.first_a}-{r.last_a}"
        out.write(f"fetch again: {span} (A {frames}; up to {r.max_distance} bits differ)\n")
    for name, only in (("A (missing from B)", result.only_a), ("B (not in A)", result.only_b)):
        if only:
            shown = ", ".join(f"{i} ({t:.3f} s)" for i, t in only[:20])
            more = f" and {len(only) - 20} more" if len(only) > 20 else ""
            out.write(f"only in {name}: frame{'s' if len(only) > 1 else ''} {shown}{more}\n")
    for note in result.notes:
        out.write(f"note: {note}\n")
    out.write(f"verdict:  {result.verdict_text}\n")
    return 1 if result.fetch_again else 0
