"""Installed as users install it: an sdist, the wheel built from it, in a fresh environment outside
the checkout, hashes and judges exactly like the checkout; the extras and requirement lists agree.
"""
import json
import os
import subprocess
import sys
import tarfile
import tomllib
import venv
from pathlib import Path

import pytest

from PIL import Image

import registry
from registry import optional
from tests.conftest import EXAMPLES, ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PAIRS = [("parrots.png", "parrots_q40.jpg"), ("parrots.png", "parrots_crop25.png"),
         ("parrots.png", "lighthouse.png")]
BACKENDS = [("ahash", 16), ("phash", 16), ("dhash", 16), ("phash", 9), ("timm", 16), ("timm", 64)]

#: Run inside the installed environment: every backend's hashes and verdicts on the example pairs.
PROBE = """
import json, sys
import registry, hashers
out = {"registry": registry.__file__, "hashers": hashers.__file__, "results": {}}
for name, hex_len in json.loads(sys.argv[2]):
    hasher = registry.create(name, hex_len=hex_len)
    for a, b in json.loads(sys.argv[3]):
        r = registry.compare_with(hasher, sys.argv[1] + "/" + a, sys.argv[1] + "/" + b)
        out["results"][f"{name}-{hex_len} {a} {b}"] = [str(r.hash_a), str(r.hash_b), r.verdict,
                                                         r.threshold, r.hash_a.options]
print(json.dumps(out))
"""


def checkout_results() -> dict:
    results = {}
    for name, hex_len in BACKENDS:
        hasher = registry.create(name, hex_len=hex_len)
        for a, b in PAIRS:
            r = registry.compare_with(hasher, EXAMPLES / a, EXAMPLES / b)
            results[f"{name}-{hex_len} {a} {b}"] = [str(r.hash_a), str(r.hash_b), r.verdict,
                                                    r.threshold, r.hash_a.options]
    return results


def site_packages_of_this_python() -> str:
    import sysconfig
    return sysconfig.get_paths()["purelib"]


@pytest.fixture(scope="module")
def sdist_and_wheel(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True)
    sdist = next(out.glob("*.tar.gz"))
    # The wheel is built from the sdist, as pip does for a source distribution: both must be whole.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(sdist)], check=True, capture_output=True, text=True,
                   cwd=out)
    return sdist, next(out.glob("*.whl"))


def test_the_sdist_carries_everything_hashing_needs(sdist_and_wheel):
    sdist, _ = sdist_and_wheel
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    needed = {str(p.relative_to(ROOT)) for p in (ROOT / "registry" / "data").iterdir()}
    needed |= {str(p.relative_to(ROOT)) for p in (ROOT / "hashers" / "data" / "deep").iterdir()}
    assert needed and needed <= names


@pytest.fixture(scope="module")
def installed(sdist_and_wheel, tmp_path_factory) -> tuple[Path, dict, Path, str]:
    """(python, environment, a folder outside the checkout, site-packages) with the wheel installed."""
    _, wheel = sdist_and_wheel
    tmp_path = tmp_path_factory.mktemp("installed")
    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    target = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", target, str(wheel)],
                   check=True, capture_output=True, text=True)
    # The dependencies (torch, timm, ...) come from this interpreter's site-packages, added as a plain
    # path: its .pth files, among them an editable install of this checkout, are not processed.
    (Path(target) / "deps.pth").write_text(site_packages_of_this_python() + "\n")
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    return python, env, run_dir, target


def test_a_wheel_installed_outside_the_checkout_hashes_and_judges_like_the_checkout(installed):
    python, env, run_dir, target = installed
    out = subprocess.run([str(python), "-c", PROBE, str(EXAMPLES), json.dumps(BACKENDS), json.dumps(PAIRS)],
                         capture_output=True, text=True, cwd=run_dir, env=env)
    assert out.returncode == 0, out.stderr
    installed_results = json.loads(out.stdout)
    assert installed_results["registry"].startswith(target) and installed_results["hashers"].startswith(target)
    assert installed_results["results"] == checkout_results()
    console = python.parent / "image-deep-hash"
    if not console.exists():  # pip --target does not write scripts; the module entry is the same main
        listing = subprocess.run([str(python), "-m", "registry", "list"], capture_output=True, text=True,
                                 cwd=run_dir, env=env)
        assert listing.returncode == 0 and "timm" in listing.stdout


