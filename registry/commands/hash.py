"""``image-deep-hash hash FILE_OR_DIR...``: one line per image as soon as it is hashed; failures on stderr.

With ``--output manifest.jsonl`` it writes a manifest instead (``registry.manifest``): a perceptual
``sha256sum`` that ``check`` and ``dedup`` read, crash-safe, and continued by ``--resume``.

With ``--engine ray`` (the ``[ray]`` extra) the hashing runs on Ray Data (``registry.ray``): on this
machine with ``ray.init()``'s defaults, or on a cluster when ``RAY_ADDRESS`` is set. It takes
folders, files or URIs (``s3://...``) and needs ``--output``: ``X.jsonl`` (a manifest as above) or
``X.parquet``. Ray is imported only on that path.

Exit status: 0 when every file was hashed, 1 when some could not be (the others are still
hashed and written), 2 for a usage error.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..engines import hash_stream
from ..errors import HasherError
from ..hasher import progress_bar
from ..files import find_images
from ..folder_manifest import hash_folder
from ..manifest import ManifestError
from .common import USAGE, add_backend_arguments, make_hasher

def register(subparsers) -> None:
    p = subparsers.add_parser("hash", help="hash image files or folders, or write a manifest of them")
    add_backend_arguments(p)
    p.add_argument("--workers", "-j", type=int, default=1,
                   help="processes to spread many files over (default 1)")
    p.add_argument("--recursive", "-r", action="store_true", help="also the images in subfolders")
    p.add_argument("--output", metavar="MANIFEST",
                   help="write a manifest (JSON Lines: path, size, mtime, sha256, hash) for `check`")
    p.add_argument("--resume", action="store_true",
                   help="continue an existing --output manifest: files with the same size and mtime "
                        "are not hashed again")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="where to hash: this machine (default) or Ray Data (local Ray, or the cluster "
                        "at RAY_ADDRESS; needs --output)")
    p.add_argument("--ray-gpus", type=float, default=0, metavar="N",
                   help="with --engine ray: GPUs per actor for a deep backend (e.g. 1, or 0.5 to share)")
    p.add_argument("--ray-batch-size", type=int, metavar="N",
                   help="with --engine ray: files per batch (default: per backend)")
    p.add_argument("--ray-concurrency", type=int, metavar="N",
                   help="with --engine ray: hashing actors (default: one per CPU, or per GPU asked)")
    p.add_argument("files", nargs="+", metavar="FILE_OR_DIR")
    p.set_defaults(run=run)


def run(args, out, err) -> int:
    if args.resume and not args.output:
        err.write("image-deep-hash: --resume continues a manifest: give it with --output\n")
        return USAGE
    engine = getattr(args, "engine", "local")
    if engine == "ray":
        problem = _ray_usage(args)
        if problem:
            err.write(f"image-deep-hash: {problem}\n")
            return USAGE
    elif args.output and str(args.output).lower().endswith(".parquet"):
        err.write("image-deep-hash: a Parquet manifest is written by --engine ray; "
                  "use a .jsonl file with the local engine\n")
        return USAGE
    hasher = make_hasher(args, err)
    if hasher is None:
        return USAGE
    if engine == "ray":
        return _write_with_ray(args, hasher, out, err)
    if args.output:
        return _write_manifest(args, hasher, out, err)
    files: list[str] = []
    for given in args.files:
        if Path(given).is_dir():
            root, found = find_images([given], args.recursive)
            files.extend(str(Path(given) / rel) for _, rel in found)
        else:
            files.append(given)  # hashed as given: a missing one is reported like any failure
    stream = hash_stream(hasher, files, args.workers)
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


def _write_manifest(args, hasher, out, err) -> int:
    return _manifest_job(lambda report: hash_folder(
        args.files, args.output, hasher, recursive=args.recursive, resume=args.resume,
        workers=args.workers, progress=True, on_error=report), args.output, "hashed now", err,
        unfinished=" (the manifest is unfinished; rerun with --resume)")


def _manifest_job(job, output, how: str, err, unfinished: str = "") -> int:
    """Run a manifest writer (local or Ray) with the one reporting both share: failures on stderr as
    they come, a usage error for a manifest or hasher that cannot be used, a summary line, the status."""
    from ..optional import MissingDependency

    def report(path, message):
        err.write(f"image-deep-hash: {message}\n")
    try:
        done = job(report)
    except (ManifestError, MissingDependency) as exc:
        err.write(f"image-deep-hash: {exc}\n")
        return USAGE
    except HasherError as exc:
        err.write(f"image-deep-hash: {exc}{unfinished}\n")
        return USAGE
    kept = f", {done.skipped} kept from before" if done.skipped else ""
    err.write(f"{output}: {done.files} files ({done.hashed} {how}{kept}, {len(done.failed)} unreadable)\n")
    return 1 if done.failed else 0


def _ray_usage(args) -> str | None:
    if not args.output:
        return "--engine ray writes a manifest: give it with --output (X.jsonl or X.parquet)"
    if args.resume:
        return "--engine ray does not --resume a manifest; write a new one, or resume with --engine local"
    if args.workers != 1:
        return "--workers is for the local engine; with --engine ray use --ray-concurrency"
    if args.ray_gpus < 0 or (args.ray_batch_size is not None and args.ray_batch_size < 1) or \
            (args.ray_concurrency is not None and args.ray_concurrency < 1):
        return "--ray-gpus must be 0 or more, --ray-batch-size and --ray-concurrency 1 or more"
    return None


def _write_with_ray(args, hasher, out, err) -> int:
    from ..optional import missing_message
    message = missing_message("ray", "--engine ray")
    if message:
        err.write(f"image-deep-hash: {message}\n")
        return USAGE
    from ..ray import hash_to_manifest   # Ray is imported here and only here
    return _manifest_job(lambda report: hash_to_manifest(
        args.files, args.output, hasher, recursive=args.recursive, batch_size=args.ray_batch_size,
        concurrency=args.ray_concurrency, num_gpus=args.ray_gpus, on_error=report,
        verbose=False),   # Ray's progress lines would drown the failures
        args.output, "hashed on Ray", err)
