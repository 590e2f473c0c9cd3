"""Plugins that misbehave are named in every error, and neither the CLI nor the app stops serving."""
import time

import pytest

import registry
from tests.plugin_factory import make_plugin
from tests.cli_runner import run  # noqa: E402

CODE = '''
    import os
    import time
    import numpy as np
    from registry import Hasher

    time.sleep(1.0)  # a slow import
    with open(os.environ["IDH_BAD_IMPORT_LOG"], "a") as log:
        log.write("imported\\n")

    class Picky(Hasher):
        """Fails on dark images only, as a buggy plugin might."""
        name = "picky"
        summary = "Fails on dark images."
        def compute(self, image):
            if np.asarray(image.convert("L")).mean() < 100:
                raise ZeroDivisionError("dark image")
            return np.ones(self.bit_count, bool)

    class TooMany(Hasher):
        name = "toomany"
        summary = "One bit too many."
        def compute(self, image):
            return np.ones(self.bit_count + 1, bool)

    class Floats(Hasher):
        name = "floats"
        summary = "Floats instead of bits."
        def compute(self, image):
            return np.full(self.bit_count, 0.5)
'''


@pytest.fixture
def bad_plugins(tmp_path, monkeypatch):
    make_plugin(tmp_path, "idh-bad-plugins", {"picky": "idh_bad:Picky", "toomany": "idh_bad:TooMany",
                                              "floats": "idh_bad:Floats", "crash": "idh_bad_missing:X"},
                "idh_bad", CODE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("IDH_BAD_IMPORT_LOG", str(tmp_path / "imports.log"))
    registry.refresh()
    yield tmp_path / "imports.log"
    registry.refresh()


def dark_image(tmp_path):
    from PIL import Image
    path = tmp_path / "dark.png"
    Image.new("RGB", (32, 32), (10, 10, 10)).save(path)
    return path


def test_a_slow_import_is_listed_once_and_then_cached(bad_plugins):
    start = time.perf_counter()
    names = {i.name: i for i in registry.available()}
    first = time.perf_counter() - start
    start = time.perf_counter()
    registry.available()
    assert time.perf_counter() - start < first / 10
    assert bad_plugins.read_text().splitlines() == ["imported"]  # the module was imported once, not twice
    assert names["picky"].error is None and "idh_bad_missing" in names["crash"].error


def test_the_cli_carries_on_past_files_a_plugin_fails_on(bad_plugins, examples, tmp_path):
    dark = dark_image(tmp_path)
    code, out, err = run("hash", "-b", "picky", str(examples / "parrots_q40.jpg"), str(dark),
                         str(examples / "lighthouse.png"))
    assert code == 1
    assert len(out.splitlines()) == 2 and str(dark) not in out
    assert "hasher 'picky' failed: ZeroDivisionError: dark image" in err and "Traceback" not in err


@pytest.mark.parametrize("backend, message", [("toomany", "hasher 'toomany' returned 65 bits"),
                                              ("floats", "hasher 'floats' returned float64")])
def test_the_cli_names_a_plugin_that_returns_bad_bits(bad_plugins, examples, backend, message):
    code, out, err = run("hash", "-b", backend, str(examples / "parrots.png"))
    assert code == 1 and out == "" and message in err


def test_the_cli_reports_a_plugin_that_cannot_load(bad_plugins, examples):
    code, _, err = run("hash", "-b", "crash", str(examples / "parrots.png"))
    assert code == 2 and "idh-bad-plugins==0.1" in err
    code, out, _ = run("list")
    assert code == 0 and "ERROR: cannot import idh_bad_missing:X" in out


def test_the_app_shows_plugin_errors_and_keeps_the_other_backends(bad_plugins, examples, tmp_path):
    gr = pytest.importorskip("gradio")
    import demo
    rows = {r[0]: r for r in demo.compare_all(str(dark_image(tmp_path)), str(examples / "parrots.png"), 16)}
    assert rows["picky"][6].startswith("error: hasher 'picky' failed")
    assert rows["toomany"][6].startswith("error: hasher 'toomany' returned 65 bits")
    assert rows["phash"][6] in ("identical", "similar", "different")
    with pytest.raises(gr.Error, match="hasher 'floats' returned float64"):
        demo.compare_images(str(examples / "parrots.png"), str(examples / "lighthouse.png"), "floats", 16)
    assert "crash" in demo.broken_plugins_markdown()
    assert "crash" not in [value for _, value in demo.backend_choices()]