def test_installed_the_round_2_commands_find_their_data_too(installed, tmp_path):
    """Manifests name the installed version; check, dedup and the dihedral compare use the shipped
    thresholds (their dihedral keys included) exactly as the checkout does."""
    python, env, run_dir, _ = installed
    turned = tmp_path / "turned.png"
    Image.open(EXAMPLES / "parrots.png").rotate(90, expand=True).save(turned)
    manifest = tmp_path / "m.jsonl"
    cli = lambda *args: subprocess.run([str(python), "-m", "registry", *map(str, args)], capture_output=True,
                                       text=True, cwd=run_dir, env=env)
    made = cli("hash", EXAMPLES, "--output", manifest)
    assert made.returncode == 0, made.stderr
    header = json.loads(manifest.read_text().splitlines()[0])
    assert header["image_deep_hash"] == PYPROJECT["project"]["version"]
    checked = cli("check", manifest, "--root", EXAMPLES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    turned_cli = cli("compare", EXAMPLES / "parrots.png", turned, "--dihedral", "--json")
    assert turned_cli.returncode == 0, turned_cli.stderr
    here = registry.compare(EXAMPLES / "parrots.png", turned, dihedral=True)
    there = json.loads(turned_cli.stdout)
    assert (there["verdict"], there.get("orientation"), there["threshold"]) == \
        (here.verdict, here.orientation, here.threshold)


def test_a_model_with_a_shipped_mean_refuses_to_run_without_it(monkeypatch, tmp_path):
    pytest.importorskip("timm")
    from hashers import deep_recipe
    monkeypatch.setattr(deep_recipe, "MEANS_DIR", tmp_path)  # as if the data file had not been installed
    with pytest.raises(registry.HasherError, match="installation is incomplete"):
        registry.create("timm", hex_len=16)


def test_missing_thresholds_are_an_error_not_first_estimates(monkeypatch, tmp_path):
    from registry import comparison as compare
    monkeypatch.setattr(compare, "THRESHOLDS_FILE", tmp_path / "thresholds.json")
    compare._thresholds.cache_clear()
    try:
        with pytest.raises(registry.HasherError, match="installation is incomplete"):
            registry.compare(EXAMPLES / "parrots.png", EXAMPLES / "lighthouse.png", backend="phash")
    finally:
        compare._thresholds.cache_clear()


def test_the_optional_dependency_table_matches_the_extras_in_pyproject():
    declared = PYPROJECT["project"]["optional-dependencies"]
    for name, extra in optional.EXTRAS.items():
        assert list(extra.packages) == declared[name], name


def test_requirements_txt_is_the_core_plus_the_deep_and_app_extras():
    """Spaces installs requirements.txt alone; it must hold exactly what `.[deep,app]` brings."""
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    project = PYPROJECT["project"]
    expected = project["dependencies"] + project["optional-dependencies"]["deep"] + \
        project["optional-dependencies"]["app"]
    assert sorted(lines) == sorted(expected)


def test_an_editable_install_finds_its_data_from_any_folder(tmp_path):
    from importlib import metadata
    installs = [json.loads(d.read_text("direct_url.json") or "{}") for d in metadata.distributions()
                if d.metadata["Name"] == "image-deep-hash"]  # a checkout's egg-info has no direct_url
    if not any(i.get("dir_info", {}).get("editable") for i in installs):
        pytest.skip("image-deep-hash is not installed in editable mode here")
    code = ("import registry, hashers.deep as d; from registry import comparison; "
            "print(comparison.THRESHOLDS_FILE.is_file(), all(f.is_file() for f in "
            "(d.centering_file(m, w, v) for m, w, v in d.SHIPPED_MEANS)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.split() == ["True", "True"], out.stderr
