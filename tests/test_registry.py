"""Discovery: built-ins and plugins take the same entry-point road; failures are reported, not raised."""
import numpy as np
import pytest

import registry
from registry import HasherError
from registry import discovery
from tests.plugin_factory import GOOD_PLUGIN, make_plugin


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """Two real distributions on sys.path: a mixed bag of hashers and one built for a future API."""
    make_plugin(tmp_path / "site", "idh-test-plugin", {
        "corner": "idh_test_plugin:CornerHash",
        "raising": "idh_test_plugin:Raising",
        "toofew": "idh_test_plugin:TooFew",
        "floats": "idh_test_plugin:Floats",
        "notahasher": "idh_test_plugin:NotAHasher",
        "missing": "idh_no_such_module:Hasher",
        "phash": "idh_test_plugin:CornerHash",
    }, "idh_test_plugin", GOOD_PLUGIN)
    make_plugin(tmp_path / "site2", "idh-future-plugin", {"future": "idh_test_plugin:Future"},
                "idh_future_unused", "", requires=["image-deep-hash>=9.0", "numpy"])
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(tmp_path / "site2"))
    registry.refresh()
    yield {i.name + "@" + i.origin: i for i in registry.available()}
    registry.refresh()


def test_builtins_are_listed_first_with_their_origin_and_summary():
    infos = registry.available()
    names = [i.name for i in infos]
    assert names[:4] == ["ahash", "phash", "dhash", "timm"]
    for info in infos[:3]:
        assert info.origin == "built-in" and info.error is None and info.summary


def test_listing_does_not_import_torch():
    import subprocess
    import sys
    code = "import sys, registry; registry.available(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=discovery.PROJECT_ROOT)
    assert out.stdout.strip() == "False"


def test_a_plugin_appears_in_available_and_create(plugins, examples):
    info = plugins["corner@idh-test-plugin==0.1"]
    assert info.error is None and info.summary.startswith("Top-left")
    hasher = registry.create("corner", hex_len=2)
    h = hasher.hash(examples / "parrots.png")
    assert len(str(h)) == 2 and h.backend == "corner"
    with pytest.raises(ValueError, match="supported: 1, 2, 4"):
        registry.create("corner", hex_len=3)


def test_a_plugin_that_cannot_be_imported_is_reported_and_the_rest_work(plugins, examples):
    assert "No module named 'idh_no_such_module'" in plugins["missing@idh-test-plugin==0.1"].error
    assert "not a registry.Hasher" in plugins["notahasher@idh-test-plugin==0.1"].error
    with pytest.raises(HasherError, match="idh-test-plugin==0.1"):
        registry.create("missing")
    assert registry.create("phash").hash(examples / "parrots.png").hex_len == 16


def test_on_a_name_clash_the_builtin_wins_and_the_clash_is_reported(plugins, examples):
    clash = plugins["phash@idh-test-plugin==0.1"]
    assert "name clash" in clash.error and "built-in" in clash.error
    assert type(registry.create("phash")).__module__ == "hashers.phash"


def test_a_plugin_for_a_newer_contract_says_which_version_it_needs(plugins):
    err = plugins["future@idh-future-plugin==0.1"].error
    assert "API version 99" in err and "needs image-deep-hash>=9.0" in err


@pytest.mark.parametrize("name, message", [
    ("raising", "hasher 'raising' failed: RuntimeError: boom"),
    ("toofew", "hasher 'toofew' returned 63 bits .* expected 64"),
    ("floats", "hasher 'floats' returned float64"),
])
def test_a_plugin_breaking_the_contract_gets_an_error_naming_it(plugins, examples, name, message):
    hasher = registry.create(name, hex_len=16)
    with pytest.raises(HasherError, match=message):
        hasher.hash(examples / "parrots.png")
    with pytest.raises(HasherError, match=message):
        hasher.hash_many([examples / "parrots.png"])


def test_builtins_come_from_pyproject_when_the_project_is_not_installed(monkeypatch):
    real = discovery.metadata.entry_points
    monkeypatch.setattr(discovery.metadata, "entry_points",
                        lambda **kw: [ep for ep in real(**kw) if ep.dist is None or
                                      discovery._norm(ep.dist.metadata["Name"]) != "image-deep-hash"])
    declared = discovery._declared()
    builtins = [(i.name, i.target) for i in declared if i.builtin]
    assert builtins == discovery._pyproject_entry_points()
    assert [n for n, _ in builtins] == ["ahash", "phash", "dhash", "timm"]


def test_installed_entry_points_equal_the_pyproject_declaration():
    installed = [(ep.name, ep.value) for ep in discovery.metadata.entry_points(group=registry.GROUP)
                 if discovery._norm(ep.dist.metadata["Name"]) == "image-deep-hash"]
    if not installed:
        pytest.skip("image-deep-hash is not pip-installed here")
    assert sorted(installed) == sorted(discovery._pyproject_entry_points())


def test_hash_many_equals_hash_one_by_one_and_can_return_errors(examples, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    files = [examples / "parrots.png", bad, examples / "lighthouse.png"]
    hasher = registry.create("dhash", hex_len=16)
    out = hasher.hash_many(files, errors="return")
    assert out[0] == hasher.hash(files[0]) and out[2] == hasher.hash(files[2])
    assert isinstance(out[1], registry.ImageError)
    with pytest.raises(registry.ImageError):
        hasher.hash_many(files)


def test_compare_gives_distance_similarity_and_verdict(examples):
    same = registry.compare(examples / "parrots.png", examples / "parrots.png", backend="phash")
    assert same.distance == 0 and same.similarity == 1.0 and same.verdict == "identical"
    jpeg = registry.compare(examples / "parrots.png", examples / "parrots_q40.jpg", backend="phash", hex_len=16)
    assert 0 <= jpeg.distance <= jpeg.threshold * jpeg.bits and jpeg.verdict in ("identical", "similar")
    other = registry.compare(examples / "parrots.png", examples / "lighthouse.png", backend="phash", hex_len=16)
    assert other.verdict == "different" and other.similarity == pytest.approx(1 - other.distance / 64)
    assert other.hash_a - other.hash_b == other.distance
    assert np.count_nonzero(other.differing_bits) == other.distance
