"""An honest backend list: a backend whose optional dependencies are missing says so, with the
install command, in available(), `list` and create(); finding out never imports torch."""
import subprocess
import sys

import pytest

import registry
from registry import optional
from tests.conftest import ROOT

#: Runs the CLI in a process where torch and timm cannot be imported, as on a core-only install.
WITHOUT_TORCH = """
import sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "timm", "torchvision"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Absent())
import registry
from registry.cli import main
if sys.argv[1] == "create":
    try:
        registry.create("timm")
    except registry.MissingDependency as exc:
        print("MissingDependency:", exc)
    sys.exit(0)
sys.exit(main(sys.argv[1:]))
"""


def without_torch(*argv):
    return subprocess.run([sys.executable, "-c", WITHOUT_TORCH, *argv], capture_output=True, text=True,
                          cwd=ROOT)


def test_list_says_the_deep_backend_is_not_installed_and_how_to_install_it():
    out = without_torch("list")
    assert out.returncode == 0, out.stderr
    timm_line = next(line for line in out.stdout.splitlines() if line.startswith("timm"))
    assert "NOT INSTALLED" in timm_line and "torch" in timm_line and "pip install" in timm_line
    assert "[deep]" in timm_line
    for name in ("ahash", "phash", "dhash"):
        line = next(line for line in out.stdout.splitlines() if line.startswith(name))
        assert "NOT INSTALLED" not in line and "ERROR" not in line


def test_list_json_names_the_missing_extra():
    import json
    out = without_torch("list", "--json")
    listed = {item["name"]: item for item in json.loads(out.stdout)}
    assert listed["timm"]["missing_extra"] == "deep" and "pip install" in listed["timm"]["error"]
    assert listed["phash"]["missing_extra"] is None and listed["phash"]["error"] is None


def test_creating_it_raises_a_typed_error_with_the_install_command():
    out = without_torch("create")
    assert out.stdout.startswith("MissingDependency:") and "pip install" in out.stdout


def test_hashing_with_it_is_a_usage_error_that_says_what_to_install(examples):
    out = without_torch("hash", "-b", "timm", str(examples / "parrots.png"))
    assert out.returncode == 2 and "pip install" in out.stderr and "Traceback" not in out.stderr


def test_listing_with_the_cli_does_not_import_torch():
    code = ("import sys; from registry.cli import main; main(['list']); "
            "print('torch' in sys.modules, 'timm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_when_everything_is_installed_the_deep_backend_is_listed_as_usable():
    pytest.importorskip("timm")
    info = next(i for i in registry.available() if i.name == "timm")
    assert info.error is None and info.missing_extra is None
    assert optional.missing("deep") == []


def test_require_names_the_extra():
    with pytest.raises(registry.MissingDependency, match=r"pip install .*\[app\]"):
        optional.require("no_such_module_idh", "app", "the test")
