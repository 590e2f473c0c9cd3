"""What several subcommands share: backend options and turning them into a hasher."""
from __future__ import annotations

import argparse
import json

from ..errors import HasherError
from ..factory import create

USAGE = 2


def parse_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"options look like KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", "-b", default="phash", help="backend name (default: phash)")
    parser.add_argument("--hex-len", "-n", type=int, default=16,
                        help="hash length in hex digits (default: 16)")
    parser.add_argument("--option", "-o", action="append", type=parse_option, default=[],
                        metavar="KEY=VALUE", help="backend option, e.g. -o model=test_vit (repeatable)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def make_hasher(args, err):
    """The hasher the arguments ask for, or None after saying why (a usage error)."""
    try:
        return create(args.backend, hex_len=args.hex_len, **dict(args.option))
    except (ValueError, HasherError) as exc:
        err.write(f"image-deep-hash: {exc}\n")
        return None
