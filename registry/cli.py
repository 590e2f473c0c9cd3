"""The command line, ``image-deep-hash``: assembles the subcommands of ``registry.commands``.

Exit statuses follow ``sha256sum -c``: 0 all good, 1 some files failed or differ, 2 usage error.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from .commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="image-deep-hash", description="Perceptual and deep image hashes.",
        epilog="exit status: 0 all good, 1 some files failed or differ, 2 usage error")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        return args.run(args, out, err)
    except BrokenPipeError:  # `image-deep-hash ... | head`: the reader has all it wanted
        try:
            sys.stdout = open(os.devnull, "w")  # nothing more to flush at exit
        except OSError:
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
