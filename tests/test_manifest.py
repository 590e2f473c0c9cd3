"""Manifests and `check`: a perceptual sha256sum that says, for a copy of a folder, what to fetch again."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import registry
from registry.checking import check
from registry.folder_manifest import hash_folder
from registry.manifest import ManifestError, read_manifest
from tests.cli_runner import run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def photos() -> dict[str, np.ndarray]:
    from skimage import data
    return {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea(),
            "rocket": data.rocket(), "camera": data.camera()}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Five photos, one of them in a subfolder, and a file that is not an image."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    for name, pixels in photos().items():
        target = root / ("sub" if name == "camera" else "") / f"{name}.jpg"
        Image.fromarray(pixels).save(target, quality=92)
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def manifest(folder, tmp_path) -> Path:
    out = tmp_path / "photos.jsonl"
    code, _, err = run("hash", folder, "-r", "--output", out)
    assert code == 0, err
    return out


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- writing ----------------------------------------------------------------------------------
def test_a_manifest_has_a_header_one_record_per_image_and_an_end_line(folder, manifest):
    header, *records, end = lines(manifest)
    assert header["format"] == "image-deep-hash-manifest" and header["image_deep_hash"]
    assert header["spec"]["name"] == "phash" and header["root"] == str(folder)
    assert end == {"end": True, "files": 5}
    assert sorted(r["path"] for r in records) == ["astronaut.jpg", "chelsea.jpg", "coffee.jpg",
                                                  "rocket.jpg", "sub/camera.jpg"]
    hasher = registry.create("phash")
    for r in records:
        file = folder / r["path"]
        assert r["size"] == file.stat().st_size and r["mtime"] == file.stat().st_mtime
        assert r["sha256"] == __import__("hashlib").sha256(file.read_bytes()).hexdigest()
        assert r["backend"] == "phash" and r["options"] == hasher.identity
        assert r["hash"] == str(hasher.hash(file))


def test_without_recursive_only_the_folder_itself_is_hashed(folder, tmp_path):
    code, _, _ = run("hash", folder, "--output", tmp_path / "m.jsonl")
    assert code == 0
    assert "sub/camera.jpg" not in {e.path for e in read_manifest(tmp_path / "m.jsonl").entries}


def test_a_folder_hashed_over_worker_processes_gives_the_same_manifest(folder, tmp_path, monkeypatch):
    from registry import engines
    alone = hash_folder([folder], tmp_path / "one.jsonl", registry.create("phash"), recursive=True)
    pools = []
    real = engines.run_process_pool
    monkeypatch.setattr(engines, "run_process_pool", lambda *a, **k: pools.append(k["workers"]) or real(*a, **k))
    monkeypatch.setattr(engines, "POOL_MIN_SOURCES", 4)   # five files: a pool as for a large folder
    pooled = hash_folder([folder], tmp_path / "two.jsonl", registry.create("phash"), recursive=True, workers=2)
    assert pools == [2] and pooled.hashed == alone.hashed == 5
    one, two = read_manifest(tmp_path / "one.jsonl"), read_manifest(tmp_path / "two.jsonl")
    assert [e.to_dict() for e in two.entries] == [e.to_dict() for e in one.entries]


def test_the_pool_is_used_only_where_it_pays_off():
    from registry.engines import POOL_MIN_SOURCES, pool_pays_off
    assert not pool_pays_off(1, 10 ** 6)                       # one worker: this process
    assert not pool_pays_off(2, POOL_MIN_SOURCES)              # a small folder: starting costs more
    assert pool_pays_off(2, POOL_MIN_SOURCES + 1)
    assert not pool_pays_off(64, POOL_MIN_SOURCES + 1)         # at least two sources per worker


def test_resume_hashes_only_what_is_new_or_changed(folder, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(folder, work)
    out = tmp_path / "m.jsonl"
    first = hash_folder([work], out, registry.create("phash"), recursive=True)
    assert first.hashed == 5
    Image.fromarray(photos()["coffee"]).save(work / "coffee2.png")
    again = hash_folder([work], out, registry.create("phash"), recursive=True, resume=True)
    assert (again.hashed, again.skipped) == (1, 5)
    m = read_manifest(out)
    assert m.complete and len(m.entries) == 6 and m.stale_lines == 0
    os.utime(work / "rocket.jpg", (1, 1))  # touched: hashed again, and the old line dropped
    (work / "chelsea.jpg").unlink()        # gone: its line dropped
    third = hash_folder([work], out, registry.create("phash"), recursive=True, resume=True)
    assert (third.hashed, third.skipped) == (1, 4)
    m = read_manifest(out)
    assert m.complete and m.stale_lines == 0 and len(m.entries) == 5
    assert "chelsea.jpg" not in m.by_path and m.by_path["rocket.jpg"].mtime == 1


def test_resume_refuses_a_manifest_of_another_backend(folder, manifest):
    code, _, err = run("hash", folder, "-r", "-b", "dhash", "--output", manifest, "--resume")
    assert code == 2 and "same backend" in err


def test_a_manifest_written_before_an_option_existed_still_resumes_but_not_with_another_value(folder, manifest):
    text = manifest.read_text().splitlines()
    header = json.loads(text[0])
    assert header["spec"]["fast"] is False          # an option the backend has now...
    del header["spec"]["fast"]                      # ...that an older manifest does not name
    body = [json.dumps(header)] + text[1:-1]       # and unfinished, so that resume has work to do
    manifest.write_text("\n".join(body) + "\n")
    code, _, err = run("hash", folder, "-r", "--output", manifest, "--resume")
    assert code == 0, err                           # a missing option means its default
    code, _, err = run("hash", folder, "-r", "-o", "fast=true", "--output", manifest, "--resume")
    assert code == 2 and "same backend" in err      # another value of it does not


def test_a_torn_last_line_is_cut_off_and_the_manifest_completed(folder, manifest):
    complete = manifest.read_text()
    body = complete.splitlines(keepends=True)
    manifest.write_text("".join(body[:3]) + body[3][:40])  # killed in the middle of a line
    m = read_manifest(manifest)
    assert not m.complete and m.torn_tail and len(m.entries) == 2
    code, _, _ = run("hash", folder, "-r", "--output", manifest, "--resume")
    assert code == 0
    assert [r for r in lines(manifest)[1:]] == [json.loads(x) for x in body[1:]]


def test_a_kill_9_mid_write_then_resume_gives_every_file_once(tmp_path):
    """A real process, killed with SIGKILL while it appends; --resume then completes the manifest."""
    images = tmp_path / "many"
    images.mkdir()
    rng = np.random.default_rng(1)
    for k in range(160):
        Image.fromarray(rng.integers(0, 256, (384, 384, 3), dtype=np.uint8)).save(images / f"{k:03d}.png",
                                                                                 compress_level=1)
    out = tmp_path / "m.jsonl"
    command = [sys.executable, "-m", "registry", "hash", str(images), "-b", "ahash", "--output", str(out)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") > 20:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the hashing finished before it could be killed"
    cut = read_manifest(out)
    assert not cut.complete and 20 <= len(cut.entries) < 160
    with pytest.raises(ManifestError, match="unfinished"):
        check(out)
    done = subprocess.run(command + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    records = lines(out)[1:-1]
    assert sorted(r["path"] for r in records) == [f"{k:03d}.png" for k in range(160)]  # none missing or twice
    fresh = tmp_path / "fresh.jsonl"
    hash_folder([images], fresh, registry.create("ahash"))
    assert {r["path"]: r["hash"] for r in records} == {e.path: str(e.hash) for e in read_manifest(fresh).entries}


def test_unreadable_images_are_recorded_reported_and_the_rest_hashed(folder, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(folder, work)
    (work / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    code, _, err = run("hash", work, "--output", tmp_path / "m.jsonl")
    assert code == 1 and "broken.jpg" in err
    m = read_manifest(tmp_path / "m.jsonl")
    assert m.complete and m.by_path["broken.jpg"].error and len(m.entries) == 5


# --- checking ---------------------------------------------------------------------------------
def test_check_classifies_a_copied_folder_exactly(folder, manifest, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    pixels = photos()
    Image.fromarray(pixels["coffee"]).save(copy / "coffee.jpg", quality=70)        # re-encoded
    Image.fromarray(pixels["astronaut"]).save(copy / "rocket.jpg", quality=92)     # replaced
    (copy / "chelsea.jpg").unlink()                                                 # missing
    Image.fromarray(pixels["chelsea"][::2, ::2]).save(copy / "kitten.png")          # new
    report = check(manifest, copy)
    status = {f.path: f.status for f in report.files}
    assert status == {"astronaut.jpg": "identical", "sub/camera.jpg": "identical", "coffee.jpg": "same-picture",
                      "rocket.jpg": "changed", "chelsea.jpg": "missing", "kitten.png": "new"}
    assert not report.ok and report.counts["changed"] == 1
    answers = {f.path: f for f in report.files}
    reencoded = registry.compare(folder / "coffee.jpg", copy / "coffee.jpg")
    assert (answers["coffee.jpg"].distance, answers["coffee.jpg"].bits) == (reencoded.distance, 64)
    assert answers["rocket.jpg"].distance > answers["coffee.jpg"].distance


def test_check_cli_prints_statuses_a_summary_and_exits_as_sha256sum(folder, manifest, tmp_path):
    code, out, err = run("check", manifest)
    assert code == 0 and out.count(": identical") == 5 and "OK" in err
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "coffee.jpg").unlink()
    code, out, err = run("check", manifest, "--root", copy, "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert {r["path"]: r["status"] for r in records}["coffee.jpg"] == "missing"
    assert all(set(r) >= {"path", "status", "distance", "bits"} for r in records)
    assert run("check", tmp_path / "no-such.jsonl")[0] == 2


def test_only_new_files_still_pass(folder, manifest, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    Image.fromarray(photos()["coffee"]).save(copy / "extra.png")
    code, out, _ = run("check", manifest, "--root", copy)
    assert code == 0 and "extra.png: new" in out


def test_a_corrupt_line_or_a_line_of_another_backend_is_reported_with_its_number(manifest):
    body = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join(body[:2]) + "{not json\n" + "".join(body[3:]))
    code, _, err = run("check", manifest)
    assert code == 2 and "line 3" in err and "JSON" in err
    other = json.loads(body[2])
    other["backend"] = "dhash"
    manifest.write_text("".join(body[:3]) + json.dumps(other) + "\n" + "".join(body[4:]))
    with pytest.raises(ManifestError, match="line 4"):
        read_manifest(manifest)


def test_paths_leading_outside_the_root_are_never_followed(folder, tmp_path):
    outside = tmp_path / "secret.jpg"
    shutil.copy(folder / "coffee.jpg", outside)
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.jpg").symlink_to(outside)
    out = tmp_path / "m.jsonl"
    hash_folder([folder / "coffee.jpg"], out, registry.create("phash"))
    record = lines(out)[1]
    evil = [dict(record, path=p) for p in ("../secret.jpg", str(outside), "link.jpg")]
    header = lines(out)[0]
    out.write_text("\n".join(json.dumps(x) for x in [header, *evil, {"end": True, "files": 3}]) + "\n")
    report = check(out, root, report_new=False)
    assert [f.status for f in report.files] == ["unreadable"] * 3  # a followed path would be "identical"
    assert all("outside the root" in f.message for f in report.files)


def test_check_from_python_equals_the_cli(folder, manifest):
    report = registry.check(manifest)
    assert report.ok and [f.status for f in report.files] == ["identical"] * 5
    assert "5 identical" in report.summary()
