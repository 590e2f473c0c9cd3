"""The Ray engine (``registry.ray``, ``hash --engine ray``): a local Ray instance in this process
(2 CPUs, a small object store) hashes generated images, unreadable ones among them, and every
hash equals ``hash_many``'s; ``check`` and ``dedup`` read what it writes.

Ray is an optional extra: without it these tests skip, except the ones that prove ``import
registry`` and the local CLI never import it.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
N_IMAGES = 56


# --- without Ray -----------------------------------------------------------------------------------
def _imports_after(code: str) -> set[str]:
    script = textwrap.dedent(code) + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_import_registry_does_not_import_ray():
    modules = _imports_after("import registry, registry.cli, registry.commands.hash")
    assert "ray" not in modules and "registry.ray" not in modules


def test_local_hash_cli_does_not_import_ray(tmp_path):
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "m.jsonl"
    modules = _imports_after(f"""
        import io
        from registry.cli import main
        assert main(["hash", {str(tmp_path)!r}, "--output", {str(out)!r}], io.StringIO(), io.StringIO()) == 0
        assert main(["hash", {str(tmp_path / 'a.png')!r}], io.StringIO(), io.StringIO()) == 0
    """)
    assert "ray" not in modules and "registry.ray" not in modules and "pyarrow" not in modules


def run_cli(*argv):
    from registry.cli import main
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


def test_usage_errors_need_no_ray(tmp_path):
    code, _, err = run_cli("hash", "--engine", "ray", tmp_path)
    assert code == 2 and "--output" in err
    code, _, err = run_cli("hash", "--engine", "ray", tmp_path, "--output", tmp_path / "m.jsonl", "--resume")
    assert code == 2 and "--resume" in err
    code, _, err = run_cli("hash", tmp_path, "--output", tmp_path / "m.parquet")
    assert code == 2 and "--engine ray" in err


# --- with Ray --------------------------------------------------------------------------------------
def make_images(folder: Path) -> tuple[list[Path], set[str]]:
    """N_IMAGES small images (JPEG and PNG, some near-duplicates) and unreadable files among them."""
    rng = np.random.default_rng(14)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    for k in range(N_IMAGES):
        pixels = base if k % 7 == 0 else rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        img = Image.fromarray(pixels).resize((48 + k % 5 * 8, 40 + k % 3 * 8), Image.BILINEAR)
        path = folder / (f"img{k:02d}.jpg" if k % 2 else f"img{k:02d}.png")
        img.save(path, quality=85) if path.suffix == ".jpg" else img.save(path)
        files.append(path)
    (folder / "empty.jpg").write_bytes(b"")
    good = (folder / "img01.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "text.jpg").write_text("this is not a picture\n")
    bad = {"empty.jpg", "text.jpg"}   # a truncated JPEG may still decode (Pillow pads it): see below
    return sorted(folder.iterdir()), bad


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    pytest.importorskip("pyarrow")
    pytest.importorskip("ray.data")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, object_store_memory=150 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False, logging_level="ERROR")
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> tuple[Path, list[Path], set[str]]:
    root = tmp_path_factory.mktemp("ray_images")
    files, bad = make_images(root)
    return root, files, bad


def _local_records(hasher, files: list[Path]) -> dict[str, object]:
    """What hash_many says for each file: the hash, or the error that took its place."""
    return {f.name: r for f, r in zip(files, hasher.hash_many(files, errors="return"))}


@pytest.mark.parametrize("backend", ["phash", "dhash"])
def test_ray_rows_equal_hash_many(ray_local, folder, backend):
    from registry.errors import ImageError
    from registry.factory import create
    from registry.ray import hash_records
    root, files, bad = folder
    hasher = create(backend)
    local = _local_records(hasher, files)
    rows = hash_records(files, hasher.spec, concurrency=2, batch_size=8)
    assert len(rows) == len(files) >= 50
    errors = 0
    for file, row in zip(files, rows):
        want = local[file.name]
        assert row["path"] == str(file)
        if isinstance(want, ImageError):
            errors += 1
            assert row["hash"] is None and row["error"] == str(want)
        else:
            assert row["error"] is None, row["error"]
            assert row["hash"] == str(want)
            assert row["detail"] == want.detail and row["colour"] == want.colour
            assert json.loads(row["options"]) == want.options and row["backend"] == backend
            assert row["sha256"] and row["size"] == file.stat().st_size
    assert errors >= len(bad)


def test_cli_manifest_equals_local_and_check_and_dedup_read_it(ray_local, folder, tmp_path):
    from registry.manifest import read_manifest
    root, files, bad = folder
    local, on_ray, parquet = tmp_path / "local.jsonl", tmp_path / "ray.jsonl", tmp_path / "ray.parquet"
    code, _, err_local = run_cli("hash", root, "--output", local)
    assert code == 1                                   # unreadable files: exit status 1, as locally
    code, _, err = run_cli("hash", "--engine", "ray", root, "--output", on_ray, "--ray-batch-size", 8)
    assert code == 1, err
    for name in bad:
        assert name in err
    code, _, err = run_cli("hash", "--engine", "ray", root, "--output", parquet)
    assert code == 1, err
    a, b, c = read_manifest(local), read_manifest(on_ray), read_manifest(parquet)
    assert a.complete and b.complete and c.complete
    assert b.spec == a.spec and c.spec == a.spec and b.root == a.root
    strip = lambda e: e.to_dict()                      # noqa: E731 - every field: hash, detail, colour, error
    assert [strip(e) for e in b.entries] == [strip(e) for e in a.entries]
    assert [strip(e) for e in c.entries] == [strip(e) for e in a.entries]
    assert sum(e.hash is None for e in b.entries) >= len(bad)
    for manifest in (on_ray, parquet):
        code, out, err = run_cli("check", manifest)
        code_local, out_local, _ = run_cli("check", local)
        assert (code, out) == (code_local, out_local)   # the same verdicts, file by file
    code_local, out_local, _ = run_cli("dedup", local, "--json")
    for manifest in (on_ray, parquet):
        code, out, err = run_cli("dedup", manifest, "--json")
        assert code == code_local == 1                   # unreadable files reported
        assert json.loads(out)["groups"] == json.loads(out_local)["groups"]
    assert json.loads(out)["groups"], "the near-duplicates made by make_images are found"


def test_uris_and_a_dataset_of_bytes(ray_local, folder, tmp_path):
    import ray
    from registry.errors import ImageError
    from registry.factory import create
    from registry.manifest import read_manifest
    from registry.ray import hash_dataset, iter_rows
    root, files, bad = folder
    hasher = create("ahash")
    local = _local_records(hasher, files)
    out = tmp_path / "uri.jsonl"
    code, _, err = run_cli("hash", "--engine", "ray", "-b", "ahash", f"file://{root}", "--output", out)
    assert code == 1 and "empty.jpg" in err
    entries = {e.path: e for e in read_manifest(out).entries}
    assert set(entries) == {f.name for f in files}
    expected = {name: None if isinstance(want, ImageError) else str(want) for name, want in local.items()}
    assert {name: e.hash and str(e.hash) for name, e in entries.items()} == expected
    assert entries["empty.jpg"].error.startswith(f"'file://{root}/empty.jpg' is empty")
    # a Dataset the caller made: Ray's own reader, the bytes hashed in the actors
    ds = ray.data.read_binary_files([str(f) for f in files], include_paths=True)
    rows = {Path(r["path"]).name: r for r in iter_rows(hash_dataset(ds, hasher.spec, concurrency=1))}
    assert {name: r["hash"] for name, r in rows.items()} == expected
    assert all(r["error"] for name, r in rows.items() if expected[name] is None)
