"""Shared fixtures: the shipped examples everywhere, ../shared/photos where CI provides it."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "assets" / "examples"
SHARED_PHOTOS = ROOT.parent / "shared" / "photos"


@pytest.fixture(scope="session")
def examples() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def shared_photos() -> list[Path]:
    from benchmarks.transforms import photo_files
    if not SHARED_PHOTOS.is_dir():
        pytest.skip("../shared/photos is not beside this checkout")
    return photo_files(SHARED_PHOTOS)


@pytest.fixture
def output_dir(request) -> Path:
    """Per-test folder for artefacts worth looking at (screenshots, tables)."""
    out = ROOT / "test-output" / request.node.name
    out.mkdir(parents=True, exist_ok=True)
    return out
