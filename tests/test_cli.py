"""The command line: list, hash and compare, with failures counted, not fatal."""
import json
import shutil
import subprocess
import sys

import pytest

import registry
from tests.cli_runner import run  # noqa: E402


def test_list_shows_backends_and_origin():
    code, out, _ = run("list")
    assert code == 0
    for name in ("ahash", "phash", "dhash", "timm"):
        assert any(line.split()[:2] == [name, "built-in"] for line in out.splitlines()), name


def test_list_json_gives_every_backend_with_its_error_field():
    code, out, _ = run("list", "--json")
    listed = {item["name"]: item for item in json.loads(out)}
    assert code == 0 and {"ahash", "phash", "dhash", "timm"} <= set(listed)
    assert listed["phash"]["origin"] == "built-in" and listed["phash"]["error"] is None
    assert listed["phash"]["hex_lengths"] == "1-256"


def test_hash_prints_one_line_per_file_matching_the_api(examples):
    files = [str(examples / "parrots.png"), str(examples / "lighthouse.png")]
    code, out, _ = run("hash", "--backend", "dhash", "--hex-len", "9", *files)
    assert code == 0
    expected = [f"{registry.create('dhash', hex_len=9).hash(f)}  {f}" for f in files]
    assert out.splitlines() == expected


def test_bad_files_are_reported_on_stderr_exit_1_and_the_rest_hashed(examples, tmp_path):
    """As sha256sum -c: 1 when some files failed, whatever their number (2 is only usage errors)."""
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    good = str(examples / "parrots.png")
    code, out, err = run("hash", str(tmp_path / "missing.png"), good, str(empty))
    assert code == 1
    assert out.splitlines() == [f"{registry.create('phash').hash(good)}  {good}"]
    assert "not found" in err and "empty" in err


def test_hash_json_is_one_object_per_line(examples):
    code, out, _ = run("hash", "--json", "-b", "ahash", "-n", "4", str(examples / "parrots.png"))
    record = json.loads(out)
    assert code == 0 and record["backend"] == "ahash" and len(record["hash"]) == 4


def test_backend_options_pass_through(examples):
    f = str(examples / "parrots.png")
    _, out, _ = run("hash", "-o", "highfreq_factor=2", f)
    assert out.split()[0] == str(registry.create("phash", highfreq_factor=2).hash(f))
    code, _, err = run("hash", "-o", "nonsense=1", f)
    assert code == 2 and "allowed: fast, highfreq_factor, resample" in err


def test_compare_prints_distance_similarity_and_verdict(examples):
    """As cmp: exit 0 for the same picture, 1 for a different one."""
    code, out, _ = run("compare", str(examples / "parrots.png"), str(examples / "lighthouse.png"))
    assert code == 1 and "distance:" in out and "similarity:" in out and "Different picture" in out
    code, out, _ = run("compare", "--json", str(examples / "parrots.png"), str(examples / "parrots.png"))
    assert code == 0 and json.loads(out)["verdict"] == "identical"


def test_compare_of_an_unreadable_file_exits_1_and_a_usage_error_2(examples, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    code, _, err = run("compare", str(examples / "parrots.png"), str(bad))
    assert code == 1 and "bad.png" in err
    with pytest.raises(SystemExit) as exc:
        run("compare", str(examples / "parrots.png"))
    assert exc.value.code == 2
    code, _, _ = run("compare", "-n", "0", str(examples / "parrots.png"), str(bad))
    assert code == 2


def test_many_failed_files_still_exit_1_not_their_count(examples, tmp_path):
    missing = [str(tmp_path / f"missing{i}.png") for i in range(3)]
    code, out, err = run("hash", *missing)
    assert code == 1 and out == "" and err.count("not found") == 3


def test_unknown_backend_is_a_usage_error():
    code, _, err = run("hash", "-b", "nope", "x.png")
    assert code == 2 and "available:" in err


def test_console_script_is_installed_and_runs(examples):
    exe = shutil.which("image-deep-hash")
    if exe is None:
        pytest.skip("image-deep-hash is not pip-installed here")
    out = subprocess.run([exe, "hash", "-b", "ahash", str(examples / "parrots.png")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == str(registry.create("ahash").hash(examples / "parrots.png"))


def test_module_entry_runs_without_install(examples):
    out = subprocess.run([sys.executable, "-m", "registry", "list"], capture_output=True, text=True,
                         check=True, cwd=examples.parent.parent)
    assert "phash" in out.stdout
