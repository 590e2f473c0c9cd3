"""The example plugin, pip-installed for real, reaches all three front ends with no change to this project."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "image-deep-hash-pdq"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pdqhash") is None, reason="needs pdqhash")


def pip(*args):
    subprocess.run([sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", *args],
                   check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def installed():
    pip("install", "--no-deps", "--no-build-isolation", str(EXAMPLE))
    yield
    pip("uninstall", "-y", "image-deep-hash-pdq")


def fresh(code: str) -> str:
    """Run in a new interpreter, as a user would after pip install."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT).stdout


def test_it_appears_in_available_and_hashes(installed, examples):
    out = fresh("import registry\n"
                "info = [i for i in registry.available() if i.name == 'pdq'][0]\n"
                "print(info.origin, info.error, info.hex_lengths_text)\n"
                f"print(registry.create('pdq', hex_len=64).hash({str(examples / 'parrots.png')!r}))")
    origin_line, hash_line = out.splitlines()
    assert origin_line == "image-deep-hash-pdq==0.1.0 None 64"
    assert len(hash_line) == 64


def test_it_appears_in_the_command_line(installed):
    out = subprocess.run([sys.executable, "-m", "registry", "list"], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert any(line.split()[:2] == ["pdq", "image-deep-hash-pdq==0.1.0"] for line in out.splitlines())


def test_it_appears_in_the_apps_backend_menu(installed):
    out = fresh("import demo; print([value for label, value in demo.backend_choices()])")
    assert "pdq" in out


def test_its_own_tests_pass_including_the_conformance_kit(installed):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(EXAMPLE / "tests")], capture_output=True, text=True, cwd=EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
