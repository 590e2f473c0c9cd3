"""The layers of registry/ hold: no import circles (deferred imports included), no module inside
registry/ importing the package itself, and registry never naming a built-in hasher.
The contracts live in pyproject.toml ([tool.importlinter]) and are checked by import-linter."""
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")
ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_are_kept():
    out = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                          "lint_imports_command()", "--no-cache"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout


def test_the_contracts_catch_a_circle(tmp_path):
    """A copy of the tree with one deferred import closing a circle must break the contracts."""
    import shutil
    for name in ("registry", "hashers"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    hasher = tmp_path / "registry" / "hasher.py"
    hasher.write_text(hasher.read_text() + "\n\ndef _sneaky():\n    from .engines import run_local\n")
    out = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                          "lint_imports_command()", "--no-cache"],
                         capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode != 0 and "BROKEN" in out.stdout
    assert "registry.hasher -> registry.engines" in out.stdout
