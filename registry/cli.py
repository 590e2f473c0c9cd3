"""The command line: ``image-deep-hash list | hash | compare``.

Exit status of ``hash``: 0 when every file was hashed, otherwise the number of files that could
not be (at most 100); the others are still hashed. Usage errors exit with 2 as argparse does,
so a script should test for zero, not for a particular count.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

import registry
from registry.errors import HasherError, ImageError


def _parse_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"options look like KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="image-deep-hash",
                                     description="Perceptual and deep image hashes.")
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="list backends, where they come from, and load errors")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")

    def backend_args(p):
        p.add_argument("--backend", "-b", default="phash", help="backend name (default: phash)")
        p.add_argument("--hex-len", "-n", type=int, default=16, help="hash length in hex digits (default: 16)")
        p.add_argument("--option", "-o", action="append", type=_parse_option, default=[],
                       metavar="KEY=VALUE", help="backend option, e.g. -o model=test_vit (repeatable)")
        p.add_argument("--json", action="store_true", help="machine-readable output")

    p_hash = sub.add_parser("hash", help="hash image files")
    backend_args(p_hash)
    p_hash.add_argument("--workers", "-j", type=int, default=1,
                        help="processes to spread many files over (default 1)")
    p_hash.add_argument("files", nargs="+", metavar="FILE")

    p_cmp = sub.add_parser("compare", help="compare two images")
    backend_args(p_cmp)
    p_cmp.add_argument("a", metavar="A")
    p_cmp.add_argument("b", metavar="B")
    return parser


def _cmd_list(args, out, err) -> int:
    infos = registry.available()
    if args.json:
        out.write(json.dumps([{"name": i.name, "origin": i.origin, "summary": i.summary,
                               "hex_lengths": i.hex_lengths_text, "error": i.error} for i in infos],
                             indent=2) + "\n")
        return 0
    width = max((len(i.name) for i in infos), default=4)
    origin_width = max((len(i.origin) for i in infos), default=8)
    for i in infos:
        status = i.summary if i.error is None else f"ERROR: {i.error}"
        out.write(f"{i.name:<{width}}  {i.origin:<{origin_width}}  {status}\n")
    return 0


def _make_hasher(args, err):
    try:
        return registry.create(args.backend, hex_len=args.hex_len, **dict(args.option))
    except (ValueError, HasherError) as exc:
        err.write(f"image-deep-hash: {exc}\n")
        return None


def _cmd_hash(args, out, err) -> int:
    hasher = _make_hasher(args, err)
    if hasher is None:
        return 2
    failures = 0
    try:
        results = hasher.hash_many(args.files, errors="return", progress=len(args.files) > 1,
                                   workers=args.workers)
    except HasherError as exc:
        err.write(f"image-deep-hash: {exc}\n")
        return 2
    for path, result in zip(args.files, results):
        if isinstance(result, (ImageError, HasherError)):
            failures += 1
            err.write(f"image-deep-hash: {result}\n")
        elif args.json:
            out.write(json.dumps({"path": path, **result.to_dict()}) + "\n")
        else:
            out.write(f"{result}  {path}\n")
    return min(failures, 100)


def _cmd_compare(args, out, err) -> int:
    hasher = _make_hasher(args, err)
    if hasher is None:
        return 2
    try:
        result = registry.compare_with(hasher, args.a, args.b)
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
        out.write(f"verdict:    {result.verdict_text}\n")
    return 0


def main(argv: Optional[Sequence[str]] = None, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = _build_parser().parse_args(argv)
    command = {"list": _cmd_list, "hash": _cmd_hash, "compare": _cmd_compare}[args.command]
    return command(args, out, err)


if __name__ == "__main__":
    sys.exit(main())
