"""``image-deep-hash list``: every backend, where it comes from, and why it cannot run if it cannot."""
from __future__ import annotations

import json

from ..factory import available


def register(subparsers) -> None:
    p = subparsers.add_parser("list", help="list backends, where they come from, and what they are missing")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def run(args, out, err) -> int:
    infos = available()
    if args.json:
        out.write(json.dumps([{"name": i.name, "origin": i.origin, "summary": i.summary,
                               "hex_lengths": i.hex_lengths_text, "error": i.error,
                               "missing_extra": i.missing_extra} for i in infos], indent=2) + "\n")
        return 0
    width = max((len(i.name) for i in infos), default=4)
    origin_width = max((len(i.origin) for i in infos), default=8)
    for i in infos:
        if i.error is None:
            status = i.summary
        elif i.missing_extra is not None:
            status = f"NOT INSTALLED: {i.error}"
        else:
            status = f"ERROR: {i.error}"
        out.write(f"{i.name:<{width}}  {i.origin:<{origin_width}}  {status}\n")
    return 0
